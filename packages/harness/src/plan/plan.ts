import { NETWORK_REVISION, getArchitecture, type ModelSpec } from '@lethe/models';
import { getUnlearner, type TrainingRecipe, type Setting } from '@lethe/core';
import { getDataset } from '@lethe/datasets';
import { needsReferenceModels, seedTriples, type BenchmarkConfig, type SeedTriple } from '../config/config.js';
import { contentHash } from '../config/hash.js';
import { chosenHyperParameters, searchEntryId, searchKeyOf, type TuningRecord, type HyperParameterSource } from './tuning-record.js';

/**
 * Stage 2: the plan. A config expands into original models (one per original seed), groups (original seed x forget
 * set x forget-set seed), each with its gold model, and cells (method x unlearning seed) whose hash names their
 * result file; plus the reference models of the membership attacks and, when the config searches hyper-parameters,
 * the validation groups of that search. Everything here is a pure function of the config (and of the search record
 * `lethe tune` wrote beside it), and every model is named by a hash of what determines it, so that runs on any
 * machine agree on what is done.
 */
export interface PlannedCell {
  method: string;
  label: string;
  hyperParameters: Record<string, unknown>;
  /** where the hyper-parameters come from: the config, or a search (`lethe tune`) */
  hyperParameterSource: HyperParameterSource;
  /** the config searches this method's hyper-parameters and that search has not finished */
  awaitsSearch: boolean;
  setting: Setting;
  seeds: SeedTriple;
  forgetSetId: string;
  cellHash: string;
}

export interface PlannedGroup {
  /** the original model's seed, the forget-set draw's seed (the cells add their unlearning seed) */
  seeds: Omit<SeedTriple, 'unlearning'>;
  forgetSetId: string;
  forgetFraction: number;
  originalKey: string;
  goldKey: string;
  /** the training seed of the gold model (one gold model per original seed x forget set, as AMUN's protocol) */
  goldSeed: number;
  cells: PlannedCell[];
}

/**
 * A reference model for LiRA / RMIA: pair `pair` of complementary random halves of the reference data (the training
 * set, or training + test set for online attacks), side 0 or 1, trained with the original model's recipe. Its key
 * depends on the data, architecture, recipe, reference seed and its place in the pairs only, so every method, forget
 * set and seed shares it, and a run with K reference models reuses those of a run with fewer.
 */
export interface PlannedReference {
  /** 0..K-1; 2 * pair + side */
  index: number;
  pair: number;
  side: 0 | 1;
  key: string;
}

/** How many images each part of the data holds (the data set's sizes, after the config's subsets and holdout). */
export interface PlannedSizes {
  /** the training set as loaded (subset included); indices of forget, retain and holdout point into it */
  train: number;
  test: number;
  /** training images no model sees (`dataset.holdout`) */
  holdout: number;
  /** training images the original models train on: train - holdout */
  available: number;
  /** images each reference model trains on (half of its reference data) */
  referenceHalf: number;
}

export interface Plan {
  config: BenchmarkConfig;
  configHash: string;
  modelSpec: ModelSpec;
  recipe: TrainingRecipe;
  /** the reference models' recipe: the original's, with `evaluation.mia.referenceEpochs` when set */
  referenceRecipe: TrainingRecipe;
  sizes: PlannedSizes;
  /** one original model per original seed used by a group (validation groups included) */
  originals: Array<{ seed: number; key: string }>;
  groups: PlannedGroup[];
  /** the search's groups (`config.tuning`), one per forget set: gold models the search needs, no reported cells */
  validationGroups: PlannedGroup[];
  /** the searches `lethe tune` runs (empty without `config.tuning`) */
  searches: PlannedSearch[];
  /** reference models the membership attacks need (empty when none does) */
  references: PlannedReference[];
}

