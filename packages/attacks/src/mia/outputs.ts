import type { Model } from '@lethe/models';
import { batches, type ImageDataset } from '@lethe/datasets';

/**
 * What membership inference (and the output-based metrics) read of a model: its logits on a list of samples,
 * with the samples' labels. One inference pass per (model, set); every per-sample signal below is derived from
 * it in float64, so nothing needs the model again.
 */
export interface ModelOutputs {
  /** row-major [count, numClasses], float32 as the model produced them */
  logits: Float32Array;
  labels: Int32Array;
  count: number;
  numClasses: number;
}

/** Per-sample signals of one model on one set, as reference-model attacks use them. */
export interface SampleSignals {
  /** softmax probability of the true label, p_y */
  confidence: Float64Array;
  /** logit-scaled confidence phi = log(p_y / (1 - p_y)) (Carlini et al. 2022, Sec. IV-B) */
  logitConfidence: Float64Array;
}

/** Inference-mode logits of `model` on `indices` of `dataset`, in the order of `indices`. */
export async function modelOutputs(model: Model, dataset: ImageDataset, indices: Int32Array, batchSize = 256): Promise<ModelOutputs> {
  const numClasses = dataset.numClasses;
  const logits = new Float32Array(indices.length * numClasses);
  const labels = new Int32Array(indices.length);
  let at = 0;
  for (const batch of batches(dataset, { indices, batchSize, augment: false, normalize: false })) {
    const out = model.logits(batch.x, { training: false });
    const [values, ys] = await Promise.all([out.data(), batch.y.data()]);
    out.dispose();
    batch.x.dispose();
    batch.y.dispose();
    if (values.length !== batch.indices.length * numClasses) {
      throw new Error(`model gives ${values.length / batch.indices.length} logits per sample, but the data set has ${numClasses} classes`);
    }
    logits.set(values, at * numClasses);
    labels.set(ys, at);
    at += batch.indices.length;
  }
  return { logits, labels, count: indices.length, numClasses };
}

/** The outputs of a subset of samples (positions into `outputs`, in the given order). */
export function selectOutputs(outputs: ModelOutputs, positions: ArrayLike<number>): ModelOutputs {
  const k = outputs.numClasses;
  const logits = new Float32Array(positions.length * k);
  const labels = new Int32Array(positions.length);
  for (let i = 0; i < positions.length; i++) {
    const p = positions[i]!;
    if (p < 0 || p >= outputs.count) throw new RangeError(`sample position ${p} out of range for ${outputs.count} outputs`);
    logits.set(outputs.logits.subarray(p * k, (p + 1) * k), i * k);
    labels[i] = outputs.labels[p]!;
  }
  return { logits, labels, count: positions.length, numClasses: k };
}

/** Softmax of every row, in float64 (max-subtracted, so large logits do not overflow). */
export function probabilities(outputs: ModelOutputs): Float64Array {
  const { logits, count, numClasses: k } = outputs;
  const out = new Float64Array(count * k);
  for (let i = 0; i < count; i++) {
    let max = -Infinity;
    for (let j = 0; j < k; j++) max = Math.max(max, logits[i * k + j]!);
    let sum = 0;
    for (let j = 0; j < k; j++) {
      const e = Math.exp(logits[i * k + j]! - max);
      out[i * k + j] = e;
      sum += e;
    }
    for (let j = 0; j < k; j++) out[i * k + j]! /= sum;
  }
  return out;
}

/** 1 where the top-1 prediction (first maximum, as tf.argMax) equals the label. */
export function correctPredictions(outputs: ModelOutputs): Uint8Array {
  const { logits, labels, count, numClasses: k } = outputs;
  const out = new Uint8Array(count);
  for (let i = 0; i < count; i++) {
    let best = 0;
    for (let j = 1; j < k; j++) if (logits[i * k + j]! > logits[i * k + best]!) best = j;
    out[i] = best === labels[i] ? 1 : 0;
  }
  return out;
}

/** Softmax probability of the true label. */
export function trueLabelConfidence(outputs: ModelOutputs): Float64Array {
  const p = probabilities(outputs);
  const out = new Float64Array(outputs.count);
  for (let i = 0; i < outputs.count; i++) out[i] = p[i * outputs.numClasses + outputs.labels[i]!]!;
  return out;
}

