import { z } from 'zod';
import { combineSeeds } from '@lethe/runtime';
import { epochBatches, stepsPerEpoch } from '../training/recipe.js';
import type { UnlearnerDefinition } from '../unlearner.js';
import { fineTuneFields, fineTuneSchedule, trainCopy } from './common.js';

const hyperParameters = z.object(fineTuneFields).strict();

/** FT: continue training the original model on the retain set only, relying on catastrophic forgetting. */
export const finetune: UnlearnerDefinition<z.infer<typeof hyperParameters>> = {
  name: 'finetune',
  description: 'Fine-tune the original model on the retain set (forgetting by catastrophic interference).',
  paper: 'Warnecke et al. 2023 / Golatkar et al. 2020 "FT" baseline; defaults from AMUN (arXiv 2503.00917) Sec. 5',
  settings: ['retain'],
  // one pass over D_r per epoch
  workload: (s, hp) => ({ trainImages: hp.epochs * s.retain, inferenceImages: 0 }),
  hyperParameters,
  async unlearn(task, hp) {
    return trainCopy(task, 'finetune', {
      epochs: hp.epochs,
      batches: epochBatches(task.train, task.retain, { batchSize: hp.batchSize, seed: combineSeeds(task.seed, 'finetune'), augment: task.recipe.augment }),
      stepsPerEpoch: stepsPerEpoch(task.retain.length, hp.batchSize),
      optimizer: { lr: hp.lr, momentum: hp.momentum, weightDecay: hp.weightDecay },
      schedule: fineTuneSchedule(hp),
    });
  },
};
