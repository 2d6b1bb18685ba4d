import * as tf from '@tensorflow/tfjs-core';
import { fusedBatchNormActive, fusedBatchNormTrain, type Rng } from '@lethe/runtime';

/**
 * The building blocks of Lethe's models, written as plain functions over named tf.Variables rather than
 * tfjs-layers: unlearners need direct access to every parameter by name (SalUn masks, Top-K perturbation,
 * weight decay, L1 penalties), and save/load is then just "named float arrays".
 */

/** Trainable parameters and non-trainable state (batch-norm running statistics), by name, in creation order. */
export class ParameterStore {
  readonly params = new Map<string, tf.Variable>();
  readonly state = new Map<string, tf.Variable>();

  addParam(name: string, values: Float32Array, shape: number[]): tf.Variable {
    return this.add(this.params, name, values, shape, true);
  }

  addState(name: string, values: Float32Array, shape: number[]): tf.Variable {
    return this.add(this.state, name, values, shape, false);
  }

  private add(into: Map<string, tf.Variable>, name: string, values: Float32Array, shape: number[], trainable: boolean): tf.Variable {
    if (this.params.has(name) || this.state.has(name)) throw new Error(`duplicate model variable name '${name}'`);
    const initial = tf.tensor(values, shape, 'float32');
    const v = tf.variable(initial, trainable);
    initial.dispose(); // the variable holds its own reference to the data

    into.set(name, v);
    return v;
  }

  param(name: string): tf.Variable {
    const v = this.params.get(name);
    if (!v) throw new Error(`model has no parameter '${name}'`);
    return v;
  }

  stateVar(name: string): tf.Variable {
    const v = this.state.get(name);
    if (!v) throw new Error(`model has no state variable '${name}'`);
    return v;
  }

  dispose(): void {
    for (const v of this.params.values()) v.dispose();
    for (const v of this.state.values()) v.dispose();
    this.params.clear();
    this.state.clear();
  }
}

/** He (Kaiming) normal initialisation, fan-in mode, for layers followed by ReLU (He et al., 2015). */
export function heNormal(rng: Rng, count: number, fanIn: number): Float32Array {
  const std = Math.sqrt(2 / fanIn);
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) out[i] = rng.normal() * std;
  return out;
}

/** U(-1/sqrt(fanIn), 1/sqrt(fanIn)): PyTorch's default for nn.Linear weights and biases. */
export function fanInUniform(rng: Rng, count: number, fanIn: number): Float32Array {
  const bound = 1 / Math.sqrt(fanIn);
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) out[i] = (rng.next() * 2 - 1) * bound;
  return out;
}

export function filled(count: number, value: number): Float32Array {
  return new Float32Array(count).fill(value);
}

export interface ConvSpec {
  name: string;
  inChannels: number;
  outChannels: number;
  kernel: number;
  stride: number;
  bias: boolean;
}

/**
 * Convolution weights and bias drawn like PyTorch's nn.Conv2d defaults (kaiming_uniform with a = sqrt(5), which
 * is U(-1/sqrt(fanIn), 1/sqrt(fanIn))): the papers' models are PyTorch models with default initialisation, and
 * He-normal weights made the reference CNN's first SGD steps diverge at the usual learning rates.
 */
export function createConv(store: ParameterStore, rng: Rng, spec: ConvSpec): void {
  const fanIn = spec.kernel * spec.kernel * spec.inChannels;
  const shape = [spec.kernel, spec.kernel, spec.inChannels, spec.outChannels];
  store.addParam(`${spec.name}.kernel`, fanInUniform(rng.fork(`${spec.name}.kernel`), fanIn * spec.outChannels, fanIn), shape);
  if (spec.bias) store.addParam(`${spec.name}.bias`, fanInUniform(rng.fork(`${spec.name}.bias`), spec.outChannels, fanIn), [spec.outChannels]);
}

export type Padding4D = [[number, number], [number, number], [number, number], [number, number]];

/**
 * The `pad` argument of tf.conv2d that pads like PyTorch's `nn.Conv2d(..., kernel_size=k, stride=s,
 * padding=(k - 1) / 2)`, the convolutions of the papers' networks: (k - 1) / 2 zero rows and columns before AND
 * after the input (3x3 -> 1, 1x1 -> 0).
 *
 * tfjs's 'same' follows TensorFlow's rule instead: pad (out - 1) * s + k - in in total, the odd one after. With
 * stride 2 on an even input size (ResNet-18's 32 -> 16 -> 8 -> 4) that is 0 before and 1 after, so each output
 * reads the input one pixel further down and right than PyTorch's: same shapes, different values (a freshly
 * initialised ResNet-18 of width 0.25: penultimate features up to 0.009 apart, about 10% of their size, on 8 random
 * images). PyTorch's rule: https://pytorch.org/docs/stable/generated/torch.nn.Conv2d.html;
 * TensorFlow's: tfjs-core's conv_util.getPadAndOutInfo.
 *
 * Returned: 'valid' for k = 1 (no padding), 'same' where TensorFlow's rule already pads (k - 1) / 2 on each side
 * (every stride-1 convolution, stride 2 on odd sizes), else the explicit form. The result is the same function
 * either way; naming 'same' where it applies keeps those convolutions on the kernels every backend has always run
 * (tfjs-node's gradient kernels, for one, accept only 'same' and 'valid'), so the small CNN computes bit for bit
 * what it did before.
 */
