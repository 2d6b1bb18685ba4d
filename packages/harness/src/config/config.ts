import fs from 'node:fs';
import { z } from 'zod';
import { getUnlearner, resolveHyperParameters, SETTINGS, type Setting } from '@lethe/core';
import { getMembershipAttack, resolveAttackOptions } from '@lethe/attacks';
import { getDataset, type DatasetEntry } from '@lethe/datasets';
import { getArchitecture, type ArchitectureDefinition } from '@lethe/models';
import { benchmarkNameSchema, methodNameSchema, printable, safeTextSchema } from './strings.js';

/**
 * A benchmark config (JSON). Stage 1 of config -> plan -> run -> results -> report. The schema carries the
 * defaults; every field a user can write is here, and an unknown field is an error (a typo must not be
 * silently ignored in an experiment).
 */
const scheduleSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('constant') }).strict(),
  z.object({ kind: z.literal('step'), everyEpochs: z.number().int().positive(), gamma: z.number().positive() }).strict(),
  z.object({ kind: z.literal('cosine'), minLr: z.number().min(0).optional() }).strict(),
]);

/**
 * The model: a registered architecture (@lethe/models: 'small-cnn', 'resnet18') and its options, which its own schema
 * validates and completes with defaults (parseBenchmarkConfig), so that a new architecture needs no edit here.
 */
const modelSchema = z.looseObject({
  arch: z.string().min(1),
  /** normalise inputs with the data set's per-channel mean and std inside the model */
  normalize: z.boolean().default(true),
});

const forgetSetSchema = z
  .object({
    /** a uniformly random subset of the training set (AMUN's "random 10%" / "random 50%") */
    kind: z.literal('random'),
    fraction: z.number().gt(0).lt(1),
  })
  .strict();

const methodSchema = z
  .object({
    /** a registered unlearner; checked against the registry after the schema (and path-safe, as the default label) */
    name: methodNameSchema,
    /**
     * shown in tables instead of the name, to tell two settings of one method apart; part of the result file's name,
     * so limited to characters safe in a path (no separators, no "..")
     */
    label: methodNameSchema.optional(),
    hyperParameters: z.record(z.string(), z.unknown()).default({}),
  })
  .strict();

/**
 * The three seeds of a run (AMUN's protocol: 3 original models x 3 forget sets x 3 unlearning runs = 27 runs per
 * number). The object form takes every combination: originals are shared across forget sets, a gold model is
 * trained per (original seed, forget set), and each unlearning seed is one more run of every method. The array form
 * (one seed per run) fixes all three together: seed s = original s, forget-set draw s, unlearning run s.
 */
const seedsSchema = z.union([
  z.array(z.number().int().min(0)).min(1),
  z
    .object({
      /** which original models (each trained from its own initialisation and data order) */
      original: z.array(z.number().int().min(0)).min(1),
      /** which draws of each forget set */
      forgetSet: z.array(z.number().int().min(0)).min(1),
      /** which runs of each unlearner (data order, random labels, noise) */
      unlearning: z.array(z.number().int().min(0)).min(1),
    })
    .strict(),
]);

/** A learning-rate search dimension (see `lethe tune`). */
const searchDimensionSchema = z.union([
  z.object({ grid: z.array(z.union([z.number(), z.string(), z.boolean()])).min(1) }).strict(),
  z
    .object({ logUniform: z.tuple([z.number().positive(), z.number().positive()]) })
    .strict()
    .refine((d) => d.logUniform[0] < d.logUniform[1], 'logUniform needs [low, high] with low < high'),
]);

const searchSpaceSchema = z.record(z.string(), searchDimensionSchema);

/**
 * Hyper-parameter search (`lethe tune`), as the papers pick their learning rates (AMUN: lr searched in
 * [1e-6, 1e-1]). Each method's candidates are scored by Avg Gap on a validation forget set drawn with its own seed,
 * never a reported one, so that no choice is made on the numbers that are reported.
 */
const tuningSchema = z
  .object({
    /** the validation forget set's draw; must not be one of the reported forget-set seeds */
    forgetSetSeed: z.number().int().min(0),
    /** the original model the search unlearns from (default: the first reported original seed, so no extra model) */
    originalSeed: z.number().int().min(0).optional(),
    /** the unlearning seed of the search's runs */
    unlearningSeed: z.number().int().min(0).default(0),
    /** candidates per method when some dimension is sampled (stratified: one per equal-width stratum of each range) */
    budget: z.number().int().positive().default(6),
    /** seeds the candidates' draws */
    seed: z.number().int().min(0).default(0),
    /** search space for every method (default: AMUN's learning-rate range, Sec. 5: [1e-6, 1e-1], log-uniform) */
    space: searchSpaceSchema.default({ lr: { logUniform: [1e-6, 1e-1] } }),
    /** per method label: another space or budget, or `skip` (run with the config's values) */
    methods: z
      .record(z.string(), z.object({ space: searchSpaceSchema.optional(), budget: z.number().int().positive().optional(), skip: z.boolean().default(false) }).strict())
      .default({}),
    /** true: `lethe run` refuses the cells of a method whose search has not finished (it still trains the models) */
    required: z.boolean().default(false),
  })
  .strict();

