import { z } from 'zod';
import * as tf from '@tensorflow/tfjs-core';
import type { Model } from '@lethe/models';
import type { UnlearnerDefinition } from '../unlearner.js';
import { randomLabelFields, trainWithRandomLabels } from './random-label.js';
import { saliencyMask } from './saliency.js';

const hyperParameters = z
  .object({
    ...randomLabelFields,
    /** SalUn's CIFAR-10 example (public code README): 10 epochs at lr 0.013 with the 50% mask */
    lr: z.number().positive().default(0.013),
    /** share of all weights that may change: SalUn's default sparsity, 50% (paper Sec. 4, README "with_0.5.pt") */
    maskFraction: z.number().min(0).max(1).default(0.5),
    /** batch size of the saliency gradient pass; default: `batchSize` */
    maskBatchSize: z.number().int().positive().nullable().default(null),
  })
  .strict();

/**
 * SalUn (Fan et al., ICLR 2024): compute the weight saliency mask of the forget loss on the original model
 * (see `saliencyMask`: global top `maskFraction` of all entries by |gradient|), then run RL (random-label
 * fine-tuning, with the retain set when available) updating only the masked entries. Every entry outside the
 * mask stays bit-identical: the optimiser multiplies gradient, weight decay and momentum by the mask. Batch-norm
 * running statistics are state, not weights, and do follow the data.
 */
export const salun: UnlearnerDefinition<z.infer<typeof hyperParameters>> = {
  name: 'salun',
  description: 'Random-label fine-tuning restricted to the weights most salient for the forget loss (SalUn).',
  paper: 'Fan et al., ICLR 2024 "SalUn" (arXiv 2310.12508); defaults from its public code (OPTML-Group/Unlearn-Saliency)',
  settings: ['retain', 'forget-only'],
  // the saliency mask (one gradient pass over D_f), then RL's epochs
  workload: (s, hp) => ({ trainImages: s.forget + hp.epochs * (s.forget + (s.setting === 'retain' ? s.retain : 0)), inferenceImages: 0 }),
  hyperParameters,
  async unlearn(task, hp) {
    const mask = await saliencyMask(task.original, task.train, task.forget, { fraction: hp.maskFraction, batchSize: hp.maskBatchSize ?? hp.batchSize });
    let model: Model | undefined;
    try {
      let selected = 0;
      let total = 0;
      for (const m of mask.values()) {
        const count = tf.sum(m);
        selected += (await count.data())[0]!;
        count.dispose();
        total += m.size;
      }
      task.log(`salun: the saliency mask holds ${selected} of ${total} weights (${((100 * selected) / total).toFixed(1)}%)`);
      model = task.original.clone();
      await trainWithRandomLabels(model, task, hp, 'salun', mask);
      return model;
    } catch (err) {
      model?.dispose();
      throw err;
    } finally {
      tf.dispose([...mask.values()]);
    }
  },
};