export function symmetricPadding(kernel: number, stride: number, inHeight: number, inWidth: number): 'valid' | 'same' | Padding4D {
  if (!Number.isInteger(kernel) || kernel < 1 || kernel % 2 !== 1) {
    throw new Error(`symmetric padding needs an odd kernel size, got ${kernel}; the papers' networks use 3x3 and 1x1`);
  }
  const p = (kernel - 1) / 2;
  if (p === 0) return 'valid';
  // TensorFlow's 'same' total padding along one axis (tfjs-core conv_util.getPadAndOutInfo)
  const sameTotal = (inSize: number) => Math.max(0, (Math.ceil(inSize / stride) - 1) * stride + kernel - inSize);
  if (sameTotal(inHeight) === 2 * p && sameTotal(inWidth) === 2 * p) return 'same';
  return [[0, 0], [p, p], [p, p], [0, 0]];
}

export function applyConv(store: ParameterStore, spec: ConvSpec, x: tf.Tensor4D): tf.Tensor4D {
  const pad = symmetricPadding(spec.kernel, spec.stride, x.shape[1], x.shape[2]);
  let y = tf.conv2d(x, store.param(`${spec.name}.kernel`) as tf.Tensor4D, spec.stride, pad);
  if (spec.bias) y = tf.add(y, store.param(`${spec.name}.bias`));
  return y;
}

export interface BatchNormSpec {
  name: string;
  channels: number;
  /** running-statistics momentum, PyTorch convention (new = (1 - m) * old + m * batch); PyTorch default 0.1 */
  momentum: number;
  /** PyTorch default 1e-5 */
  epsilon: number;
}

export function createBatchNorm(store: ParameterStore, spec: BatchNormSpec): void {
  store.addParam(`${spec.name}.gamma`, filled(spec.channels, 1), [spec.channels]);
  store.addParam(`${spec.name}.beta`, filled(spec.channels, 0), [spec.channels]);
  store.addState(`${spec.name}.movingMean`, filled(spec.channels, 0), [spec.channels]);
  store.addState(`${spec.name}.movingVariance`, filled(spec.channels, 1), [spec.channels]);
}

/** What follows a batch norm in the same step: a residual addition, then a ReLU (ResNet blocks, conv-BN-ReLU). */
export interface BatchNormEpilogue {
  /** added to the normalised output (x's shape) */
  residual?: tf.Tensor4D;
  relu?: boolean;
}

/** y + residual, then ReLU, as `epilogue` asks. */
function applyEpilogue(y: tf.Tensor4D, epilogue: BatchNormEpilogue): tf.Tensor4D {
  const added: tf.Tensor4D = epilogue.residual ? tf.add(y, epilogue.residual) : y;
  return epilogue.relu ? tf.relu(added) : added;
}

/** Inference-mode batch norm as a per-channel affine map: scale = gamma / sqrt(movingVariance + epsilon), shift = beta - movingMean * scale. */
function inferenceAffine(store: ParameterStore, spec: BatchNormSpec): { scale: tf.Tensor; shift: tf.Tensor } {
  const scale = tf.mul(store.param(`${spec.name}.gamma`), tf.rsqrt(tf.add(store.stateVar(`${spec.name}.movingVariance`), spec.epsilon)));
  const shift = tf.sub(store.param(`${spec.name}.beta`), tf.mul(store.stateVar(`${spec.name}.movingMean`), scale));
  return { scale, shift };
}

/**
 * Batch normalisation over N, H, W, then `epilogue` (residual addition, ReLU). In training mode, on a backend with a
 * fused batch-norm kernel (native), one kernel does all of it (@lethe/runtime fusedBatchNormTrain: the same function,
 * rounded differently, much less memory and time). Elsewhere it is written with broadcasting arithmetic instead of
 * tf.batchNorm: its gradient goes through Tile (slow on wasm), and tf.grad through tf.batchNorm is broken without
 * scale/offset (ENVIRONMENT.md). In training mode the running statistics are updated in place (Variable.assign keeps
 * its own reference, so this is safe inside tf.tidy and gradient tapes).
 */
