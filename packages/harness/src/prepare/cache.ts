import path from 'node:path';
import { type Model, type ModelSpec, loadModel, saveModel, isSavedModel } from '@lethe/models';
import { backendInfo } from '@lethe/runtime';

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

/**
 * Load a cached model by key, or train and cache it. The entry is verified as a whole against what its key stands for
 * (the expected spec, the key it records, its variable layout and weights hash); one that fails is trained again with
 * the reason logged, never used. The save is atomic and records the key: a killed run retrains, never half-loads.
 */
export async function cachedModel(cacheDir: string, key: string, spec: ModelSpec, role: string, log: (line: string) => void, train: () => Promise<Model>): Promise<CachedModel> {
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
  const model = await train();
  const trainSeconds = (performance.now() - start) / 1000;
  // the backend the training time was measured on: x retrain compares only times of the same backend
  const info = backendInfo();
  const backend = info?.name ?? null;
  const threads = info?.threads ?? null;
  await saveModel(model, dir, { role, trainSeconds, backend, backendThreads: threads, createdAt: new Date().toISOString() }, { cacheKey: key });
  return { model, trainSeconds, trainedNow: true, dir, backend, threads };
}
