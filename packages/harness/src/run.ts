import fs from 'node:fs';
import path from 'node:path';
import { initBackend, type BackendName, type BackendInfo } from '@lethe/runtime';
import { defaultDataDir } from '@lethe/datasets';
import type { Model } from '@lethe/models';
import { getUnlearner } from '@lethe/core';
import type { BenchmarkConfig } from './config.js';
import { planBenchmark, type Plan, type PlannedCell } from './plan.js';
import { createPhaseProgress } from './progress.js';
import { collectProvenance } from './provenance.js';
import { RESULT_SCHEMA, SUPERSEDED_DIR, type CellResult, type SpdGanResult } from './results.js';
import { writeJsonAtomic } from './cache.js';
import { retrainRatio, retrainRatioSkippedLine } from './timing.js';
import { prepareReferenceModels } from './references.js';
import { prepareSpdGanGroup, spdGanResultOf, type SpdGanGroup } from './spd-gan.js';
import { loadBenchmarkData, prepareData, type BenchmarkData } from './data.js';
import { COMPARISON_METRICS, GAP_METRICS, describeMetrics, finiteOrNull, gapMetricsFor, miaResult, openGroup, type OpenGroup, type RunContext } from './group.js';
import { TimeBudget } from './budget.js';
import type { TuningRecord } from './tuning-record.js';

export { GAP_METRICS, gapMetricsFor } from './group.js';

