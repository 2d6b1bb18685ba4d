import * as tf from '@tensorflow/tfjs-core';

/**
 * Training-mode batch normalisation as one kernel (with an optional residual addition and ReLU after it), where the
 * active backend provides one: today the native backend (@lethe/backend-native, kernels/batch-norm.ts, which defines
 * the kernel under this name). Elsewhere, or with LETHE_FUSED_BATCH_NORM=0, models use the arithmetic form
 * (@lethe/models layers.ts), which every backend differentiates.
 *
 * Both compute the same function; they round differently (another summation order for the statistics, the
 * analytical gradient instead of autodiff's chain of kernels), so a model trained with one is not bit-identical to one
 * trained with the other. The backend's description in result files says which was used (backendInfo().detail),
 * which `lethe verify` compares before it expects identical numbers.
 */
export const FUSED_BATCH_NORM = 'LetheBatchNormTrain';

/** The environment variable that turns the fused kernel off ('0'); read at every call. */
export const FUSED_BATCH_NORM_ENV = 'LETHE_FUSED_BATCH_NORM';

/** Whether the fused kernel is turned off by the environment. */
export function fusedBatchNormDisabled(): boolean {
  return process.env[FUSED_BATCH_NORM_ENV] === '0';
}

/** Whether training-mode batch norm runs as the fused kernel on the active backend. */
export function fusedBatchNormActive(): boolean {
  return !fusedBatchNormDisabled() && tf.getKernel(FUSED_BATCH_NORM, tf.getBackend()) !== undefined;
}

export interface FusedBatchNormOptions {
  epsilon: number;
  /** apply ReLU after the normalisation (and the residual addition) */
  relu?: boolean;
  /** added after the normalisation, before the ReLU; x's shape */
  residual?: tf.Tensor;
}

/**
 * y = act((x - mean) * gamma / sqrt(variance + epsilon) + beta [+ residual]) over every axis of x but the last, with
 * the batch mean and biased variance, as one differentiable kernel. Throws when the active backend has no such
 * kernel (check fusedBatchNormActive first).
 */
export function fusedBatchNormTrain<T extends tf.Tensor>(x: T, gamma: tf.Tensor1D, beta: tf.Tensor1D, options: FusedBatchNormOptions): { y: T; mean: tf.Tensor1D; variance: tf.Tensor1D } {
  if (tf.getKernel(FUSED_BATCH_NORM, tf.getBackend()) === undefined) {
    throw new Error(`backend '${tf.getBackend()}' has no fused batch norm kernel (${FUSED_BATCH_NORM}); use the arithmetic form there`);
  }
  const inputs: tf.NamedTensorMap = { x, gamma, beta };
  if (options.residual) inputs['residual'] = options.residual;
  const attrs = { epsilon: options.epsilon, relu: options.relu ?? false, residual: options.residual !== undefined };
  const [y, mean, variance] = tf.engine().runKernel(FUSED_BATCH_NORM, inputs, attrs as unknown as tf.NamedAttrMap) as tf.Tensor[];
  return { y: y as T, mean: mean as tf.Tensor1D, variance: variance as tf.Tensor1D };
}
