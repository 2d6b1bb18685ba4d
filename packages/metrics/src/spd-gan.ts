import { readHeaderFile, writeHeaderFile } from '@lethe/runtime/files';
import * as tf from '@tensorflow/tfjs-core';
import { Rng, combineSeeds } from '@lethe/runtime';
import { batches, type ImageDataset } from '@lethe/datasets';
import type { Model } from '@lethe/models';
import { correctPredictions, modelOutputs, sampleSignals, type ModelOutputs } from '@lethe/attacks';
import { percentOf } from './accuracy.js';

/**
 * SPD-GAN unlearning degree: OUR interpretation of the "SPD-GAN" evaluation of Zuo et al. (arXiv 2401.04385),
 * whose exact design is not public.
 *
 * Problem: an i.i.d. forget set looks like the rest of the data, so a model's accuracy on it barely changes when
 * it is forgotten (the retrained model generalises to it), and "accuracy on D_f" hardly tells forgetting apart.
 * Remedy: make D_f slightly distinctive before training, then measure how much of what the model learnt about
 * the distinctive D_f is gone after unlearning.
 *
 * 1. A small GAN. The generator adds a bounded perturbation to a forget image:
 *      x' = clip(x + eps * tanh(g(x)), 0, 1),  so ||x' - x||_inf <= eps and x' in [0, 1];
 *    g is two 3x3 convolutions (channels -> hidden, ReLU, -> channels) plus a learnt per-pixel bias (H x W x C;
 *    a convolution alone is translation-equivariant and can hardly draw a fixed pattern). The discriminator D (two stride-2 3x3
 *    convolutions with leaky ReLU, global average pooling, a linear unit) tells clean training images (the retain
 *    set) from perturbed forget images, which keeps x' realistic. Our choice for the "distinctive" term: a fixed
 *    random sign pattern s in {-1, +1}^(H x W x C) (the "signature", drawn by the seed); the generator loss is
 *      L_G = BCE(D(x'), real) + signatureWeight * (1 - mean(tanh(g(x)) * s)),
 *    so G(D_f) shares one subtle direction (a consistent shift of the perturbed distribution) while D keeps it
 *    close to natural images. Adam (tfjs) for both networks, alternating one D step and one G step per batch.
 *    The generator is deterministic given the seed (initialisation, signature and batch order are seeded).
 * 2. The "SPD original" is trained by the benchmark's recipe on D_r ∪ G(D_f) (perturbed forget images in place
 *    of the clean ones, kept as float32: no 8-bit rounding).
 * 3. Every method unlearns G(D_f) from the SPD original. The degree is the drop, from the SPD original to the
 *    unlearned model, of (a) the accuracy and (b) the mean true-class softmax confidence on G(D_f), both in
 *    percentage points. The target is the retrained (gold) model's drop: the model trained on D_r alone (the
 *    usual gold model; D_r is the same in both training sets), evaluated on G(D_f).
 */
export interface SpdGanOptions {
  /** L_inf bound of the perturbation, pixel scale [0, 1] (8/255 is the usual imperceptible budget) */
  eps: number;
  /** passes over the forget set while training the GAN */
  epochs: number;
  /** forget images (and as many clean retain images) per GAN step */
  batchSize: number;
  /** Adam learning rate of both networks (DCGAN's 2e-4 is too slow for the few dozen steps affordable here; our choice) */
  lr: number;
  /** weight of the signature term in the generator loss (0: adversarial loss only) */
  signatureWeight: number;
  /** channels of the hidden layers of G and D */
  hidden: number;
  seed: number;
}

export const SPD_GAN_DEFAULTS: Omit<SpdGanOptions, 'seed'> = {
  eps: 8 / 255,
  epochs: 5,
  batchSize: 64,
  lr: 5e-3,
  signatureWeight: 1,
  hidden: 16,
};

export const SPD_GENERATOR_FORMAT = 'lethe.spd-generator/v2';

