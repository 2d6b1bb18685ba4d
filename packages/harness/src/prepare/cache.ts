import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { type Model, type ModelSpec, loadModel, saveModel, isSavedModel } from '@lethe/models';
import type { TrainCheckpointer, TrainCheckpointState } from '@lethe/core';
import { backendInfo } from '@lethe/runtime';
import { writeFileAtomic } from '@lethe/runtime/files';

/** Write JSON atomically (temporary file + rename): a killed run never leaves a half-written file. */
export { writeJsonAtomic } from '@lethe/runtime/files';

export interface CachedModel {
  model: Model;
  trainSeconds: number;
  trainedNow: boolean;
  /** the cache directory of the model */
  dir: string;
  /** the compute backend trainSeconds was measured on; null when unknown (cached before it was recorded) */
  backend: string | null;
  /** that backend's thread count, when it reported one */
  threads: number | null;
}

/** The training backend a cached model's metadata records; older cache entries have none (null = unknown). */
export function trainedOn(metadata: Record<string, unknown>): { backend: string | null; threads: number | null } {
  const backend = typeof metadata.backend === 'string' && metadata.backend !== '' ? metadata.backend : null;
  const threads = typeof metadata.backendThreads === 'number' && Number.isFinite(metadata.backendThreads) ? metadata.backendThreads : null;
  return { backend, threads };
}

/** Whether a finished model is cached under `key` (its model.json is written last, so a half-saved one is not). */
export function modelCached(cacheDir: string, key: string): boolean {
  return isSavedModel(path.join(cacheDir, key));
}

/** Where a model's training in progress keeps its last finished epoch: `<cache>/<key>.training/`. */
export function trainingCheckpointDir(cacheDir: string, key: string): string {
  return path.join(cacheDir, `${key}.training`);
}

interface StoredTrainingState {
  format: 'lethe.training-checkpoint/v1';
  key: string;
  epochsDone: number;
  epochLosses: number[];
  steps: number;
  seconds: number;
  /** momentum buffers in momentum.bin, in this order */
  momentum: { name: string; length: number }[];
  momentumSha256: string;
}

/**
 * A training checkpoint on disk: after each epoch the model (weights and batch-norm statistics, as a cache entry),
 * the optimiser's momentum (`momentum.bin`) and the progress (`state.json`, written last and removed first, so a
 * kill mid-save leaves no state that names other files' contents). A checkpoint that does not verify is ignored (the
 * training starts afresh, with the reason logged). `stop` (a time limit) ends the training at an epoch end.
 */
