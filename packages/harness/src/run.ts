import fs from 'node:fs';
import path from 'node:path';
import { initBackend, Rng, combineSeeds, type BackendName, type BackendInfo } from '@lethe/runtime';
import { fetchCifar10, loadCifar10, subset, defaultDataDir, type ImageDataset } from '@lethe/datasets';
import type { Model } from '@lethe/models';
import { getUnlearner, trainFromScratch, type UnlearningTask } from '@lethe/core';
import { evaluate, avgGap, evaluateMembership, OutputCache, type EvaluationContext, type MembershipSettings, type MembershipSummary } from '@lethe/metrics';
import type { ReferenceModelSignals } from '@lethe/attacks';
import type { BenchmarkConfig } from './config.js';
import { planBenchmark, type Plan, type PlannedCell, type PlannedGroup } from './plan.js';
import { createPhaseProgress } from './progress.js';
import { collectProvenance } from './provenance.js';
import { RESULT_SCHEMA, SUPERSEDED_DIR, type AccuracyMetrics, type CellResult, type MiaResult } from './results.js';
import { cachedModel, writeJsonAtomic } from './cache.js';
import { retrainRatio, retrainRatioSkippedLine } from './timing.js';
import { prepareReferenceModels, groupReferenceSignals, type PreparedReferences } from './references.js';
import { prepareSpdGanGroup, spdGanResultOf, type SpdGanGroup } from './spd-gan.js';
import type { SpdGanResult } from './results.js';

/** The accuracies compared with the gold model in Avg Gap; 'MIA' joins them when membership inference runs. */
export const GAP_METRICS = ['UA', 'RA', 'TA'] as const;

/** Avg Gap's metrics for a config: AMUN's four (UA, RA, TA, MIA) when membership inference runs, else the accuracies. */
export function gapMetricsFor(config: BenchmarkConfig): string[] {
  return config.evaluation.mia.attacks.length > 0 ? [...GAP_METRICS, 'MIA'] : [...GAP_METRICS];
}

/** Metrics of every unlearned model beside UA/RA/TA (see @lethe/metrics for their definitions). */
const COMPARISON_METRICS = ['FR', 'MRR', 'alignmentGap', 'activationDistance', 'klForget', 'klTest'] as const;

export interface RunOptions {
  /** where result files go: <resultsDir>/<benchmark name>/ */
  resultsDir: string;
  /** where trained original and gold models are cached (default: $LETHE_CACHE, else <user cache>/lethe/models) */
  cacheDir?: string;
  dataDir?: string;
  backend?: BackendName | 'auto';
  /** recompute cells whose result file already exists */
  force?: boolean;
  log?: (line: string) => void;
  /** draw progress bars (default: when stderr is a terminal) */
  interactive?: boolean;
  /** use these data instead of loading the config's data set (tests, notebooks with data in memory) */
  data?: BenchmarkData;
}

export interface RunSummary {
  plan: Plan;
  backend: BackendInfo;
  results: CellResult[];
  /** cells whose result file existed already and were not recomputed */
  reused: number;
  /** models trained in this run, by role ('original', 'gold', 'reference-<k>') */
  trained: string[];
  resultsDir: string;
  /** cells whose unlearner threw: reported, not written, and run again next time */
  failures: CellFailure[];
}

export interface CellFailure {
  label: string;
  method: string;
  forgetSet: string;
  seed: number;
  message: string;
}

export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.LETHE_CACHE) return env.LETHE_CACHE;
  return path.join(defaultDataDir({ ...env, LETHE_DATA: undefined }), 'models');
}

export function resultFilePath(resultsDir: string, benchmark: string, cell: PlannedCell): string {
  return path.join(resultsDir, benchmark, `${cell.label}.${cell.forgetSetId}.seed${cell.seed}.${cell.cellHash}.json`);
}

function readExistingResult(file: string, cellHash: string): CellResult | null {
  if (!fs.existsSync(file)) return null;
  try {
    const parsed = JSON.parse(fs.readFileSync(file, 'utf8')) as CellResult;
    return parsed.schema === RESULT_SCHEMA && parsed.cellHash === cellHash ? parsed : null;
  } catch {
    return null; // unreadable: recompute (the atomic writer never leaves a partial file, but a user might)
  }
}