export interface RunOptions {
  /** where result files go: <resultsDir>/<benchmark name>/ */
  resultsDir: string;
  /** where trained models and other artefacts are cached (default: $LETHE_CACHE, else <user cache>/lethe/models) */
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
  /** the search record of `lethe tune` (its chosen hyper-parameters replace the config's) */
  tuning?: TuningRecord | null;
  /** stop starting new jobs after this many seconds (a run in parts); the next run continues */
  timeLimitSeconds?: number;
  /** called after each result file is written (e.g. to commit it) */
  onResult?: (file: string, result: CellResult) => void | Promise<void>;
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
  /** cells not run: the time limit stopped the run first, or their hyper-parameter search has not finished */
  remaining: number;
  /** cells that wait for `lethe tune` (the config requires a finished search) */
  awaitingSearch: number;
  /** the time limit stopped the run before everything was done */
  stoppedByTimeLimit: boolean;
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

/** A cell's result file: `<label>.<forget set>.o<original>-f<forget draw>-u<unlearning>.<cell hash>.json`. */
export function resultFilePath(resultsDir: string, benchmark: string, cell: Pick<PlannedCell, 'label' | 'forgetSetId' | 'seeds' | 'cellHash'>): string {
  const { original, forgetSet, unlearning } = cell.seeds;
  return path.join(resultsDir, benchmark, `${cell.label}.${cell.forgetSetId}.o${original}-f${forgetSet}-u${unlearning}.${cell.cellHash}.json`);
}

export function readExistingResult(file: string, cellHash: string): CellResult | null {
  if (!fs.existsSync(file)) return null;
  try {
    const parsed = JSON.parse(fs.readFileSync(file, 'utf8')) as CellResult;
    return parsed.schema === RESULT_SCHEMA && parsed.cellHash === cellHash ? parsed : null;
  } catch {
    return null; // unreadable: recompute (the atomic writer never leaves a partial file, but a user might)
  }
}

/** The state of each planned cell: its result file exists (done), it waits for a search, or it is to run. */
export function cellStatus(plan: Plan, resultsDir: string, force = false): { done: Map<string, CellResult>; awaitingSearch: PlannedCell[]; pending: PlannedCell[] } {
  const done = new Map<string, CellResult>();
  const awaitingSearch: PlannedCell[] = [];
  const pending: PlannedCell[] = [];
  const required = plan.config.tuning?.required ?? false;
  for (const group of plan.groups) {
    for (const cell of group.cells) {
      const existing = force ? null : readExistingResult(resultFilePath(resultsDir, plan.config.name, cell), cell.cellHash);
      if (existing) done.set(cell.cellHash, existing);
      else if (required && cell.awaitsSearch) awaitingSearch.push(cell);
      else pending.push(cell);
    }
  }
  return { done, awaitingSearch, pending };
}

/**
 * Stages 3-4, the local executor: train (or load) the reference models, then per group its original and gold models,
 * then every cell that has no result yet, writing one result file per cell as it finishes. Every job's output is
 * cached or written atomically, so a killed or time-limited run loses at most the job in progress and the next run
 * continues from there.
 */
export async function runBenchmark(config: BenchmarkConfig, options: RunOptions): Promise<RunSummary> {
  const log = options.log ?? ((line: string) => console.error(line));
  const interactive = options.interactive ?? Boolean(process.stderr.isTTY);
  const cacheDir = options.cacheDir ?? defaultCacheDir();
  const plan = planBenchmark(config, { tuning: options.tuning ?? null });
  const backend = await initBackend(options.backend, { log });
  const budget = new TimeBudget(options.timeLimitSeconds ?? null, log);

  const status = cellStatus(plan, options.resultsDir, options.force);
  const results: CellResult[] = [...status.done.values()];
  const reused = results.length;
  const trained: string[] = [];
  const failures: CellFailure[] = [];
  if (reused > 0) log(`${reused} cell(s) already have results in ${path.join(options.resultsDir, config.name)}; reusing them (--force recomputes)`);
  if (status.awaitingSearch.length > 0) {
    const labels = [...new Set(status.awaitingSearch.map((c) => c.label))];
    log(`${status.awaitingSearch.length} cell(s) of ${labels.join(', ')} wait for their hyper-parameter search (the config sets tuning.required): run \`lethe tune\` on this config first; their models are still trained now`);
  }
  retireSupersededResults(options.resultsDir, plan, log);
  const pendingHashes = new Set(status.pending.map((c) => c.cellHash));
  const groupsToOpen = plan.groups.filter((g) => g.cells.some((c) => pendingHashes.has(c.cellHash) || status.awaitingSearch.includes(c)));
  const summary = (stopped: boolean): RunSummary => ({
    plan,
    backend,
    results: orderLike(plan, results),
    reused,
    trained,
    resultsDir: options.resultsDir,
    failures,
    remaining: plan.groups.reduce((n, g) => n + g.cells.length, 0) - results.length,
    awaitingSearch: status.awaitingSearch.length,
    stoppedByTimeLimit: stopped,
  });
  if (groupsToOpen.length === 0) return summary(false);

  const loaded = options.data ?? (await loadBenchmarkData(config, { ...(options.dataDir ? { dataDir: options.dataDir } : {}), log, interactive }));
  const data = prepareData(config, loaded);
  log(`data: ${data.train.name}, ${data.train.count} training (${data.holdout.length} held out of every model) and ${data.test.count} test images (sha256 ${data.checksum.slice(0, 12)}...)`);
  const provenance = collectProvenance(backend, data.checksum, plan.configHash);
  const context: RunContext = { plan, data, backend, cacheDir, log, interactive, budget, references: null, trained };

  // reference models (LiRA / RMIA): trained or loaded once, before the groups, shared by all of them
  if (plan.references.length > 0) {
    const prepared = await prepareReferenceModels(plan, data, {
      cacheDir,
      batchSize: config.evaluation.batchSize,
      log,
      interactive,
      mayTrain: (role) => budget.allows('reference', `training ${role}`),
    });
    for (const k of prepared.trained) trained.push(`reference-${k}`);
    log(`reference models: ${prepared.trained.length} trained in this run, ${prepared.models.length - prepared.trained.length} loaded from cache`);
    if (!prepared.complete) return summary(true);
    context.references = prepared;
  }

  for (const group of groupsToOpen) {
    const pending = group.cells.filter((c) => pendingHashes.has(c.cellHash));
    log(`\n== original seed ${group.seeds.original}, forget set ${group.forgetSetId} (draw ${group.seeds.forgetSet}) ==`);
    const open = await openGroup(context, group);
    if (!open) return summary(true);
    try {
      // opt-in SPD-GAN degree: the perturbed training set and the SPD original, shared by the group's cells
      let spdGan: SpdGanGroup | null = null;
      if (config.evaluation.spdGan && pending.length > 0) {
        const spdProgress = createPhaseProgress('SPD original', log, interactive);
        spdGan = await prepareSpdGanGroup(plan, group, config.evaluation.spdGan, data, { forget: open.forget, retain: open.retain }, open.gold.model, { cacheDir, batchSize: config.evaluation.batchSize, log, onProgress: (p) => spdProgress.update(p) });
        spdProgress.stop();
        trained.push(...spdGan.trainedNow);
      }
      try {
        for (const cell of pending) {
          if (cell.method !== 'retrain' && !budget.allows(`cell:${cell.method}`, `${cell.label} (${cell.forgetSetId}, seeds o${cell.seeds.original} f${cell.seeds.forgetSet} u${cell.seeds.unlearning})`)) return summary(true);
          const started = performance.now();
          const outcome = await runCell(context, open, cell, spdGan, provenance);
          budget.record(`cell:${cell.method}`, (performance.now() - started) / 1000);
          if ('failure' in outcome) {
            failures.push(outcome.failure);
            continue;
          }
          const file = resultFilePath(options.resultsDir, config.name, cell);
          writeJsonAtomic(file, outcome.result);
          results.push(outcome.result);
          await options.onResult?.(file, outcome.result);
        }
      } finally {
        spdGan?.spdOriginal.dispose();
      }
    } finally {
      open.dispose();
    }
  }
  return summary(false);
}

/** One cell: unlearn (retrain reuses the gold model), evaluate, and assemble its result. Failures are reported, not thrown. */
async function runCell(
  context: RunContext,
  open: OpenGroup,
  cell: PlannedCell,
  spdGan: SpdGanGroup | null,
  provenance: ReturnType<typeof collectProvenance>,
): Promise<{ result: CellResult } | { failure: CellFailure }> {
  const { log, interactive, backend, plan, data } = context;
  const config = plan.config;
  const definition = getUnlearner(cell.method);
  const failure = (message: string): { failure: CellFailure } => {
    log(`${cell.label}: FAILED: ${message}`);
    return { failure: { label: cell.label, method: cell.method, forgetSet: cell.forgetSetId, seed: cell.seeds.unlearning, message } };
  };
  let model: Model;
  let unlearnSeconds: number;
  if (cell.method === 'retrain') {
    // the gold model is retrain's output for this group: reuse it rather than train it twice
    model = open.gold.model;
    unlearnSeconds = open.gold.trainSeconds;
  } else {
    const progress = createPhaseProgress(cell.label, log, interactive);
    const start = performance.now();
    try {
      model = await definition.unlearn(open.task(cell.setting, cell.seeds.unlearning, progress), cell.hyperParameters);
    } catch (err) {
      // one failing method must not cost the others their results: report it and go on
      progress.stop();
      return failure((err as Error).message);
    }
    unlearnSeconds = (performance.now() - start) / 1000;
    progress.stop();
  }
  const isGold = model === open.gold.model;
  const evaluation = await open.evaluate(model, [...GAP_METRICS, ...COMPARISON_METRICS]);
  const { values, metrics } = evaluation;
  const mia = isGold ? open.goldMia : evaluation.mia;
  if (!isGold) {
    open.release(model);
    model.dispose();
  }
  // SPD-GAN: the same method unlearns G(D_f) from the SPD original (retrain's output is the gold model: D_r is the
  // same in both training sets); a failure here fails the cell, so that a re-run computes it again
  let spdResult: SpdGanResult | undefined;
  if (spdGan) {
    if (cell.method === 'retrain') spdResult = await spdGanResultOf(spdGan, 'retrain', open.forget, config.evaluation.batchSize);
    else {
      const progress = createPhaseProgress(`${cell.label} (SPD-GAN)`, log, interactive);
      try {
        const spdModel = await definition.unlearn({ ...open.task(cell.setting, cell.seeds.unlearning, progress), original: spdGan.spdOriginal, train: spdGan.perturbed }, cell.hyperParameters);
        spdResult = await spdGanResultOf(spdGan, spdModel, open.forget, config.evaluation.batchSize);
        spdModel.dispose();
      } catch (err) {
        progress.stop();
        return failure(`SPD-GAN run: ${(err as Error).message}`);
      }
      progress.stop();
    }
  }
  // x retrain only between times of one backend; retrain's own time is the gold model's, measured on its backend
  const unlearnBackend = cell.method === 'retrain' ? open.gold.backend : backend.name;
  const ratio = retrainRatio({ unlearnSeconds, unlearnBackend }, open.gold);
  const skippedLine = retrainRatioSkippedLine(cell.label, ratio, backend.name, open.gold.dir);
  if (skippedLine) log(skippedLine);
  const gapMetrics = gapMetricsFor(config);
  const result: CellResult = {
    schema: RESULT_SCHEMA,
    benchmark: config.name,
    cellHash: cell.cellHash,
    cell: {
      method: cell.method,
      label: cell.label,
      setting: cell.setting,
      forgetSet: cell.forgetSetId,
      seed: cell.seeds.unlearning,
      seeds: cell.seeds,
      hyperParameters: cell.hyperParameters,
      hyperParameterSource: cell.hyperParameterSource,
    },
    metrics: {
      ...metrics,
      avgGap: open.avgGapOf(metrics),
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
    gold: open.goldMetrics,
    original: open.originalMetrics,
    sizes: { train: data.available.length, forget: open.forget.length, retain: open.retain.length, test: data.test.count, ...(data.holdout.length > 0 ? { holdout: data.holdout.length } : {}) },
    timing: ratio.timing,
    provenance: { ...provenance, createdAt: new Date().toISOString() },
  };
  log(
    `${cell.label}: ${describeMetrics(metrics, mia)}  Avg Gap ${result.metrics.avgGap.toFixed(2)}  (${unlearnSeconds.toFixed(1)} s)` +
      (spdResult
        ? `  SPD-GAN degree acc ${spdResult.degreeAccuracy.toFixed(2)} (retrain ${spdResult.retrainDegreeAccuracy.toFixed(2)}), conf ${spdResult.degreeConfidence.toFixed(2)} (retrain ${spdResult.retrainDegreeConfidence.toFixed(2)})`
        : ''),
  );
  return { result };
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

/** Results in plan order (group, then unlearning seed and method order of the config). */
function orderLike(plan: Plan, results: CellResult[]): CellResult[] {
  const order = new Map<string, number>();
  let i = 0;
  for (const g of plan.groups) for (const c of g.cells) order.set(c.cellHash, i++);
  return [...results].sort((a, b) => (order.get(a.cellHash) ?? 0) - (order.get(b.cellHash) ?? 0));
}
