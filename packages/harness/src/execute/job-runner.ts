import type { BackendInfo } from '@lethe/runtime';
import type { ImageDataset } from '@lethe/datasets';
import type { Model } from '@lethe/models';
import { getUnlearner, TrainingStopped, type UnlearningTask } from '@lethe/core';
import { reportedMetrics } from '@lethe/metrics';
import type { Plan, PlannedCell, PlannedGroup } from '../plan/plan.js';
import { createPhaseProgress, type PhaseProgress } from '../prepare/progress.js';
import { cellEvaluationsFor } from './evaluations.js';
import { collectProvenance } from './provenance.js';
import { RESULT_SCHEMA, checkCellResult, type AccuracyMetrics, type CellResult } from '../results/results.js';
import { retrainRatio, retrainRatioSkippedLine } from './timing.js';
import { ensureReferenceModel, loadReferenceModels, referencePoolData } from '../prepare/references.js';
import { prepareSpdGanGroup, type SpdGanGroup } from '../prepare/spd-gan.js';
import { loadBenchmarkData, prepareData, type BenchmarkData } from '../prepare/data.js';
import { GAP_METRICS, describeMetrics, ensureGold, ensureOriginal, finiteOrNull, gapMetricsFor, openGroup, type OpenGroup, type RunContext } from '../prepare/group.js';
import path from 'node:path';
import { groupArtefacts, jobGraph, type Job } from '../plan/jobs.js';
import { prepareArtefact } from '../prepare/artefacts.js';
import { fileClaims } from './executor.js';
import { jobDone } from './estimate.js';
import { preflight } from './preflight.js';
import { resultFilePath } from '../results/result-files.js';
import { writeJsonAtomic } from '../prepare/cache.js';
import type { TuningRecord } from '../plan/tuning-record.js';

export interface CellFailure {
  label: string;
  method: string;
  forgetSet: string;
  seed: number;
  message: string;
}

export interface JobRunnerOptions {
  cacheDir: string;
  log: (line: string) => void;
  interactive: boolean;
  backend: BackendInfo;
  dataDir?: string;
  /** use these data instead of loading the config's data set */
  data?: BenchmarkData;
  /** models trained by this process are added here, by role */
  trained?: string[];
  /** a time limit for model trainings: asked at each epoch end, true stops there (checkpointed; the job is 'stopped') */
  stopTraining?: (lastEpochSeconds: number) => boolean;
}

/** The key a job id names (`<kind>:<key>`). */
export function jobKey(job: Pick<Job, 'id'>): string {
  return job.id.slice(job.id.indexOf(':') + 1);
}

/**
 * What one process needs to run jobs of a plan, whichever executor hands them out (the local executor's loop, one
 * Slurm array task, a shard): the data (loaded on first use), the reference models' outputs (loaded once for the
 * cells), and one group open at a time (its models loaded and evaluated once for all the cells that follow).
 */
export class JobRunner {
  private context: RunContext | null = null;
  private provenance: ReturnType<typeof collectProvenance> | null = null;
  private poolData: (() => ImageDataset) | null = null;
  private open: { group: PlannedGroup; opened: OpenGroup; spdGan: SpdGanGroup | null } | null = null;
  readonly trained: string[];

  constructor(
    readonly plan: Plan,
    private readonly options: JobRunnerOptions,
  ) {
    this.trained = options.trained ?? [];
  }

  async contextOf(): Promise<RunContext> {
    if (this.context) return this.context;
    const { plan, options } = this;
    const { log, interactive } = options;
    const loaded = options.data ?? (await loadBenchmarkData(plan.config, { ...(options.dataDir ? { dataDir: options.dataDir } : {}), log, interactive }));
    const data = prepareData(plan.config, loaded);
    log(`data: ${data.train.name}, ${data.train.count} training (${data.holdout.length} held out of every model) and ${data.test.count} test images (sha256 ${data.checksum.slice(0, 12)}...)`);
    this.provenance = collectProvenance(options.backend, data.checksum, plan.configHash);
    this.poolData = referencePoolData(plan, data);
    this.context = { plan, data, backend: options.backend, cacheDir: options.cacheDir, log, interactive, references: null, trained: this.trained, ...(options.stopTraining ? { stopTraining: options.stopTraining } : {}) };
    return this.context;
  }