export interface BenchmarkData {
  train: ImageDataset;
  test: ImageDataset;
  checksum: string;
}

/** Stage 3a: the data a config asks for, fetched (verified) when missing, then subset by its seed. */
export async function loadBenchmarkData(config: BenchmarkConfig, options: { dataDir?: string; log: (line: string) => void; interactive: boolean }): Promise<BenchmarkData> {
  const dataDir = options.dataDir ?? defaultDataDir();
  await fetchCifar10({ dataDir, progress: options.interactive, log: options.log });
  const full = await loadCifar10({ dataDir });
  const pick = (ds: ImageDataset, n: number | undefined, label: string): ImageDataset => {
    if (n === undefined || n >= ds.count) return ds;
    const indices = new Rng(combineSeeds(config.dataset.subsetSeed, label)).sample(ds.count, n).sort();
    return subset(ds, indices);
  };
  return {
    train: pick(full.train, config.dataset.trainSubset, 'train-subset'),
    test: pick(full.test, config.dataset.testSubset, 'test-subset'),
    checksum: full.checksum,
  };
}

/** The forget set of a group: a seeded uniform draw of round(fraction * n) training indices. */
export function drawForgetSet(trainCount: number, group: Pick<PlannedGroup, 'seed' | 'forgetSetId' | 'forgetFraction'>): { forget: Int32Array; retain: Int32Array } {
  const k = Math.round(group.forgetFraction * trainCount);
  if (k < 1 || k >= trainCount) throw new Error(`forget set ${group.forgetSetId} of ${trainCount} training images would hold ${k}; choose a fraction that leaves both sets non-empty`);
  const forget = new Rng(combineSeeds(group.seed, 'forget-set', group.forgetSetId)).sample(trainCount, k).sort();
  const inForget = new Uint8Array(trainCount);
  for (const i of forget) inForget[i] = 1;
  const retain = new Int32Array(trainCount - k);
  let at = 0;
  for (let i = 0; i < trainCount; i++) if (!inForget[i]) retain[at++] = i;
  return { forget, retain };
}

function accuracies(values: Record<string, number>): AccuracyMetrics {
  return { UA: values.UA!, RA: values.RA!, TA: values.TA! };
}

/** JSON has no NaN: an undefined rate (e.g. FR when the original model got all of D_f wrong) is stored as null. */
function finiteOrNull(value: number | undefined): number | null {
  return value !== undefined && Number.isFinite(value) ? value : null;
}

function miaResult(summary: MembershipSummary): MiaResult {
  return {
    attack: summary.attack,
    referenceModels: summary.referenceModels,
    ftAuc: summary.ftAuc,
    tprAt1Fpr: summary.tprAt1Fpr,
    efficacy: summary.efficacy,
    byAttack: Object.fromEntries(Object.entries(summary.byAttack).map(([name, r]) => {
      const { attack: _attack, ...numbers } = r;
      return [name, numbers];
    })),
  };
}

