import { z } from 'zod';
import type { UnlearnerDefinition } from '../unlearner.js';
import { flatParameters, forgetLossGradient, perturbationFields, perturbationUnlearn } from './perturbation/perturb.js';
import { selectTopK } from './perturbation/select.js';

const hyperParameters = z
  .object({
    ...perturbationFields,
    /**
     * how parameters are ranked: 'gradient' = |dL_f/dw| (REFERENCE.md), 'weight-gradient' = |w * dL_f/dw| (its
     * option: first-order estimate of the loss change from zeroing w). L_f is the mean cross-entropy on D_f.
     */
    score: z.enum(['gradient', 'weight-gradient']).default('gradient'),
    /** batch size of the forward/backward passes that accumulate the forget-set gradient (no effect on its value) */
    gradientBatchSize: z.number().int().positive().default(128),
  })
  .strict();

export type TopKPerturbationHyperParameters = z.infer<typeof hyperParameters>;

/**
 * Top-K fine-grained parameter perturbation, the project's interpretation of Zuo et al. (arXiv 2401.04385; IEEE
 * TKDE 2025), whose full algorithm is not available to us (REFERENCE.md):
 * 1. compute the gradient of the mean cross-entropy over D_f with respect to every parameter entry (inference
 *    mode: batch norm uses its running statistics);
 * 2. rank all entries of all parameter tensors together by |gradient| (or |w * gradient|) and take the
 *    `Math.round(k * total)` largest, ties broken towards the earlier entry;
 * 3. perturb those entries (`mode`: Gaussian noise scaled to each tensor's std, or a re-draw from the
 *    initialiser), everything else stays bit-identical;
 * 4. in the 'retain' setting, fine-tune on D_r for `finetuneEpochs` epochs (0 = none).
 * The idea: the entries the forget loss is most sensitive to carry most of D_f's specific influence.
 */
export const topkPerturbation: UnlearnerDefinition<TopKPerturbationHyperParameters> = {
  name: 'topk-perturbation',
  description: 'Perturb the share k of parameter entries with the largest forget-set gradient, then optionally fine-tune on D_r.',
  paper: 'Zuo et al., arXiv 2401.04385 (IEEE TKDE 2025), Top-K perturbation; project interpretation and defaults (REFERENCE.md)',
  settings: ['retain', 'forget-only'],
  // one gradient pass over D_f to rank the parameters, then the fine-tune on D_r
  workload: (s, hp) => ({ trainImages: s.forget + (s.setting === 'retain' ? hp.finetuneEpochs * s.retain : 0), inferenceImages: 0 }),
  hyperParameters,
  async unlearn(task, hp) {
    return perturbationUnlearn(task, hp, 'topk-perturbation', async (model, count) => {
      const gradient = await forgetLossGradient(model, task.train, task.forget, hp.gradientBatchSize);
      const weights = hp.score === 'weight-gradient' ? await flatParameters(model) : undefined;
      for (let i = 0; i < gradient.length; i++) gradient[i] = Math.abs(weights ? weights[i]! * gradient[i]! : gradient[i]!);
      return selectTopK(gradient, count);
    });
  },
};
