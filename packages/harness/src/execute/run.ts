import path from 'node:path';
import { initBackend, type BackendName, type BackendInfo } from '@lethe/runtime';
import { removeStaleTemporaries } from '@lethe/runtime/files';
import { defaultDataDir } from '@lethe/datasets';
import type { BenchmarkConfig } from '../config/config.js';
import { planBenchmark, type Plan } from '../plan/plan.js';
import { cellStatus, resultFilePath, retireSupersededResults } from '../results/result-files.js';
import { formatResultProblem, type CellResult } from '../results/results.js';
import { writeJsonAtomic } from '../prepare/cache.js';
import type { BenchmarkData } from '../prepare/data.js';
import { TimeBudget } from './budget.js';
import { groupArtefacts, jobGraph, type Job, type JobKind } from '../plan/jobs.js';
import { executeJobs, fileClaims, type Shard } from './executor.js';
import { JobRunner, jobKey, type CellFailure } from './job-runner.js';
import { jobDone } from './estimate.js';
import { preflight } from './preflight.js';
import type { TuningRecord } from '../plan/tuning-record.js';

export { GAP_METRICS, gapMetricsFor } from '../prepare/group.js';

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
  /**
   * run only these cells (their cell hashes) and the models and artefacts they need, e.g. one published cell that
   * `lethe verify` re-runs; a hash that is not a cell of the plan is an error
   */
  cells?: readonly string[];
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
  /**
   * wall time of the jobs this process ran, by kind (models trained or loaded from the cache, artefacts, cells: a
   * cell's time includes its evaluation; `unlearnSeconds` is the unlearning alone), in the order kinds first ran
   */
  jobTimes: JobTime[];
}

/** Wall time of one kind of job in a run (see RunSummary.jobTimes). */
export interface JobTime {
  kind: JobKind;
  jobs: number;
  seconds: number;
  /** cells only: the unlearners' own time (result timing.unlearnSeconds; retrain's is the gold job's), the rest being evaluation */
  unlearnSeconds?: number;
}

/** One line per kind: "original 1 job 61.2 s; gold 1 job 58.0 s; cell 14 jobs 512.3 s (unlearning 301.0 s)". */
export function formatJobTimes(times: readonly JobTime[]): string {
  const total = times.reduce((s, t) => s + t.seconds, 0);
  const parts = times.map((t) => `${t.kind} ${t.jobs} job${t.jobs === 1 ? '' : 's'} ${t.seconds.toFixed(1)} s${t.unlearnSeconds !== undefined ? ` (unlearning ${t.unlearnSeconds.toFixed(1)} s)` : ''}`);
  return `time by job kind: ${parts.join('; ') || 'no job ran'}${times.length > 1 ? `; total ${total.toFixed(1)} s` : ''}`;
}

export type { CellFailure } from './job-runner.js';

export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.LETHE_CACHE) return env.LETHE_CACHE;
  return path.join(defaultDataDir({ ...env, LETHE_DATA: undefined }), 'models');
}

/**
 * The jobs `lethe run` does: the cells without a result (all of them with --force) and the reference, original, gold
 * and SPD models of the groups that have such cells. While cells wait for their searches, it also trains the models
 * those searches need (the validation groups' original and gold models), so that shards share that work too.
 * Searches themselves are `lethe tune`'s.
 */
export function runJobFilter(plan: Plan, status: ReturnType<typeof cellStatus>): (job: Job) => boolean {
  const pendingHashes = new Set(status.pending.map((c) => c.cellHash));
  const waiting = new Set(status.awaitingSearch.map((c) => c.cellHash));
  const needed = new Set(
    plan.groups.filter((g) => g.cells.some((c) => pendingHashes.has(c.cellHash) || waiting.has(c.cellHash))).flatMap((g) => [`original:${g.originalKey}`, `gold:${g.goldKey}`, `spd-original:${g.goldKey}`]),
  );
  if (waiting.size > 0) for (const g of plan.validationGroups) needed.add(`original:${g.originalKey}`).add(`validation-gold:${g.goldKey}`);
  // the artefacts of cells still to run (AMUN's adversarial sets)
  for (const g of plan.groups) {
    for (const [key, { cells }] of groupArtefacts(g)) if (cells.some((c) => pendingHashes.has(c.cellHash) || waiting.has(c.cellHash))) needed.add(`artefact:${key}`);
  }
  return (job) => {
    switch (job.kind) {
      case 'reference':
        return needed.size > 0;
      case 'validation-gold':
        return needed.has(job.id);
      case 'cell':
        return pendingHashes.has(jobKey(job));
      case 'original':
      case 'gold':
      case 'spd-original':
      case 'artefact':
        return needed.has(job.id);
      default:
        return false;
    }
  };
}

