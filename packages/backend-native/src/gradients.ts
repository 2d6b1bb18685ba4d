import * as tf from '@tensorflow/tfjs-core';
import { BATCH_NORM_TRAIN, BATCH_NORM_TRAIN_GRAD, type BatchNormTrainAttrs } from './kernels/batch-norm.js';
import { RELU_GRAD, SQUARE_GRAD } from './kernels/elementwise.js';
import { MUL_SUM, reductionView } from './kernels/reduce.js';
import { NATIVE } from './kernels/util.js';

/**
 * Cheaper gradients for the ops that dominate the memory traffic of a CNN's backward pass (batch norm written as
 * broadcasting arithmetic, as Lethe's models do, and ReLU), used only while the native backend is active: on any
 * other backend the original tfjs gradient runs unchanged. Each computes the same float32 operations as tfjs's
 * own gradient, in fewer passes over activation-sized tensors:
 *
 * - Mean and Sum: tfjs multiplies the incoming gradient by `ones(x.shape)` (a fresh activation-sized array
 *   filled in JavaScript) and, for Mean, divides the product by the count: three passes. Here the (small)
 *   gradient is divided first and broadcast once with Tile. Bit-identical: dy * 1 / n is dy / n.
 * - Relu: tfjs computes dy * cast(step(x)): three kernels, two temporaries. Here one kernel, dy * step(x).
 * - Square: tfjs computes dy * (x * 2) with two Multiplies; here one kernel with the same two roundings.
 * - Multiply with a broadcast operand (batch norm's per-channel scale): tfjs forms dy * other at full size and
 *   sums it; here one product-sum kernel that never writes the full-size product (each product is still rounded
 *   to float32 before it is added, so the result equals Multiply then Sum on this backend).
 *
 * Gradients are global in tfjs-core (not per backend), hence the backend check inside each function. They must be
 * installed after tfjs's own gradients are registered (importing @tensorflow/tfjs does that); Lethe's runtime
 * imports it before loading any backend, and the native backend's factory installs them again if needed.
 */

const MARK = Symbol.for('lethe.nativeGradient');
type Marked = tf.GradConfig & { [MARK]?: true };
type GradResult = ReturnType<tf.GradConfig['gradFunc']>;

const sameShape = (a: readonly number[], b: readonly number[]): boolean => a.length === b.length && a.every((d, i) => d === b[i]);

function overriding(kernelName: string, original: tf.GradConfig, fast: (dy: tf.Tensor, saved: tf.Tensor[], attrs: tf.NamedAttrMap) => GradResult): Marked {
  return {
    ...original,
    gradFunc: (dy, saved, attrs) => (tf.getBackend() === NATIVE ? fast(dy as tf.Tensor, saved, attrs) : original.gradFunc(dy, saved, attrs)),
    [MARK]: true,
  };
}

function expandedShape(xShape: number[], axes: number[]): number[] {
  const shape = xShape.slice();
  for (const a of axes) shape[a] = 1;
  return shape;
}

function reduceGradient(kernelName: typeof tf.Mean | typeof tf.Sum, original: tf.GradConfig): Marked {
  return overriding(kernelName, original, (dy, saved, attrs) => {
    const [x] = saved as [tf.Tensor];
    const { axis } = attrs as unknown as tf.SumAttrs;
    const axes = tf.util.parseAxisParam(axis, x.shape);
    return {
      x: () => {
        const expanded = tf.reshape(dy, expandedShape(x.shape, axes));
        if (kernelName === tf.Sum) return tf.broadcastTo(expanded, x.shape);
        const count = axes.reduce((n, a) => n * x.shape[a]!, 1);
        return tf.broadcastTo(tf.div(expanded, count), x.shape);
      },
    };
  });
}

function fusedPair(kernelName: string, dy: tf.Tensor, x: tf.Tensor): tf.Tensor {
  return tf.engine().runKernel(kernelName, { dy, x }) as tf.Tensor;
}

function reluGradient(original: tf.GradConfig): Marked {
  return overriding(tf.Relu, original, (dy, saved, attrs) => {
    const [x] = saved as [tf.Tensor];
    if (x.dtype !== 'float32' || !sameShape(dy.shape, x.shape)) return original.gradFunc(dy, saved, attrs);
    return { x: () => fusedPair(RELU_GRAD, dy, x) };
  });
}

function squareGradient(original: tf.GradConfig): Marked {
  return overriding(tf.Square, original, (dy, saved, attrs) => {
    const [x] = saved as [tf.Tensor];
    if (x.dtype !== 'float32' || !sameShape(dy.shape, x.shape)) return original.gradFunc(dy, saved, attrs);
    return { x: () => fusedPair(SQUARE_GRAD, dy, x) };
  });
}

