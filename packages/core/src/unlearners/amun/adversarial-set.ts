import * as tf from '@tensorflow/tfjs-core';
import { l2StepWithLogits, logitsFunctionOf } from '@lethe/attacks';
import { batches, type ImageDataset } from '@lethe/datasets';
import type { Model } from '@lethe/models';

/**
 * How AMUN finds each forget sample's adversarial example (arXiv 2503.00917, Sec. 4, and its public code's
 * `pgdl2_modified.py`): untargeted PGD in the L2 norm from the clean image (no random start), step size
 * eps * stepFraction, pixels clamped to [0, 1]. A sample stops at the first iterate the model misclassifies (checked
 * before every step and after the last), so its example lies just across the decision boundary; a sample still
 * classified correctly after `steps` steps has its eps doubled and continues.
 */
export interface AmunAttackOptions {
  /** first L2 radius; AMUN: 0.04 */
  initialEps: number;
  /** PGD steps per radius; AMUN: 50 */
  steps: number;
  /** step size as a fraction of the radius; AMUN: eps / 10 */
  stepFraction: number;
  /**
   * How many times a radius may be doubled before giving up on a sample (AMUN's code doubles without limit). The
   * default 12 reaches 0.04 * 2^12 ≈ 164, beyond the L2 diameter of a 32x32x3 image cube (≈ 55).
   */
  maxDoublings: number;
  /** samples attacked together; with inference-mode forward passes it changes the result only by float rounding */
  batchSize: number;
  /**
   * After a doubling, restart from the clean image (true) or continue from the last iterate (false, AMUN's code:
   * the attack loop carries its iterate over when eps doubles).
   */
  restartOnDoubling: boolean;
}

export const AMUN_ATTACK_DEFAULTS: AmunAttackOptions = {
  initialEps: 0.04,
  steps: 50,
  stepFraction: 0.1,
  maxDoublings: 12,
  batchSize: 128,
  restartOnDoubling: false,
};

/**
 * The rows the attack computes on for `live` samples still being attacked: `live` itself up to 16, else the next
 * multiple of 16. Rows beyond `live` repeat a live sample and are never read; in inference mode a row's gradient
 * does not depend on the others, so the padding changes results only by float rounding (as the batch size does).
 */
export function bucketRows(live: number): number {
  return live <= 16 ? live : Math.ceil(live / 16) * 16;
}

/** The adversarial examples of a set of samples, one per sample, in the order of `indices`. */
export interface AmunAdversarialSet {
  /** indices into the attacked data set */
  indices: Int32Array;
  /** float NHWC in [0, 1], one image per index (never quantised to 8 bits: the perturbations are far smaller) */
  images: Float32Array;
  /** the model's prediction on each adversarial image (a wrong class wherever `flipped`) */
  labels: Uint8Array;
  /** the samples' own labels */
  trueLabels: Uint8Array;
  /** the L2 radius each example was found within (for never-flipped samples, the last radius tried) */
  eps: Float32Array;
  /** the L2 norm of each example's perturbation (<= eps) */
  perturbationNorms: Float32Array;
  /** 1 where the model's prediction differs from the true label */
  flipped: Uint8Array;
  height: number;
  width: number;
  channels: number;
  numClasses: number;
}

export interface AmunAttackProgress {
  /** samples done (flipped or given up) */
  done: number;
  total: number;
  /** samples still correctly classified after the final radius */
  neverFlipped: number;
}

function checkOptions(o: AmunAttackOptions): void {
  const bad = (field: string, value: unknown, want: string): never => {
    throw new Error(`AMUN attack: ${field} must be ${want}, got ${String(value)}`);
  };
  if (!(Number.isFinite(o.initialEps) && o.initialEps > 0)) bad('initialEps', o.initialEps, 'a finite number > 0');
  if (!(Number.isInteger(o.steps) && o.steps >= 1)) bad('steps', o.steps, 'an integer >= 1');
  if (!(Number.isFinite(o.stepFraction) && o.stepFraction > 0)) bad('stepFraction', o.stepFraction, 'a finite number > 0');
  if (!(Number.isInteger(o.maxDoublings) && o.maxDoublings >= 0)) bad('maxDoublings', o.maxDoublings, 'an integer >= 0');
  if (!(Number.isInteger(o.batchSize) && o.batchSize >= 1)) bad('batchSize', o.batchSize, 'an integer >= 1');
}

