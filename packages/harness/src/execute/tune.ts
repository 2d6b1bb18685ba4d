import path from 'node:path';
import { initBackend, Rng, combineSeeds, type BackendName, type BackendInfo } from '@lethe/runtime';
import { getUnlearner, resolveHyperParameters } from '@lethe/core';
import type { BenchmarkConfig, SearchSpace } from '../config/config.js';
import { planBenchmark, type Plan, type PlannedSearch } from '../plan/plan.js';
import { createPhaseProgress } from '../prepare/progress.js';
import type { BenchmarkData } from '../prepare/data.js';
import { gapMetricsFor, type OpenGroup } from '../prepare/group.js';
import { jobGraph, type Job } from '../plan/jobs.js';
import { removeStaleTemporaries } from '@lethe/runtime/files';
import { defaultDataDir } from '@lethe/datasets';
import { preflight } from './preflight.js';
import { JobRunner, jobKey } from './job-runner.js';
import { executeJobs, fileClaims, type Shard } from './executor.js';
import { jobDone } from './estimate.js';
import { TimeBudget, formatDuration } from './budget.js';
import { defaultCacheDir } from './run.js';
import { TUNING_SCHEMA, readTuningRecord, updateTuningRecord, type MethodSearch, type TuningCandidate, type TuningRecord } from '../plan/tuning-record.js';

/**
 * `lethe tune`: the hyper-parameter search the papers use to pick each method's learning rate (AMUN searches it in
 * [1e-6, 1e-1]). For every searched method and forget set, each candidate unlearns the validation group (the original
 * model of `tuning.originalSeed` and a forget set drawn with `tuning.forgetSetSeed`, which no reported cell uses) and
 * is scored by Avg Gap to that group's gold model; the lowest wins. The search reuses the cached original, gold and
 * reference models (it trains them only if no run has yet), writes its record after every candidate (a killed search
 * resumes at the next candidate), and `lethe run` then uses the chosen values.
 */

/** Round to 3 significant digits: the values land in result files and tables, where 0.00123 reads better than 0.0012345678. */
function roundSignificant(value: number): number {
  return Number(value.toPrecision(3));
}

/**
 * The candidates of a search, a pure function of the space, the budget and the seed. Only grids: every combination.
 * Otherwise `budget` candidates, each sampled dimension stratified (its range cut into `budget` equal strata, on a log
 * scale for logUniform, one draw in each, strata shuffled per dimension: a Latin hypercube, which covers a range
 * evenly where plain random draws bunch up) and each grid dimension cycled through its values in a shuffled order.
 */
export function searchCandidates(space: SearchSpace, budget: number, seed: number | string): Array<Record<string, unknown>> {
  const names = Object.keys(space).sort();
  if (names.length === 0) throw new Error('the search space is empty: give at least one hyper-parameter, e.g. { "lr": { "logUniform": [1e-5, 0.1] } }');
  const rng = new Rng(typeof seed === 'number' ? seed : combineSeeds(seed));
  if (names.every((n) => 'grid' in space[n]!)) {
    let out: Array<Record<string, unknown>> = [{}];
    for (const name of names) {
      const values = (space[name] as { grid: unknown[] }).grid;
      out = out.flatMap((c) => values.map((v) => ({ ...c, [name]: v })));
    }
    return out;
  }
  const columns = names.map((name) => {
    const dimension = space[name]!;
    const r = rng.fork(name);
    const order = r.permutation(budget);
    if ('grid' in dimension) return Array.from({ length: budget }, (_, i) => dimension.grid[order[i]! % dimension.grid.length]);
    const [low, high] = dimension.logUniform;
    const [a, b] = [Math.log(low), Math.log(high)];
    return Array.from({ length: budget }, (_, i) => roundSignificant(Math.exp(a + ((b - a) * (order[i]! + r.next())) / budget)));
  });
  return Array.from({ length: budget }, (_, i) => Object.fromEntries(names.map((name, d) => [name, columns[d]![i]])));
}