/** Stages 3-4: run every cell of the plan that has no result yet, and write one result file per cell. */
export async function runBenchmark(config: BenchmarkConfig, options: RunOptions): Promise<RunSummary> {
  const log = options.log ?? ((line: string) => console.error(line));
  const interactive = options.interactive ?? Boolean(process.stderr.isTTY);
  const cacheDir = options.cacheDir ?? defaultCacheDir();
  const plan = planBenchmark(config);
  const backend = await initBackend(options.backend, { log });

  const results: CellResult[] = [];
  const trained: string[] = [];
  const failures: CellFailure[] = [];
  let reused = 0;
  const pendingByGroup = plan.groups.map((group) =>
    group.cells.filter((cell) => {
      const existing = options.force ? null : readExistingResult(resultFilePath(options.resultsDir, config.name, cell), cell.cellHash);
      if (existing) {
        results.push(existing);
        reused++;
        return false;
      }
      return true;
    }),
  );
  if (reused > 0) log(`${reused} cell(s) already have results in ${path.join(options.resultsDir, config.name)}; reusing them (--force recomputes)`);
  retireSupersededResults(options.resultsDir, plan, log);
  if (pendingByGroup.every((p) => p.length === 0)) {
    return { plan, backend, results: orderLike(plan, results), reused, trained, resultsDir: options.resultsDir, failures };
  }

  const data = options.data ?? (await loadBenchmarkData(config, { ...(options.dataDir ? { dataDir: options.dataDir } : {}), log, interactive }));
  log(`data: ${data.train.name}, ${data.train.count} training and ${data.test.count} test images (sha256 ${data.checksum.slice(0, 12)}...)`);
  const provenance = collectProvenance(backend, data.checksum, plan.configHash);
  const allTrain = Int32Array.from({ length: data.train.count }, (_, i) => i);
  const testIndices = Int32Array.from({ length: data.test.count }, (_, i) => i);
  const gapMetrics = gapMetricsFor(config);
  const miaConfig = config.evaluation.mia;

  // reference models (LiRA / RMIA): trained or loaded once, before the groups, shared by all of them
  let references: PreparedReferences | null = null;
  if (plan.references.length > 0) {
    references = await prepareReferenceModels(plan, data, { cacheDir, batchSize: config.evaluation.batchSize, log, interactive });
    for (const k of references.trained) trained.push(`reference-${k}`);
    const loaded = plan.references.length - references.trained.length;
    log(`reference models: ${references.trained.length} trained in this run, ${loaded} loaded from cache`);
  }

  for (const [g, group] of plan.groups.entries()) {
    const pending = pendingByGroup[g]!;
    if (pending.length === 0) continue;
    log(`\n== seed ${group.seed}, forget set ${group.forgetSetId} ==`);
    const { forget, retain } = drawForgetSet(data.train.count, group);
    const phase = (name: string) => createPhaseProgress(name, log, interactive);

    const originalProgress = phase('original model');
    const original = await cachedModel(cacheDir, group.originalKey, 'original model', log, async () => {
      const { model } = await trainFromScratch(plan.modelSpec, plan.recipe, data.train, allTrain, group.seed, (p) => originalProgress.update(p));
      return model;
    });
    originalProgress.stop();
    if (original.trainedNow) trained.push('original');

    const task = (setting: UnlearningTask['setting'], onPhase: ReturnType<typeof phase>): UnlearningTask => ({
      original: original.model,
      train: data.train,
      test: data.test,
      forget,
      retain: setting === 'retain' ? retain : new Int32Array(0),
      setting,
      seed: group.seed,
      recipe: plan.recipe,
      log,
      onProgress: (p) => onPhase.update(p),
    });

    const goldProgress = phase('gold model (retrain)');
    const gold = await cachedModel(cacheDir, group.goldKey, 'gold model', log, () => getUnlearner('retrain').unlearn(task('retain', goldProgress), {}));
    goldProgress.stop();
    if (gold.trainedNow) trained.push('gold');

    // one inference pass per (model, set), shared by every metric and attack of the group
    const outputs = new OutputCache(config.evaluation.batchSize);
    const context = (model: Model): EvaluationContext => ({ model, gold: gold.model, original: original.model, train: data.train, test: data.test, forget, retain, testIndices, outputs });
    // the same attack (seed, balanced draws, population) for every model of the group
    const membership: MembershipSettings | null =
      miaConfig.attacks.length > 0 ? { attacks: miaConfig.attacks, ...(miaConfig.primary ? { primary: miaConfig.primary } : {}), options: miaConfig.options, seed: combineSeeds(group.seed, group.forgetSetId, 'membership') } : null;
    const groupReferences: ReferenceModelSignals | undefined = references ? groupReferenceSignals(references, forget, testIndices) : undefined;
    const membershipOf = async (model: Model): Promise<MembershipSummary | null> => {
      if (!membership) return null;
      const c = context(model);
      const [f, r, t] = [await outputs.get(model, 'forget', c), await outputs.get(model, 'retain', c), await outputs.get(model, 'test', c)];
      return evaluateMembership({ forget: f, retain: r, test: t }, membership, groupReferences);
    };
    const describe = (m: AccuracyMetrics & { MIA?: number }, mia: MembershipSummary | null): string =>
      `UA ${m.UA.toFixed(2)}  RA ${m.RA.toFixed(2)}  TA ${m.TA.toFixed(2)}` + (mia ? `  MIA (${mia.attack}) ${mia.value.toFixed(2)}` + (mia.efficacy !== null && mia.attack !== 'svc-mia' ? `  MIA-efficacy ${mia.efficacy.toFixed(2)}` : '') : '');

    const originalMia = await membershipOf(original.model);
    const originalMetrics: CellResult['original'] = { ...accuracies(await evaluate(context(original.model), GAP_METRICS)), ...(originalMia ? { MIA: originalMia.value, mia: miaResult(originalMia) } : {}) };
    const goldMia = await membershipOf(gold.model);
    const goldValues = await evaluate(context(gold.model), [...GAP_METRICS, 'FR', 'MRR']);
    const goldMetrics: CellResult['gold'] = { ...accuracies(goldValues), ...(goldMia ? { MIA: goldMia.value } : {}), FR: finiteOrNull(goldValues.FR), MRR: finiteOrNull(goldValues.MRR), ...(goldMia ? { mia: miaResult(goldMia) } : {}) };
    log(`original: ${describe(originalMetrics, originalMia)}`);
    log(`gold:     ${describe(goldMetrics, goldMia)}`);

    // opt-in SPD-GAN degree: the perturbed training set and the SPD original, shared by the group's cells
    let spdGan: SpdGanGroup | null = null;
    if (config.evaluation.spdGan) {
      const spdProgress = phase('SPD original');
      spdGan = await prepareSpdGanGroup(plan, group, config.evaluation.spdGan, data, { forget, retain }, gold.model, { cacheDir, batchSize: config.evaluation.batchSize, log, onProgress: (p) => spdProgress.update(p) });
      spdProgress.stop();
      trained.push(...spdGan.trainedNow);
    }

    for (const cell of pending) {
      const definition = getUnlearner(cell.method);
      let model: Model;
      let unlearnSeconds: number;
      if (cell.method === 'retrain') {
        // the gold model is retrain's output for this group: reuse it rather than train it twice
        model = gold.model;
        unlearnSeconds = gold.trainSeconds;
      } else {
        const progress = phase(cell.label);
        const start = performance.now();
        try {
          model = await definition.unlearn(task(cell.setting, progress), cell.hyperParameters);
        } catch (err) {
          // one failing method must not cost the others their results: report it and go on
          progress.stop();
          const message = (err as Error).message;
          failures.push({ label: cell.label, method: cell.method, forgetSet: cell.forgetSetId, seed: cell.seed, message });
          log(`${cell.label}: FAILED: ${message}`);
          continue;
        }
        unlearnSeconds = (performance.now() - start) / 1000;
        progress.stop();
      }
      const values = await evaluate(context(model), [...GAP_METRICS, ...COMPARISON_METRICS]);
      const mia = model === gold.model ? goldMia : await membershipOf(model);
      const metrics = { ...accuracies(values), ...(mia ? { MIA: mia.value } : {}) };
      if (model !== gold.model) {
        outputs.release(model);
        model.dispose();
      }
      // SPD-GAN: the same method unlearns G(D_f) from the SPD original (retrain's output is the gold model: D_r is
      // the same in both training sets); a failure here fails the cell, so that a re-run computes it again
      let spdResult: SpdGanResult | undefined;
      if (spdGan) {
        if (cell.method === 'retrain') spdResult = await spdGanResultOf(spdGan, 'retrain', forget, config.evaluation.batchSize);
        else {
          const progress = phase(`${cell.label} (SPD-GAN)`);
          try {
            const spdModel = await definition.unlearn({ ...task(cell.setting, progress), original: spdGan.spdOriginal, train: spdGan.perturbed }, cell.hyperParameters);
            spdResult = await spdGanResultOf(spdGan, spdModel, forget, config.evaluation.batchSize);
            spdModel.dispose();
          } catch (err) {
            progress.stop();
            const message = `SPD-GAN run: ${(err as Error).message}`;
            failures.push({ label: cell.label, method: cell.method, forgetSet: cell.forgetSetId, seed: cell.seed, message });
            log(`${cell.label}: FAILED: ${message}`);
            continue;
          }
          progress.stop();
        }
      }
      // x retrain only between times of one backend; retrain's own time is the gold model's, measured on its backend
      const unlearnBackend = cell.method === 'retrain' ? gold.backend : backend.name;
      const ratio = retrainRatio({ unlearnSeconds, unlearnBackend }, gold);
      const skippedLine = retrainRatioSkippedLine(cell.label, ratio, backend.name, gold.dir);
      if (skippedLine) log(skippedLine);
      const result: CellResult = {
        schema: RESULT_SCHEMA,
        benchmark: config.name,
        cellHash: cell.cellHash,
        cell: { method: cell.method, label: cell.label, setting: cell.setting, forgetSet: cell.forgetSetId, seed: cell.seed, hyperParameters: cell.hyperParameters },
        metrics: {
          ...metrics,
          avgGap: avgGap({ ...metrics }, { UA: goldMetrics.UA, RA: goldMetrics.RA, TA: goldMetrics.TA, ...(goldMetrics.MIA !== undefined ? { MIA: goldMetrics.MIA } : {}) }, gapMetrics),
          avgGapOver: [...gapMetrics],
          FR: finiteOrNull(values.FR),
          MRR: finiteOrNull(values.MRR),
          alignmentGap: values.alignmentGap!,
          activationDistance: values.activationDistance!,
          klForget: values.klForget!,
          klTest: values.klTest!,
        },
        ...(mia ? { mia: miaResult(mia) } : {}),
        ...(spdResult ? { spdGan: spdResult } : {}),
        gold: goldMetrics,
        original: originalMetrics,
        sizes: { train: data.train.count, forget: forget.length, retain: retain.length, test: data.test.count },
        timing: ratio.timing,
        provenance: { ...provenance, createdAt: new Date().toISOString() },
      };
      writeJsonAtomic(resultFilePath(options.resultsDir, config.name, cell), result);
      log(`${cell.label}: ${describe(metrics, mia)}  Avg Gap ${result.metrics.avgGap.toFixed(2)}  (${unlearnSeconds.toFixed(1)} s)` + (spdResult ? `  SPD-GAN degree acc ${spdResult.degreeAccuracy.toFixed(2)} (retrain ${spdResult.retrainDegreeAccuracy.toFixed(2)}), conf ${spdResult.degreeConfidence.toFixed(2)} (retrain ${spdResult.retrainDegreeConfidence.toFixed(2)})` : ''));
      results.push(result);
    }
    original.model.dispose();
    gold.model.dispose();
    spdGan?.spdOriginal.dispose();
  }
  return { plan, backend, results: orderLike(plan, results), reused, trained, resultsDir: options.resultsDir, failures };
}

