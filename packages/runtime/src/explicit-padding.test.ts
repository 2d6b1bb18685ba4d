import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import { sameOnBackends } from '@lethe/backend-native/testing';
import { initBackend } from './backend.js';
import { registerExplicitPaddingGradients } from './explicit-padding.js';
import { Rng } from './rng.js';

/**
 * The explicit-padding wrappers against the cpu backend. libtensorflow cannot be installed here, so they are tested
 * on a stand-in: a cpu backend whose two gradient kernels refuse explicit padding exactly as tfjs-node 4.22.0's do
 * (its dist/kernels/Conv2DBackpropInput.js and Conv2DBackpropFilter.js: anything but 'VALID'/'SAME' throws). The
 * wrappers only call the backend's own PadV2, Slice and gradient kernels, which tfjs-node has.
 */

const STAND_IN = 'tensorflow-like';
const refusals: string[] = [];

before(async () => {
  await initBackend('cpu'); // also loads tfjs's gradient definitions
  tf.registerBackend(STAND_IN, () => new MathBackendCPU());
  for (const config of tf.getKernelsForBackend('cpu')) {
    const refuses = config.kernelName === tf.Conv2DBackpropInput || config.kernelName === tf.Conv2DBackpropFilter;
    const kernelFunc: tf.KernelFunc = !refuses
      ? config.kernelFunc
      : (args) => {
          const attrs = args.attrs as unknown as tf.Conv2DBackpropFilterAttrs & tf.Conv2DBackpropInputAttrs;
          const inputs = args.inputs as { x?: tf.TensorInfo; filter?: tf.TensorInfo };
          const xShape = (inputs.x?.shape ?? attrs.inputShape) as [number, number, number, number];
          const filterShape = (inputs.filter?.shape ?? attrs.filterShape) as [number, number, number, number];
          const { padInfo } = tf.backend_util.computeConv2DInfo(xShape, filterShape, attrs.strides, 1, attrs.pad, attrs.dimRoundingMode);
          if (padInfo.type !== 'VALID' && padInfo.type !== 'SAME') {
            refusals.push(config.kernelName);
            throw new Error(`TF Backend supports only 'valid' and 'same' padding while padding was ${padInfo.type}`);
          }
          return config.kernelFunc(args);
        };
    tf.registerKernel({ ...config, backendName: STAND_IN, kernelFunc });
  }
});

type Pad = 'same' | 'valid' | number | [[number, number], [number, number], [number, number], [number, number]];
const sym = (p: number): Pad => [[0, 0], [p, p], [p, p], [0, 0]];

function uniform(rng: Rng, n: number): Float32Array {
  return Float32Array.from({ length: n }, () => rng.next() * 2 - 1);
}

/** The loss's gradients with respect to x and the filter, through tf.conv2d and its registered gradient. */
function convGrads(xv: Float32Array, xShape: number[], fv: Float32Array, fShape: number[], stride: number, pad: Pad, weights: Float32Array): tf.Tensor[] {
  const x = tf.tensor4d(xv, xShape as [number, number, number, number]);
  const f = tf.tensor4d(fv, fShape as [number, number, number, number]);
  const loss = (a: tf.Tensor, b: tf.Tensor): tf.Scalar => {
    const y = tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, stride, pad);
    return tf.sum(tf.mul(y, tf.tensor(weights, y.shape)));
  };
  return tf.grads(loss)([x, f]);
}

test('the stand-in refuses explicit padding in its gradient kernels, as tfjs-node does', async () => {
  await tf.setBackend(STAND_IN);
  const weights = new Float32Array(4 * 4 * 2).fill(1);
  assert.throws(
    () => tf.tidy(() => convGrads(new Float32Array(8 * 8 * 3).fill(1), [1, 8, 8, 3], new Float32Array(9 * 3 * 2).fill(1), [3, 3, 3, 2], 2, sym(1), weights)),
    /TF Backend supports only 'valid' and 'same' padding while padding was EXPLICIT/,
  );
  assert.ok(refusals.length > 0);
});