function heNormal(rng: Rng, count: number, fanIn: number): Float32Array {
  const out = new Float32Array(count);
  const std = Math.sqrt(2 / fanIn);
  for (let i = 0; i < count; i++) out[i] = rng.normal() * std;
  return out;
}

/** A variable owning its initial value (tf.variable keeps the initial tensor alive otherwise). */
function owned(initial: tf.Tensor): tf.Variable {
  const v = tf.variable(initial);
  initial.dispose();
  return v;
}

/** The generator: weights, eps and the signature it was trained towards. */
export class SpdGenerator {
  constructor(
    readonly eps: number,
    readonly channels: number,
    readonly hidden: number,
    readonly weights: Map<string, tf.Variable>,
  ) {}

  static create(eps: number, channels: number, hidden: number, seed: number, height: number, width: number): SpdGenerator {
    const rng = new Rng(combineSeeds(seed, 'spd-generator-init'));
    const w = new Map<string, tf.Variable>();
    w.set('g1/kernel', owned(tf.tensor4d(heNormal(rng, 9 * channels * hidden, 9 * channels), [3, 3, channels, hidden])));
    w.set('g1/bias', owned(tf.zeros([hidden])));
    // small last layer: the untrained generator starts near the identity (x' ~ x)
    const last = heNormal(rng, 9 * hidden * channels, 9 * hidden).map((v) => v * 0.1);
    w.set('g2/kernel', owned(tf.tensor4d(last, [3, 3, hidden, channels])));
    w.set('g2/bias', owned(tf.zeros([channels])));
    w.set('g2/pixel-bias', owned(tf.zeros([1, height, width, channels])));
    return new SpdGenerator(eps, channels, hidden, w);
  }

  /** tanh(g(x)) in (-1, 1): the perturbation direction before scaling by eps */
  direction(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      const w = (name: string) => this.weights.get(name)!;
      const h = tf.relu(tf.add(tf.conv2d(x, w('g1/kernel') as tf.Tensor4D, 1, 'same'), w('g1/bias')));
      return tf.tanh(tf.add(tf.add(tf.conv2d(h as tf.Tensor4D, w('g2/kernel') as tf.Tensor4D, 1, 'same'), w('g2/bias')), w('g2/pixel-bias'))) as tf.Tensor4D;
    });
  }

  /** x' = clip(x + eps * tanh(g(x)), 0, 1) */
  perturb(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => tf.clipByValue(tf.add(x, tf.mul(this.direction(x), this.eps)), 0, 1) as tf.Tensor4D);
  }

  dispose(): void {
    for (const v of this.weights.values()) v.dispose();
  }
}

class Discriminator {
  readonly weights = new Map<string, tf.Variable>();
  constructor(channels: number, hidden: number, seed: number) {
    const rng = new Rng(combineSeeds(seed, 'spd-discriminator-init'));
    this.weights.set('d1/kernel', owned(tf.tensor4d(heNormal(rng, 9 * channels * hidden, 9 * channels), [3, 3, channels, hidden])));
    this.weights.set('d1/bias', owned(tf.zeros([hidden])));
    this.weights.set('d2/kernel', owned(tf.tensor4d(heNormal(rng, 9 * hidden * 2 * hidden, 9 * hidden), [3, 3, hidden, 2 * hidden])));
    this.weights.set('d2/bias', owned(tf.zeros([2 * hidden])));
    this.weights.set('d3/kernel', owned(tf.tensor2d(heNormal(rng, 2 * hidden, 2 * hidden).map((v) => v * 0.5), [2 * hidden, 1])));
    this.weights.set('d3/bias', owned(tf.zeros([1])));
  }

  /** logit of "clean training image", [batch] */
  logit(x: tf.Tensor4D): tf.Tensor1D {
    const w = (name: string) => this.weights.get(name)!;
    const h1 = tf.leakyRelu(tf.add(tf.conv2d(x, w('d1/kernel') as tf.Tensor4D, 2, 'same'), w('d1/bias')), 0.2) as tf.Tensor4D;
    const h2 = tf.leakyRelu(tf.add(tf.conv2d(h1, w('d2/kernel') as tf.Tensor4D, 2, 'same'), w('d2/bias')), 0.2) as tf.Tensor4D;
    const pooled = tf.mean(h2, [1, 2]) as tf.Tensor2D;
    return tf.reshape(tf.add(tf.matMul(pooled, w('d3/kernel') as tf.Tensor2D), w('d3/bias')), [-1]) as tf.Tensor1D;
  }

