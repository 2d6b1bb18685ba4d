import fs from 'node:fs';
import path from 'node:path';
import { isSavedModel, savedModelProblem } from '@lethe/models';
import { jobGraph, type JobKind } from '../plan/jobs.js';
import type { Plan } from '../plan/plan.js';

/**
 * A checkpoint directory: the trained models of a benchmark's plan (originals, gold, validation-gold, reference and
 * SPD originals), copied out of the model cache so that a long run can continue on another machine (or on this one
 * after its cache is gone) without training them again. `benchmarks/run-part.sh` exports into
 * `benchmarks/checkpoints/<benchmark>/` and commits as models finish, and imports from there before it starts.
 *
 * A checkpoint is one cache entry (`<key>/model.json` + `weights.bin`), copied as a whole by a rename, never half;
 * `<key>.training/` carries a training in progress (its last finished epoch, with the optimiser's momentum), so that a
 * part stopped by its time limit continues mid-training on the next machine.
 * On import each entry must belong to the plan (its key is one of the plan's model jobs), have the plan's model spec
 * and weights whose SHA-256 matches its model.json; anything else is refused with the path and the reason.
 */

const MODEL_KINDS: ReadonlySet<JobKind> = new Set(['reference', 'original', 'gold', 'validation-gold', 'spd-original']);
const ENTRY_FILES = ['model.json', 'weights.bin'] as const;
/** a training in progress (cache.ts, diskCheckpointer): the model after its last finished epoch, momentum, progress */
const TRAINING_FILES = ['model.json', 'weights.bin', 'momentum.bin', 'state.json'] as const;

/** The cache keys of every model the plan trains, with the kind of job that trains it. */
export function plannedModelKeys(plan: Plan): Map<string, JobKind> {
  const keys = new Map<string, JobKind>();
  for (const job of jobGraph(plan)) {
    if (MODEL_KINDS.has(job.kind)) keys.set(job.id.slice(job.id.indexOf(':') + 1), job.kind);
  }
  return keys;
}

export interface CheckpointCopy {
  copied: string[];
  /** trainings in progress copied (`<key>.training`, with their epochs done) */
  trainings: { key: string; epochsDone: number }[];
  present: string[];
  missing: string[];
  refused: { key: string; reason: string }[];
}

/** Why a saved entry cannot serve as the plan's model `key`, or null when it can. */
export function checkpointProblem(plan: Plan, dir: string): string | null {
  // loadModel's whole-entry check: the config's spec, the recorded key, manifest, network revision, weights hash, layout
  return savedModelProblem(dir, { spec: plan.modelSpec, cacheKey: path.basename(dir) });
}

/** Copy one entry's files into `<to>/<name>` through a temporary directory and a rename: readers never see half of it. */
function copyEntry(from: string, toRoot: string, name: string, files: readonly string[] = ENTRY_FILES): void {
  fs.mkdirSync(toRoot, { recursive: true });
  const staging = path.join(toRoot, `.${name}.tmp-${process.pid}`);
  fs.rmSync(staging, { recursive: true, force: true });
  fs.mkdirSync(staging);
  try {
    for (const file of files) fs.copyFileSync(path.join(from, file), path.join(staging, file));
    const target = path.join(toRoot, name);
    // a training checkpoint is replaced by a later one; a finished model never exists twice
    fs.rmSync(target, { recursive: true, force: true });
    fs.renameSync(staging, target);
  } catch (err) {
    fs.rmSync(staging, { recursive: true, force: true });
    throw new Error(`copying ${name} from ${from} to ${toRoot} failed: ${(err as Error).message}`);
  }
}

/** Epochs a training checkpoint holds, or null when there is none that names this key and the plan's model. */
function trainingEpochs(plan: Plan, dir: string, key: string): number | null {
  try {
    const state = JSON.parse(fs.readFileSync(path.join(dir, 'state.json'), 'utf8')) as { key?: unknown; epochsDone?: unknown };
    if (state.key !== key || typeof state.epochsDone !== 'number') return null;
    if (checkpointProblem(plan, dir) !== null) return null;
    return TRAINING_FILES.every((f) => fs.existsSync(path.join(dir, f))) ? state.epochsDone : null;
  } catch {
    return null;
  }
}

function copyPlanned(plan: Plan, fromRoot: string, toRoot: string, withTraining: boolean): CheckpointCopy {
  const out: CheckpointCopy = { copied: [], trainings: [], present: [], missing: [], refused: [] };
  for (const key of plannedModelKeys(plan).keys()) {
    const from = path.join(fromRoot, key);
    const training = `${key}.training`;
    if (isSavedModel(path.join(toRoot, key))) {
      out.present.push(key);
      // a finished model makes its training checkpoint obsolete
      fs.rmSync(path.join(toRoot, training), { recursive: true, force: true });
      continue;
    }
    if (!isSavedModel(from)) {
      out.missing.push(key);
      const epochs = withTraining ? trainingEpochs(plan, path.join(fromRoot, training), key) : null;
      if (epochs !== null && epochs > (trainingEpochs(plan, path.join(toRoot, training), key) ?? 0)) {
        copyEntry(path.join(fromRoot, training), toRoot, training, TRAINING_FILES);
        out.trainings.push({ key, epochsDone: epochs });
      }
      continue;
    }
    const problem = checkpointProblem(plan, from);
    if (problem) {
      out.refused.push({ key, reason: problem });
      continue;
    }
    copyEntry(from, toRoot, key);
    fs.rmSync(path.join(toRoot, training), { recursive: true, force: true });
    out.copied.push(key);
  }
  return out;
}

/**
 * Copy the plan's finished models from the cache into a checkpoint directory (those not there yet); with
 * `withTraining`, also the trainings in progress (each model's last finished epoch), replacing older ones.
 */
export function exportCheckpoints(plan: Plan, cacheDir: string, checkpointDir: string, options: { withTraining?: boolean } = {}): CheckpointCopy {
  return copyPlanned(plan, cacheDir, checkpointDir, options.withTraining ?? false);
}

/**
 * Copy a checkpoint directory's models of the plan into the cache (those it lacks), each verified first, and its
 * trainings in progress where the cache has none as far along (the training verifies them again when it resumes).
 */
export function importCheckpoints(plan: Plan, checkpointDir: string, cacheDir: string): CheckpointCopy {
  if (!fs.existsSync(checkpointDir)) throw new Error(`checkpoint directory ${checkpointDir} does not exist (export one with \`lethe cache export <config> ${checkpointDir}\`)`);
  return copyPlanned(plan, checkpointDir, cacheDir, true);
}