function multiplyGradient(original: tf.GradConfig): Marked {
  return overriding(tf.Multiply, original, (dy, saved, attrs) => {
    const [a, b] = saved as [tf.Tensor, tf.Tensor];
    if (a.dtype !== 'float32' || b.dtype !== 'float32') return original.gradFunc(dy, saved, attrs);
    const outShape = tf.broadcast_util.assertAndGetBroadcastShape(a.shape, b.shape);
    const grad = (self: tf.Tensor, other: tf.Tensor) => (): tf.Tensor => {
      const axes = tf.backend_util.getReductionAxes(self.shape, outShape);
      if (axes.length === 0) return tf.mul(dy, other);
      if (sameShape(other.shape, outShape) && sameShape(dy.shape, outShape) && reductionView(outShape, axes)) {
        return tf.reshape(tf.engine().runKernel(MUL_SUM, { a: dy, b: other }, { axes } as unknown as tf.NamedAttrMap) as tf.Tensor, self.shape);
      }
      return tf.reshape(tf.sum(tf.mul(dy, other), axes), self.shape);
    };
    return { a: grad(a, b), b: grad(b, a) };
  });
}

/** Second-order gradients of the fused kernels, so tf.grad of a gradient still works on the native backend. */
const fusedGradGradients: tf.GradConfig[] = [
  {
    // d/d(dy) of dy * step(x) is step(x); x only selects (zero gradient almost everywhere)
    kernelName: RELU_GRAD,
    inputsToSave: ['x'],
    gradFunc: (g, saved) => {
      const [x] = saved as [tf.Tensor];
      return { dy: () => fusedPair(RELU_GRAD, g as tf.Tensor, x), x: () => tf.zerosLike(x) };
    },
  },
  {
    // dy * 2x: d/d(dy) = 2x, d/dx = 2 dy
    kernelName: SQUARE_GRAD,
    inputsToSave: ['dy', 'x'],
    gradFunc: (g, saved) => {
      const [dy, x] = saved as [tf.Tensor, tf.Tensor];
      return { dy: () => fusedPair(SQUARE_GRAD, g as tf.Tensor, x), x: () => fusedPair(SQUARE_GRAD, g as tf.Tensor, dy) };
    },
  },
  {
    // sum over axes of a * b: each input's gradient is the other times g broadcast back
    kernelName: MUL_SUM,
    inputsToSave: ['a', 'b'],
    gradFunc: (g, saved, attrs) => {
      const [a, b] = saved as [tf.Tensor, tf.Tensor];
      const { axes } = attrs as unknown as { axes: number[] };
      const spread = (): tf.Tensor => tf.broadcastTo(tf.reshape(g as tf.Tensor, expandedShape(a.shape, axes)), a.shape);
      return { a: () => tf.mul(spread(), b), b: () => tf.mul(spread(), a) };
    },
  },
];

/**
 * The fused batch norm's gradient (kernels/batch-norm.ts): one kernel gives the gradients of x, gamma, beta and the
 * residual at once, handed out by the thunks. Saved for it: x, gamma and the three outputs (y, whose sign is the
 * ReLU's mask, and the statistics).
 */
const batchNormGradient: tf.GradConfig = {
  kernelName: BATCH_NORM_TRAIN,
  inputsToSave: ['x', 'gamma'],
  outputsToSave: [true, true, true],
  gradFunc: (dys, saved, attrs) => {
    const [dy, dmean, dvar] = dys as tf.Tensor[];
    const [x, gamma, y, mean, variance] = saved as tf.Tensor[];
    const { epsilon, relu, residual } = attrs as unknown as BatchNormTrainAttrs;
    // computed here, not in the first thunk: tfjs runs each thunk in its own tidy, which would dispose the others
    const grads = tf.engine().runKernel(
      BATCH_NORM_TRAIN_GRAD,
      { dy: dy!, x: x!, y: y!, gamma: gamma!, mean: mean!, variance: variance!, dmean: dmean!, dvar: dvar! },
      { epsilon, relu, residual } as unknown as tf.NamedAttrMap,
    ) as tf.Tensor[];
    const thunks: Record<string, () => tf.Tensor> = { x: () => grads[0]!, gamma: () => grads[1]!, beta: () => grads[2]! };
    if (residual) thunks['residual'] = () => grads[3]!;
    return thunks;
  },
};

const batchNormGradGradient: tf.GradConfig = {
  kernelName: BATCH_NORM_TRAIN_GRAD,
  gradFunc: () => {
    throw new Error(`second-order gradients through the fused batch norm (${BATCH_NORM_TRAIN}) are not implemented; set LETHE_FUSED_BATCH_NORM=0 to use the arithmetic form, which has them`);
  },
};

/** Install the overrides (idempotent). Returns false when tfjs's gradients are not registered yet. */
export function installNativeGradients(): boolean {
  const targets: Array<[string, (original: tf.GradConfig) => Marked]> = [
    [tf.Mean, (o) => reduceGradient(tf.Mean, o)],
    [tf.Sum, (o) => reduceGradient(tf.Sum, o)],
    [tf.Relu, reluGradient],
    [tf.Square, squareGradient],
    [tf.Multiply, multiplyGradient],
  ];
  if (targets.some(([name]) => tf.getGradient(name) === undefined)) return false;
  for (const [name, make] of targets) {
    const current = tf.getGradient(name) as Marked;
    if (current[MARK]) continue;
    tf.registerGradient(make(current));
  }
  for (const config of [...fusedGradGradients, batchNormGradient, batchNormGradGradient]) if (tf.getGradient(config.kernelName) === undefined) tf.registerGradient(config);
  return true;
}
