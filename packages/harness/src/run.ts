import path from 'node:path';
import { initBackend, type BackendName, type BackendInfo } from '@lethe/runtime';
import { defaultDataDir } from '@lethe/datasets';
import type { Model } from '@lethe/models';
import { getUnlearner } from '@lethe/core';
import type { BenchmarkConfig } from './config.js';
import { planBenchmark, type Plan, type PlannedCell, type PlannedGroup } from './plan.js';
import { cellStatus, resultFilePath, retireSupersededResults } from './result-files.js';
import { createPhaseProgress } from './progress.js';
import { collectProvenance } from './provenance.js';
import { RESULT_SCHEMA, type CellResult, type SpdGanResult } from './results.js';
import { writeJsonAtomic } from './cache.js';
import { retrainRatio, retrainRatioSkippedLine } from './timing.js';
import { ensureReferenceModel, loadReferenceModels, referencePoolData } from './references.js';
import { prepareSpdGanGroup, spdGanResultOf, type SpdGanGroup } from './spd-gan.js';
import { loadBenchmarkData, prepareData, type BenchmarkData } from './data.js';
import { COMPARISON_METRICS, GAP_METRICS, describeMetrics, ensureGold, ensureOriginal, finiteOrNull, gapMetricsFor, miaResult, openGroup, type OpenGroup, type RunContext } from './group.js';
import { TimeBudget } from './budget.js';
import { jobGraph, type Job } from './jobs.js';
import { executeJobs, fileClaims, type Shard } from './executor.js';
import { jobDone } from './estimate.js';
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
  /** run only this share of the jobs (several processes sharing the cache and results directories) */
  shard?: Shard;
  /** seconds between looks at other shards' progress (default 20) */
  pollSeconds?: number;
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

