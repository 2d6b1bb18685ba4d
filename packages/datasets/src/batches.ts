/**
 * Mini-batches as tensors. Pixels are converted in plain typed-array loops (byte images through a 256-entry
 * lookup table per channel, float images in [0, 1] directly) and handed to tf.tensor4d once per batch: cheaper
 * than building the batch from tensor ops, and independent of the backend.
 */
import * as tf from '@tensorflow/tfjs-core';
import { Rng, combineSeeds } from '@lethe/runtime';
import type { ImageDataset } from './dataset.js';

export interface BatchOptions {
  /** Which samples (and, without shuffleSeed, in which order); default all. */
  indices?: Int32Array;
  batchSize: number;
  /** Shuffle the order with this seed (combined with `epoch`); omitted = keep the given order. */
  shuffleSeed?: number;
  /** Epoch number, mixed into the shuffle and augmentation seeds so every epoch differs reproducibly. */
  epoch?: number;
  /** Standard CIFAR augmentation: 4-pixel zero-padded random crop + random horizontal flip. */
  augment?: { seed: number; padding?: number } | false;
  /** Per-channel (x - mean) / std on [0,1] pixels; false or omitted = plain [0,1]. */
  normalize?: { mean: readonly number[]; std: readonly number[] } | false;
  /** Drop a final batch smaller than batchSize. */
  dropLast?: boolean;
}

export interface Batch {
  /** float32 NHWC. */
  x: tf.Tensor4D;
  /** int32 labels. */
  y: tf.Tensor1D;
  /** Dataset indices of the batch's samples, in batch order. */
  indices: Int32Array;
}

export function batchCount(n: number, batchSize: number, dropLast = false): number {
  return dropLast ? Math.floor(n / batchSize) : Math.ceil(n / batchSize);
}

/** The sample order of one epoch: `indices` (or 0..count-1), shuffled when a seed is given. */
export function epochOrder(count: number, opts: Pick<BatchOptions, 'indices' | 'shuffleSeed' | 'epoch'>): Int32Array {
  let order: Int32Array;
  if (opts.indices) {
    order = Int32Array.from(opts.indices);
    for (const i of order) if (i < 0 || i >= count) throw new RangeError(`batch index ${i} out of range for ${count} samples`);
  } else {
    order = new Int32Array(count);
    for (let i = 0; i < count; i++) order[i] = i;
  }
  if (opts.shuffleSeed !== undefined) new Rng(combineSeeds(opts.shuffleSeed, 'shuffle', opts.epoch ?? 0)).shuffle(order);
  return order;
}

/** value → float for each channel: lut[c*256 + v]. */
function pixelTable(channels: number, normalize: BatchOptions['normalize']): Float32Array {
  const lut = new Float32Array(channels * 256);
  const { mean, std } = channelStats(channels, normalize);
  for (let c = 0; c < channels; c++) {
    for (let v = 0; v < 256; v++) lut[c * 256 + v] = (v / 255 - mean[c]!) / std[c]!;
  }
  return lut;
}

function channelStats(channels: number, normalize: BatchOptions['normalize']): { mean: number[]; std: number[] } {
  if (normalize && (normalize.mean.length !== channels || normalize.std.length !== channels)) {
    throw new Error(`normalize needs ${channels} means and stds, got ${normalize.mean.length} and ${normalize.std.length}`);
  }
  return {
    mean: Array.from({ length: channels }, (_, c) => (normalize ? normalize.mean[c]! : 0)),
    std: Array.from({ length: channels }, (_, c) => (normalize ? normalize.std[c]! : 1)),
  };
}

/**
 * How stored values become batch values: byte images through the per-channel table; float images as
 * (v - mean) / std per channel (without normalisation exactly the stored value). Padding reads as black (0).
 */
type PixelReader = { kind: 'bytes'; lut: Float32Array } | { kind: 'floats'; mean: Float64Array; std: Float64Array };

function pixelReader(ds: ImageDataset, normalize: BatchOptions['normalize']): PixelReader {
  if (ds.images instanceof Float32Array) {
    const { mean, std } = channelStats(ds.channels, normalize);
    return { kind: 'floats', mean: Float64Array.from(mean), std: Float64Array.from(std) };
  }
  return { kind: 'bytes', lut: pixelTable(ds.channels, normalize) };
}

export interface CropFlip {
  /** Top-left of the crop window in the padded image, 0..2*padding. */
  dy: number;
  dx: number;
  flip: boolean;
}

/** The crop/flip drawn for one position of one epoch: a function of (seed, epoch, position) only. */
export function augmentationFor(seed: number, epoch: number, position: number, padding = 4): CropFlip {
  const rng = new Rng(combineSeeds(seed, 'augment', epoch, position));
  const dy = rng.int(2 * padding + 1);
  const dx = rng.int(2 * padding + 1);
  return { dy, dx, flip: rng.next() < 0.5 };
}

/**
 * Write one image into `out` at `o` as floats. With a crop, pixels that fall into the padding read as value 0
 * (black) before normalisation, as torchvision's RandomCrop(padding=4) does on uint8 images.
 */
