import fs from 'node:fs';
import path from 'node:path';
import { Model } from '@lethe/models';
import type { Plan } from '../plan/plan.js';
import type { Job } from '../plan/jobs.js';

/**
 * Checks made before the first model trains (`lethe run`, `lethe tune`, `lethe job`), so that what can be known at the
 * start is not found out hours later: the results and cache directories exist and are writable, and their file
 * systems have room for the cache entries and result files the jobs will write. The plan has already refused sizes
 * below MIN_SET_IMAGES and unsafe strings (planBenchmark, parseBenchmarkConfig).
 */
export class PreflightError extends Error {
  override name = 'PreflightError';
}

export interface PreflightOptions {
  /** the model cache */
  cacheDir: string;
  /** where result files go (`lethe run`, a cell job) */
  resultsDir?: string;
  /** other files the command writes, e.g. the search record of `lethe tune` */
  files?: string[];
  /** the jobs this process is going to run (their outputs are what must fit) */
  jobs: readonly Job[];
  log?: (line: string) => void;
  /** free bytes of the file system holding a directory (tests); default fs.statfsSync */
  freeBytes?: (dir: string) => number;
}

/** A result file is a few kilobytes; this is a generous bound. */
const RESULT_FILE_BYTES = 64 * 1024;
/** Room kept free beyond the estimate (logs, claims, the leaderboard, other writers). */
const MARGIN_BYTES = 64 * 1024 * 1024;

/** Bytes one saved model of the plan takes (float32 parameters and state, plus model.json). */
function modelBytes(plan: Plan): number {
  const model = Model.create(plan.modelSpec, 0);
  try {
    let floats = 0;
    for (const v of [...model.params.values(), ...model.state.values()]) floats += v.size;
    return 4 * floats + 64 * 1024;
  } finally {
    model.dispose();
  }
}

/** What the jobs will write: into the cache (models, reference outputs) and into the results directory. */
export function plannedCacheBytes(plan: Plan, jobs: readonly Job[]): { cache: number; results: number } {
  const models = jobs.filter((j) => j.kind === 'reference' || j.kind === 'original' || j.kind === 'gold' || j.kind === 'validation-gold' || j.kind === 'spd-original').length;
  const references = jobs.filter((j) => j.kind === 'reference').length;
  const cells = jobs.filter((j) => j.kind === 'cell').length;
  const numClasses = plan.modelSpec.numClasses;
  // reference outputs: float32 logits of every training and test image
  const outputs = references * 4 * numClasses * (plan.sizes.train + plan.sizes.test);
  return { cache: (models > 0 ? models * modelBytes(plan) : 0) + outputs, results: cells * RESULT_FILE_BYTES };
}

function mb(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(bytes < 10 * 1024 * 1024 ? 1 : 0)} MB`;
}

/** Create `dir` if needed and write and remove a file in it; the error names the directory and what it is for. */
function checkWritable(dir: string, what: string, flag: string): void {
  const probe = path.join(dir, `.lethe-preflight-${process.pid}`);
  try {
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(probe, 'preflight');
    fs.rmSync(probe, { force: true });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new PreflightError(`the ${what} '${dir}' is not writable (${code ?? (err as Error).message}): fix its permissions or choose another with ${flag}; nothing was trained`);
  }
}

function statfsFree(dir: string): number {
  const stats = fs.statfsSync(dir);
  return Number(stats.bavail) * Number(stats.bsize);
}

/** Run every check; throws a PreflightError naming the directory (or field) and the fix. */
export function preflight(plan: Plan, options: PreflightOptions): void {
  const places: Array<{ dir: string; what: string; flag: string; bytes: number }> = [];
  const need = plannedCacheBytes(plan, options.jobs);
  places.push({ dir: options.cacheDir, what: 'cache directory', flag: '--cache-dir (or $LETHE_CACHE)', bytes: need.cache });
  if (options.resultsDir !== undefined) places.push({ dir: path.join(options.resultsDir, plan.config.name), what: 'results directory', flag: '--results-dir', bytes: need.results });
  for (const file of options.files ?? []) places.push({ dir: path.dirname(file), what: `directory of '${path.basename(file)}'`, flag: 'another path', bytes: RESULT_FILE_BYTES });
  for (const p of places) checkWritable(p.dir, p.what, p.flag);
  // directories on one file system share its free space
  const free = options.freeBytes ?? statfsFree;
  const byDevice = new Map<number, { dirs: string[]; bytes: number; free: number }>();
  for (const p of places) {
    const device = fs.statSync(p.dir).dev;
    const entry = byDevice.get(device) ?? { dirs: [], bytes: 0, free: free(p.dir) };
    entry.dirs.push(p.dir);
    entry.bytes += p.bytes;
    byDevice.set(device, entry);
  }
  for (const { dirs, bytes, free: available } of byDevice.values()) {
    if (bytes === 0) continue;
    if (bytes + MARGIN_BYTES > available) {
      throw new PreflightError(
        `not enough disk space for ${dirs.map((d) => `'${d}'`).join(' and ')}: ${mb(available)} free, the planned jobs write about ${mb(bytes)} (cache entries and result files) and ${mb(MARGIN_BYTES)} are kept free; free some space or choose another place with --cache-dir / --results-dir; nothing was trained`,
      );
    }
  }
  options.log?.(`preflight: ${options.jobs.length} job(s) to run, about ${mb(need.cache + need.results)} to write; directories writable`);
}