/**
 * The parameters of the taylor-soft-margin signal. Defaults are those of AMUN's RMIA evaluation
 * (Ali-E/AMUN, rmia_evaluate.py: `--temp 2`, `extra_params = {"taylor_m": 0.6, "taylor_n": 4}`), which are also
 * the RMIA authors' settings for their online CIFAR-10 attack (privacytrustlab/ml_privacy_meter,
 * research/2023_rmia/attack_configs/cifar10/rmia_online_254_ref_models.yaml: temperature 2.0, taylor_m 0.6,
 * taylor_n 4).
 */
export interface TaylorSoftMarginParameters {
  /** T: every logit is divided by it first (2) */
  temperature: number;
  /** m: subtracted from the true class's scaled logit, a "soft margin" (0.6) */
  margin: number;
  /** n: terms of exp's Taylor series kept, 1 + s + ... + s^(n-1)/(n-1)! (4: a cubic) */
  taylorTerms: number;
}

export const TAYLOR_SOFT_MARGIN_DEFAULTS: Readonly<TaylorSoftMarginParameters> = Object.freeze({ temperature: 2, margin: 0.6, taylorTerms: 4 });

/** exp(s) by its Taylor series cut after `terms` terms: sum_{i=0}^{terms-1} s^i / i!. */
export function truncatedExp(s: number, terms: number): number {
  let term = 1;
  let sum = 1;
  for (let i = 1; i < terms; i++) {
    term *= s / i;
    sum += term;
  }
  return sum;
}

function checkTaylorSoftMargin({ temperature, margin, taylorTerms }: TaylorSoftMarginParameters): void {
  if (!(temperature > 0 && Number.isFinite(temperature))) throw new Error(`taylor-soft-margin: the temperature must be a positive number, got ${temperature}`);
  if (!Number.isFinite(margin)) throw new Error(`taylor-soft-margin: the margin must be a finite number, got ${margin}`);
  // the public code's series always keeps the linear term, so 1 term would mean 1 + s there and 1 here: refuse it
  if (!(Number.isInteger(taylorTerms) && taylorTerms >= 2)) throw new Error(`taylor-soft-margin: taylorTerms must be an integer >= 2, got ${taylorTerms}`);
}

/**
 * The "taylor-soft-margin" signal of one sample, RMIA's Pr(x|theta) in AMUN's evaluation. With s_j = z_j / T (the
 * logits over the temperature), y the label and e_n(s) = sum_{i=0}^{n-1} s^i / i! (exp cut after n terms):
 *
 *   signal = e_n(s_y - m) / ( e_n(s_y - m) + sum_{j != y} e_n(s_j) )
 *
 * i.e. a softmax of the true label in which exp is replaced by its Taylor polynomial and the true class's logit is
 * lowered by the margin m. Read in Ali-E/AMUN signals.py (`convert_signals`, metric 'taylor-soft-margin', with
 * `get_taylor`), which is the RMIA authors' definition (privacytrustlab/ml_privacy_meter,
 * research/2023_rmia/signals.py, the same function); written here from that definition.
 *
 * Unlike a softmax it is not always a probability: with an even number of terms e_n is a polynomial of odd degree
 * and is negative below its one real root (about -1.596 for n = 4, i.e. logits below about -3.19 at T = 2), so the
 * sum can be small or negative and the signal can leave [0, 1]. The public code uses it as it is, and so does
 * this function (no clamping), so that RMIA scores computed from it match AMUN's.
 */
export function taylorSoftMarginOf(logits: ArrayLike<number>, label: number, parameters: TaylorSoftMarginParameters = TAYLOR_SOFT_MARGIN_DEFAULTS): number {
  checkTaylorSoftMargin(parameters);
  if (!(Number.isInteger(label) && label >= 0 && label < logits.length)) throw new RangeError(`taylor-soft-margin: label ${label} out of range for ${logits.length} classes`);
  return taylorSoftMarginUnchecked(logits, 0, logits.length, label, parameters);
}