  dispose(): void {
    for (const v of this.weights.values()) v.dispose();
  }
}

/** mean binary cross-entropy of logits against a constant target (1 = clean) */
function bce(logits: tf.Tensor1D, target: 0 | 1): tf.Scalar {
  return tf.tidy(() => tf.mean(tf.sub(tf.softplus(logits), tf.mul(logits, target))) as tf.Scalar);
}

/** The fixed signature s in {-1, +1}^(H x W x C), drawn by the seed. */
export function spdSignature(height: number, width: number, channels: number, seed: number): Float32Array {
  const rng = new Rng(combineSeeds(seed, 'spd-signature'));
  return Float32Array.from({ length: height * width * channels }, () => (rng.next() < 0.5 ? -1 : 1));
}

export interface SpdGanReport {
  steps: number;
  /** mean losses of the last epoch */
  discriminatorLoss: number;
  generatorLoss: number;
  /** mean(tanh(g(x)) * s) over the last epoch: 1 = the perturbation is the signature everywhere */
  signatureAlignment: number;
}

/**
 * Train the SPD-GAN: G perturbs the forget images `forget` of `dataset`, D tells them from the clean images
 * `clean` (the retain set; the forget set itself when none is given). Returns the generator; D is discarded.
 */
export async function trainSpdGan(dataset: ImageDataset, forget: Int32Array, clean: Int32Array, options: SpdGanOptions, onEpoch?: (epoch: number, report: SpdGanReport) => void): Promise<{ generator: SpdGenerator; report: SpdGanReport }> {
  if (!(options.eps > 0 && options.eps <= 1)) throw new Error(`SPD-GAN: eps must be in (0, 1], got ${options.eps}`);
  if (forget.length === 0) throw new Error('SPD-GAN: the forget set is empty');
  const cleanIndices = clean.length > 0 ? clean : forget;
  const { height: H, width: W, channels: C } = dataset;
  const generator = SpdGenerator.create(options.eps, C, options.hidden, options.seed, H, W);
  const discriminator = new Discriminator(C, options.hidden, options.seed);
  const signature = tf.tensor4d(spdSignature(H, W, C, options.seed), [1, H, W, C]);
  const gOpt = tf.train.adam(options.lr, 0.5, 0.999);
  const dOpt = tf.train.adam(options.lr, 0.5, 0.999);
  const gVars = [...generator.weights.values()];
  const dVars = [...discriminator.weights.values()];
  const cleanRng = new Rng(combineSeeds(options.seed, 'spd-gan-clean'));
  const report: SpdGanReport = { steps: 0, discriminatorLoss: NaN, generatorLoss: NaN, signatureAlignment: NaN };
  try {
    for (let epoch = 0; epoch < options.epochs; epoch++) {
      let dSum = 0;
      let gSum = 0;
      let aSum = 0;
      let n = 0;
      for (const batch of batches(dataset, { indices: forget, batchSize: options.batchSize, shuffleSeed: combineSeeds(options.seed, 'spd-gan-batches'), epoch, augment: false, normalize: false })) {
        batch.y.dispose();
        const cleanIdx = Int32Array.from({ length: batch.indices.length }, () => cleanIndices[cleanRng.int(cleanIndices.length)]!);
        const real = [...batches(dataset, { indices: cleanIdx, batchSize: cleanIdx.length, augment: false, normalize: false })][0]!;
        real.y.dispose();
        const x = batch.x as tf.Tensor4D;
        const xr = real.x as tf.Tensor4D;
        const dLoss = dOpt.minimize(() => {
          const fake = generator.perturb(x); // only D's variables are updated here
          return tf.add(bce(discriminator.logit(xr), 1), bce(discriminator.logit(fake), 0)) as tf.Scalar;
        }, true, dVars)!;
        let alignment = 0;
        const gLoss = gOpt.minimize(() => {
          const dir = generator.direction(x);
          const fake = tf.clipByValue(tf.add(x, tf.mul(dir, options.eps)), 0, 1) as tf.Tensor4D;
          const align = tf.mean(tf.mul(dir, signature)) as tf.Scalar;
          alignment = align.dataSync()[0]!;
          return tf.add(bce(discriminator.logit(fake), 1), tf.mul(tf.sub(1, align), options.signatureWeight)) as tf.Scalar;
        }, true, gVars)!;
        dSum += (await dLoss.data())[0]!;
        gSum += (await gLoss.data())[0]!;
        aSum += alignment;
        n++;
        report.steps++;
        dLoss.dispose();
        gLoss.dispose();
        x.dispose();
        xr.dispose();
      }
      report.discriminatorLoss = dSum / n;
      report.generatorLoss = gSum / n;
      report.signatureAlignment = aSum / n;
      onEpoch?.(epoch, { ...report });
    }
  } finally {
    signature.dispose();
    discriminator.dispose();
    gOpt.dispose();
    dOpt.dispose();
  }
  return { generator, report };
}