/**
 * AMUN's adversarial examples for `indices` of `dataset` against `model` (attacked in inference mode; the model is
 * not modified). Samples are attacked a batch at a time; within a batch, the ones that flip drop out and the rest
 * go on together (they share a radius, since all start at `initialEps` and double together). A sample the model
 * already misclassifies is its own example (radius `initialEps`, zero perturbation), as in AMUN's code.
 */
export async function amunAdversarialSet(
  model: Model,
  dataset: ImageDataset,
  indices: Int32Array,
  options: Partial<AmunAttackOptions> = {},
  onProgress?: (progress: AmunAttackProgress) => void,
): Promise<AmunAdversarialSet> {
  const o: AmunAttackOptions = { ...AMUN_ATTACK_DEFAULTS, ...options };
  checkOptions(o);
  const { height, width, channels, numClasses } = dataset;
  const size = height * width * channels;
  const n = indices.length;
  const result: AmunAdversarialSet = {
    indices: Int32Array.from(indices),
    images: new Float32Array(n * size),
    labels: new Uint8Array(n),
    trueLabels: new Uint8Array(n),
    eps: new Float32Array(n),
    perturbationNorms: new Float32Array(n),
    flipped: new Uint8Array(n),
    height,
    width,
    channels,
    numClasses,
  };
  const logits = logitsFunctionOf(model);
  let done = 0;
  let neverFlipped = 0;
  let base = 0;
  for (const batch of batches(dataset, { indices, batchSize: o.batchSize, normalize: false })) {
    const count = batch.indices.length;
    const clean = batch.x.dataSync() as Float32Array;
    const trueLabels = batch.y.dataSync() as Int32Array;
    for (let i = 0; i < count; i++) result.trueLabels[base + i] = trueLabels[i]!;
    // The tensors' rows: slot[row] is the batch position of a still-correct sample, or -1 for a row whose sample is
    // settled (its iterate goes on being computed but is never read). Settled rows are dropped only when the live
    // ones fit a smaller bucket (`bucketRows`), so the attack computes on a dozen batch sizes instead of every size
    // from the batch down to 1; each new shape costs the native backend new convolution primitives and buffers its
    // pool cannot reuse (one size at a time grew a process past 15 GB).
    let slot = Array.from({ length: count }, (_, i) => i);
    let live = count;
    let xClean: tf.Tensor4D = batch.x;
    let xAdv: tf.Tensor4D = tf.clone(batch.x);
    let y: tf.Tensor1D = batch.y;
    let eps = o.initialEps;

    /**
     * Record the live samples whose prediction at the current iterate is wrong (or all, when giving up). When the
     * samples still live fit a smaller bucket, the active tensors keep only their rows (padded with copies of the
     * first to the bucket's size) and the rows kept are returned, for the caller's other tensors of the same rows;
     * otherwise null (no row moved).
     */
    const settle = (predictions: Int32Array, giveUp: boolean): number[] | null => {
      const finished: number[] = [];
      slot.forEach((position, row) => {
        if (position >= 0 && (giveUp || predictions[row] !== trueLabels[position])) finished.push(row);
      });
      if (finished.length > 0) {
        const rows = tf.tidy(() => tf.gather(xAdv, finished).dataSync() as Float32Array);
        finished.forEach((row, r) => {
          const position = slot[row]!;
          const at = base + position;
          const image = rows.subarray(r * size, (r + 1) * size);
          result.images.set(image, at * size);
          let sq = 0;
          for (let p = 0; p < size; p++) {
            const d = image[p]! - clean[position * size + p]!;
            sq += d * d;
          }
          result.perturbationNorms[at] = Math.sqrt(sq);
          result.labels[at] = predictions[row]!;
          result.flipped[at] = predictions[row] !== trueLabels[position] ? 1 : 0;
          result.eps[at] = eps;
          if (!result.flipped[at]) neverFlipped++;
          slot[row] = -1;
        });
        done += finished.length;
        live -= finished.length;
      }
      if (live === 0 || bucketRows(live) >= slot.length) return null;
      const liveRows: number[] = [];
      slot.forEach((position, row) => {
        if (position >= 0) liveRows.push(row);
      });
      const order = [...liveRows, ...new Array<number>(bucketRows(live) - live).fill(liveRows[0]!)];
      const next = tf.tidy(() => ({ xClean: tf.gather(xClean, order), xAdv: tf.gather(xAdv, order), y: tf.gather(y, order) }));
      tf.dispose([xClean, xAdv, y]);
      ({ xClean, xAdv, y } = next);
      slot = order.map((row, k) => (k < live ? slot[row]! : -1));
      return order;
    };

    const predict = (x: tf.Tensor4D): Int32Array => tf.tidy(() => tf.argMax(logits(x), 1).dataSync() as Int32Array);

    try {
      settle(predict(xAdv), false);
      for (let round = 0; live > 0; round++) {
        for (let step = 0; step < o.steps && live > 0; step++) {
          const { next, logits: before } = l2StepWithLogits(logits, xAdv, xClean, y, { eps, stepSize: eps * o.stepFraction });
          const predictions = tf.tidy(() => tf.argMax(before, 1).dataSync() as Int32Array);
          before.dispose();
          // `before` scored the iterate the step started from: settle those samples there, then move the rest
          const kept = settle(predictions, false);
          if (live === 0) {
            next.dispose();
            break;
          }
          const moved = kept === null ? next : tf.tidy(() => tf.gather(next, kept));
          if (moved !== next) next.dispose();
          xAdv.dispose();
          xAdv = moved;
          // let timers (progress bars, signals) run between steps
          await new Promise<void>((resolve) => setImmediate(resolve));
        }
        if (live === 0) break;
        settle(predict(xAdv), round >= o.maxDoublings);
        if (live === 0) break;
        eps *= 2;
        if (o.restartOnDoubling) {
          xAdv.dispose();
          xAdv = tf.clone(xClean);
        }
      }
    } finally {
      tf.dispose([xClean, xAdv, y]);
    }
    base += count;
    onProgress?.({ done, total: n, neverFlipped });
  }
  return result;
}

