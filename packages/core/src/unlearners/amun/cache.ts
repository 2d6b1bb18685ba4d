import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { writeFileAtomic } from '@lethe/runtime/files';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type { ImageDataset } from '@lethe/datasets';
import type { Model } from '@lethe/models';
import { AMUN_ATTACK_DEFAULTS, amunAdversarialSet, type AmunAdversarialSet, type AmunAttackOptions, type AmunAttackProgress } from './adversarial-set.js';

/**
 * AMUN's adversarial set depends only on the original model, the forget samples and the attack options, not on
 * the unlearning seed or the fine-tuning hyper-parameters, and it is the expensive part of the method. So it is
 * computed once per content key and kept: in memory (the last few sets) and, given a directory, on disk.
 */

const FORMAT = 'lethe-amun-adversarial-set';
const VERSION = 1;
/** sets kept in memory; each is about (forget-set size x image size x 4) bytes */
const MEMORY_ENTRIES = 4;
const memory = new Map<string, AmunAdversarialSet>();

/**
 * The content key: a SHA-256 over the backend (floats differ between backends), the model's spec and every
 * parameter and state value, the attacked samples' pixels and labels in order, and the attack options.
 */
export function adversarialSetKey(model: Model, dataset: ImageDataset, indices: Int32Array, options: AmunAttackOptions): string {
  const hash = createHash('sha256');
  hash.update(`${FORMAT}/${VERSION}\n${tf.getBackend()}\n${JSON.stringify(model.spec)}\n`);
  const variables = [...model.params, ...model.state].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  for (const [name, v] of variables) {
    hash.update(`${name}:${v.shape.join('x')}:${v.dtype}\n`);
    const data = v.dataSync();
    hash.update(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  }
  const { height, width, channels } = dataset;
  const size = height * width * channels;
  hash.update(`${height}x${width}x${channels}:${dataset.numClasses}:${dataset.images instanceof Float32Array ? 'f32' : 'u8'}:${indices.length}\n`);
  for (const i of indices) {
    if (i < 0 || i >= dataset.count) throw new RangeError(`forget index ${i} out of range for ${dataset.count} samples`);
    const image = dataset.images.subarray(i * size, (i + 1) * size);
    hash.update(new Uint8Array(image.buffer, image.byteOffset, image.byteLength));
    hash.update(Uint8Array.of(dataset.labels[i]!));
  }
  const { initialEps, steps, stepFraction, maxDoublings, batchSize, restartOnDoubling } = options;
  hash.update(JSON.stringify({ initialEps, steps, stepFraction, maxDoublings, batchSize, restartOnDoubling }));
  return hash.digest('hex');
}

interface StoredHeader {
  format: string;
  version: number;
  key: string;
  count: number;
  height: number;
  width: number;
  channels: number;
  numClasses: number;
  indices: number[];
  labels: number[];
  trueLabels: number[];
  eps: number[];
  perturbationNorms: number[];
  flipped: number[];
  /** SHA-256 of the images file (absent in sets stored before it was recorded) */
  imagesSha256?: string;
}

function paths(dir: string, key: string): { header: string; images: string } {
  return { header: join(dir, `amun-adversarial-${key}.json`), images: join(dir, `amun-adversarial-${key}.f32`) };
}

/** Write via a temporary file and a rename, so a killed run never leaves a partial file under the final name. */
const writeAtomically = writeFileAtomic;

/** Store a set (images first, header last: the header's presence marks a complete entry). */
export function writeAdversarialSet(dir: string, key: string, set: AmunAdversarialSet): void {
  mkdirSync(dir, { recursive: true });
  const p = paths(dir, key);
  const images = new Uint8Array(set.images.buffer, set.images.byteOffset, set.images.byteLength);
  writeAtomically(p.images, images);
  const header: StoredHeader = {
    imagesSha256: createHash('sha256').update(images).digest('hex'),
    format: FORMAT,
    version: VERSION,
    key,
    count: set.indices.length,
    height: set.height,
    width: set.width,
    channels: set.channels,
    numClasses: set.numClasses,
    indices: Array.from(set.indices),
    labels: Array.from(set.labels),
    trueLabels: Array.from(set.trueLabels),
    eps: Array.from(set.eps),
    perturbationNorms: Array.from(set.perturbationNorms),
    flipped: Array.from(set.flipped),
  };
  writeAtomically(p.header, JSON.stringify(header));
}

/**
 * A stored set, or undefined when there is none, or it is incomplete, of another format, or fails its checks (array
 * lengths, label and index ranges, the images' SHA-256): such an entry is computed again and overwritten, never used.
 * `onProblem` hears why a present entry was not used.
 */
export function readAdversarialSet(dir: string, key: string, onProblem?: (message: string) => void): AmunAdversarialSet | undefined {
  const p = paths(dir, key);
  if (!existsSync(p.header) || !existsSync(p.images)) return undefined;
  const unusable = (why: string): undefined => {
    onProblem?.(`AMUN adversarial set '${p.header}' unusable (${why}); computing it again`);
    return undefined;
  };
  let header: StoredHeader;
  try {
    header = JSON.parse(readFileSync(p.header, 'utf8')) as StoredHeader;
  } catch {
    return unusable('its header is not JSON');
  }
  if (typeof header !== 'object' || header === null || header.format !== FORMAT || header.version !== VERSION || header.key !== key) return unusable('another format, version or key');
  const isCount = (x: unknown): x is number => Number.isSafeInteger(x) && (x as number) >= 0;
  if (![header.count, header.height, header.width, header.channels, header.numClasses].every(isCount)) return unusable('its sizes are not non-negative integers');
  const lists = { indices: header.indices, labels: header.labels, trueLabels: header.trueLabels, eps: header.eps, perturbationNorms: header.perturbationNorms, flipped: header.flipped };
  for (const [name, list] of Object.entries(lists)) {
    if (!Array.isArray(list) || list.length !== header.count || !list.every((x) => typeof x === 'number' && Number.isFinite(x))) return unusable(`${name} is not ${header.count} finite numbers`);
  }
  if (![...header.labels, ...header.trueLabels].every((l) => isCount(l) && l < header.numClasses)) return unusable('a label is outside the classes');
  if (!header.indices.every(isCount)) return unusable('an index is not a non-negative integer');
  const bytes = header.count * header.height * header.width * header.channels * 4;
  if (statSync(p.images).size !== bytes) return unusable(`the images file holds ${statSync(p.images).size} bytes, expected ${bytes}`);
  const raw = readFileSync(p.images);
  if (header.imagesSha256 !== undefined) {
    const actual = createHash('sha256').update(raw).digest('hex');
    if (actual !== header.imagesSha256) return unusable(`the images file has SHA-256 ${actual}, its header records ${header.imagesSha256}`);
  }
  const images = new Float32Array(header.count * header.height * header.width * header.channels);
  new Uint8Array(images.buffer).set(raw);
  return {
    indices: Int32Array.from(header.indices),
    images,
    labels: Uint8Array.from(header.labels),
    trueLabels: Uint8Array.from(header.trueLabels),
    eps: Float32Array.from(header.eps),
    perturbationNorms: Float32Array.from(header.perturbationNorms),
    flipped: Uint8Array.from(header.flipped),
    height: header.height,
    width: header.width,
    channels: header.channels,
    numClasses: header.numClasses,
  };
}

function remember(key: string, set: AmunAdversarialSet): void {
  memory.delete(key);
  memory.set(key, set);
  while (memory.size > MEMORY_ENTRIES) memory.delete(memory.keys().next().value!);
}

/** Forget every set held in memory (the on-disk entries stay). */
export function clearAdversarialSetMemory(): void {
  memory.clear();
}

export interface CachedAdversarialSet {
  set: AmunAdversarialSet;
  key: string;
  /** where it came from */
  source: 'computed' | 'memory' | 'disk';
}

/**
 * `amunAdversarialSet` through the caches: memory first, then `cacheDir` (when given), else compute (and store in
 * both). The returned set may be shared with other callers: do not modify it.
 */
export async function cachedAmunAdversarialSet(
  model: Model,
  dataset: ImageDataset,
  indices: Int32Array,
  options: Partial<AmunAttackOptions> = {},
  cache: { cacheDir?: string | undefined; onProgress?: (progress: AmunAttackProgress) => void; onProblem?: (message: string) => void } = {},
): Promise<CachedAdversarialSet> {
  const full: AmunAttackOptions = { ...AMUN_ATTACK_DEFAULTS, ...options };
  const key = adversarialSetKey(model, dataset, indices, full);
  const held = memory.get(key);
  if (held) {
    remember(key, held);
    return { set: held, key, source: 'memory' };
  }
  if (cache.cacheDir) {
    const stored = readAdversarialSet(cache.cacheDir, key, cache.onProblem);
    if (stored) {
      remember(key, stored);
      return { set: stored, key, source: 'disk' };
    }
  }
  const set = await amunAdversarialSet(model, dataset, indices, full, cache.onProgress);
  remember(key, set);
  if (cache.cacheDir) writeAdversarialSet(cache.cacheDir, key, set);
  return { set, key, source: 'computed' };
}