export type TuningConfig = z.infer<typeof tuningSchema>;
export type SearchSpace = z.infer<typeof searchSpaceSchema>;
export type SearchDimension = z.infer<typeof searchDimensionSchema>;

/**
 * Membership inference on every model of a run. The default is the SVC attack only (no reference models to
 * train: cheap enough for smoke runs); add 'rmia' (or 'lira') for AMUN's FT AUC, which trains `referenceModels`
 * models on random halves of the training set once, cached and shared by every method, forget set and seed.
 */
const miaSchema = z
  .object({
    /** registry ids of membership attacks (@lethe/attacks): 'svc-mia', 'rmia', 'lira'; [] turns MIA off */
    attacks: z.array(z.string().min(1)).default(['svc-mia']),
    /** the attack whose score is "MIA" in Avg Gap; default: the first reference-model attack listed, else the first one */
    primary: z.string().min(1).optional(),
    /**
     * reference models for LiRA / RMIA, in pairs trained on complementary random halves of the training set (so
     * every training sample is OUT for exactly half of them). AMUN's tables use 128 (online RMIA); a few are
     * affordable on a CPU, and published reproductions with few models report lower AUCs: results state K.
     */
    referenceModels: z.number().int().min(2).default(4),
    /** seeds the halves and the reference models' training; not the cell seeds, so every seed shares them */
    referenceSeed: z.number().int().min(0).default(0),
    /**
     * what the reference models' halves are drawn from. 'train-halves': the training set (offline attacks: the test
     * set is OUT for every reference). 'train-test-halves': the training and the test set together (60,000 CIFAR-10
     * images), as AMUN's online RMIA (rmia_evaluate.py), where every scored sample is IN for about half of them.
     */
    referenceData: z.enum(['train-halves', 'train-test-halves']).default('train-halves'),
    /**
     * epochs of the reference models' training (default: the original recipe's; AMUN's rmia_evaluate.py trains its
     * 128 reference models for 160 epochs, the originals for 200); the rest of the recipe is the original's
     */
    referenceEpochs: z.number().int().positive().optional(),
    /** per-attack options, e.g. { "rmia": { "offlineA": 0.3 } } (each attack documents its defaults) */
    options: z.record(z.string(), z.record(z.string(), z.unknown())).default({}),
  })
  .strict();

/**
 * The SPD-GAN unlearning degree (opt-in; see @lethe/metrics spd-gan.ts for our interpretation of Zuo et al.,
 * arXiv 2401.04385): per group, a GAN perturbs the forget set (||delta||_inf <= eps), an "SPD original" is
 * trained on D_r ∪ G(D_f) with the benchmark's recipe, and every method also unlearns G(D_f) from it. Generator
 * and SPD original are cached by content hash. Doubles the unlearning cost of a run.
 */
const spdGanSchema = z
  .object({
    /** L_inf bound of the perturbation on [0, 1] pixels; default 8/255 (the usual imperceptible budget) */
    eps: z.number().gt(0).lte(1).default(8 / 255),
    /** GAN training passes over the forget set (our choice; the paper does not publish its GAN) */
    ganEpochs: z.number().int().positive().default(10),
    ganBatchSize: z.number().int().positive().default(64),
    /** Adam learning rate of generator and discriminator (our choice) */
    ganLr: z.number().positive().default(5e-3),
    /** weight of the fixed-signature term in the generator loss; 0 = adversarial loss only (our choice) */
    signatureWeight: z.number().min(0).default(1),
    /** hidden channels of the generator and the discriminator */
    hidden: z.number().int().positive().default(16),
  })
  .strict();

export type SpdGanConfig = z.infer<typeof spdGanSchema>;

