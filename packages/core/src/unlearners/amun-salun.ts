import { z } from 'zod';
import * as tf from '@tensorflow/tfjs-core';
import type { UnlearnerDefinition } from '../unlearner.js';
import { amunHyperParameters, runAmun, amunWorkload, amunAdversarialArtefact } from './amun.js';
import { saliencyMask } from './saliency.js';

const hyperParameters = amunHyperParameters
  .extend({
    /** share of all weights AMUN may update: SalUn's default 50% mask (Fan et al., ICLR 2024, Sec. 4), which AMUN+SalUn reuses (arXiv 2503.00917, Sec. 5) */
    maskFraction: z.number().min(0).max(1).default(0.5),
    /** batch size of the saliency gradient pass; default: the fine-tuning `batchSize` */
    maskBatchSize: z.number().int().positive().nullable().default(null),
  })
  .strict();

/**
 * AMUN+SalUn (arXiv 2503.00917, Tables 1-2): AMUN's fine-tuning on D_f ∪ D_adv (with D_r when available),
 * restricted to SalUn's weight saliency mask computed on the original model from the forget loss. Entries outside
 * the mask stay bit-identical (the optimiser masks gradient, weight decay and momentum alike).
 */
export const amunSalun: UnlearnerDefinition<z.infer<typeof hyperParameters>> = {
  name: 'amun-salun',
  description: 'AMUN restricted to the weights most salient for the forget loss (SalUn mask).',
  paper: 'Ebrahimpour-Boroojeny et al., arXiv 2503.00917 (ICML 2025), "AMUN+SalUn"; mask from Fan et al., ICLR 2024',
  settings: ['retain', 'forget-only'],
  // AMUN's, plus the saliency mask (one gradient pass over D_f)
  workload: (s, hp) => {
    const w = amunWorkload(s, hp);
    return { trainImages: w.trainImages + s.forget, inferenceImages: w.inferenceImages };
  },
  // the same adversarial set as AMUN's (same attack options, same original and forget set): computed once for both
  artefacts: (hp) => [amunAdversarialArtefact(hp)],
  hyperParameters,
  async unlearn(task, hp) {
    const mask = await saliencyMask(task.original, task.train, task.forget, { fraction: hp.maskFraction, batchSize: hp.maskBatchSize ?? hp.batchSize });
    try {
      return await runAmun(task, hp, { gradientMask: mask, phase: 'amun-salun' });
    } finally {
      tf.dispose([...mask.values()]);
    }
  },
};