/**
 * A copy of `dataset` (float32 pixels in [0, 1]) in which the samples `forget` are replaced by G(x); all other
 * samples are unchanged (exactly their 8-bit values / 255).
 */
export async function perturbedDataset(dataset: ImageDataset, forget: Int32Array, generator: SpdGenerator, batchSize = 256): Promise<ImageDataset> {
  const size = dataset.height * dataset.width * dataset.channels;
  const images = new Float32Array(dataset.count * size);
  if (dataset.images instanceof Float32Array) images.set(dataset.images);
  else for (let i = 0; i < images.length; i++) images[i] = dataset.images[i]! / 255;
  for (const batch of batches(dataset, { indices: forget, batchSize, augment: false, normalize: false })) {
    const out = generator.perturb(batch.x as tf.Tensor4D);
    const values = await out.data();
    out.dispose();
    batch.x.dispose();
    batch.y.dispose();
    batch.indices.forEach((j, k) => images.set(values.subarray(k * size, (k + 1) * size), j * size));
  }
  return { ...dataset, name: `${dataset.name}+spd-gan`, images, labels: dataset.labels.slice(), classNames: [...dataset.classNames] };
}

/** Accuracy and mean true-class softmax confidence of model outputs, both in percent. */
export function accuracyAndConfidence(outputs: ModelOutputs): { accuracy: number; confidence: number } {
  const confidence = sampleSignals(outputs).confidence;
  let sum = 0;
  for (const c of confidence) sum += c;
  return { accuracy: percentOf(correctPredictions(outputs)), confidence: outputs.count > 0 ? (100 * sum) / outputs.count : NaN };
}

export interface SpdDegree {
  /** accuracy on G(D_f) before (SPD original) minus after (unlearned), percentage points */
  degreeAccuracy: number;
  /** mean true-class confidence on G(D_f) before minus after, percentage points */
  degreeConfidence: number;
}

export function spdDegreeFrom(before: ModelOutputs, after: ModelOutputs): SpdDegree {
  const b = accuracyAndConfidence(before);
  const a = accuracyAndConfidence(after);
  return { degreeAccuracy: b.accuracy - a.accuracy, degreeConfidence: b.confidence - a.confidence };
}

/** The degree of `after` relative to `before` on the perturbed forget samples `forget` of `perturbed`. */
export async function spdDegree(before: Model, after: Model, perturbed: ImageDataset, forget: Int32Array, batchSize = 256): Promise<SpdDegree> {
  return spdDegreeFrom(await modelOutputs(before, perturbed, forget, batchSize), await modelOutputs(after, perturbed, forget, batchSize));
}