  /** The group's models, loaded and evaluated (with the reference models' outputs, and its SPD-GAN part when asked). */
  async openFor(group: PlannedGroup, role: 'gold' | 'validation-gold' = 'gold'): Promise<{ opened: OpenGroup; spdGan: SpdGanGroup | null }> {
    if (this.open && this.open.group.goldKey === group.goldKey) return this.open;
    this.close();
    const { plan, options } = this;
    const c = await this.contextOf();
    if (plan.references.length > 0 && !c.references) c.references = loadReferenceModels(plan, c.data, options.cacheDir, options.log);
    options.log(`\n== ${role === 'gold' ? '' : 'validation group: '}original seed ${group.seeds.original}, forget set ${group.forgetSetId} (draw ${group.seeds.forgetSet}${role === 'gold' ? '' : ', not reported'}) ==`);
    const opened = await openGroup(c, group, role);
    let spdGan: SpdGanGroup | null = null;
    const settings = plan.config.evaluation.spdGan;
    if (settings && role === 'gold') {
      const progress = createPhaseProgress('SPD original', options.log, options.interactive);
      spdGan = await prepareSpdGanGroup(plan, group, settings, c.data, { forget: opened.forget, retain: opened.retain }, opened.gold.model, { cacheDir: options.cacheDir, batchSize: plan.config.evaluation.batchSize, log: options.log, onProgress: (p) => progress.update(p), ...(options.stopTraining ? { stopTraining: options.stopTraining } : {}) });
      progress.stop();
      this.trained.push(...spdGan.trainedNow);
    }
    this.open = { group, opened, spdGan };
    return this.open;
  }

  close(): void {
    this.open?.spdGan?.spdOriginal.dispose();
    this.open?.opened.dispose();
    this.open = null;
  }

  /**
   * A model job (reference, original, gold, validation gold or SPD original) or an artefact job. 'stopped': a model's
   * training reached the time limit at an epoch end and was checkpointed (the next run continues it).
   */
  async run(job: Job): Promise<'done' | 'stopped'> {
    try {
      return await this.runJob(job);
    } catch (err) {
      if (err instanceof TrainingStopped) {
        this.options.log(`${job.title}: ${err.message}`);
        return 'stopped';
      }
      throw err;
    }
  }

  private async runJob(job: Job): Promise<'done'> {
    const { plan, options } = this;
    const c = await this.contextOf();
    const key = jobKey(job);
    switch (job.kind) {
      case 'reference': {
        const reference = plan.references.find((r) => r.key === key)!;
        const { trained } = await ensureReferenceModel(plan, c.data, reference, { cacheDir: options.cacheDir, batchSize: plan.config.evaluation.batchSize, log: options.log, interactive: options.interactive, ...(options.stopTraining ? { stopTraining: options.stopTraining } : {}) }, this.poolData!);
        if (trained) this.trained.push(`reference-${reference.index}`);
        return 'done';
      }
      case 'original': {
        const original = plan.originals.find((o) => o.key === key)!;
        (await ensureOriginal(c, original.seed, original.key)).model.dispose();
        return 'done';
      }
      case 'gold':
        (await ensureGold(c, plan.groups.find((g) => g.goldKey === key)!)).model.dispose();
        return 'done';
      case 'validation-gold':
        (await ensureGold(c, plan.validationGroups.find((g) => g.goldKey === key)!, 'validation-gold')).model.dispose();
        return 'done';
      case 'spd-original':
        await this.openFor(plan.groups.find((g) => g.goldKey === key)!);
        return 'done';
      case 'artefact': {
        for (const group of plan.groups) {
          const artefact = groupArtefacts(group).get(key);
          if (artefact) {
            await prepareArtefact(c, group, artefact.request, key);
            return 'done';
          }
        }
        throw new Error(`no artefact ${key} in the plan of '${plan.config.name}'`);
      }
      default:
        throw new Error(`${job.kind} jobs are not model jobs (cells run through cell(), searches through lethe tune)`);
    }
  }

  /** A cell: unlearn, evaluate, and assemble its result (not written: the caller decides where). */
  async cell(cellHash: string): Promise<{ cell: PlannedCell; result: CellResult } | { cell: PlannedCell; failure: CellFailure }> {
    const group = this.plan.groups.find((g) => g.cells.some((c) => c.cellHash === cellHash));
    if (!group) throw new Error(`no cell ${cellHash} in the plan of '${this.plan.config.name}'`);
    const cell = group.cells.find((c) => c.cellHash === cellHash)!;
    const current = await this.openFor(group);
    const outcome = await runCell(await this.contextOf(), current.opened, cell, current.spdGan, this.provenance!);
    return { cell, ...outcome };
  }
}

