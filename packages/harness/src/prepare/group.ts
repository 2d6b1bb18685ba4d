import { combineSeeds, type BackendInfo } from '@lethe/runtime';
import type { Model } from '@lethe/models';
import { retrainFromScratch, trainFromScratch, type UnlearningTask } from '@lethe/core';
import { evaluate, avgGap, evaluateMembership, primaryAttack, OutputCache, type EvaluationContext, type MembershipSettings, type MembershipSummary } from '@lethe/metrics';
import type { ReferenceModelSignals } from '@lethe/attacks';
import type { BenchmarkConfig } from '../config/config.js';
import type { Plan, PlannedGroup } from '../plan/plan.js';
import type { PreparedData } from './data.js';
import { drawForgetSet } from './data.js';
import { createPhaseProgress, type PhaseProgress } from './progress.js';
import { rocAttackOf, type AccuracyMetrics, type BaselineModelMetrics, type MiaResult } from '../results/results.js';
import { cachedModel, type CachedModel } from './cache.js';
import { groupReferenceSignals, type PreparedReferences } from './references.js';

/**
 * Stage 3b: one group (original seed x forget set x forget-set seed). Its original and gold models are loaded from
 * the cache or trained (each a job of its own, named by its key), evaluated once, and shared by every cell of the
 * group: the reported cells of `lethe run` and the candidates of `lethe tune` alike.
 */

/** The accuracies compared with the gold model in Avg Gap; 'MIA' joins them when membership inference runs. */
export const GAP_METRICS = ['UA', 'RA', 'TA'] as const;

/** Avg Gap's metrics for a config: AMUN's four (UA, RA, TA, MIA) when membership inference runs, else the accuracies. */
export function gapMetricsFor(config: BenchmarkConfig): string[] {
  return config.evaluation.mia.attacks.length > 0 ? [...GAP_METRICS, 'MIA'] : [...GAP_METRICS];
}


/** What every stage of a run shares. */
export interface RunContext {
  plan: Plan;
  data: PreparedData;
  backend: BackendInfo;
  cacheDir: string;
  log: (line: string) => void;
  interactive: boolean;
  references: PreparedReferences | null;
  /** models trained in this process, by role */
  trained: string[];
  /** asked at each epoch end of a model's training: true stops it there, checkpointed (a time limit) */
  stopTraining?: (lastEpochSeconds: number) => boolean;
}

export interface ModelEvaluation {
  /** every metric computed (GAP_METRICS, and the others asked for) */
  values: Record<string, number>;
  mia: MembershipSummary | null;
  /** UA, RA, TA (and MIA) */
  metrics: AccuracyMetrics & { MIA?: number };
}

export interface OpenGroup {
  group: PlannedGroup;
  forget: Int32Array;
  retain: Int32Array;
  original: CachedModel;
  gold: CachedModel;
  originalMetrics: BaselineModelMetrics;
  goldMetrics: BaselineModelMetrics;
  goldMia: MembershipSummary | null;
  /** the task an unlearner is given in this group */
  task(setting: UnlearningTask['setting'], seed: number, progress: PhaseProgress): UnlearningTask;
  /**
   * Accuracies and the metrics asked for, with membership inference: `attacks: 'primary'` runs only the attack whose
   * number is MIA (a search's score needs no other), 'none' none (the cell stage runs it as an evaluation).
   */
  evaluate(model: Model, metrics: readonly string[], options?: { attacks?: 'all' | 'primary' | 'none' }): Promise<ModelEvaluation>;
  /** membership inference on a model with every configured attack (null when the config runs none) */
  membership(model: Model): Promise<MembershipSummary | null>;
  /** Avg Gap of a model's metrics to the gold model's, over the config's gap metrics */
  avgGapOf(metrics: AccuracyMetrics & { MIA?: number }): number;
  /** forget a model's cached outputs (after it is disposed) */
  release(model: Model): void;
  dispose(): void;
}

export function accuracies(values: Record<string, number>): AccuracyMetrics {
  return { UA: values.UA!, RA: values.RA!, TA: values.TA! };
}

