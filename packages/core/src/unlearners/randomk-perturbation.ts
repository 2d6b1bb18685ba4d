import { z } from 'zod';
import { Rng, combineSeeds } from '@lethe/runtime';
import type { UnlearnerDefinition } from '../unlearner.js';
import { perturbationFields, perturbationUnlearn } from './perturbation/perturb.js';
import { selectRandomK } from './perturbation/select.js';

const hyperParameters = z.object(perturbationFields).strict();

export type RandomKPerturbationHyperParameters = z.infer<typeof hyperParameters>;

/**
 * Random-k parameter perturbation, the control for Top-K (Zuo et al., arXiv 2401.04385; project interpretation,
 * REFERENCE.md): exactly Top-K's perturbation and optional fine-tuning, but the `Math.round(k * total)` entries
 * are drawn uniformly at random without replacement (seeded by the task seed) instead of by forget-set
 * gradient. It does not look at D_f at all, which is the point of the control.
 */
export const randomkPerturbation: UnlearnerDefinition<RandomKPerturbationHyperParameters> = {
  name: 'randomk-perturbation',
  description: 'Perturb a random share k of parameter entries (the control for Top-K), then optionally fine-tune on D_r.',
  paper: 'Zuo et al., arXiv 2401.04385 (IEEE TKDE 2025), Random-k perturbation; project interpretation and defaults (REFERENCE.md)',
  settings: ['retain', 'forget-only'],
  workload: (s, hp) => ({ trainImages: s.setting === 'retain' ? hp.finetuneEpochs * s.retain : 0, inferenceImages: 0 }),
  hyperParameters,
  async unlearn(task, hp) {
    return perturbationUnlearn(task, hp, 'randomk-perturbation', async (_model, count, layout) =>
      selectRandomK(layout.total, count, new Rng(combineSeeds(task.seed, 'randomk-perturbation', 'choose'))),
    );
  },
};
