import { z } from 'zod';
import * as tf from '@tensorflow/tfjs-core';
import { combineSeeds } from '@lethe/runtime';
import { epochBatches, stepsPerEpoch } from '../training/recipe.js';
import { type Batch, type LossFunction } from '../training/loop.js';
import { crossEntropy } from '../training/loss.js';
import type { UnlearnerDefinition } from '../unlearner.js';
import { fineTuneFields, fineTuneSchedule, trainCopy } from './common.js';

// Defaults from SCRUB's public code (meghdadk/SCRUB), whose CIFAR-10 notebook BadT_experiments.ipynb runs
// NegGrad+ with ng_alpha 0.9999, ng_lr 0.01, ng_epochs 5, retain batch 128 and forget batch 512 (the other
// notebooks agree on alpha 0.9999 and lr 0.01), and whose `negative_grad` uses plain SGD (no momentum, no weight
// decay).
const hyperParameters = z
  .object({
    ...fineTuneFields,
    epochs: z.number().int().positive().default(5),
    lr: z.number().positive().default(0.01),
    momentum: z.number().min(0).lt(1).default(0),
    weightDecay: z.number().min(0).default(0),
    /** retain batch size */
    batchSize: z.number().int().positive().default(128),
    forgetBatchSize: z.number().int().positive().default(512),
    /** weight of the retain loss; the forget loss gets 1 - alpha (Kurmanji et al. 2023, NegGrad+) */
    alpha: z.number().min(0).max(1).default(0.9999),
  })
  .strict();

/** alpha * CE(retain batch) - (1 - alpha) * CE(forget batch, carried in `extra`). */
export function negGradPlusLoss(alpha: number): LossFunction {
  return (model, batch) =>
    tf.tidy(() => {
      // two forward passes, retain first, as in SCRUB's code: batch-norm statistics are per set, never mixed
      const retainLoss = crossEntropy(model.logits(batch.x, { training: true }), batch.y);
      const forgetLoss = crossEntropy(model.logits(batch.extra!['xForget'] as tf.Tensor4D, { training: true }), batch.extra!['yForget'] as tf.Tensor1D);
      return tf.sub(tf.mul(retainLoss, alpha), tf.mul(forgetLoss, 1 - alpha)) as tf.Scalar;
    });
}

/** The batches of `pass(0)`, `pass(1)`, ... without end; tensors are made only for the batches pulled. */
function* cycle(pass: (index: number) => Iterable<Batch>): Generator<Batch, never> {
  for (let index = 0; ; index++) yield* pass(index);
}

/**
 * NegGrad+ (Kurmanji et al., NeurIPS 2023, "Towards unbounded machine unlearning", their improved NegGrad
 * baseline): each step descends on alpha * CE(D_r batch) - (1 - alpha) * CE(D_f batch), one batch of each. An
 * epoch is max(retain batches, forget batches) steps; the smaller set is cycled, reshuffled on every pass (SCRUB's
 * code zips the retain loader with a cycled forget loader, which is the same when the retain set is larger). The
 * first pass over the retain set in each epoch is the stream `finetune` draws for the task's seed, so that
 * alpha = 1 with FT's optimiser settings and batch size reproduces FT (up to float rounding).
 */
export const negGradPlus: UnlearnerDefinition<z.infer<typeof hyperParameters>> = {
  name: 'neggrad-plus',
  description: 'Descend on the retain loss while ascending on the forget loss, one batch of each per step (NegGrad+).',
  paper: 'Kurmanji et al., NeurIPS 2023 "Towards unbounded machine unlearning" (NegGrad+); defaults from SCRUB public code',
  settings: ['retain'],
  // each step: one D_r batch and one D_f batch, for as many steps as the longer of the two passes
  workload: (s, hp) => {
    const steps = Math.max(Math.ceil(s.retain / hp.batchSize), Math.ceil(s.forget / hp.forgetBatchSize));
    return { trainImages: hp.epochs * steps * (hp.batchSize + hp.forgetBatchSize), inferenceImages: 0 };
  },
  hyperParameters,
  async unlearn(task, hp) {
    const { train, retain, forget, recipe } = task;
    const finetuneOrder = epochBatches(train, retain, { batchSize: hp.batchSize, seed: combineSeeds(task.seed, 'finetune'), augment: recipe.augment });
    const retainSteps = stepsPerEpoch(retain.length, hp.batchSize);
    const forgetSteps = stepsPerEpoch(forget.length, hp.forgetBatchSize);
    const steps = Math.max(retainSteps, forgetSteps);
    if (forget.length === 0) throw new Error('neggrad-plus needs a non-empty forget set');
    return trainCopy(task, 'neggrad-plus', {
      epochs: hp.epochs,
      batches: function* (epoch): Iterable<Batch> {
        const retainStream = cycle((pass) =>
          pass === 0
            ? finetuneOrder(epoch)
            : epochBatches(train, retain, { batchSize: hp.batchSize, seed: combineSeeds(task.seed, 'neggrad-plus', 'retain', epoch), augment: recipe.augment })(pass),
        );
        const forgetStream = cycle((pass) =>
          epochBatches(train, forget, { batchSize: hp.forgetBatchSize, seed: combineSeeds(task.seed, 'neggrad-plus', 'forget', epoch), augment: recipe.augment })(pass),
        );
        for (let step = 0; step < steps; step++) {
          const r = retainStream.next().value;
          const f = forgetStream.next().value;
          yield { x: r.x, y: r.y, extra: { xForget: f.x, yForget: f.y } };
        }
      },
      stepsPerEpoch: steps,
      optimizer: { lr: hp.lr, momentum: hp.momentum, weightDecay: hp.weightDecay },
      schedule: fineTuneSchedule(hp),
      loss: negGradPlusLoss(hp.alpha),
    });
  },
};