/** JSON has no NaN: an undefined rate (e.g. FR when the original model got all of D_f wrong) is stored as null. */
export function finiteOrNull(value: number | undefined): number | null {
  return value !== undefined && Number.isFinite(value) ? value : null;
}

export function miaResult(summary: MembershipSummary): MiaResult {
  const rocAttack = rocAttackOf({ attack: summary.attack, ftAuc: summary.ftAuc, byAttack: summary.byAttack });
  const mode = rocAttack ? summary.byAttack[rocAttack]?.mode : undefined;
  return {
    attack: summary.attack,
    ...(mode ? { mode } : {}),
    referenceModels: summary.referenceModels,
    ftAuc: summary.ftAuc,
    tprAt1Fpr: summary.tprAt1Fpr,
    efficacy: summary.efficacy,
    byAttack: Object.fromEntries(
      Object.entries(summary.byAttack).map(([name, r]) => {
        const { attack: _attack, ...numbers } = r;
        return [name, numbers];
      }),
    ),
  };
}

export function describeMetrics(m: AccuracyMetrics & { MIA?: number }, mia: MembershipSummary | null): string {
  return (
    `UA ${m.UA.toFixed(2)}  RA ${m.RA.toFixed(2)}  TA ${m.TA.toFixed(2)}` +
    (mia ? `  MIA (${mia.attack}) ${mia.value.toFixed(2)}` + (mia.efficacy !== null && mia.attack !== 'svc-mia' ? `  MIA-efficacy ${mia.efficacy.toFixed(2)}` : '') : '')
  );
}

/** The original model of a seed: loaded from the cache, or trained on the available training images and cached. */
export async function ensureOriginal(context: RunContext, seed: number, key: string): Promise<CachedModel> {
  const { plan, data, log, interactive, cacheDir } = context;
  const progress = createPhaseProgress(`original model (seed ${seed})`, log, interactive);
  let original: CachedModel;
  try {
    original = await cachedModel(
      cacheDir,
      key,
      plan.modelSpec,
      `original model (seed ${seed})`,
      log,
      async (checkpoint) => (await trainFromScratch(plan.modelSpec, plan.recipe, data.train, data.available, seed, (p) => progress.update(p), { checkpoint })).model,
      context.stopTraining,
    );
  } finally {
    progress.stop();
  }
  if (original.trainedNow) context.trained.push('original');
  return original;
}

/**
 * A group's gold model: loaded from the cache, or retrained from scratch on the group's retain set (the `retrain`
 * unlearner's work, seeded by the group's gold seed; it needs no original model) and cached.
 */
export async function ensureGold(context: RunContext, group: PlannedGroup, role: 'gold' | 'validation-gold' = 'gold', sets = drawForgetSet(context.data.available, group)): Promise<CachedModel> {
  const { plan, data, log, interactive, cacheDir } = context;
  const name = role === 'gold' ? 'gold model' : 'validation gold model';
  const progress = createPhaseProgress(`${name} (retrain)`, log, interactive);
  let gold: CachedModel;
  try {
    gold = await cachedModel(cacheDir, group.goldKey, plan.modelSpec, name, log, (checkpoint) => retrainFromScratch(plan.modelSpec, plan.recipe, data.train, sets.retain, group.goldSeed, (p) => progress.update(p), { checkpoint }), context.stopTraining);
  } finally {
    progress.stop();
  }
  if (gold.trainedNow) context.trained.push(role);
  return gold;
}