/** The status restricted to some cells (`RunOptions.cells`). */
function onlyCells(plan: Plan, status: ReturnType<typeof cellStatus>, hashes: readonly string[]): ReturnType<typeof cellStatus> {
  const known = new Set(plan.groups.flatMap((g) => g.cells.map((c) => c.cellHash)));
  const unknown = hashes.filter((h) => !known.has(h));
  if (unknown.length > 0) throw new Error(`no cell ${unknown.join(', ')} in the plan of '${plan.config.name}' (its cells: \`lethe plan --jobs\`)`);
  const wanted = new Set(hashes);
  return {
    ...status,
    pending: status.pending.filter((c) => wanted.has(c.cellHash)),
    awaitingSearch: status.awaitingSearch.filter((c) => wanted.has(c.cellHash)),
    done: new Map([...status.done].filter(([hash]) => wanted.has(hash))),
  };
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

  // a result file that fails the schema is reported (path and field) and its cell runs again, never reused
  const all = cellStatus(plan, options.resultsDir, options.force, (p) => log(`${formatResultProblem(p)}; its cell runs again`));
  const status = options.cells ? onlyCells(plan, all, options.cells) : all;
  const results: CellResult[] = [...status.done.values()];
  const reused = results.length;
  const trained: string[] = [];
  const failures: CellFailure[] = [];
  if (reused > 0) log(`${reused} cell(s) already have results in ${path.join(options.resultsDir, config.name)}; reusing them (--force recomputes)`);
  if (status.awaitingSearch.length > 0) {
    const labels = [...new Set(status.awaitingSearch.map((c) => c.label))];
    log(`${status.awaitingSearch.length} cell(s) of ${labels.join(', ')} wait for their hyper-parameter search (the config sets tuning.required): run \`lethe tune\` on this config first; their models are still trained now`);
  }
  const keyOf = jobKey;
  const jobs = jobGraph(plan);
  const runs = runJobFilter(plan, status);
  const places = { cacheDir, resultsDir: options.resultsDir, tuning: options.tuning ?? null };
  // before anything trains: the directories are writable and have room for what the jobs will write
  preflight(plan, { cacheDir, resultsDir: options.resultsDir, jobs: jobs.filter((j) => runs(j) && !jobDone(plan, j, places)), log });

  retireSupersededResults(options.resultsDir, plan, log);
  // what killed writers and downloads left behind is never read; on a full disk it keeps the disk full
  const stale = [
    ...removeStaleTemporaries(cacheDir),
    ...removeStaleTemporaries(path.join(options.resultsDir, config.name)),
    ...(options.data ? [] : removeStaleTemporaries(options.dataDir ?? defaultDataDir())),
  ];
  if (stale.length > 0) log(`removed ${stale.length} temporary file(s) or folder(s) left by processes that are gone (e.g. ${stale[0]})`);
  const written = new Set<string>();

  const runner = new JobRunner(plan, { cacheDir, log, interactive, backend, ...(options.data ? { data: options.data } : {}), ...(options.dataDir ? { dataDir: options.dataDir } : {}), trained, stopTraining: (seconds) => budget.stopsTraining(seconds) });
  const jobTimes: JobTime[] = [];
  const timed = async (job: Job, work: () => Promise<'done' | 'failed' | 'stopped'>): Promise<'done' | 'failed' | 'stopped'> => {
    let entry = jobTimes.find((t) => t.kind === job.kind);
    if (!entry) jobTimes.push((entry = { kind: job.kind, jobs: 0, seconds: 0 }));
    const started = performance.now();
    try {
      return await work();
    } finally {
      entry.jobs++;
      entry.seconds += (performance.now() - started) / 1000;
    }
  };
  const runCell = async (job: Job): Promise<'done' | 'failed' | 'stopped'> => {
    const outcome = await runner.cell(keyOf(job));
    if ('failure' in outcome) {
      failures.push(outcome.failure);
      return 'failed';
    }
    const file = resultFilePath(options.resultsDir, config.name, outcome.cell);
    writeJsonAtomic(file, outcome.result);
    written.add(outcome.cell.cellHash);
    results.push(outcome.result);
    await options.onResult?.(file, outcome.result);
    return 'done';
  };
  const runJob = (job: Job): Promise<'done' | 'failed' | 'stopped'> => timed(job, () => (job.kind === 'cell' ? runCell(job) : runner.run(job)));

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
    runner.close();
  }
  // the unlearners' share of the cells' time, from the results this process wrote; retrain's cell reuses the gold
  // model, so its recorded time is the gold job's, not the cell's
  const cellTime = jobTimes.find((t) => t.kind === 'cell');
  if (cellTime) {
    cellTime.unlearnSeconds = results.filter((r) => written.has(r.cellHash) && r.cell.method !== 'retrain').reduce((s, r) => s + r.timing.unlearnSeconds, 0);
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
    jobTimes,
  };
}

/** Results in plan order (group, then unlearning seed and method order of the config). */
function orderLike(plan: Plan, results: CellResult[]): CellResult[] {
  const order = new Map<string, number>();
  let i = 0;
  for (const g of plan.groups) for (const c of g.cells) order.set(c.cellHash, i++);
  return [...results].sort((a, b) => (order.get(a.cellHash) ?? 0) - (order.get(b.cellHash) ?? 0));
}