function writeImage(ds: ImageDataset, index: number, out: Float32Array, o: number, pixel: PixelReader, aug: CropFlip | undefined, padding: number): void {
  if (pixel.kind === 'bytes') writeByteImage(ds, ds.images as Uint8Array, index, out, o, pixel.lut, aug, padding);
  else writeFloatImage(ds, ds.images as Float32Array, index, out, o, pixel.mean, pixel.std, aug, padding);
}

/**
 * Where each output pixel of a crop + flip reads from: offsets[p] is the element offset of output pixel p's source
 * pixel within the image, or -1 where the crop reaches into the zero padding. Shared by both pixel formats.
 * Measured side by side on a 5,000-image epoch at batch 128 (2026-11-22), the extra pass costs about 1 microsecond
 * per image (bytes 47 -> 52-57 ms, floats 76 -> 82-85 ms per epoch), against 0.4-3 ms per image for a training step.
 */
function cropFlipOffsets(H: number, W: number, C: number, aug: CropFlip, padding: number, offsets: Int32Array): Int32Array {
  const { dy, dx, flip } = aug;
  for (let y = 0, p = 0; y < H; y++) {
    const sy = y + dy - padding;
    for (let x = 0; x < W; x++, p++) {
      // Crop then flip: output column x reads cropped column W-1-x.
      const sx = (flip ? W - 1 - x : x) + dx - padding;
      offsets[p] = sy < 0 || sy >= H || sx < 0 || sx >= W ? -1 : (sy * W + sx) * C;
    }
  }
  return offsets;
}

let offsetScratch = new Int32Array(0);

function offsetsFor(ds: ImageDataset, aug: CropFlip, padding: number): Int32Array {
  const pixels = ds.height * ds.width;
  if (offsetScratch.length < pixels) offsetScratch = new Int32Array(pixels);
  return cropFlipOffsets(ds.height, ds.width, ds.channels, aug, padding, offsetScratch);
}

function writeByteImage(
  ds: ImageDataset,
  images: Uint8Array,
  index: number,
  out: Float32Array,
  o: number,
  lut: Float32Array,
  aug: CropFlip | undefined,
  padding: number,
): void {
  const { height: H, width: W, channels: C } = ds;
  const src = index * H * W * C;
  if (!aug) {
    for (let i = 0, n = H * W * C; i < n; ) {
      for (let c = 0; c < C; c++, i++) out[o + i] = lut[c * 256 + images[src + i]!]!;
    }
    return;
  }
  const offsets = offsetsFor(ds, aug, padding);
  for (let p = 0, d = o, n = H * W; p < n; p++) {
    const s = offsets[p]!;
    // a padding pixel is byte 0 through the table
    if (s < 0) for (let c = 0; c < C; c++) out[d++] = lut[c * 256]!;
    else for (let c = 0; c < C; c++) out[d++] = lut[c * 256 + images[src + s + c]!]!;
  }
}

/** As writeByteImage, for float images in [0, 1]: (v - mean[c]) / std[c], padding = black (0). */
function writeFloatImage(
  ds: ImageDataset,
  images: Float32Array,
  index: number,
  out: Float32Array,
  o: number,
  mean: Float64Array,
  std: Float64Array,
  aug: CropFlip | undefined,
  padding: number,
): void {
  const { height: H, width: W, channels: C } = ds;
  const src = index * H * W * C;
  if (!aug) {
    for (let i = 0, n = H * W * C; i < n; ) {
      for (let c = 0; c < C; c++, i++) out[o + i] = (images[src + i]! - mean[c]!) / std[c]!;
    }
    return;
  }
  const offsets = offsetsFor(ds, aug, padding);
  for (let p = 0, d = o, n = H * W; p < n; p++) {
    const s = offsets[p]!;
    if (s < 0) for (let c = 0; c < C; c++) out[d++] = (0 - mean[c]!) / std[c]!;
    else for (let c = 0; c < C; c++) out[d++] = (images[src + s + c]! - mean[c]!) / std[c]!;
  }
}

export function* batches(ds: ImageDataset, opts: BatchOptions): Generator<Batch> {
  const { batchSize } = opts;
  if (!Number.isInteger(batchSize) || batchSize <= 0) throw new Error(`batchSize must be a positive integer, got ${batchSize}`);
  const epoch = opts.epoch ?? 0;
  const order = epochOrder(ds.count, opts);
  const pixel = pixelReader(ds, opts.normalize);
  const augment = opts.augment || undefined;
  const padding = augment?.padding ?? 4;
  const size = ds.height * ds.width * ds.channels;
  const n = batchCount(order.length, batchSize, opts.dropLast);
  for (let b = 0; b < n; b++) {
    const start = b * batchSize;
    const idx = order.slice(start, Math.min(start + batchSize, order.length));
    const x = new Float32Array(idx.length * size);
    const y = new Int32Array(idx.length);
    for (let k = 0; k < idx.length; k++) {
      const i = idx[k]!;
      const aug = augment ? augmentationFor(augment.seed, epoch, start + k, padding) : undefined;
      writeImage(ds, i, x, k * size, pixel, aug, padding);
      y[k] = ds.labels[i]!;
    }
    yield {
      x: tf.tensor4d(x, [idx.length, ds.height, ds.width, ds.channels], 'float32'),
      y: tf.tensor1d(y, 'int32'),
      indices: idx,
    };
  }
}
