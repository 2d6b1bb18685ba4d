import { Rng, combineSeeds } from '@lethe/runtime';
import { getDataset, subset, defaultDataDir, type ImageDataset } from '@lethe/datasets';
import type { BenchmarkConfig } from '../config/config.js';
import type { PlannedGroup } from '../plan/plan.js';

/** Stage 3a: the data of a run. */
export interface BenchmarkData {
  train: ImageDataset;
  test: ImageDataset;
  checksum: string;
}

/** The data with the config's holdout split off: `available` are the training images models may train on. */
export interface PreparedData extends BenchmarkData {
  /** training-set indices every model may see (forget and retain sets are drawn from these), ascending */
  available: Int32Array;
  /** training-set indices no model sees (`dataset.holdout`), ascending */
  holdout: Int32Array;
}

/** The data a config asks for (its registry entry), fetched and verified when missing, then subset by its seed. */
export async function loadBenchmarkData(config: BenchmarkConfig, options: { dataDir?: string; log: (line: string) => void; interactive: boolean }): Promise<BenchmarkData> {
  const dataDir = options.dataDir ?? defaultDataDir();
  const entry = getDataset(config.dataset.name);
  await entry.fetch({ dataDir, progress: options.interactive, log: options.log });
  const full = await entry.load({ dataDir });
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

/** Split the config's holdout off the training set (a seeded draw; none without `dataset.holdout`). */
export function prepareData(config: BenchmarkConfig, data: BenchmarkData): PreparedData {
  const n = data.train.count;
  const count = config.dataset.holdout?.count ?? 0;
  if (count >= n) throw new Error(`dataset.holdout.count is ${count}, but the training set has ${n} images; lower it`);
  const held = new Uint8Array(n);
  if (count > 0) for (const i of new Rng(combineSeeds(config.dataset.holdout!.seed, 'holdout')).sample(n, count)) held[i] = 1;
  const available = new Int32Array(n - count);
  const holdout = new Int32Array(count);
  let a = 0;
  let h = 0;
  for (let i = 0; i < n; i++) {
    if (held[i]) holdout[h++] = i;
    else available[a++] = i;
  }
  return { ...data, available, holdout };
}

/**
 * The forget set of a group: a uniform draw of round(fraction * |available|) of the available training images, by
 * the forget-set seed; the retain set is the rest of the available images. Both ascending training-set indices.
 */
export function drawForgetSet(available: Int32Array | number, group: Pick<PlannedGroup, 'forgetSetId' | 'forgetFraction'> & { seeds: { forgetSet: number } }): { forget: Int32Array; retain: Int32Array } {
  const pool = typeof available === 'number' ? Int32Array.from({ length: available }, (_, i) => i) : available;
  const n = pool.length;
  const k = Math.round(group.forgetFraction * n);
  if (k < 1 || k >= n) throw new Error(`forget set ${group.forgetSetId} of ${n} training images would hold ${k}; choose a fraction that leaves both sets non-empty`);
  const chosen = new Uint8Array(n);
  for (const p of new Rng(combineSeeds(group.seeds.forgetSet, 'forget-set', group.forgetSetId)).sample(n, k)) chosen[p] = 1;
  const forget = new Int32Array(k);
  const retain = new Int32Array(n - k);
  let f = 0;
  let r = 0;
  for (let p = 0; p < n; p++) {
    if (chosen[p]) forget[f++] = pool[p]!;
    else retain[r++] = pool[p]!;
  }
  forget.sort();
  retain.sort();
  return { forget, retain };
}