/**
 * Move result files of this benchmark whose cell is not in the current plan (the config changed since they were
 * written) into <benchmark>/superseded/, so that tables, notebooks and the leaderboard never average results of
 * different settings under one method name. Nothing is deleted.
 */
function retireSupersededResults(resultsDir: string, plan: Plan, log: (line: string) => void): void {
  const dir = path.join(resultsDir, plan.config.name);
  if (!fs.existsSync(dir)) return;
  const current = new Set(plan.groups.flatMap((g) => g.cells.map((c) => c.cellHash)));
  const stale = fs.readdirSync(dir).filter((name) => {
    if (!name.endsWith('.json')) return false;
    try {
      const parsed = JSON.parse(fs.readFileSync(path.join(dir, name), 'utf8')) as Partial<CellResult>;
      return parsed.schema === RESULT_SCHEMA && typeof parsed.cellHash === 'string' && !current.has(parsed.cellHash);
    } catch {
      return false;
    }
  });
  if (stale.length === 0) return;
  const target = path.join(dir, SUPERSEDED_DIR);
  fs.mkdirSync(target, { recursive: true });
  for (const name of stale) fs.renameSync(path.join(dir, name), path.join(target, name));
  log(`${stale.length} result file(s) from an earlier version of this config moved to ${target}`);
}

/** Results in plan order (group, then method order of the config). */
function orderLike(plan: Plan, results: CellResult[]): CellResult[] {
  const order = new Map<string, number>();
  let i = 0;
  for (const g of plan.groups) for (const c of g.cells) order.set(c.cellHash, i++);
  return [...results].sort((a, b) => (order.get(a.cellHash) ?? 0) - (order.get(b.cellHash) ?? 0));
}