export interface TuneOptions {
  /** the search record (default: beside the config, `<config>.tuning.json`; the CLI passes it) */
  recordFile: string;
  cacheDir?: string;
  dataDir?: string;
  backend?: BackendName | 'auto';
  log?: (line: string) => void;
  interactive?: boolean;
  data?: BenchmarkData;
  timeLimitSeconds?: number;
  /** run only this share of the searches (and of the models they need) */
  shard?: Shard;
  /** search only these method labels (default: every searched method) */
  methods?: string[];
  /** run only these searches, by search key (a scheduler's task runs one) */
  searchKeys?: string[];
}

export interface TuneSummary {
  plan: Plan;
  backend: BackendInfo;
  record: TuningRecord;
  /** searches finished (now or before) and pending */
  finished: string[];
  pending: string[];
  candidatesRun: number;
  /** models trained by this search (the validation gold model, and any shared model no run had trained yet) */
  trained: string[];
  stoppedByTimeLimit: boolean;
}

function emptyRecord(config: BenchmarkConfig, plan: Plan): TuningRecord {
  const tuning = config.tuning!;
  return {
    schema: TUNING_SCHEMA,
    benchmark: config.name,
    validation: { originalSeed: plan.validationGroups[0]!.seeds.original, forgetSetSeed: tuning.forgetSetSeed, unlearningSeed: tuning.unlearningSeed },
    searches: {},
    updatedAt: new Date().toISOString(),
  };
}

/** The search's candidates, each validated against the method's schema before any model trains. */
export function plannedCandidates(config: BenchmarkConfig, search: PlannedSearch): Array<Record<string, unknown>> {
  const candidates = searchCandidates(search.space as SearchSpace, search.budget, combineSeeds(config.tuning!.seed, search.entryId));
  return candidates.map((candidate) => {
    try {
      resolveHyperParameters(search.method, config.setting, { ...search.base, ...candidate });
    } catch (err) {
      throw new Error(`tuning ${search.label}: the candidate ${JSON.stringify(candidate)} is not valid for '${search.method}' (${(err as Error).message.split('\n').join(' ')}); give this method its own space in tuning.methods.${search.label}.space`);
    }
    return candidate;
  });
}

/** Every search of a config with its candidates, validated (what `lethe tune` will try), without running anything. */
export function searchPlan(config: BenchmarkConfig): Array<{ search: PlannedSearch; candidates: Array<Record<string, unknown>> }> {
  if (!config.tuning) return [];
  return planBenchmark(config).searches.map((search) => ({ search, candidates: plannedCandidates(config, search) }));
}