export const benchmarkConfigSchema = z
  .object({
    $schema: z.string().optional(),
    /** names the results folder <results dir>/<name>/: 1-80 of a-z 0-9 . _ -, never ".." */
    name: benchmarkNameSchema,
    /** free text, shown in reports: no control or bidirectional-control characters */
    description: safeTextSchema().optional(),
    dataset: z
      .object({
        /** a registered data set (@lethe/datasets: 'cifar10'; 'synthetic' for tests and demos, no download) */
        name: z.string().min(1),
        /** use this many training images, drawn at random (by subsetSeed) from the full training set */
        trainSubset: z.number().int().positive().optional(),
        /** evaluate on this many test images, drawn at random (by subsetSeed) */
        testSubset: z.number().int().positive().optional(),
        subsetSeed: z.number().int().min(0).default(0),
        /**
         * training images kept out of every model (original, gold, reference): data from the training distribution
         * that no model has seen, as TMU's held-out set D_h needs (`heldOut: 'train-holdout'`). Forget sets are
         * drawn from the rest.
         */
        holdout: z.object({ count: z.number().int().positive(), seed: z.number().int().min(0).default(0) }).strict().optional(),
      })
      .strict(),
    model: modelSchema,
    /** the recipe of the original model, also used to retrain the gold model */
    training: z
      .object({
        epochs: z.number().int().positive(),
        batchSize: z.number().int().positive().default(128),
        lr: z.number().positive(),
        momentum: z.number().min(0).lt(1).default(0.9),
        weightDecay: z.number().min(0).default(5e-4),
        schedule: scheduleSchema.default({ kind: 'constant' }),
        augment: z.boolean().default(true),
      })
      .strict(),
    forgetSets: z.array(forgetSetSchema).min(1),
    setting: z.enum(SETTINGS as [Setting, ...Setting[]]).default('retain'),
    seeds: seedsSchema.default([0]),
    methods: z.array(methodSchema).min(1),
    evaluation: z
      .object({
        batchSize: z.number().int().positive().default(256),
        mia: miaSchema.prefault({}),
        /** opt-in: absent = no SPD-GAN degree (and result hashes of other configs unchanged) */
        spdGan: spdGanSchema.optional(),
      })
      .strict()
      .prefault({}),
    tuning: tuningSchema.optional(),
  })
  .strict();

export type BenchmarkConfig = z.infer<typeof benchmarkConfigSchema>;

export class ConfigError extends Error {
  override name = 'ConfigError';
  constructor(message: string) {
    // messages quote the config (keys, values, names): never let it put control or bidi characters on a terminal
    super(message.split('\n').map(printable).join('\n'));
  }
}

/** Validate a parsed config: schema first, then method names and their hyper-parameters. */
export function parseBenchmarkConfig(raw: unknown, source = 'config'): BenchmarkConfig {
  const parsed = benchmarkConfigSchema.safeParse(raw);
  if (!parsed.success) {
    throw new ConfigError(`${source} is not a valid benchmark config:\n${z.prettifyError(parsed.error)}`);
  }
  const config = parsed.data;
  const labels = new Set<string>();
  config.methods.forEach((method, i) => {
    try {
      getUnlearner(method.name);
      method.hyperParameters = resolveHyperParameters(method.name, config.setting, method.hyperParameters);
    } catch (err) {
      throw new ConfigError(`${source}: methods[${i}] (${method.name}): ${(err as Error).message}`);
    }
    const label = method.label ?? method.name;
    if (labels.has(label)) throw new ConfigError(`${source}: methods[${i}]: '${label}' appears twice; give one of them a distinct "label"`);
    labels.add(label);
  });
  validateModel(config, source);
  validateMembershipSettings(config, source);
  validateSeeds(config, source);
  if (config.tuning) validateTuning(config, config.tuning, source);
  let dataset: DatasetEntry;
  try {
    dataset = getDataset(config.dataset.name);
  } catch (err) {
    throw new ConfigError(`${source}: dataset.name: ${(err as Error).message}`);
  }
  const label = dataset.name === 'cifar10' ? 'CIFAR-10' : `'${dataset.name}'`;
  if (config.dataset.trainSubset !== undefined && config.dataset.trainSubset > dataset.sizes.train) {
    throw new ConfigError(`${source}: dataset.trainSubset is ${config.dataset.trainSubset}, but ${label} has ${dataset.sizes.train} training images`);
  }
  if (config.dataset.testSubset !== undefined && config.dataset.testSubset > dataset.sizes.test) {
    throw new ConfigError(`${source}: dataset.testSubset is ${config.dataset.testSubset}, but ${label} has ${dataset.sizes.test} test images`);
  }
  return config;
}

/** `model.arch` must be registered; its options go through the architecture's schema (defaults filled in). */
function validateModel(config: BenchmarkConfig, source: string): void {
  const { arch, normalize, ...options } = config.model;
  let architecture: ArchitectureDefinition;
  try {
    architecture = getArchitecture(arch);
  } catch (err) {
    throw new ConfigError(`${source}: model.arch: ${(err as Error).message}`);
  }
  const parsed = architecture.options.safeParse(options);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const field = issue.path.length > 0 ? `model.${issue.path.join('.')}` : 'model';
    throw new ConfigError(`${source}: ${field}: ${issue.message} (options of '${arch}': ${z.prettifyError(parsed.error).replace(/\n/g, ' ')})`);
  }
  config.model = { arch, normalize, ...parsed.data };
}