export function diskCheckpointer(cacheDir: string, key: string, log: (line: string) => void, stop?: (lastEpochSeconds: number) => boolean): TrainCheckpointer & { resumedSeconds: number } {
  const dir = trainingCheckpointDir(cacheDir, key);
  const stateFile = path.join(dir, 'state.json');
  const momentumFile = path.join(dir, 'momentum.bin');
  const checkpointer = {
    resumedSeconds: 0,
    async restore(model: Model): Promise<TrainCheckpointState | null> {
      if (!fs.existsSync(stateFile)) return null;
      try {
        const state = JSON.parse(fs.readFileSync(stateFile, 'utf8')) as StoredTrainingState;
        if (state.format !== 'lethe.training-checkpoint/v1' || state.key !== key) throw new Error(`${stateFile} is not a checkpoint of ${key}`);
        const bytes = fs.readFileSync(momentumFile);
        const sha = crypto.createHash('sha256').update(bytes).digest('hex');
        if (sha !== state.momentumSha256) throw new Error(`${momentumFile} has SHA-256 ${sha}, its state.json records ${state.momentumSha256}`);
        const values = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
        const momentum = new Map<string, Float32Array>();
        let at = 0;
        for (const { name, length } of state.momentum) {
          momentum.set(name, values.slice(at, at + length));
          at += length;
        }
        if (at !== values.length) throw new Error(`${momentumFile} holds ${values.length} values, its state.json lists ${at}`);
        const { model: saved } = await loadModel(dir, { spec: model.spec });
        try {
          if (JSON.stringify(saved.spec) !== JSON.stringify(model.spec)) throw new Error(`${dir} holds a model of another spec`);
          for (const [name, v] of [...model.params, ...model.state]) {
            const from = saved.params.get(name) ?? saved.state.get(name);
            if (!from) throw new Error(`${dir} lacks variable '${name}'`);
            v.assign(from);
          }
        } finally {
          saved.dispose();
        }
        checkpointer.resumedSeconds = state.seconds;
        log(`  resuming from the checkpoint after epoch ${state.epochsDone} (${dir})`);
        return { epochsDone: state.epochsDone, epochLosses: state.epochLosses, steps: state.steps, seconds: state.seconds, momentum };
      } catch (err) {
        log(`  training checkpoint unusable (${(err as Error).message}); training from the start`);
        return null;
      }
    },
    async save(model: Model, state: TrainCheckpointState): Promise<void> {
      fs.mkdirSync(dir, { recursive: true });
      fs.rmSync(stateFile, { force: true });
      await saveModel(model, dir, { role: 'training checkpoint', epochsDone: state.epochsDone });
      const entries = [...state.momentum];
      const all = new Float32Array(entries.reduce((n, [, v]) => n + v.length, 0));
      let at = 0;
      for (const [, v] of entries) {
        all.set(v, at);
        at += v.length;
      }
      const bytes = new Uint8Array(all.buffer);
      writeFileAtomic(momentumFile, bytes);
      const stored: StoredTrainingState = {
        format: 'lethe.training-checkpoint/v1',
        key,
        epochsDone: state.epochsDone,
        epochLosses: state.epochLosses,
        steps: state.steps,
        seconds: state.seconds,
        momentum: entries.map(([name, v]) => ({ name, length: v.length })),
        momentumSha256: crypto.createHash('sha256').update(bytes).digest('hex'),
      };
      writeFileAtomic(stateFile, JSON.stringify(stored));
    },
    ...(stop ? { shouldStop: stop } : {}),
  };
  return checkpointer;
}

/**
 * Load a cached model by key, or train and cache it. The entry is verified as a whole against what its key stands for
 * (the expected spec, the key it records, its variable layout and weights hash); one that fails is trained again with
 * the reason logged, never used. Training saves a checkpoint after each epoch and resumes from it (a killed run loses
 * at most one epoch; `stop`, a time limit, ends it at an epoch end with TrainingStopped). The save is atomic and
 * records the key: a killed run retrains, never half-loads.
 */
export async function cachedModel(
  cacheDir: string,
  key: string,
  spec: ModelSpec,
  role: string,
  log: (line: string) => void,
  train: (checkpoint: TrainCheckpointer) => Promise<Model>,
  stop?: (lastEpochSeconds: number) => boolean,
): Promise<CachedModel> {
  const dir = path.join(cacheDir, key);
  if (isSavedModel(dir)) {
    try {
      const { model, metadata } = await loadModel(dir, { spec, cacheKey: key });
      log(`${role}: loaded from cache ${dir}`);
      return { model, trainSeconds: Number(metadata.trainSeconds), trainedNow: false, dir, ...trainedOn(metadata) };
    } catch (err) {
      log(`${role}: cached copy unusable (${(err as Error).message}); training again`);
    }
  }
  log(`${role}: training (cache miss: ${key})`);
  const start = performance.now();
  const checkpoint = diskCheckpointer(cacheDir, key, log, stop);
  const model = await train(checkpoint);
  // with a resumed training, its earlier parts' time too
  const trainSeconds = checkpoint.resumedSeconds + (performance.now() - start) / 1000;
  // the backend the training time was measured on: x retrain compares only times of the same backend
  const info = backendInfo();
  const backend = info?.name ?? null;
  const threads = info?.threads ?? null;
  await saveModel(model, dir, { role, trainSeconds, backend, backendThreads: threads, createdAt: new Date().toISOString() }, { cacheKey: key });
  fs.rmSync(trainingCheckpointDir(cacheDir, key), { recursive: true, force: true });
  return { model, trainSeconds, trainedNow: true, dir, backend, threads };
}
