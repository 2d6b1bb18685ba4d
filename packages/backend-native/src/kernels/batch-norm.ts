import type * as tf from '@tensorflow/tfjs-core';
import { allFloat32, nativeBackend, size, NATIVE, type KernelArgs, type TensorInfo } from './util.js';

/**
 * Training-mode batch normalisation over every axis but the last (NHWC: over N, H, W), as one kernel, optionally
 * followed by a residual addition and a ReLU: y = act((x - mean) * gamma / sqrt(var + epsilon) + beta [+ residual]).
 * Outputs [y, mean, variance] (batch mean and biased variance, per channel). Lethe's models write batch norm with
 * broadcasting arithmetic (about ten kernels and as many activation-sized temporaries, each saved for the backward
 * pass); this kernel reads x three times and writes y once, and its gradient (BATCH_NORM_TRAIN_GRAD, gradients.ts)
 * needs only x, y and the statistics. The same function to float rounding, not bit for bit: the statistics are
 * summed in another order, the gradient is the analytical one. Inputs: x, gamma [C], beta [C], residual (optional,
 * x's shape). Attributes: epsilon (number), relu (boolean), residual (boolean: whether the residual input is given).
 *
 * The name is the contract with @lethe/runtime's batchNormTrain, which uses the kernel where the active backend has
 * it and the arithmetic form elsewhere.
 */
export const BATCH_NORM_TRAIN = 'LetheBatchNormTrain';

/**
 * Its gradient. Inputs: dy, x, y (the forward output; read only with relu), gamma, mean, variance, and optionally
 * dmean and dvar (gradients reaching the statistics outputs). Attributes: epsilon, relu, residual (whether to output
 * the residual's gradient). Outputs [dx, dgamma, dbeta] and, with residual, dresidual (dy masked by the ReLU).
 */
export const BATCH_NORM_TRAIN_GRAD = 'LetheBatchNormTrainGrad';

export interface BatchNormTrainAttrs {
  epsilon: number;
  relu: boolean;
  residual: boolean;
}

function channelsOf(name: string, x: TensorInfo): { R: number; C: number } {
  const C = x.shape[x.shape.length - 1] ?? 0;
  const n = size(x.shape);
  if (x.shape.length < 2 || C === 0 || n === 0) throw new Error(`${name}: x must have at least 2 dimensions and no empty one, got shape [${x.shape.join(', ')}]`);
  return { R: n / C, C };
}

function checkVector(name: string, what: string, v: TensorInfo | undefined, C: number): void {
  if (v && (v.shape.length !== 1 || v.shape[0] !== C)) throw new Error(`${name}: ${what} must have shape [${C}], got [${v.shape.join(', ')}]`);
}

function checkLike(name: string, what: string, v: TensorInfo | undefined, x: TensorInfo): void {
  if (v && v.shape.join() !== x.shape.join()) throw new Error(`${name}: ${what} must have x's shape [${x.shape.join(', ')}], got [${v.shape.join(', ')}]`);
}

function batchNormTrain(args: KernelArgs): TensorInfo[] {
  const { x, gamma, beta, residual } = args.inputs as { x: TensorInfo; gamma: TensorInfo; beta: TensorInfo; residual?: TensorInfo };
  const attrs = args.attrs as unknown as BatchNormTrainAttrs;
  const { epsilon, relu } = attrs;
  if (Boolean(attrs.residual) !== Boolean(residual)) throw new Error(`${BATCH_NORM_TRAIN}: the residual attribute (${String(attrs.residual)}) must say whether a residual input is given (${residual ? 'it is' : 'it is not'})`);
  if (!allFloat32(x, gamma, beta, residual)) throw new Error(`${BATCH_NORM_TRAIN}: every input must be float32`);
  const { R, C } = channelsOf(BATCH_NORM_TRAIN, x);
  checkVector(BATCH_NORM_TRAIN, 'gamma', gamma, C);
  checkVector(BATCH_NORM_TRAIN, 'beta', beta, C);
  checkLike(BATCH_NORM_TRAIN, 'residual', residual, x);
  const bk = nativeBackend(args);
  const y = bk.alloc(R * C);
  const mean = new Float32Array(C);
  const variance = new Float32Array(C);
  bk.addon.batchNormTrain(bk.f32(x), bk.f32(gamma), bk.f32(beta), residual ? bk.f32(residual) : null, epsilon, Boolean(relu), R, C, y, mean, variance);
  return [bk.output([...x.shape], y), bk.output([C], mean), bk.output([C], variance)];
}

function batchNormTrainGrad(args: KernelArgs): TensorInfo[] {
  const { dy, x, y, gamma, mean, variance, dmean, dvar } = args.inputs as Record<string, TensorInfo | undefined> as {
    dy: TensorInfo; x: TensorInfo; y?: TensorInfo; gamma: TensorInfo; mean: TensorInfo; variance: TensorInfo; dmean?: TensorInfo; dvar?: TensorInfo;
  };
  const { epsilon, relu, residual } = args.attrs as unknown as BatchNormTrainAttrs;
  const name = BATCH_NORM_TRAIN_GRAD;
  if (!allFloat32(dy, x, y, gamma, mean, variance, dmean, dvar)) throw new Error(`${name}: every input must be float32`);
  if (relu && !y) throw new Error(`${name}: relu needs the forward output y`);
  const { R, C } = channelsOf(name, x);
  checkLike(name, 'dy', dy, x);
  checkLike(name, 'y', y, x);
  for (const [what, v] of [['gamma', gamma], ['mean', mean], ['variance', variance], ['dmean', dmean], ['dvar', dvar]] as const) checkVector(name, what, v, C);
  const bk = nativeBackend(args);
  const dx = bk.alloc(R * C);
  const dgamma = new Float32Array(C);
  const dbeta = new Float32Array(C);
  const dres = residual ? bk.alloc(R * C) : null;
  const opt = (t: TensorInfo | undefined): Float32Array | null => (t ? bk.f32(t) : null);
  bk.addon.batchNormTrainGrad(bk.f32(dy), bk.f32(x), opt(y), bk.f32(gamma), bk.f32(mean), bk.f32(variance), opt(dmean), opt(dvar), epsilon, Boolean(relu), R, C, dx, dgamma, dbeta, dres);
  const out = [bk.output([...x.shape], dx), bk.output([C], dgamma), bk.output([C], dbeta)];
  if (dres) out.push(bk.output([...x.shape], dres));
  return out;
}

export const batchNormKernels: tf.KernelConfig[] = [
  { kernelName: BATCH_NORM_TRAIN, backendName: NATIVE, kernelFunc: batchNormTrain as tf.KernelFunc },
  { kernelName: BATCH_NORM_TRAIN_GRAD, backendName: NATIVE, kernelFunc: batchNormTrainGrad as tf.KernelFunc },
];
