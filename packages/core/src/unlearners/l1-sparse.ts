import { z } from 'zod';
import * as tf from '@tensorflow/tfjs-core';
import { combineSeeds } from '@lethe/runtime';
import { epochBatches, stepsPerEpoch } from '../training/recipe.js';
import { type Batch, type LossFunction } from '../training/loop.js';
import { crossEntropy } from '../training/loss.js';
import type { UnlearnerDefinition } from '../unlearner.js';
import { fineTuneFields, fineTuneSchedule, trainCopy } from './common.js';

const hyperParameters = z
  .object({
    ...fineTuneFields,
    /** Unlearn-Sparse's README (Jia et al.'s public code), l1-sparse example: 10 epochs at lr 0.01 */
    epochs: z.number().int().positive().default(10),
    lr: z.number().positive().default(0.01),
    /** the public code's default batch size (arg_parser.py of Unlearn-Sparse and Unlearn-Saliency) */
    batchSize: z.number().int().positive().default(256),
    /**
     * gamma, the weight of the L1 penalty at the first epoch. The public code leaves it to a flag (`--alpha`,
     * no value given in its README); 5e-5 is the low end of the range SalUn's appendix reports searching for
     * l1-sparse ([5e-5, 1e-4]). Tune it with the learning rate.
     */
    gamma: z.number().min(0).default(5e-5),
    /**
     * 'linear-decay': gamma * (1 - epoch / (epochs - noL1Epochs)) in epoch `epoch` (0-based), reaching 0 after
     * the last L1 epoch, as Jia et al.'s code (unlearn/FT.py, FT_l1) and the paper's scheduler do;
     * 'constant': gamma throughout the L1 epochs;
     * 'amun': as AMUN's code runs its l1-sparse rows (adversarial_unlearn.py, with alpha 5e-4): after each epoch e
     * (0-based, `for epoch in range(epochs)`) it multiplies its alpha in place by (2 - 2e/E), E = `epochs`, so the
     * factors compound and epoch e trains with gamma * prod_{k<e} (2 - 2k/E): for E = 10, 1, 2, 3.6, 5.76, 8.06,
     * 9.68, 9.68, 7.74, 4.64, 1.86 times gamma (it rises before it falls; it never reaches 0).
     */
    gammaSchedule: z.enum(['linear-decay', 'constant', 'amun']).default('linear-decay'),
    /** final epochs without the penalty (the public code's `--no-l1-epochs`, default 0) */
    noL1Epochs: z.number().int().min(0).default(0),
  })
  .strict();

/** The L1 weight of a 0-based epoch under the schedule (see the hyper-parameters); 0 in the last `noL1Epochs`. */
export function l1WeightAt(gamma: number, schedule: 'linear-decay' | 'constant' | 'amun', epoch: number, epochs: number, noL1Epochs: number): number {
  const l1Epochs = epochs - noL1Epochs;
  if (epoch >= l1Epochs) return 0;
  switch (schedule) {
    case 'constant':
      return gamma;
    case 'linear-decay':
      return gamma * (1 - epoch / l1Epochs);
    case 'amun': {
      let weight = gamma;
      for (let k = 0; k < epoch; k++) weight *= 2 - (2 * k) / epochs;
      return weight;
    }
    default: {
      const never: never = schedule;
      throw new Error(`unknown l1-sparse gammaSchedule '${String(never)}'; known: linear-decay, constant, amun`);
    }
  }
}

/** CE(batch) + l1Weight * sum over all trainable entries of |w|; the weight travels with the batch. */
const penalisedLoss: LossFunction = (model, batch) =>
  tf.tidy(() => {
    const ce = crossEntropy(model.logits(batch.x, { training: true }), batch.y);
    const l1 = tf.addN([...model.params.values()].map((w) => tf.sum(tf.abs(w))));
    return tf.add(ce, tf.mul(batch.extra!['l1Weight']!, l1)) as tf.Scalar;
  });

/**
 * l1-sparse, sparsity-aware unlearning (Jia et al., NeurIPS 2023, "Model sparsity can simplify machine
 * unlearning"): fine-tune on the retain set with an L1 penalty gamma_t * ||theta||_1 on all trainable weights
 * (batch-norm scales and shifts and biases included, as in the public code), gamma_t decaying linearly to 0 over
 * the epochs (or following AMUN's code, `gammaSchedule: 'amun'`). The retain batches are the stream `finetune` draws for the task's seed, so that with the same
 * optimiser settings and batch size, gamma = 0 is exactly FT and the difference from FT is the penalty alone.
 */
export const l1Sparse: UnlearnerDefinition<z.infer<typeof hyperParameters>> = {
  name: 'l1-sparse',
  description: 'Fine-tune on the retain set with a linearly decaying L1 penalty on the weights (l1-sparse).',
  paper: 'Jia et al., NeurIPS 2023 "Model sparsity can simplify machine unlearning"; defaults from its public code (OPTML-Group/Unlearn-Sparse)',
  settings: ['retain'],
  workload: (s, hp) => ({ trainImages: hp.epochs * s.retain, inferenceImages: 0 }),
  hyperParameters,
  async unlearn(task, hp) {
    if (hp.noL1Epochs > hp.epochs) throw new Error(`l1-sparse: noL1Epochs (${hp.noL1Epochs}) exceeds epochs (${hp.epochs})`);
    const retainBatches = epochBatches(task.train, task.retain, { batchSize: hp.batchSize, seed: combineSeeds(task.seed, 'finetune'), augment: task.recipe.augment });
    return trainCopy(task, 'l1-sparse', {
      epochs: hp.epochs,
      batches: function* (epoch): Iterable<Batch> {
        const weight = l1WeightAt(hp.gamma, hp.gammaSchedule, epoch, hp.epochs, hp.noL1Epochs);
        for (const batch of retainBatches(epoch)) yield { x: batch.x, y: batch.y, extra: { l1Weight: tf.scalar(weight) } };
      },
      stepsPerEpoch: stepsPerEpoch(task.retain.length, hp.batchSize),
      optimizer: { lr: hp.lr, momentum: hp.momentum, weightDecay: hp.weightDecay },
      schedule: fineTuneSchedule(hp),
      loss: penalisedLoss,
    });
  },
};
