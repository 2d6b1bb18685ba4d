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
  writeAtomically(p.images, new Uint8Array(set.images.buffer, set.images.byteOffset, set.images.byteLength));
  const header: StoredHeader = {
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

/** A stored set, or undefined when there is none (or it is incomplete or of another format: then it is ignored). */
export function readAdversarialSet(dir: string, key: string): AmunAdversarialSet | undefined {
  const p = paths(dir, key);
  if (!existsSync(p.header) || !existsSync(p.images)) return undefined;
  let header: StoredHeader;
  try {
    header = JSON.parse(readFileSync(p.header, 'utf8')) as StoredHeader;
  } catch {
    return undefined;
  }
  if (header.format !== FORMAT || header.version !== VERSION || header.key !== key) return undefined;
  const bytes = header.count * header.height * header.width * header.channels * 4;
  if (statSync(p.images).size !== bytes) return undefined;
  const raw = readFileSync(p.images);
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
  cache: { cacheDir?: string | undefined; onProgress?: (progress: AmunAttackProgress) => void } = {},
): Promise<CachedAdversarialSet> {
  const full: AmunAttackOptions = { ...AMUN_ATTACK_DEFAULTS, ...options };
  const key = adversarialSetKey(model, dataset, indices, full);
  const held = memory.get(key);
  if (held) {
    remember(key, held);
    return { set: held, key, source: 'memory' };
  }
  if (cache.cacheDir) {
    const stored = readAdversarialSet(cache.cacheDir, key);
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