export async function tuneBenchmark(config: BenchmarkConfig, options: TuneOptions): Promise<TuneSummary> {
  const log = options.log ?? ((line: string) => console.error(line));
  const interactive = options.interactive ?? Boolean(process.stderr.isTTY);
  const cacheDir = options.cacheDir ?? defaultCacheDir();
  if (!config.tuning) {
    throw new Error(`config '${config.name}' has no "tuning" section; add one, e.g. "tuning": { "forgetSetSeed": 100, "space": { "lr": { "logUniform": [1e-5, 0.1] } } }`);
  }
  const plan = planBenchmark(config);
  const wanted = options.methods ? new Set(options.methods) : null;
  if (wanted) {
    const known = new Set(plan.searches.map((s) => s.label));
    for (const label of wanted) if (!known.has(label)) throw new Error(`tune: '${label}' is not a searched method of '${config.name}'; searched: ${[...known].join(', ') || 'none'}`);
  }
  const searches = plan.searches.filter((s) => (!wanted || wanted.has(s.label)) && (!options.searchKeys || options.searchKeys.includes(s.searchKey)));
  if (options.searchKeys && searches.length !== options.searchKeys.length) throw new Error(`tune: no search ${options.searchKeys.filter((k) => !plan.searches.some((s) => s.searchKey === k)).join(', ')} in the plan of '${config.name}'`);
  const candidatesOf = new Map(searches.map((s) => [s.entryId, plannedCandidates(config, s)]));

  let record = readTuningRecord(options.recordFile) ?? emptyRecord(config, plan);
  if (record.benchmark !== config.name) throw new Error(`search record '${options.recordFile}' belongs to benchmark '${record.benchmark}', not '${config.name}'; pass another --record file`);
  record = { ...record, validation: emptyRecord(config, plan).validation };
  for (const search of searches) {
    const entry = record.searches[search.entryId];
    if (entry && entry.searchKey !== search.searchKey) {
      log(`${search.entryId}: the record's search was made for other settings (model, data, base values, space or evaluation changed); searching again`);
      delete record.searches[search.entryId];
    }
  }
  // take a search's entry from the file when another shard got further with it
  const refresh = (s: PlannedSearch): void => {
    const onDisk = readTuningRecord(options.recordFile)?.searches[s.entryId];
    const mine = record.searches[s.entryId];
    if (onDisk && onDisk.searchKey === s.searchKey && onDisk.candidates.length > (mine?.candidates.length ?? 0)) record.searches[s.entryId] = onDisk;
  };
  const isFinished = (s: PlannedSearch): boolean => {
    const entry = record.searches[s.entryId];
    return !!entry && entry.candidates.length >= candidatesOf.get(s.entryId)!.length;
  };
  const todo = searches.filter((s) => !isFinished(s));
  const backend = await initBackend(options.backend, { log });
  const budget = new TimeBudget(options.timeLimitSeconds ?? null, log);
  let candidatesRun = 0;
  const trained: string[] = [];
  const result = (stopped: boolean): TuneSummary => ({
    trained,
    plan,
    backend,
    record,
    finished: searches.filter(isFinished).map((s) => s.entryId),
    pending: searches.filter((s) => !isFinished(s)).map((s) => s.entryId),
    candidatesRun,
    stoppedByTimeLimit: stopped,
  });
  const total = todo.reduce((n, s) => n + candidatesOf.get(s.entryId)!.length - (record.searches[s.entryId]?.candidates.length ?? 0), 0);
  log(`tune ${config.name}: ${searches.length} search(es), ${searches.length - todo.length} finished before; ${total} candidate run(s) to go; record: ${options.recordFile}`);
  if (todo.length === 0) return result(false);

  const runner = new JobRunner(plan, { cacheDir, log, interactive, backend, ...(options.data ? { data: options.data } : {}), ...(options.dataDir ? { dataDir: options.dataDir } : {}), trained, stopTraining: (seconds) => budget.stopsTraining(seconds) });
  const gapMetrics = gapMetricsFor(config);
  const jobs = jobGraph(plan);
  const keyOf = jobKey;
  const todoKeys = new Set(todo.map((s) => s.searchKey));
  const validationOriginals = new Set(todo.map((s) => `original:${s.group.originalKey}`));
  const validationGolds = new Set(todo.map((s) => `validation-gold:${s.group.goldKey}`));
  const places = { cacheDir, resultsDir: '', tuning: null };
  const runs = (job: Job): boolean =>
    job.kind === 'reference' || (job.kind === 'original' && validationOriginals.has(job.id)) || (job.kind === 'validation-gold' && validationGolds.has(job.id)) || (job.kind === 'search' && todoKeys.has(keyOf(job)));
  // before anything trains: the cache and the record's directory are writable and have room for the models
  preflight(plan, { cacheDir, files: [options.recordFile], jobs: jobs.filter((j) => runs(j) && (j.kind === 'search' || !jobDone(plan, j, places))), log });
  const stale = [...removeStaleTemporaries(cacheDir), ...(options.data ? [] : removeStaleTemporaries(options.dataDir ?? defaultDataDir()))];
  if (stale.length > 0) log(`removed ${stale.length} temporary file(s) or folder(s) left by processes that are gone (e.g. ${stale[0]})`);
  let stopped = false;
  try {
    const outcome = await executeJobs({
      jobs,
      runs,
      // a search is done when the record on disk says so (another shard may have run it)
      isDone: (job) => {
        if (job.kind !== 'search') return jobDone(plan, job, places);
        const search = todo.find((s) => s.searchKey === keyOf(job))!;
        refresh(search);
        return isFinished(search);
      },
      run: async (job) => {
        if (job.kind !== 'search') return runner.run(job);
        const search = todo.find((s) => s.searchKey === keyOf(job))!;
        const { opened } = await runner.openFor(search.group, 'validation-gold');
        return (await runSearch(search, opened, candidatesOf.get(search.entryId)!)) ? 'stopped' : 'done';
      },
      budget,
      shard: options.shard ?? null,
      claims: fileClaims(path.join(cacheDir, 'claims')),
      log,
    });
    stopped = outcome.stopped;
  } finally {
    runner.close();
  }
  return result(stopped);

  async function runSearch(search: PlannedSearch, open: OpenGroup, candidates: Array<Record<string, unknown>>): Promise<boolean> {
    refresh(search);
    const entry: MethodSearch = record.searches[search.entryId] ?? {
      method: search.method,
      label: search.label,
      forgetSet: search.forgetSetId,
      searchKey: search.searchKey,
      base: search.base,
      space: search.space,
      planned: candidates.length,
      candidates: [],
      chosen: null,
    };
    record.searches[search.entryId] = entry;
    const definition = getUnlearner(search.method);
    for (let i = entry.candidates.length; i < candidates.length; i++) {
      const candidate = candidates[i]!;
      const what = `${search.label} candidate ${i + 1}/${candidates.length} ${JSON.stringify(candidate)}`;
      if (!budget.allows(`candidate:${search.method}`, what)) return true;
      const hyperParameters = resolveHyperParameters(search.method, config.setting, { ...search.base, ...candidate });
      const progress = createPhaseProgress(`${search.label} ${i + 1}/${candidates.length}`, log, interactive);
      const started = performance.now();
      let tried: TuningCandidate;
      try {
        const model = await definition.unlearn(open.task(config.setting, config.tuning!.unlearningSeed, progress), hyperParameters);
        progress.stop();
        // the score needs the primary attack's MIA only (the SVC's LIBSVM fit takes ~30 s on all of CIFAR-10)
        const { metrics } = await open.evaluate(model, [], { attacks: 'primary' });
        open.release(model);
        model.dispose();
        const gold = { UA: open.goldMetrics.UA, RA: open.goldMetrics.RA, TA: open.goldMetrics.TA, ...(open.goldMetrics.MIA !== undefined ? { MIA: open.goldMetrics.MIA } : {}) };
        tried = { hyperParameters: candidate, metrics: { ...metrics }, gold, avgGap: open.avgGapOf(metrics), avgGapOver: gapMetrics, seconds: (performance.now() - started) / 1000 };
      } catch (err) {
        progress.stop();
        // a diverging candidate is a result of the search (that learning rate is too high), not a reason to stop it
        tried = { hyperParameters: candidate, avgGap: null, seconds: (performance.now() - started) / 1000, error: (err as Error).message };
      }
      budget.record(`candidate:${search.method}`, tried.seconds);
      candidatesRun++;
      entry.candidates.push(tried);
      log(`${what}: ${tried.avgGap === null ? `FAILED (${tried.error})` : `Avg Gap ${tried.avgGap.toFixed(2)}  (UA ${tried.metrics!.UA!.toFixed(2)}, RA ${tried.metrics!.RA!.toFixed(2)}, TA ${tried.metrics!.TA!.toFixed(2)}${tried.metrics!.MIA !== undefined ? `, MIA ${tried.metrics!.MIA.toFixed(2)}` : ''})`}  ${formatDuration(tried.seconds)}`);
      if (entry.candidates.length === candidates.length) entry.chosen = choose(entry);
      // merged into the file under a lock: other shards write their own searches into the same record
      updateTuningRecord(options.recordFile, record, [search.entryId]);
    }
    if (entry.chosen) log(`${search.entryId}: chose ${JSON.stringify(entry.chosen.hyperParameters)} (validation Avg Gap ${entry.chosen.avgGap.toFixed(2)})`);
    else log(`${search.entryId}: every candidate failed; the method keeps its config values (see the record: ${path.basename(options.recordFile)})`);
    return false;
  }
}

/** The candidate with the lowest Avg Gap (the first of equals); null when every candidate failed. */
export function choose(entry: Pick<MethodSearch, 'candidates'>): MethodSearch['chosen'] {
  let best: MethodSearch['chosen'] = null;
  entry.candidates.forEach((c, index) => {
    if (c.avgGap !== null && (best === null || c.avgGap < best.avgGap)) best = { index, hyperParameters: c.hyperParameters, avgGap: c.avgGap };
  });
  return best;
}