export function modelSpecOf(config: BenchmarkConfig): ModelSpec {
  // the data set's registry entry knows its image shape, classes and channel statistics
  const dataset = getDataset(config.dataset.name);
  const normalization = config.model.normalize ? { mean: [...dataset.channelMean], std: [...dataset.channelStd] } : null;
  const base = { numClasses: dataset.numClasses, inputShape: [...dataset.imageShape] as [number, number, number], normalization };
  const { arch, normalize: _normalize, ...options } = config.model;
  return getArchitecture(arch).spec(options, base);
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

export function plannedSizes(config: BenchmarkConfig): PlannedSizes {
  const full = getDataset(config.dataset.name).sizes;
  const train = Math.min(config.dataset.trainSubset ?? full.train, full.train);
  const test = Math.min(config.dataset.testSubset ?? full.test, full.test);
  const holdout = config.dataset.holdout?.count ?? 0;
  const available = train - holdout;
  const referencePool = config.evaluation.mia.referenceData === 'train-test-halves' ? available + test : available;
  return { train, test, holdout, available, referenceHalf: Math.floor(referencePool / 2) };
}

/** The forget set's size for a fraction of the available training images (what `drawForgetSet` draws). */
export function forgetCount(available: number, fraction: number): number {
  return Math.round(fraction * available);
}

export class PlanError extends Error {
  override name = 'PlanError';
}

/**
 * The fewest images a forget, retain or test set may hold. Below it an accuracy moves in steps of 10 points or more
 * (one image of a one-image set is 0 or 100), and Avg Gap compares noise: such a run is refused, not reported.
 */
export const MIN_SET_IMAGES = 10;

/** Sizes that would make a run meaningless or fail late are refused here, before any model trains; each names its field. */
function checkSizes(config: BenchmarkConfig, sizes: PlannedSizes): void {
  if (sizes.available < 2) {
    throw new PlanError(`dataset.holdout keeps ${sizes.holdout} of ${sizes.train} training images out of every model, leaving ${sizes.available}; lower holdout.count`);
  }
  config.forgetSets.forEach((forgetSet, i) => {
    const k = forgetCount(sizes.available, forgetSet.fraction);
    const id = forgetSetId(forgetSet.fraction);
    if (k < 1 || k >= sizes.available) {
      throw new PlanError(`forget set ${id} of ${sizes.available} training images would hold ${k}; choose a fraction that leaves both the forget and the retain set non-empty`);
    }
    if (k < MIN_SET_IMAGES) {
      throw new PlanError(`forgetSets[${i}].fraction: forget set ${id} of ${sizes.available} training images would hold ${k} image(s), fewer than the minimum of ${MIN_SET_IMAGES} (its accuracy would move in steps of ${(100 / k).toFixed(0)} points); raise the fraction or dataset.trainSubset`);
    }
    if (sizes.available - k < MIN_SET_IMAGES) {
      throw new PlanError(`forgetSets[${i}].fraction: forget set ${id} leaves a retain set of ${sizes.available - k} image(s), fewer than the minimum of ${MIN_SET_IMAGES}; lower the fraction or raise dataset.trainSubset`);
    }
  });
  if (sizes.test < MIN_SET_IMAGES) {
    throw new PlanError(`dataset.testSubset: the test set would hold ${sizes.test} image(s), fewer than the minimum of ${MIN_SET_IMAGES} (TA would move in steps of ${(100 / Math.max(sizes.test, 1)).toFixed(0)} points); raise dataset.testSubset`);
  }
}

/** Cache keys of everything trained: the network revision is part of them, so a changed network never loads old weights. */
function originalKeyOf(config: BenchmarkConfig, modelSpec: ModelSpec, recipe: TrainingRecipe, seed: number): string {
  return contentHash({ kind: 'original', network: NETWORK_REVISION, dataset: config.dataset, modelSpec, recipe, seed });
}

function planGroup(
  config: BenchmarkConfig,
  originalKey: string,
  seeds: Omit<SeedTriple, 'unlearning'>,
  fraction: number,
  cellsOf: (goldKey: string, forgetSetId: string) => PlannedCell[],
): PlannedGroup {
  const id = forgetSetId(fraction);
  // what determines the gold model: the data (through the original's key), the forget set, both seeds
  const goldKey = contentHash({ kind: 'gold', originalKey, forgetSet: { kind: 'random', fraction }, seeds });
  return {
    seeds,
    forgetSetId: id,
    forgetFraction: fraction,
    originalKey,
    goldKey,
    goldSeed: goldSeedOf(config, seeds),
    cells: cellsOf(goldKey, id),
  };
}

/** The array form of `seeds` trained each gold model with its one seed; the object form gives each (original, forget set) its own. */
function goldSeedOf(config: BenchmarkConfig, seeds: Omit<SeedTriple, 'unlearning'>): number {
  return Array.isArray(config.seeds) ? seeds.original : hashSeed(['gold', seeds.original, seeds.forgetSet]);
}

function hashSeed(parts: unknown): number {
  return Number.parseInt(contentHash(parts, 8), 16);
}

/** The cell hash: everything that determines its result. */
export function cellHashOf(goldKey: string, cell: Pick<PlannedCell, 'method' | 'label' | 'hyperParameters' | 'setting'> & { unlearningSeed: number }, config: BenchmarkConfig, referenceKeys: readonly string[]): string {
  return contentHash({
    kind: 'cell',
    goldKey,
    unlearningSeed: cell.unlearningSeed,
    method: cell.method,
    label: cell.label,
    hyperParameters: cell.hyperParameters,
    setting: cell.setting,
    evaluation: config.evaluation,
    references: referenceKeys,
  });
}

/** One hyper-parameter search: a method (label) on the validation group of a forget set. */
export interface PlannedSearch {
  entryId: string;
  method: string;
  label: string;
  forgetSetId: string;
  /** the config's values: the search replaces the searched fields only */
  base: Record<string, unknown>;
  space: Record<string, unknown>;
  budget: number;
  searchKey: string;
  group: PlannedGroup;
}

/** Methods a search leaves alone: a gold-model method (retrain) has nothing to search; `skip` keeps the config's values. */
function searched(config: BenchmarkConfig, method: { name: string; label?: string | undefined }): boolean {
  if (!config.tuning || getUnlearner(method.name).isGoldModel) return false;
  return !config.tuning.methods[method.label ?? method.name]?.skip;
}

export interface PlanOptions {
  /** the search record `lethe tune` wrote beside the config; its chosen values replace the config's */
  tuning?: TuningRecord | null;
}

export function planBenchmark(config: BenchmarkConfig, options: PlanOptions = {}): Plan {
  const modelSpec = modelSpecOf(config);
  const recipe = recipeOf(config);
  const sizes = plannedSizes(config);
  checkSizes(config, sizes);

  const references: PlannedReference[] = [];
  const referenceEpochs = config.evaluation.mia.referenceEpochs;
  const referenceRecipe = referenceEpochs === undefined ? recipe : { ...recipe, epochs: referenceEpochs };
  if (needsReferenceModels(config)) {
    const { referenceModels, referenceSeed, referenceData } = config.evaluation.mia;
    for (let index = 0; index < referenceModels; index++) {
      const pair = Math.floor(index / 2);
      const side = (index % 2) as 0 | 1;
      references.push({ index, pair, side, key: contentHash({ kind: 'reference', network: NETWORK_REVISION, dataset: config.dataset, referenceData, modelSpec, recipe: referenceRecipe, referenceSeed, pair, side }) });
    }
  }
  const referenceKeys = references.map((r) => r.key);

  const originals = new Map<number, string>();
  const originalKey = (seed: number): string => {
    let key = originals.get(seed);
    if (!key) {
      key = originalKeyOf(config, modelSpec, recipe, seed);
      originals.set(seed, key);
    }
    return key;
  };

  const triples = seedTriples(config);
  const validationGroups: PlannedGroup[] = [];
  const searches: PlannedSearch[] = [];
  if (config.tuning) {
    const tuning = config.tuning;
    const seeds = { original: tuning.originalSeed ?? triples[0]!.original, forgetSet: tuning.forgetSetSeed };
    for (const forgetSet of config.forgetSets) {
      const group = planGroup(config, originalKey(seeds.original), seeds, forgetSet.fraction, () => []);
      validationGroups.push(group);
      for (const m of config.methods) {
        if (!searched(config, m)) continue;
        const label = m.label ?? m.name;
        const own = tuning.methods[label];
        const space = own?.space ?? tuning.space;
        const budget = own?.budget ?? tuning.budget;
        const searchKey = searchKeyOf({
          validationGoldKey: group.goldKey,
          method: m.name,
          label,
          base: m.hyperParameters,
          space,
          budget,
          seed: tuning.seed,
          unlearningSeed: tuning.unlearningSeed,
          setting: config.setting,
          evaluation: config.evaluation,
          referenceKeys,
        });
        searches.push({ entryId: searchEntryId(label, group.forgetSetId), method: m.name, label, forgetSetId: group.forgetSetId, base: m.hyperParameters, space, budget, searchKey, group });
      }
    }
  }
  const searchOf = new Map(searches.map((s) => [s.entryId, s]));

  // groups: (original seed, forget-set seed, forget set), in that order; cells: unlearning seed, then method order
  const groups: PlannedGroup[] = [];
  const groupOf = new Map<string, PlannedGroup>();
  for (const triple of triples) {
    for (const forgetSet of config.forgetSets) {
      const seeds = { original: triple.original, forgetSet: triple.forgetSet };
      const id = JSON.stringify([seeds.original, seeds.forgetSet, forgetSet.fraction]);
      let group = groupOf.get(id);
      if (!group) {
        group = planGroup(config, originalKey(seeds.original), seeds, forgetSet.fraction, () => []);
        groupOf.set(id, group);
        groups.push(group);
      }
      for (const m of config.methods) {
        const label = m.label ?? m.name;
        const entryId = searchEntryId(label, group.forgetSetId);
        const { hyperParameters, source, pending } = chosenHyperParameters(options.tuning ?? null, entryId, searchOf.get(entryId)?.searchKey ?? null, m.hyperParameters);
        const cell = { method: m.name, label, hyperParameters, setting: config.setting, unlearningSeed: triple.unlearning };
        group.cells.push({
          method: m.name,
          label,
          hyperParameters,
          hyperParameterSource: source,
          awaitsSearch: pending,
          setting: config.setting,
          seeds: { ...seeds, unlearning: triple.unlearning },
          forgetSetId: group.forgetSetId,
          cellHash: cellHashOf(group.goldKey, cell, config, referenceKeys),
        });
      }
    }
  }

  return {
    config,
    configHash: contentHash(config),
    modelSpec,
    recipe,
    referenceRecipe,
    sizes,
    originals: [...originals].map(([seed, key]) => ({ seed, key })),
    groups,
    validationGroups,
    searches,
    references,
  };
}