/** Save a generator: a JSON header line (format, eps, shapes), then its float32 weights in header order. */
export async function saveSpdGenerator(generator: SpdGenerator, file: string, metadata: Record<string, unknown> = {}): Promise<void> {
  const names = [...generator.weights.keys()];
  const tensors = names.map((n) => generator.weights.get(n)!);
  const header = { format: SPD_GENERATOR_FORMAT, eps: generator.eps, channels: generator.channels, hidden: generator.hidden, weights: names.map((n, i) => ({ name: n, shape: tensors[i]!.shape })), metadata };
  const body = await Promise.all(tensors.map(async (t) => new Uint8Array(((await t.data()) as Float32Array).buffer.slice(0))));
  writeHeaderFile(file, header, body);
}

export function loadSpdGenerator(file: string): { generator: SpdGenerator; metadata: Record<string, unknown> } {
  type Header = { format: string; eps: number; channels: number; hidden: number; weights: { name: string; shape: number[] }[]; metadata: Record<string, unknown> };
  // files written before bodySha256 have exactly these keys
  const read = readHeaderFile<Header>(file, () => true, { unhashed: (h) => Object.keys(h).sort().join() === 'channels,eps,format,hidden,metadata,weights' });
  if (!read) throw new Error(`${file} is not an SPD generator file (missing, or no JSON header line)`);
  const { header, body } = read;
  if (header.format !== SPD_GENERATOR_FORMAT) throw new Error(`${file}: format '${header.format}', expected '${SPD_GENERATOR_FORMAT}'`);
  const isCount = (x: unknown): boolean => Number.isSafeInteger(x) && (x as number) > 0;
  if (!(typeof header.eps === 'number' && header.eps > 0 && header.eps <= 1) || !isCount(header.channels) || !isCount(header.hidden)) {
    throw new Error(`${file}: header has eps ${String(header.eps)}, channels ${String(header.channels)}, hidden ${String(header.hidden)}; expected 0 < eps <= 1 and positive integers; delete it so the generator is trained again`);
  }
  if (!Array.isArray(header.weights) || !header.weights.every((w) => typeof w?.name === 'string' && Array.isArray(w.shape) && w.shape.every(isCount))) {
    throw new Error(`${file}: header's weights are not a list of { name, shape } entries; delete it so the generator is trained again`);
  }
  // the layout SpdGenerator.create makes for these channels and hidden width (the pixel bias has the images' size)
  const c = header.channels;
  const h = header.hidden;
  const want: Record<string, (shape: number[]) => boolean> = {
    'g1/kernel': (s) => s.join() === [3, 3, c, h].join(),
    'g1/bias': (s) => s.join() === String(h),
    'g2/kernel': (s) => s.join() === [3, 3, h, c].join(),
    'g2/bias': (s) => s.join() === String(c),
    'g2/pixel-bias': (s) => s.length === 4 && s[0] === 1 && s[3] === c,
  };
  const names = header.weights.map((w) => w.name);
  const wrong = header.weights.find((w) => !want[w.name]?.(w.shape));
  if (wrong || names.length !== Object.keys(want).length || new Set(names).size !== names.length) {
    throw new Error(`${file}: header lists weights ${JSON.stringify(header.weights.map((w) => [w.name, w.shape]))}, not the generator's layout for ${c} channels and ${h} hidden; delete it so the generator is trained again`);
  }
  const total = header.weights.reduce((s, w) => s + w.shape.reduce((a, b) => a * b, 1), 0);
  if (body.byteLength !== 4 * total) throw new Error(`${file}: ${body.byteLength} bytes of weights, expected ${4 * total}`);
  const all = new Float32Array(total);
  new Uint8Array(all.buffer).set(body);
  const weights = new Map<string, tf.Variable>();
  let at = 0;
  for (const w of header.weights) {
    const n = w.shape.reduce((a, b) => a * b, 1);
    weights.set(w.name, owned(tf.tensor(all.slice(at, at + n), w.shape)));
    at += n;
  }
  return { generator: new SpdGenerator(header.eps, header.channels, header.hidden, weights), metadata: header.metadata };
}