/** One cell: unlearn (retrain reuses the gold model), evaluate, and assemble its result. Failures are reported, not thrown. */
export async function runCell(
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
  if (definition.isGoldModel) {
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
  // the registry's reported metrics, stored by name: adding one needs no edit here
  const reported = reportedMetrics().map((m) => m.name);
  const { values, metrics: accuracy } = await open.evaluate(model, [...GAP_METRICS, ...reported], { attacks: 'none' });
  // the registered cell evaluations the config asks for (membership inference, SPD-GAN): each writes its own fields
  const progresses: PhaseProgress[] = [];
  const task = (label: string): UnlearningTask => {
    const progress = createPhaseProgress(label, log, interactive);
    progresses.push(progress);
    return open.task(cell.setting, cell.seeds.unlearning, progress);
  };
  let fields: Partial<CellResult> = {};
  let gapValues: Record<string, number> = {};
  let evaluated: Record<string, number | null> = {};
  const described: string[] = [];
  try {
    for (const evaluation of cellEvaluationsFor(config)) {
      try {
        const out = await evaluation.evaluate({ config, cell, definition, open, spdGan, model, isGold, task });
        fields = { ...fields, ...out.fields };
        gapValues = { ...gapValues, ...out.gap };
        evaluated = { ...evaluated, ...out.metrics };
        if (out.describe) described.push(out.describe);
      } catch (err) {
        // a failure fails the cell, so that a re-run computes it again
        return failure(`${evaluation.name}: ${(err as Error).message}`);
      }
    }
  } finally {
    for (const p of progresses) p.stop();
    if (!isGold) {
      open.release(model);
      model.dispose();
    }
  }
  const metrics = { ...accuracy, ...gapValues } as AccuracyMetrics & { MIA?: number };
  // x retrain only between times of one backend; retrain's own time is the gold model's, measured on its backend
  const unlearnBackend = definition.isGoldModel ? open.gold.backend : backend.name;
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
      ...Object.fromEntries(reported.map((name) => [name, finiteOrNull(values[name])])),
      ...Object.fromEntries(Object.entries(evaluated).map(([name, v]) => [name, finiteOrNull(v ?? undefined)])),
    },
    ...fields,
    gold: open.goldMetrics,
    original: open.originalMetrics,
    sizes: { train: data.available.length, forget: open.forget.length, retain: open.retain.length, test: data.test.count, ...(data.holdout.length > 0 ? { holdout: data.holdout.length } : {}) },
    timing: ratio.timing,
    provenance: { ...provenance, createdAt: new Date().toISOString() },
  };
  // the writer checks what readers check, on the result as JSON will hold it (NaN becomes null): a NaN, a missing or
  // an out-of-range number fails the cell rather than being written
  const checked = checkCellResult(JSON.parse(JSON.stringify(result)), resultFilePath('<results>', config.name, cell));
  if (!checked.ok) return failure(`its result does not pass the result schema (${checked.problems.map((p) => `${p.field}: ${p.message}`).join('; ')})`);
  log(`${cell.label}: ${[describeMetrics(accuracy, null), ...described].join('  ')}  Avg Gap ${result.metrics.avgGap.toFixed(2)}  (${unlearnSeconds.toFixed(1)} s)`);
  return { result };
}


export interface SingleJobOptions {
  resultsDir: string;
  cacheDir: string;
  log: (line: string) => void;
  interactive: boolean;
  backend: BackendInfo;
  dataDir?: string;
  data?: BenchmarkData;
  /** the search record (`lethe tune`'s), for the hyper-parameters of cells */
  tuning?: TuningRecord | null;
  /** where search jobs write their record */
  recordFile?: string;
}

/**
 * Run exactly one job of a plan, by id (what a Slurm array task or any external scheduler runs): refuses a job whose
 * dependencies are not done, does nothing for a job already done, and claims the job first, so that a job started
 * twice (a requeued task) runs once. Returns what happened; a failed cell is an error (the scheduler's afterok then
 * holds the stages after it).
 */
export async function runJobById(plan: Plan, jobId: string, options: SingleJobOptions): Promise<'done' | 'already done'> {
  const jobs = jobGraph(plan);
  const job = jobs.find((j) => j.id === jobId);
  if (!job) throw new Error(`no job '${jobId}' in the plan of '${plan.config.name}'; \`lethe plan ${plan.config.name} --jobs\` lists them`);
  const places = { cacheDir: options.cacheDir, resultsDir: options.resultsDir, tuning: options.tuning ?? null };
  if (jobDone(plan, job, places)) {
    options.log(`${job.title}: already done`);
    return 'already done';
  }
  const missing = job.deps.filter((d) => !jobDone(plan, jobs.find((j) => j.id === d)!, places));
  if (missing.length > 0) throw new Error(`${job.title} needs ${missing.length} job(s) done first: ${missing.map((d) => jobs.find((j) => j.id === d)!.title).join('; ')}`);
  preflight(plan, { cacheDir: options.cacheDir, ...(job.kind === 'cell' ? { resultsDir: options.resultsDir } : {}), jobs: [job] });
  const claims = fileClaims(path.join(options.cacheDir, 'claims'));
  if (!claims.claim(job.id)) throw new Error(`${job.title} is being run by another process (its claim is in ${path.join(options.cacheDir, 'claims')})`);
  const runner = new JobRunner(plan, options);
  try {
    if (job.kind === 'cell') {
      const outcome = await runner.cell(jobKey(job));
      if ('failure' in outcome) throw new Error(`${job.title} failed: ${outcome.failure.message}`);
      writeJsonAtomic(resultFilePath(options.resultsDir, plan.config.name, outcome.cell), outcome.result);
    } else if (job.kind === 'search') {
      throw new Error('search jobs run through `lethe tune` (`lethe tune --executor slurm` submits them)');
    } else {
      await runner.run(job);
    }
  } finally {
    runner.close();
    claims.release(job.id);
  }
  return 'done';
}