export function applyBatchNorm(store: ParameterStore, spec: BatchNormSpec, x: tf.Tensor4D, training: boolean, epilogue: BatchNormEpilogue = {}): tf.Tensor4D {
  if (!training) {
    const { scale, shift } = inferenceAffine(store, spec);
    return applyEpilogue(tf.add(tf.mul(x, scale), shift), epilogue);
  }
  const gamma = store.param(`${spec.name}.gamma`) as tf.Tensor1D;
  const beta = store.param(`${spec.name}.beta`) as tf.Tensor1D;
  const movingMean = store.stateVar(`${spec.name}.movingMean`);
  const movingVariance = store.stateVar(`${spec.name}.movingVariance`);
  let y: tf.Tensor4D;
  let mean: tf.Tensor;
  let variance: tf.Tensor;
  if (fusedBatchNormActive()) {
    const options = { epsilon: spec.epsilon, relu: epilogue.relu ?? false, ...(epilogue.residual ? { residual: epilogue.residual } : {}) };
    ({ y, mean, variance } = fusedBatchNormTrain(x, gamma, beta, options));
  } else {
    mean = tf.mean(x, [0, 1, 2]);
    const centered = tf.sub(x, mean);
    variance = tf.mean(tf.square(centered), [0, 1, 2]);
    y = applyEpilogue(tf.add(tf.mul(centered, tf.mul(gamma, tf.rsqrt(tf.add(variance, spec.epsilon)))), beta), epilogue);
  }
  tf.tidy(() => {
    const n = x.shape[0] * x.shape[1] * x.shape[2];
    // These ops do not lead to the loss, so gradient tapes prune them (tfjs-core has no stopGradient).
    // The running variance uses the unbiased estimate, as PyTorch does.
    const unbiased = tf.mul(variance, n / Math.max(n - 1, 1));
    movingMean.assign(tf.add(tf.mul(movingMean, 1 - spec.momentum), tf.mul(mean, spec.momentum)));
    movingVariance.assign(tf.add(tf.mul(movingVariance, 1 - spec.momentum), tf.mul(unbiased, spec.momentum)));
  });
  return y;
}

/**
 * A convolution followed by inference-mode batch norm (and `epilogue`), as one convolution: batch norm with running
 * statistics is per-channel affine, y = conv(x) * scale + shift with scale = gamma / sqrt(movingVariance + epsilon)
 * and shift = beta - movingMean * scale (plus the convolution's own bias times scale), so it is folded into the filter
 * (times scale, per output channel) and a bias, and the ReLU of a conv-BN-ReLU layer runs in the same kernel
 * (tf.fused.conv2d). The same function as applyConv then applyBatchNorm, rounded differently; one pass over the
 * output instead of three. Differentiable in every input (attacks take input gradients through it).
 */
export function applyConvBatchNormInference(store: ParameterStore, conv: ConvSpec, bn: BatchNormSpec, x: tf.Tensor4D, epilogue: BatchNormEpilogue = {}): tf.Tensor4D {
  const { scale, shift: bnShift } = inferenceAffine(store, bn);
  const shift = conv.bias ? tf.add(bnShift, tf.mul(store.param(`${conv.name}.bias`), scale)) : bnShift;
  const filter = tf.mul(store.param(`${conv.name}.kernel`), scale) as tf.Tensor4D;
  const pad = symmetricPadding(conv.kernel, conv.stride, x.shape[1], x.shape[2]);
  const reluInKernel = epilogue.relu === true && !epilogue.residual;
  const y = tf.fused.conv2d({ x, filter, strides: conv.stride, pad, bias: shift, activation: reluInKernel ? 'relu' : 'linear' });
  return reluInKernel ? y : applyEpilogue(y, epilogue);
}

export interface DenseSpec {
  name: string;
  inUnits: number;
  outUnits: number;
}

export function createDense(store: ParameterStore, rng: Rng, spec: DenseSpec): void {
  store.addParam(`${spec.name}.kernel`, fanInUniform(rng.fork(`${spec.name}.kernel`), spec.inUnits * spec.outUnits, spec.inUnits), [spec.inUnits, spec.outUnits]);
  store.addParam(`${spec.name}.bias`, fanInUniform(rng.fork(`${spec.name}.bias`), spec.outUnits, spec.inUnits), [spec.outUnits]);
}

export function applyDense(store: ParameterStore, spec: DenseSpec, x: tf.Tensor2D): tf.Tensor2D {
  return tf.add(tf.matMul(x, store.param(`${spec.name}.kernel`) as tf.Tensor2D), store.param(`${spec.name}.bias`));
}