/** Load (or train) a group's original and gold models and evaluate them once for all its cells. */
export async function openGroup(context: RunContext, group: PlannedGroup, role: 'gold' | 'validation-gold' = 'gold'): Promise<OpenGroup> {
  const { plan, data, log, cacheDir } = context;
  const config = plan.config;
  const { forget, retain } = drawForgetSet(data.available, group);
  const original = await ensureOriginal(context, group.seeds.original, group.originalKey);
  const gold = await ensureGold(context, group, role, { forget, retain });
  const task = (setting: UnlearningTask['setting'], seed: number, progress: PhaseProgress): UnlearningTask => ({
    original: original.model,
    train: data.train,
    test: data.test,
    forget,
    retain: setting === 'retain' ? retain : new Int32Array(0),
    setting,
    seed,
    recipe: plan.recipe,
    log,
    onProgress: (p) => progress.update(p),
    cacheDir,
  });

  // one inference pass per (model, set), shared by every metric and attack of the group
  const outputs = new OutputCache(config.evaluation.batchSize);
  const testIndices = Int32Array.from({ length: data.test.count }, (_, i) => i);
  const contextOf = (model: Model): EvaluationContext => ({ model, gold: gold.model, original: original.model, train: data.train, test: data.test, forget, retain, testIndices, outputs });
  const miaConfig = config.evaluation.mia;
  // the same attack (seed, balanced draws, population) for every model of the group
  const membership: MembershipSettings | null =
    miaConfig.attacks.length > 0
      ? { attacks: miaConfig.attacks, ...(miaConfig.primary ? { primary: miaConfig.primary } : {}), options: miaConfig.options, seed: combineSeeds(group.seeds.forgetSet, group.forgetSetId, 'membership') }
      : null;
  const references: ReferenceModelSignals | undefined = context.references ? groupReferenceSignals(context.references, forget, testIndices, retain) : undefined;
  const gapMetrics = gapMetricsFor(config);

  const primaryOnly: MembershipSettings | null = membership ? { ...membership, attacks: [primaryAttack(membership)], primary: primaryAttack(membership) } : null;
  const membershipOf = async (model: Model, settings: MembershipSettings | null): Promise<MembershipSummary | null> => {
    if (!settings) return null;
    const c = contextOf(model);
    const [f, r, t] = [await outputs.get(model, 'forget', c), await outputs.get(model, 'retain', c), await outputs.get(model, 'test', c)];
    return evaluateMembership({ forget: f, retain: r, test: t }, settings, references);
  };
  const evaluateModel = async (model: Model, metrics: readonly string[], options: { attacks?: 'all' | 'primary' | 'none' } = {}): Promise<ModelEvaluation> => {
    const values = await evaluate(contextOf(model), [...new Set([...GAP_METRICS, ...metrics])]);
    const mia = options.attacks === 'none' ? null : await membershipOf(model, options.attacks === 'primary' ? primaryOnly : membership);
    return { values, mia, metrics: { ...accuracies(values), ...(mia ? { MIA: mia.value } : {}) } };
  };

  const originalEval = await evaluateModel(original.model, []);
  const goldEval = await evaluateModel(gold.model, ['FR', 'MRR']);
  const originalMetrics: BaselineModelMetrics = { ...originalEval.metrics, ...(originalEval.mia ? { mia: miaResult(originalEval.mia) } : {}) };
  const goldMetrics: BaselineModelMetrics = {
    ...goldEval.metrics,
    FR: finiteOrNull(goldEval.values.FR),
    MRR: finiteOrNull(goldEval.values.MRR),
    ...(goldEval.mia ? { mia: miaResult(goldEval.mia) } : {}),
  };
  log(`original: ${describeMetrics(originalMetrics, originalEval.mia)}`);
  log(`gold:     ${describeMetrics(goldMetrics, goldEval.mia)}`);
  const goldGapValues: Record<string, number> = { UA: goldMetrics.UA, RA: goldMetrics.RA, TA: goldMetrics.TA, ...(goldMetrics.MIA !== undefined ? { MIA: goldMetrics.MIA } : {}) };

  return {
    group,
    forget,
    retain,
    original,
    gold,
    originalMetrics,
    goldMetrics,
    goldMia: goldEval.mia,
    task,
    evaluate: evaluateModel,
    membership: (model) => membershipOf(model, membership),
    avgGapOf: (metrics) => avgGap({ ...metrics }, goldGapValues, gapMetrics),
    release: (model) => outputs.release(model),
    dispose() {
      original.model.dispose();
      gold.model.dispose();
    },
  };
}
