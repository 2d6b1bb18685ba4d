import { z } from 'zod';
import { combineSeeds } from '@lethe/runtime';
import type { Model } from '@lethe/models';
import type { ImageDataset } from '@lethe/datasets';
import { trainFromScratch, type TrainingRecipe } from '../training/recipe.js';
import type { TrainCheckpointer, TrainProgress } from '../training/loop.js';
import type { UnlearnerDefinition } from '../unlearner.js';

const hyperParameters = z.object({}).strict();

/**
 * The gold model of a task: trained from scratch on `retain` with the original recipe, seeded by `seed` (the
 * task's seed). The `retrain` unlearner's whole work, and what the harness calls to train a group's gold model
 * without loading the original model.
 */
export async function retrainFromScratch(
  spec: Model['spec'],
  recipe: TrainingRecipe,
  train: ImageDataset,
  retain: Int32Array,
  seed: number,
  onProgress?: (progress: TrainProgress) => void,
  options: { checkpoint?: TrainCheckpointer } = {},
): Promise<Model> {
  const { model } = await trainFromScratch(spec, recipe, train, retain, combineSeeds(seed, 'retrain'), onProgress, options);
  return model;
}

/**
 * Retrain from scratch on the retain set with the original model's recipe: the exact ("gold") answer every
 * other method is measured against, and the most expensive one.
 */
export const retrain: UnlearnerDefinition<z.infer<typeof hyperParameters>> = {
  name: 'retrain',
  description: 'Train from scratch on the retain set with the original recipe (the gold standard).',
  paper: 'Exact unlearning baseline (e.g. Bourtoule et al., 2021); AMUN Table 1 "Retrain"',
  settings: ['retain'],
  // the gold model itself: the harness reuses the group's gold model as retrain's result
  isGoldModel: true,
  hyperParameters,
  unlearn: (task) => retrainFromScratch(task.original.spec, task.recipe, task.train, task.retain, task.seed, (p) => task.onProgress?.({ ...p, phase: 'retrain' })),
};