/**
 * Stages 3-4: run the job graph (jobs.ts) with the local executor (executor.ts): the reference models, the original
 * and gold models, then every cell that has no result yet, writing one result file per cell as it finishes. Every
 * job's output is cached or written atomically, so a killed or time-limited run loses at most the job in progress
 * and the next run continues from there; `shard` splits the jobs between processes sharing the cache and results.
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

  // the jobs `lethe run` does: reference, original, gold and SPD models, and the cells without a result; with --force
  // a cell is to do whatever its file says
  const pendingHashes = new Set(status.pending.map((c) => c.cellHash));
  const cellOf = new Map(plan.groups.flatMap((g) => g.cells.map((c) => [c.cellHash, { group: g, cell: c }] as const)));
  const groupOfGold = new Map(plan.groups.map((g) => [g.goldKey, g]));
  const needed = new Set(plan.groups.filter((g) => g.cells.some((c) => pendingHashes.has(c.cellHash) || status.awaitingSearch.includes(c))).flatMap((g) => [`original:${g.originalKey}`, `gold:${g.goldKey}`, `spd-original:${g.goldKey}`]));
  const jobs = jobGraph(plan);
  const keyOf = (job: Job): string => job.id.slice(job.id.indexOf(':') + 1);
  const runs = (job: Job): boolean =>
    job.kind === 'reference' ? needed.size > 0 : job.kind === 'cell' ? pendingHashes.has(keyOf(job)) : job.kind === 'original' || job.kind === 'gold' || job.kind === 'spd-original' ? needed.has(job.id) : false;
  const places = { cacheDir, resultsDir: options.resultsDir, tuning: options.tuning ?? null };
  const written = new Set<string>();

  let context: RunContext | null = null;
  let provenance: ReturnType<typeof collectProvenance> | null = null;
  let poolData: (() => import('@lethe/datasets').ImageDataset) | null = null;
  const contextOf = async (): Promise<RunContext> => {
    if (context) return context;
    const loaded = options.data ?? (await loadBenchmarkData(config, { ...(options.dataDir ? { dataDir: options.dataDir } : {}), log, interactive }));
    const data = prepareData(config, loaded);
    log(`data: ${data.train.name}, ${data.train.count} training (${data.holdout.length} held out of every model) and ${data.test.count} test images (sha256 ${data.checksum.slice(0, 12)}...)`);
    provenance = collectProvenance(backend, data.checksum, plan.configHash);
    poolData = referencePoolData(plan, data);
    context = { plan, data, backend, cacheDir, log, interactive, references: null, trained };
    return context;
  };
  // one group open at a time (its models loaded and evaluated once for all its cells)
  let open: { group: PlannedGroup; group_: OpenGroup; spdGan: SpdGanGroup | null } | null = null;
  const closeGroup = (): void => {
    open?.spdGan?.spdOriginal.dispose();
    open?.group_.dispose();
    open = null;
  };
  const openFor = async (group: PlannedGroup): Promise<NonNullable<typeof open>> => {
    if (open && open.group.goldKey === group.goldKey) return open;
    closeGroup();
    const c = await contextOf();
    if (plan.references.length > 0 && !c.references) c.references = loadReferenceModels(plan, c.data, cacheDir, log);
    log(`\n== original seed ${group.seeds.original}, forget set ${group.forgetSetId} (draw ${group.seeds.forgetSet}) ==`);
    const opened = await openGroup(c, group);
    let spdGan: SpdGanGroup | null = null;
    if (config.evaluation.spdGan) {
      const spdProgress = createPhaseProgress('SPD original', log, interactive);
      spdGan = await prepareSpdGanGroup(plan, group, config.evaluation.spdGan, c.data, { forget: opened.forget, retain: opened.retain }, opened.gold.model, { cacheDir, batchSize: config.evaluation.batchSize, log, onProgress: (p) => spdProgress.update(p) });
      spdProgress.stop();
      trained.push(...spdGan.trainedNow);
    }
    open = { group, group_: opened, spdGan };
    return open;
  };

  const runJob = async (job: Job): Promise<'done' | 'failed'> => {
    const c = await contextOf();
    switch (job.kind) {
      case 'reference': {
        const reference = plan.references.find((r) => r.key === keyOf(job))!;
        const { trained: now } = await ensureReferenceModel(plan, c.data, reference, { cacheDir, batchSize: config.evaluation.batchSize, log, interactive }, poolData!);
        if (now) trained.push(`reference-${reference.index}`);
        return 'done';
      }
      case 'original': {
        const original = plan.originals.find((o) => o.key === keyOf(job))!;
        (await ensureOriginal(c, original.seed, original.key)).model.dispose();
        return 'done';
      }
      case 'gold':
        (await ensureGold(c, groupOfGold.get(keyOf(job))!)).model.dispose();
        return 'done';
      case 'spd-original':
        await openFor(groupOfGold.get(keyOf(job))!);
        return 'done';
      case 'cell': {
        const { group, cell } = cellOf.get(keyOf(job))!;
        const current = await openFor(group);
        const outcome = await runCell(c, current.group_, cell, current.spdGan, provenance!);
        if ('failure' in outcome) {
          failures.push(outcome.failure);
          return 'failed';
        }
        const file = resultFilePath(options.resultsDir, config.name, cell);
        writeJsonAtomic(file, outcome.result);
        written.add(cell.cellHash);
        results.push(outcome.result);
        await options.onResult?.(file, outcome.result);
        return 'done';
      }
      default:
        throw new Error(`lethe run does not run ${job.kind} jobs`);
    }
  };

  let stopped = false;
  try {
    const outcome = await executeJobs({
      jobs,
      runs,
      // a forced cell is done once this process wrote it
      isDone: (job) => (job.kind === 'cell' && options.force ? written.has(keyOf(job)) : jobDone(plan, job, places)),
      run: runJob,
      budget,
      shard: options.shard ?? null,
      claims: fileClaims(path.join(cacheDir, 'claims')),
      log,
      ...(options.pollSeconds !== undefined ? { pollSeconds: options.pollSeconds } : {}),
    });
    stopped = outcome.stopped;
  } finally {
    closeGroup();
  }
  // results other shards wrote meanwhile count too
  const now = cellStatus(plan, options.resultsDir);
  for (const [hash, r] of now.done) if (!results.some((x) => x.cellHash === hash)) results.push(r);
  return {
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
  };
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

/** Results in plan order (group, then unlearning seed and method order of the config). */
function orderLike(plan: Plan, results: CellResult[]): CellResult[] {
  const order = new Map<string, number>();
  let i = 0;
  for (const g of plan.groups) for (const c of g.cells) order.set(c.cellHash, i++);
  return [...results].sort((a, b) => (order.get(a.cellHash) ?? 0) - (order.get(b.cellHash) ?? 0));
}