test('wrapped, the gradient kernels take explicit and numeric padding and match cpu; registration is idempotent', async () => {
  assert.deepEqual(registerExplicitPaddingGradients(STAND_IN), [tf.Conv2DBackpropFilter, tf.Conv2DBackpropInput]);
  assert.deepEqual(registerExplicitPaddingGradients(STAND_IN), []);
  refusals.length = 0;
  const rng = new Rng(21);
  const cases: Array<{ h: number; w: number; k: number; stride: number; pad: Pad }> = [];
  // ResNet-18's stride-2 convolutions as @lethe/models pads them, on even and odd sizes; then other paddings
  for (const [h, w] of [[8, 8], [7, 7], [8, 9]] as const) {
    cases.push({ h, w, k: 3, stride: 2, pad: sym(1) }, { h, w, k: 1, stride: 2, pad: sym(0) }, { h, w, k: 1, stride: 2, pad: sym(1) });
  }
  cases.push({ h: 9, w: 8, k: 3, stride: 1, pad: [[0, 0], [2, 1], [0, 2], [0, 0]] }, { h: 9, w: 9, k: 3, stride: 2, pad: 1 });
  cases.push({ h: 8, w: 8, k: 3, stride: 2, pad: 'same' }, { h: 8, w: 8, k: 3, stride: 2, pad: 'valid' });
  for (const c of cases) {
    const [n, ci, co] = [2, 3, 4];
    const xShape = [n, c.h, c.w, ci];
    const fShape = [c.k, c.k, ci, co];
    const info = tf.backend_util.computeConv2DInfo(xShape as [number, number, number, number], fShape as [number, number, number, number], c.stride, 1, c.pad);
    const xv = uniform(rng, n * c.h * c.w * ci);
    const fv = uniform(rng, c.k * c.k * ci * co);
    const dyv = uniform(rng, tf.util.sizeFromShape(info.outShape));
    const label = `${c.h}x${c.w} k${c.k} s${c.stride} ${JSON.stringify(c.pad)}`;
    const attrs = { strides: [c.stride, c.stride], pad: c.pad, dataFormat: 'NHWC' };
    await sameOnBackends(`dW ${label}`, () =>
      tf.engine().runKernel(tf.Conv2DBackpropFilter, { x: tf.tensor(xv, xShape), dy: tf.tensor(dyv, info.outShape) }, { ...attrs, filterShape: fShape } as unknown as tf.NamedAttrMap) as tf.Tensor,
      STAND_IN);
    await sameOnBackends(`dX ${label}`, () =>
      tf.engine().runKernel(tf.Conv2DBackpropInput, { dy: tf.tensor(dyv, info.outShape), filter: tf.tensor(fv, fShape) }, { ...attrs, inputShape: xShape } as unknown as tf.NamedAttrMap) as tf.Tensor,
      STAND_IN);
    await sameOnBackends(`tf.grads ${label}`, () => convGrads(xv, xShape, fv, fShape, c.stride, c.pad, dyv), STAND_IN);
  }
  assert.deepEqual(refusals, []);
});

test('the wrappers free the padded intermediates', async () => {
  await tf.setBackend(STAND_IN);
  const backend = tf.engine().backend;
  const x = tf.ones([2, 8, 8, 3]);
  const dy = tf.ones([2, 4, 4, 5]);
  const f = tf.ones([3, 3, 3, 5]);
  const attrs = { strides: [2, 2], pad: sym(1), dataFormat: 'NHWC' };
  const ids = backend.numDataIds();
  const dw = tf.engine().runKernel(tf.Conv2DBackpropFilter, { x, dy }, { ...attrs, filterShape: [3, 3, 3, 5] } as unknown as tf.NamedAttrMap) as tf.Tensor;
  const dx = tf.engine().runKernel(tf.Conv2DBackpropInput, { dy, filter: f }, { ...attrs, inputShape: [2, 8, 8, 3] } as unknown as tf.NamedAttrMap) as tf.Tensor;
  assert.equal(backend.numDataIds(), ids + 2); // the two results, nothing else
  // with all-ones inputs each filter tap's gradient counts the outputs whose window puts that tap inside the image:
  // 2 images x (3 or 4 rows) x (3 or 4 columns); the corner tap (0, 0) misses row 0 and column 0, so 2 * 3 * 3 = 18
  assert.equal((await dw.data())[0], 18);
  assert.equal((await dw.data())[(1 * 3 + 1) * 3 * 5], 2 * 4 * 4); // the centre tap is inside for every output
  tf.dispose([x, dy, f, dw, dx]);
});
