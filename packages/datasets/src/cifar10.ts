/**
 * CIFAR-10 in the official binary layout: each record is 1 label byte then 1024 R, 1024 G and 1024 B bytes
 * (32x32, row-major per plane), 10000 records per file.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { cifar10Checksums, combinedChecksum, sha256Hex, type ChecksumTable } from './checksums.js';
import type { ImageDataset } from './dataset.js';
import { exists } from './fs-util.js';
import { defaultDataDir } from './paths.js';

export const CIFAR10_DIRNAME = 'cifar-10-batches-bin';
export const CIFAR10_TRAIN_FILES = [
  'data_batch_1.bin',
  'data_batch_2.bin',
  'data_batch_3.bin',
  'data_batch_4.bin',
  'data_batch_5.bin',
] as const;
export const CIFAR10_TEST_FILES = ['test_batch.bin'] as const;
export const CIFAR10_FILES: readonly string[] = [...CIFAR10_TRAIN_FILES, ...CIFAR10_TEST_FILES];
export const CIFAR10_META_FILE = 'batches.meta.txt';
export const CIFAR10_CLASSES: readonly string[] = [
  'airplane',
  'automobile',
  'bird',
  'cat',
  'deer',
  'dog',
  'frog',
  'horse',
  'ship',
  'truck',
];

/**
 * Per-channel mean and standard deviation of the 50,000 CIFAR-10 training images on [0,1] pixels, std taken over
 * all training pixels of a channel. Source: https://github.com/kuangliu/pytorch-cifar/issues/19 (mean
 * 0.49139968 0.48215841 0.44653091, std 0.24703223 0.24348513 0.26158784), which corrects the often-copied
 * std (0.2023, 0.1994, 0.2010); cifar10.data.test.ts re-computes them when the real data is present.
 */
// Frozen at run time but typed number[] so they pass straight into { mean: number[]; std: number[] } options.
export const CIFAR10_MEAN = Object.freeze([0.4914, 0.4822, 0.4465]) as number[];
export const CIFAR10_STD = Object.freeze([0.247, 0.2435, 0.2616]) as number[];

export const CIFAR_SIDE = 32;
export const CIFAR_PIXELS = CIFAR_SIDE * CIFAR_SIDE;
export const CIFAR_RECORD_BYTES = 1 + 3 * CIFAR_PIXELS;

/** Official binary records (planar RGB) → NHWC bytes. Labels must be below classNames.length. */
export function readCifarBinary(
  buffers: readonly Uint8Array[],
  classNames: readonly string[],
  name = 'cifar10',
): ImageDataset {
  let count = 0;
  buffers.forEach((b, i) => {
    if (b.length % CIFAR_RECORD_BYTES !== 0) {
      throw new Error(`CIFAR binary buffer ${i} has ${b.length} bytes, not a multiple of ${CIFAR_RECORD_BYTES}`);
    }
    count += b.length / CIFAR_RECORD_BYTES;
  });
  const images = new Uint8Array(count * 3 * CIFAR_PIXELS);
  const labels = new Uint8Array(count);
  let n = 0;
  for (let bi = 0; bi < buffers.length; bi++) {
    const buf = buffers[bi]!;
    for (let o = 0; o < buf.length; o += CIFAR_RECORD_BYTES, n++) {
      const label = buf[o]!;
      if (label >= classNames.length) {
        throw new Error(`CIFAR binary buffer ${bi}, record ${o / CIFAR_RECORD_BYTES}: label ${label} >= ${classNames.length} classes`);
      }
      labels[n] = label;
      const r = o + 1;
      const g = r + CIFAR_PIXELS;
      const b = g + CIFAR_PIXELS;
      let d = n * 3 * CIFAR_PIXELS;
      for (let p = 0; p < CIFAR_PIXELS; p++) {
        images[d++] = buf[r + p]!;
        images[d++] = buf[g + p]!;
        images[d++] = buf[b + p]!;
      }
    }
  }
  return {
    name,
    images,
    labels,
    count,
    height: CIFAR_SIDE,
    width: CIFAR_SIDE,
    channels: 3,
    numClasses: classNames.length,
    classNames: [...classNames],
  };
}

export interface LoadCifar10Options {
  dataDir?: string;
  /** Hash every file against the checksum table (about half a second); default true. */
  verify?: boolean;
  /** Expected SHA-256 per file name; defaults to the packaged official list. */
  checksums?: ChecksumTable;
}

export interface Cifar10Splits {
  train: ImageDataset;
  test: ImageDataset;
  /**
   * SHA-256 over the six files' hashes (see combinedChecksum), for provenance. With verify: false the files are
   * not hashed and this is the value the checksum table promises, not a measured one.
   */
  checksum: string;
}

const FETCH_HINT = 'run `pnpm lethe data fetch cifar10`';

/** Class names from batches.meta.txt when present (blank lines ignored: the official file ends with one). */
export async function readCifar10ClassNames(dir: string): Promise<string[]> {
  try {
    const text = await readFile(join(dir, CIFAR10_META_FILE), 'utf8');
    const names = text.split(/\r?\n/).map((s) => s.trim()).filter((s) => s !== '');
    if (names.length > 0) return names;
  } catch {
    // Not checksummed and optional: fall back to the well-known names.
  }
  return [...CIFAR10_CLASSES];
}

export async function loadCifar10(opts: LoadCifar10Options = {}): Promise<Cifar10Splits> {
  const dataDir = opts.dataDir ?? defaultDataDir();
  const dir = join(dataDir, CIFAR10_DIRNAME);
  const table = opts.checksums ?? cifar10Checksums();
  const verify = opts.verify ?? true;

  const missing: string[] = [];
  for (const f of CIFAR10_FILES) if (!(await exists(join(dir, f)))) missing.push(f);
  if (missing.length === CIFAR10_FILES.length) throw new Error(`CIFAR-10 is not in ${dir}; ${FETCH_HINT}`);
  if (missing.length > 0) {
    throw new Error(`CIFAR-10 is not in ${dir} (missing ${missing.join(', ')}); ${FETCH_HINT}`);
  }

  const buffers = new Map<string, Buffer>();
  for (const f of CIFAR10_FILES) {
    const path = join(dir, f);
    const buf = await readFile(path);
    if (verify) {
      const expected = table[f];
      if (expected === undefined) throw new Error(`no expected SHA-256 for ${f} in the checksum table`);
      const actual = sha256Hex(buf);
      if (actual !== expected) {
        throw new Error(
          `CIFAR-10 file ${path} is corrupt: SHA-256 expected ${expected}, got ${actual}; delete it and ${FETCH_HINT}`,
        );
      }
    }
    buffers.set(f, buf);
  }
  const classNames = await readCifar10ClassNames(dir);
  const train = readCifarBinary(CIFAR10_TRAIN_FILES.map((f) => buffers.get(f)!), classNames, 'cifar10-train');
  const test = readCifarBinary(CIFAR10_TEST_FILES.map((f) => buffers.get(f)!), classNames, 'cifar10-test');
  return { train, test, checksum: combinedChecksum(CIFAR10_FILES, table) };
}