/** One run's seeds: which original model, which forget-set draw, which unlearning run. */
export interface SeedTriple {
  original: number;
  forgetSet: number;
  unlearning: number;
}

/** The runs a config asks for: the array form zips (s, s, s); the object form crosses its three lists. */
export function seedTriples(config: Pick<BenchmarkConfig, 'seeds'>): SeedTriple[] {
  const seeds = config.seeds;
  if (Array.isArray(seeds)) return seeds.map((s) => ({ original: s, forgetSet: s, unlearning: s }));
  const out: SeedTriple[] = [];
  for (const original of seeds.original) for (const forgetSet of seeds.forgetSet) for (const unlearning of seeds.unlearning) out.push({ original, forgetSet, unlearning });
  return out;
}

function validateSeeds(config: BenchmarkConfig, source: string): void {
  const lists: Array<[string, number[]]> = Array.isArray(config.seeds) ? [['seeds', config.seeds]] : Object.entries(config.seeds).map(([k, v]) => [`seeds.${k}`, v]);
  for (const [field, list] of lists) {
    const dup = list.find((s, i) => list.indexOf(s) !== i);
    if (dup !== undefined) throw new ConfigError(`${source}: ${field} lists ${dup} twice; each run needs its own seed`);
  }
}

function validateTuning(config: BenchmarkConfig, tuning: TuningConfig, source: string): void {
  const reported = seedTriples(config).map((t) => t.forgetSet);
  if (reported.includes(tuning.forgetSetSeed)) {
    throw new ConfigError(`${source}: tuning.forgetSetSeed is ${tuning.forgetSetSeed}, which is also a reported forget-set seed; the search must not select on reported forget sets: choose a seed not in the config's seeds`);
  }
  const labels = new Set(config.methods.map((m) => m.label ?? m.name));
  for (const label of Object.keys(tuning.methods)) {
    if (!labels.has(label)) throw new ConfigError(`${source}: tuning.methods has '${label}', which is not a method label of this config (${[...labels].join(', ')})`);
  }
}

/** Whether the config's membership attacks need reference models (LiRA, RMIA). */
export function needsReferenceModels(config: BenchmarkConfig): boolean {
  return config.evaluation.mia.attacks.some((name) => getMembershipAttack(name).needsReferenceModels);
}

function validateMembershipSettings(config: BenchmarkConfig, source: string): void {
  const mia = config.evaluation.mia;
  const seen = new Set<string>();
  mia.attacks.forEach((name, i) => {
    try {
      getMembershipAttack(name);
    } catch (err) {
      throw new ConfigError(`${source}: evaluation.mia.attacks[${i}]: ${(err as Error).message}`);
    }
    if (seen.has(name)) throw new ConfigError(`${source}: evaluation.mia.attacks[${i}]: '${name}' appears twice`);
    seen.add(name);
  });
  for (const [name, raw] of Object.entries(mia.options)) {
    if (!seen.has(name)) throw new ConfigError(`${source}: evaluation.mia.options has options for '${name}', which is not in evaluation.mia.attacks (${mia.attacks.join(', ') || 'none'})`);
    try {
      mia.options[name] = resolveAttackOptions(name, raw);
    } catch (err) {
      throw new ConfigError(`${source}: evaluation.mia.options.${name}: ${(err as Error).message}`);
    }
  }
  if (mia.primary !== undefined && !seen.has(mia.primary)) {
    throw new ConfigError(`${source}: evaluation.mia.primary is '${mia.primary}', which is not in evaluation.mia.attacks (${mia.attacks.join(', ') || 'none'})`);
  }
  for (const [name, options] of Object.entries(mia.options)) {
    if (options.mode === 'online' && mia.referenceData !== 'train-test-halves') {
      throw new ConfigError(`${source}: evaluation.mia.options.${name}.mode is 'online', which needs reference models that saw some of the scored samples: set evaluation.mia.referenceData to 'train-test-halves'`);
    }
  }
  if (needsReferenceModels(config) && mia.referenceModels % 2 !== 0) {
    throw new ConfigError(`${source}: evaluation.mia.referenceModels is ${mia.referenceModels}; use an even number (reference models come in pairs trained on complementary halves)`);
  }
}

export function readBenchmarkConfig(file: string): BenchmarkConfig {
  if (!fs.existsSync(file)) throw new ConfigError(`config file '${file}' does not exist`);
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new ConfigError(`config file '${file}' is not valid JSON: ${(err as Error).message}`);
  }
  return parseBenchmarkConfig(raw, `config file '${file}'`);
}
