import type { ModelSpec } from '@lethe/models';
import type { TrainingRecipe, Setting } from '@lethe/core';
import { CIFAR10_MEAN, CIFAR10_STD } from '@lethe/datasets';
import { needsReferenceModels, type BenchmarkConfig } from './config.js';
import { contentHash } from './hash.js';

/**
 * Stage 2: the plan. A config expands into groups (seed x forget set), each with its original and gold model
 * cache keys, and cells (one per method) whose hash names their result file. Everything here is a pure
 * function of the config.
 */
export interface PlannedCell {
  method: string;
  label: string;
  hyperParameters: Record<string, unknown>;
  setting: Setting;
  seed: number;
  forgetSetId: string;
  cellHash: string;
}

export interface PlannedGroup {
  seed: number;
  forgetSetId: string;
  forgetFraction: number;
  originalKey: string;
  goldKey: string;
  cells: PlannedCell[];
}

/**
 * A reference model for LiRA / RMIA: pair `pair` of complementary random halves of the training set, side 0 or
 * 1, trained with the original model's recipe. Its key depends on the data, architecture, recipe, reference
 * seed and its place in the pairs only, so every method, forget set and cell seed shares it, and a run with K
 * reference models reuses those of a run with fewer.
 */
export interface PlannedReference {
  /** 0..K-1; 2 * pair + side */
  index: number;
  pair: number;
  side: 0 | 1;
  key: string;
}

export interface Plan {
  config: BenchmarkConfig;
  configHash: string;
  modelSpec: ModelSpec;
  recipe: TrainingRecipe;
  groups: PlannedGroup[];
  /** reference models the membership attacks need (empty when none does) */
  references: PlannedReference[];
}

export function modelSpecOf(config: BenchmarkConfig): ModelSpec {
  const normalization = config.model.normalize ? { mean: [...CIFAR10_MEAN], std: [...CIFAR10_STD] } : null;
  const base = { numClasses: 10, inputShape: [32, 32, 3] as [number, number, number], normalization };
  return config.model.arch === 'small-cnn'
    ? { arch: 'small-cnn', batchNorm: config.model.batchNorm, ...(config.model.width !== 1 ? { width: config.model.width } : {}), ...base }
    : { arch: 'resnet18', width: config.model.width, ...base };
}

export function recipeOf(config: BenchmarkConfig): TrainingRecipe {
  const t = config.training;
  return {
    epochs: t.epochs,
    batchSize: t.batchSize,
    optimizer: { lr: t.lr, momentum: t.momentum, weightDecay: t.weightDecay },
    schedule: t.schedule,
    augment: t.augment,
  };
}

export function forgetSetId(fraction: number): string {
  return `random-${Number((fraction * 100).toFixed(4))}pct`;
}

export function planBenchmark(config: BenchmarkConfig): Plan {
  const modelSpec = modelSpecOf(config);
  const recipe = recipeOf(config);
  const groups: PlannedGroup[] = [];
  for (const seed of config.seeds) {
    // what determines the original model: its data, architecture, recipe and seed
    const originalKey = contentHash({ kind: 'original', dataset: config.dataset, modelSpec, recipe, seed });
    for (const forgetSet of config.forgetSets) {
      const id = forgetSetId(forgetSet.fraction);
      const goldKey = contentHash({ kind: 'gold', originalKey, forgetSet, seed });
      const cells = config.methods.map((m): PlannedCell => ({
        method: m.name,
        label: m.label ?? m.name,
        hyperParameters: m.hyperParameters,
        setting: config.setting,
        seed,
        forgetSetId: id,
        cellHash: contentHash({ kind: 'cell', goldKey, method: m.name, label: m.label ?? m.name, hyperParameters: m.hyperParameters, setting: config.setting, evaluation: config.evaluation }),
      }));
      groups.push({ seed, forgetSetId: id, forgetFraction: forgetSet.fraction, originalKey, goldKey, cells });
    }
  }
  const references: PlannedReference[] = [];
  if (needsReferenceModels(config)) {
    const { referenceModels, referenceSeed } = config.evaluation.mia;
    for (let index = 0; index < referenceModels; index++) {
      const pair = Math.floor(index / 2);
      const side = (index % 2) as 0 | 1;
      references.push({ index, pair, side, key: contentHash({ kind: 'reference', dataset: config.dataset, modelSpec, recipe, referenceSeed, pair, side }) });
    }
  }
  return { config, configHash: contentHash(config), modelSpec, recipe, groups, references };
}
