import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import { fgsm, logitsFunctionOf, type AttackTarget } from '@lethe/attacks';
import { combineSeeds } from '@lethe/runtime';
import type { Model } from '@lethe/models';
import { trainLoop } from '../training/loop.js';
import type { UnlearnerDefinition, UnlearningTask } from '../unlearner.js';
import { fineTuneFields, fineTuneSchedule } from './common.js';
import { mixedCount, mixedEpochBatches, type BatchSource } from './mixed-batches.js';
import { retainPassSteps, retainPassThenForget } from './retain-pass.js';

export interface BoundaryShrinkLabelOptions {
  /** FGSM's L-infinity radius in [0, 1] pixels */
  bound: number;
  /** round the adversarial image to 8-bit levels before reading its label, as SalUn's code does */
  discretize: boolean;
}

/**
 * Boundary Shrink's "nearest but incorrect" labels: the class the model predicts for the one-step (FGSM) adversarial
 * example of each image. Where the attack does not cross a boundary, this is the model's own prediction (usually
 * the true label): the sample then keeps pulling toward its class, as in the public code. A new int32 tensor.
 */
export function boundaryShrinkLabels(target: AttackTarget, x: tf.Tensor4D, labels: tf.Tensor1D, options: BoundaryShrinkLabelOptions): tf.Tensor1D {
  const logits = logitsFunctionOf(target);
  const adversarial = fgsm(logits, x, labels, { eps: options.bound });
  try {
    return tf.tidy(() => {
      const probe = options.discretize ? tf.div(tf.round(tf.mul(adversarial, 255)), 255) : adversarial;
      return tf.cast(tf.argMax(logits(probe as tf.Tensor4D), 1), 'int32') as tf.Tensor1D;
    });
  } finally {
    adversarial.dispose();
  }
}

const hyperParameters = z
  .object({
    // SGD, momentum 0.9, weight decay 5e-4, batch 128, 10 epochs, lr 0.01: AMUN's fine-tuning setup for all its
    // baselines (arXiv 2503.00917, Sec. 5). Chen et al.'s own code fine-tunes 10 epochs ("poison_epoch") on the forget set.
    ...fineTuneFields,
    /**
     * FGSM radius, L-infinity in [0, 1] pixels: 0.1 in Chen et al.'s code (`bound=0.1`), in SalUn's
     * `boundary_sh.py` ("bound = 0.1  # hard coding in the paper") and in AMUN's code for its BS rows.
     */
    bound: z.number().positive().default(0.1),
    /** round adversarial images to 8-bit levels before labelling (SalUn's `boundary_sh.py`: `discretize`) */
    discretize: z.boolean().default(true),
    /**
     * which model labels the forget samples: 'original' (default), the frozen original model, as Chen et al.'s code
     * and SalUn's `boundary_sh.py` do; 'current-each-epoch', a copy of the model being trained, re-taken as each
     * epoch's D_f pass starts (after that epoch's D_r pass, if any), as AMUN's code does for its BS rows
     * (adversarial_unlearn.py deep-copies the network before each epoch's forget loop).
     */
    relabelFrom: z.enum(['original', 'current-each-epoch']).default('original'),
  })
  .strict();

export type BoundaryShrinkHyperParameters = z.infer<typeof hyperParameters>;

/**
 * BS, Boundary Shrink (Chen et al., "Boundary Unlearning: Rapid Forgetting of Deep Networks via Shifting the
 * Decision Boundary", CVPR 2023). Each forget sample is relabelled with the class that an FGSM step from it, on the
 * original model, lands in (its nearest wrong class), and the model is fine-tuned on the forget set with these
 * labels, moving the forget samples across the nearest boundary. Labels are computed per batch, on the (augmented)
 * images the batch holds, with the labelling model in inference mode: the original model, as in Chen et al.'s and
 * SalUn's code, or (`relabelFrom: 'current-each-epoch'`) a copy of the current model re-taken each epoch, as in
 * AMUN's code.
 *
 * The method is defined on the forget set alone ('forget-only'). In the 'retain' setting each epoch first makes a
 * pass over D_r with its true labels, then the pass over D_f, as AMUN's code runs BS for its Table 1 (retain-pass.ts).
 */
export const boundaryShrink: UnlearnerDefinition<BoundaryShrinkHyperParameters> = {
  name: 'boundary-shrink',
  description: 'Fine-tune on the forget set relabelled with the class a one-step FGSM attack pushes each sample into (after a D_r pass when it is available).',
  paper: 'Chen et al., "Boundary Unlearning", CVPR 2023 (Boundary Shrink); bound from its code and SalUn\'s; fine-tuning defaults from AMUN (arXiv 2503.00917) Sec. 5',
  settings: ['retain', 'forget-only'],
  // per epoch: the D_r pass (retain setting), FGSM on D_f (one forward + backward, then a labelling forward), the D_f pass
  workload: (s, hp) => ({ trainImages: hp.epochs * (2 * s.forget + (s.setting === 'retain' ? s.retain : 0)), inferenceImages: hp.epochs * s.forget }),
  hyperParameters,
  unlearn: (task, hp) => runBoundaryShrink(task, hp),
};

export async function runBoundaryShrink(
  task: UnlearningTask,
  hp: BoundaryShrinkHyperParameters,
  options: { gradientMask?: ReadonlyMap<string, tf.Tensor> } = {},
): Promise<Model> {
  if (task.forget.length === 0) throw new Error('boundary-shrink: the forget set is empty');
  const model = task.original.clone();
  // the labelling model: the frozen original (never modified), or one copy kept for the whole run and overwritten
  // with the current weights as each epoch's D_f pass starts (one copy, not one per epoch: live tensors stay flat)
  const current = hp.relabelFrom === 'current-each-epoch';
  const labeller = current ? task.original.clone() : task.original;
  const labelOptions = { bound: hp.bound, discretize: hp.discretize };
  const forgetSource: BatchSource = {
    dataset: task.train,
    indices: task.forget,
    augment: task.recipe.augment,
    relabel: (x, y) => boundaryShrinkLabels(labeller, x, y, labelOptions),
  };
  const seed = combineSeeds(task.seed, 'boundary-shrink');
  const forgetBatches = mixedEpochBatches([forgetSource], { batchSize: hp.batchSize, seed });
  // batches are made when the loop asks for them, so this copy happens after the epoch's last D_r step
  const forgetPass = current
    ? function* (epoch: number) {
        labeller.copyFrom(model);
        yield* forgetBatches(epoch);
      }
    : forgetBatches;
  // with D_r ('retain' setting), each epoch first makes a cross-entropy pass over it, as AMUN's code runs BS
  const withRetain = task.setting === 'retain' ? task : { ...task, retain: new Int32Array(0) };
  try {
    await trainLoop({
      model,
      epochs: hp.epochs,
      batches: retainPassThenForget(withRetain, forgetPass, { batchSize: hp.batchSize, seed }),
      stepsPerEpoch: retainPassSteps(withRetain, hp.batchSize) + Math.ceil(mixedCount([forgetSource]) / hp.batchSize),
      optimizer: { lr: hp.lr, momentum: hp.momentum, weightDecay: hp.weightDecay },
      schedule: fineTuneSchedule(hp),
      ...(options.gradientMask ? { gradientMask: options.gradientMask } : {}),
      onProgress: (p) => task.onProgress?.({ ...p, phase: 'boundary-shrink' }),
    });
    return model;
  } catch (err) {
    model.dispose();
    throw err;
  } finally {
    if (labeller !== task.original) labeller.dispose();
  }
}