/** Summary numbers of an adversarial set, for logs. */
export function describeAdversarialSet(set: AmunAdversarialSet): { count: number; flipped: number; neverFlipped: number; meanEps: number; maxEps: number; meanNorm: number } {
  let flipped = 0;
  let epsSum = 0;
  let maxEps = 0;
  let normSum = 0;
  for (let i = 0; i < set.indices.length; i++) {
    flipped += set.flipped[i]!;
    epsSum += set.eps[i]!;
    maxEps = Math.max(maxEps, set.eps[i]!);
    normSum += set.perturbationNorms[i]!;
  }
  const count = set.indices.length;
  return { count, flipped, neverFlipped: count - flipped, meanEps: count ? epsSum / count : 0, maxEps, meanNorm: count ? normSum / count : 0 };
}

/**
 * D_adv as a training set: the flipped samples' adversarial images (floats) labelled with the model's wrong
 * predictions. Never-flipped samples would carry their true labels and are left out unless `includeUnflipped`.
 */
export function adversarialDataset(set: AmunAdversarialSet, like: ImageDataset, options: { includeUnflipped?: boolean } = {}): ImageDataset {
  const size = set.height * set.width * set.channels;
  const keep: number[] = [];
  for (let i = 0; i < set.indices.length; i++) if (set.flipped[i] || options.includeUnflipped) keep.push(i);
  const images = new Float32Array(keep.length * size);
  const labels = new Uint8Array(keep.length);
  keep.forEach((i, k) => {
    images.set(set.images.subarray(i * size, (i + 1) * size), k * size);
    labels[k] = set.labels[i]!;
  });
  return {
    name: `${like.name}-amun-adversarial`,
    images,
    labels,
    count: keep.length,
    height: set.height,
    width: set.width,
    channels: set.channels,
    numClasses: set.numClasses,
    classNames: [...like.classNames],
  };
}