function taylorSoftMarginUnchecked(logits: ArrayLike<number>, offset: number, k: number, label: number, { temperature, margin, taylorTerms }: TaylorSoftMarginParameters): number {
  const trueTerm = truncatedExp(logits[offset + label]! / temperature - margin, taylorTerms);
  let sum = trueTerm;
  for (let j = 0; j < k; j++) if (j !== label) sum += truncatedExp(logits[offset + j]! / temperature, taylorTerms);
  return trueTerm / sum;
}

/** The taylor-soft-margin signal (see `taylorSoftMarginOf`) of every sample, in float64. */
export function taylorSoftMargin(outputs: ModelOutputs, parameters: TaylorSoftMarginParameters = TAYLOR_SOFT_MARGIN_DEFAULTS): Float64Array {
  checkTaylorSoftMargin(parameters);
  const { logits, labels, count, numClasses: k } = outputs;
  const out = new Float64Array(count);
  for (let i = 0; i < count; i++) {
    const y = labels[i]!;
    if (!(y >= 0 && y < k)) throw new RangeError(`taylor-soft-margin: sample ${i} has label ${y}, out of range for ${k} classes`);
    out[i] = taylorSoftMarginUnchecked(logits, i * k, k, y, parameters);
  }
  return out;
}

/**
 * phi = log(p_y / (1 - p_y)), computed from the logits as z_y - logsumexp_{j != y} z_j, which stays finite and
 * exact where p_y rounds to 1 (Carlini et al. 2022, "Membership Inference Attacks From First Principles",
 * Sec. IV-B: the logit scaling makes the confidences of IN and OUT models close to Gaussian).
 */
export function logitScaledConfidence(outputs: ModelOutputs): Float64Array {
  const { logits, labels, count, numClasses: k } = outputs;
  const out = new Float64Array(count);
  for (let i = 0; i < count; i++) {
    const y = labels[i]!;
    let max = -Infinity;
    for (let j = 0; j < k; j++) if (j !== y) max = Math.max(max, logits[i * k + j]!);
    let sum = 0;
    for (let j = 0; j < k; j++) if (j !== y) sum += Math.exp(logits[i * k + j]! - max);
    out[i] = logits[i * k + y]! - (max + Math.log(sum));
  }
  return out;
}

/** Shannon entropy of the predicted distribution, nats. */
export function predictionEntropy(outputs: ModelOutputs): Float64Array {
  const p = probabilities(outputs);
  const k = outputs.numClasses;
  const out = new Float64Array(outputs.count);
  for (let i = 0; i < outputs.count; i++) {
    let h = 0;
    for (let j = 0; j < k; j++) {
      const q = p[i * k + j]!;
      if (q > 0) h -= q * Math.log(q);
    }
    out[i] = h;
  }
  return out;
}

/**
 * Modified entropy (Song and Mittal 2021, "Systematic Evaluation of Privacy Risks of Machine Learning Models",
 * Eq. 5): -(1 - p_y) log p_y - sum_{j != y} p_j log(1 - p_j). Unlike the plain entropy it is low only when the
 * model is confidently *right*. Logs of 0 are clamped at log(1e-30), as in the public SVC MIA code.
 */
export function modifiedEntropy(outputs: ModelOutputs): Float64Array {
  const p = probabilities(outputs);
  const k = outputs.numClasses;
  const safeLog = (q: number): number => Math.log(Math.max(q, 1e-30));
  const out = new Float64Array(outputs.count);
  for (let i = 0; i < outputs.count; i++) {
    const y = outputs.labels[i]!;
    let m = 0;
    for (let j = 0; j < k; j++) {
      const q = p[i * k + j]!;
      m -= j === y ? (1 - q) * safeLog(q) : q * safeLog(1 - q);
    }
    out[i] = m;
  }
  return out;
}

export function sampleSignals(outputs: ModelOutputs): SampleSignals {
  return { confidence: trueLabelConfidence(outputs), logitConfidence: logitScaledConfidence(outputs) };
}

/** The signals of a subset of samples (positions, in order). */
export function selectSignals(signals: SampleSignals, positions: ArrayLike<number>): SampleSignals {
  const pick = (a: Float64Array): Float64Array => Float64Array.from({ length: positions.length }, (_, i) => a[positions[i]!]!);
  return { confidence: pick(signals.confidence), logitConfidence: pick(signals.logitConfidence) };
}
