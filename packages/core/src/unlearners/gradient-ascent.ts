import { z } from 'zod';
import * as tf from '@tensorflow/tfjs-core';
import { combineSeeds } from '@lethe/runtime';
import { epochBatches, stepsPerEpoch } from '../training/recipe.js';
import { type LossFunction } from '../training/loop.js';
import { crossEntropy } from '../training/loss.js';
import type { Setting, UnlearnerDefinition } from '../unlearner.js';
import { fineTuneFields, fineTuneSchedule, trainCopy } from './common.js';
import { retainPassSteps, retainPassThenForget } from './retain-pass.js';

const hyperParameters = z
  .object({
    ...fineTuneFields,
    /** SalUn's public code, GA example in Classification/README.md (first release): 5 epochs at lr 1e-4 */
    epochs: z.number().int().positive().default(5),
    lr: z.number().positive().default(1e-4),
    /** SalUn's public code default batch size (arg_parser.py) */
    batchSize: z.number().int().positive().default(256),
    /**
     * Optional cap on each forget sample's cross-entropy: a sample whose loss already exceeds it stops being
     * pushed (its clamped loss has zero gradient). null (default, as in SalUn's code): no cap, plain ascent.
     */
    maxForgetLoss: z.number().positive().nullable().default(null),
    /**
     * 'retain' setting only: each epoch first makes a cross-entropy descent pass over D_r, then the ascent pass over
     * D_f, as AMUN's code runs GA for its Table 1 (adversarial_unlearn.py); its paper presets turn this on. false
     * (default): D_f only, as SalUn's GA (Classification/unlearn/GA.py) and Lethe before this option.
     */
    retainPass: z.boolean().default(false),
  })
  .strict();

type GradientAscentHyperParameters = z.infer<typeof hyperParameters>;

function checkSetting(setting: Setting, hp: Pick<GradientAscentHyperParameters, 'retainPass'>): void {
  if (hp.retainPass && setting !== 'retain') {
    throw new Error(`gradient-ascent: retainPass needs the retain set, which the '${setting}' setting does not give; set retainPass: false`);
  }
}

/** -mean_i min(CE_i, cap): the ascent objective, with per-sample losses clamped at `cap` when given. */
export function gradientAscentLoss(cap: number | null): LossFunction {
  return (model, batch) =>
    tf.tidy(() => {
      const logits = model.logits(batch.x, { training: true });
      if (cap === null) return tf.neg(crossEntropy(logits, batch.y));
      const perSample = tf.neg(tf.sum(tf.mul(tf.oneHot(tf.cast(batch.y, 'int32'), logits.shape[1]), tf.logSoftmax(logits)), 1));
      return tf.neg(tf.mean(tf.minimum(perSample, cap))) as tf.Scalar;
    });
}

/**
 * GA, gradient ascent (Thudi et al. 2022; Graves et al. 2021 "amnesiac"), as run in SalUn's and AMUN's tables:
 * maximise the cross-entropy on the forget set, i.e. descend on -CE(D_f). By default it uses D_f only, so it runs
 * the same in both settings; with `retainPass` (the 'retain' setting only) each epoch first descends on CE over D_r,
 * as AMUN's code does (see retain-pass.ts).
 *
 * Divergence: -CE is unbounded below, so GA never converges; it is stopped by its epoch budget. The
 * cross-entropy is computed through logSoftmax, which stays finite however large the logits get, so the loss
 * only becomes non-finite when the weights or logits overflow float32; the training loop then stops with
 * "training diverged ... lower the learning rate". Before that, GA can already destroy the model (AMUN Table 2:
 * Avg Gap 68.53 in the forget-only setting): keep the paper's small learning rate and few epochs, or set
 * `maxForgetLoss` (e.g. a few times ln(numClasses)) so that samples already forgotten stop pulling the weights.
 */
export const gradientAscent: UnlearnerDefinition<GradientAscentHyperParameters> = {
  name: 'gradient-ascent',
  description: 'Gradient ascent on the cross-entropy of the forget set (GA).',
  paper: 'Thudi et al. 2022 / Graves et al. 2021 "GA"; defaults from SalUn (Fan et al., ICLR 2024) public code',
  settings: ['retain', 'forget-only'],
  // the ascent pass over D_f, after a descent pass over D_r with retainPass
  workload: (s, hp) => ({ trainImages: hp.epochs * (s.forget + (hp.retainPass && s.setting === 'retain' ? s.retain : 0)), inferenceImages: 0 }),
  hyperParameters,
  checkSetting,
  async unlearn(task, hp) {
    checkSetting(task.setting, hp);
    const seed = combineSeeds(task.seed, 'gradient-ascent');
    const forgetBatches = epochBatches(task.train, task.forget, { batchSize: hp.batchSize, seed, augment: task.recipe.augment });
    return trainCopy(task, 'gradient-ascent', {
      epochs: hp.epochs,
      batches: hp.retainPass ? retainPassThenForget(task, forgetBatches, { batchSize: hp.batchSize, seed }) : forgetBatches,
      stepsPerEpoch: (hp.retainPass ? retainPassSteps(task, hp.batchSize) : 0) + stepsPerEpoch(task.forget.length, hp.batchSize),
      optimizer: { lr: hp.lr, momentum: hp.momentum, weightDecay: hp.weightDecay },
      schedule: fineTuneSchedule(hp),
      loss: gradientAscentLoss(hp.maxForgetLoss),
    });
  },
};
