/**
 * Data sets by name, in the spirit of tfjs's kernel registry: the CLI and experiment configs name a data set as
 * a string and look it up here, so adding one is a registerDataset call rather than an edit to every consumer.
 */
import { Registry } from '@lethe/runtime/registry';
import { fetchCifar10 } from './fetch-cifar10.js';
import { loadCifar10, CIFAR10_FILES, CIFAR10_MEAN, CIFAR10_STD } from './cifar10.js';
import { cifar10Checksums, combinedChecksum } from './checksums.js';
import { syntheticImageDataset } from './synthetic.js';
import type { ImageDataset } from './dataset.js';
import type { LogFn } from './progress.js';

export interface DatasetFetchOptions {
  dataDir?: string;
  progress?: boolean;
  log?: LogFn;
}

export interface DatasetLoadOptions {
  dataDir?: string;
  verify?: boolean;
}

export interface DatasetFetchResult {
  dir: string;
  /** Where the bytes came from ('cache' when nothing was downloaded). */
  source: string;
  checksum: string;
}

export interface DatasetSplits {
  train: ImageDataset;
  test: ImageDataset;
  checksum: string;
}

export interface DatasetEntry {
  name: string;
  description: string;
  /** the splits' sizes, image shape and classes, known before loading (benchmark plans size their work from them) */
  sizes: { train: number; test: number };
  imageShape: [number, number, number];
  numClasses: number;
  /** per-channel mean and standard deviation of the training images on [0, 1] (a model's input normalisation) */
  channelMean: readonly number[];
  channelStd: readonly number[];
  /**
   * The provenance checksum a run on this data set records (`DatasetSplits.checksum`), known without loading: for
   * CIFAR-10 the combined SHA-256 of its verified files. `lethe submit` refuses a result that records another.
   */
  checksum: string;
  fetch(opts?: DatasetFetchOptions): Promise<DatasetFetchResult>;
  load(opts?: DatasetLoadOptions): Promise<DatasetSplits>;
}

const registry = new Registry<DatasetEntry>('dataset');

export function registerDataset(entry: DatasetEntry): void {
  registry.register(entry);
}

/** For tests and plug-ins that replace an entry; returns whether one was removed. */
export function unregisterDataset(name: string): boolean {
  return registry.unregister(name);
}

export function getDataset(name: string): DatasetEntry {
  return registry.get(name);
}

export function listDatasets(): string[] {
  return registry.names().sort();
}

registerDataset({
  name: 'cifar10',
  description: 'CIFAR-10: 50,000 train + 10,000 test 32x32 RGB images in 10 classes (Krizhevsky 2009)',
  sizes: { train: 50_000, test: 10_000 },
  imageShape: [32, 32, 3],
  numClasses: 10,
  channelMean: CIFAR10_MEAN,
  channelStd: CIFAR10_STD,
  checksum: combinedChecksum(CIFAR10_FILES, cifar10Checksums()),
  fetch: (opts) => fetchCifar10(opts ?? {}),
  load: (opts) => loadCifar10(opts ?? {}),
});

/**
 * A small generated data set with CIFAR-10's shape (class templates plus noise; `syntheticImageDataset`), for tests
 * and demonstrations that must run without downloading anything (a CLI run in a subprocess, a cluster test). Its
 * channel statistics are nominal (0.5, 0.25), not measured: it is not for results.
 */
const SYNTHETIC = { train: 1200, test: 400 };
registerDataset({
  name: 'synthetic',
  description: `generated 32x32 RGB images in 10 classes (${SYNTHETIC.train} train + ${SYNTHETIC.test} test), for tests and demos; no download`,
  sizes: SYNTHETIC,
  imageShape: [32, 32, 3],
  numClasses: 10,
  channelMean: [0.5, 0.5, 0.5],
  channelStd: [0.25, 0.25, 0.25],
  checksum: 'synthetic-v1',
  fetch: async () => ({ dir: '(generated)', source: 'generated', checksum: 'synthetic-v1' }),
  load: async () => ({
    train: { ...syntheticImageDataset({ count: SYNTHETIC.train, numClasses: 10, seed: 1 }), name: 'synthetic-train' },
    test: { ...syntheticImageDataset({ count: SYNTHETIC.test, numClasses: 10, seed: 2 }), name: 'synthetic-test' },
    checksum: 'synthetic-v1',
  }),
});
