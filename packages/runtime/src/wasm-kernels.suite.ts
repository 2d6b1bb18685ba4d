import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { sameOnBackends } from '@lethe/backend-native/testing';
import { initBackend } from './backend.js';
import { assertTensorCountFlat } from './memory.js';
import { Rng } from './rng.js';
import { backpropFilterMethod } from './wasm-kernels/conv2d-backprop-filter.js';
import { registerWasmTrainingKernels, restoreShippedWasmKernels, wasmTrainingKernels } from './wasm-kernels/index.js';

/**
 * Every Lethe wasm kernel against the cpu backend (plain JS, tfjs's reference) on random inputs of scale 1.
 * Tolerance: 1e-4 absolute; the shapes are small enough that sums stay around 10, where float32 rounding is ~1e-6.
 *
 * The suite runs twice, each time in a process of its own: wasm-kernels.test.ts with the single-threaded wasm
 * build (LETHE_WASM_THREADS=1) and wasm-kernels-threaded.test.ts with XNNPACK on two threads, whatever the
 * machine's core count. They set LETHE_WASM_THREADS before importing this module.
 */
const TOL = 1e-4;
const THREADS = Number(process.env['LETHE_WASM_THREADS']);

before(async () => {
  await initBackend('cpu');
  await initBackend('wasm');
});

test(`the wasm backend runs XNNPACK on ${THREADS} thread(s), as LETHE_WASM_THREADS asks`, async () => {
  const info = await initBackend('wasm');
  assert.equal(info.threads, THREADS);
  assert.match(info.detail ?? '', new RegExp(`XNNPACK, ${THREADS} thread\\(s\\)`));
  assert.equal((tf.backend() as unknown as { wasm: { tfjs: { getThreadsCount(): number } } }).wasm.tfjs.getThreadsCount(), THREADS);
});

function uniform(rng: Rng, n: number): Float32Array {
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) v[i] = rng.next() * 2 - 1;
  return v;
}

/** Every output equal to cpu's in shape and dtype, values within `tol`; any NaN fails. Returns the worst difference. */
function assertSameOnWasmAndCpu(label: string, f: () => tf.Tensor | tf.Tensor[], tol = TOL): Promise<number> {
  return sameOnBackends(label, f, 'wasm', { tol });
}

type Pad = 'same' | 'valid' | [[number, number], [number, number], [number, number], [number, number]];
interface ConvCase {
  n: number;
  h: number;
  w: number;
  ci: number;
  co: number;
  kh: number;
  kw: number;
  stride: [number, number];
  pad: Pad;
  /** scales x, so that sums over many cells stay near 10 where 1e-4 absolute is a fair float32 tolerance */
  scale?: number;
}

/** Hand-picked shapes (strides 1 and 2, same/valid/explicit, batch 1 and > 1, kernels 1 and 3) plus random ones. */
function convCases(): ConvCase[] {
  const cases: ConvCase[] = [];
  for (const n of [1, 3]) {
    for (const [ci, co] of [[1, 1], [3, 8], [16, 4], [32, 32]] as const) {
      for (const k of [1, 3]) {
        for (const s of [1, 2]) {
          for (const pad of ['same', 'valid'] as const) {
            cases.push({ n, h: 7 + s, w: 6 + n, ci, co, kh: k, kw: k, stride: [s, s], pad });
          }
        }
      }
    }
  }
  cases.push({ n: 2, h: 9, w: 8, ci: 5, co: 6, kh: 3, kw: 3, stride: [1, 1], pad: [[0, 0], [2, 1], [0, 2], [0, 0]] });
  cases.push({ n: 2, h: 9, w: 8, ci: 5, co: 6, kh: 3, kw: 2, stride: [2, 1], pad: [[0, 0], [1, 0], [1, 1], [0, 0]] });
  cases.push({ n: 2, h: 12, w: 12, ci: 4, co: 3, kh: 5, kw: 5, stride: [3, 3], pad: 'same' });
  cases.push({ n: 130, h: 4, w: 4, ci: 2, co: 3, kh: 3, kw: 3, stride: [1, 1], pad: 'same' }); // several K chunks
  // several 16k-cell chunks (the chunk size with threads), with and without stacked taps
  cases.push({ n: 40, h: 20, w: 20, ci: 3, co: 4, kh: 3, kw: 3, stride: [1, 1], pad: 'same', scale: 0.1 });
  cases.push({ n: 40, h: 20, w: 20, ci: 33, co: 5, kh: 3, kw: 3, stride: [1, 1], pad: 'same', scale: 0.1 });
  // small images, many output channels: the filter gradient gathers compact windows instead of a padded grid
  cases.push({ n: 2, h: 4, w: 4, ci: 5, co: 192, kh: 3, kw: 3, stride: [1, 1], pad: 'same' });
  cases.push({ n: 3, h: 5, w: 3, ci: 2, co: 160, kh: 3, kw: 3, stride: [2, 1], pad: 'same' });
  cases.push({ n: 70, h: 2, w: 3, ci: 40, co: 130, kh: 3, kw: 2, stride: [1, 1], pad: 'same' });
  cases.push(...pytorchPaddingCases());
  const rng = new Rng(20240601);
  // the same random shapes as before the PyTorch-padding cases were added
  const total = 112 + pytorchPaddingCases().length;
  while (cases.length < total) {
    const c: ConvCase = {
      n: 1 + rng.int(4),
      h: 1 + rng.int(12),
      w: 1 + rng.int(12),
      ci: 1 + rng.int(12),
      co: 1 + rng.int(10),
      kh: 1 + rng.int(4),
      kw: 1 + rng.int(4),
      stride: [1 + rng.int(3), 1 + rng.int(3)],
      pad: rng.next() < 0.5 ? 'same' : 'valid',
    };
    if (c.pad === 'valid' && (c.h < c.kh || c.w < c.kw)) continue;
    cases.push(c);
  }
  return cases;
}

/**
 * Stride 2 with explicit symmetric padding, as @lethe/models pads ResNet-18's downsampling convolutions (PyTorch's
 * padding=(k - 1) / 2; tfjs's 'same' pads 0 before and 1 after on even sizes): even and odd sizes, 3x3 with 1 on
 * each side, 1x1 with 0 (and with 1), and ResNet-18's own shapes at width 0.25.
 */
function pytorchPaddingCases(): ConvCase[] {
  const sym = (p: number): Pad => [[0, 0], [p, p], [p, p], [0, 0]];
  const cases: ConvCase[] = [];
  for (const [h, w] of [[8, 8], [7, 7], [8, 9], [16, 16]] as const) {
    cases.push({ n: 2, h, w, ci: 5, co: 6, kh: 3, kw: 3, stride: [2, 2], pad: sym(1) });
    cases.push({ n: 2, h, w, ci: 5, co: 6, kh: 1, kw: 1, stride: [2, 2], pad: sym(0) });
    cases.push({ n: 2, h, w, ci: 5, co: 6, kh: 1, kw: 1, stride: [2, 2], pad: sym(1) });
  }
  cases.push({ n: 2, h: 32, w: 32, ci: 16, co: 32, kh: 3, kw: 3, stride: [2, 2], pad: sym(1), scale: 0.5 });
  cases.push({ n: 2, h: 32, w: 32, ci: 16, co: 32, kh: 1, kw: 1, stride: [2, 2], pad: sym(0) });
  cases.push({ n: 3, h: 16, w: 16, ci: 32, co: 64, kh: 3, kw: 3, stride: [2, 2], pad: sym(1), scale: 0.5 });
  return cases;
}

test('Conv2D (the shipped XNNPACK kernel) on wasm matches cpu with explicit symmetric padding and stride 2', async () => {
  const rng = new Rng(12);
  for (const c of pytorchPaddingCases()) {
    const x = uniform(rng, c.n * c.h * c.w * c.ci).map((v) => v * (c.scale ?? 1));
    const filter = uniform(rng, c.kh * c.kw * c.ci * c.co);
    await assertSameOnWasmAndCpu(`conv2d ${JSON.stringify(c)}`, () =>
      tf.conv2d(tf.tensor4d(x, [c.n, c.h, c.w, c.ci]), tf.tensor4d(filter, [c.kh, c.kw, c.ci, c.co]), c.stride, c.pad));
  }
});

test('Conv2DBackpropFilter on wasm matches cpu (strides 1-3, same/valid/explicit padding, kernels 1-5)', async () => {
  const rng = new Rng(1);
  let worst = 0;
  const methods = new Set<string>();
  for (const c of convCases()) {
    const info = tf.backend_util.computeConv2DInfo([c.n, c.h, c.w, c.ci], [c.kh, c.kw, c.ci, c.co], c.stride, 1, c.pad);
    methods.add(backpropFilterMethod(info));
    const x = uniform(rng, c.n * c.h * c.w * c.ci).map((v) => v * (c.scale ?? 1));
    const dy = uniform(rng, tf.util.sizeFromShape(info.outShape));
    worst = Math.max(
      worst,
      await assertSameOnWasmAndCpu(`dW ${JSON.stringify(c)}`, () =>
        tf.engine().runKernel(tf.Conv2DBackpropFilter, { x: tf.tensor4d(x, [c.n, c.h, c.w, c.ci]), dy: tf.tensor(dy, info.outShape) }, {
          strides: c.stride,
          pad: c.pad,
          dataFormat: 'NHWC',
          filterShape: [c.kh, c.kw, c.ci, c.co],
        } as unknown as tf.NamedAttrMap) as tf.Tensor,
      ),
    );
  }
  assert.ok(worst > 0 && worst < TOL); // compared something, and closely
  assert.deepEqual([...methods].sort(), ['compact', 'grid']); // both formulations were exercised
});

test('Conv2DBackpropInput on wasm matches cpu (stride 1 by rotated filter, strides 2-3 by phases)', async () => {
  const rng = new Rng(2);
  for (const c of convCases()) {
    const info = tf.backend_util.computeConv2DInfo([c.n, c.h, c.w, c.ci], [c.kh, c.kw, c.ci, c.co], c.stride, 1, c.pad);
    const filter = uniform(rng, c.kh * c.kw * c.ci * c.co);
    const dy = uniform(rng, tf.util.sizeFromShape(info.outShape));
    await assertSameOnWasmAndCpu(`dX ${JSON.stringify(c)}`, () =>
      tf.engine().runKernel(tf.Conv2DBackpropInput, { dy: tf.tensor(dy, info.outShape), filter: tf.tensor4d(filter, [c.kh, c.kw, c.ci, c.co]) }, {
        strides: c.stride,
        pad: c.pad,
        dataFormat: 'NHWC',
        inputShape: [c.n, c.h, c.w, c.ci],
      } as unknown as tf.NamedAttrMap) as tf.Tensor,
    );
  }
});

test('MaxPoolGrad on wasm matches cpu, including ties (first maximum wins)', async () => {
  const rng = new Rng(3);
  const cases: Array<{ shape: [number, number, number, number]; size: number; stride: number; pad: 'same' | 'valid' }> = [
    { shape: [3, 8, 8, 5], size: 2, stride: 2, pad: 'valid' }, // the fast non-overlapping path
    { shape: [2, 7, 9, 3], size: 2, stride: 2, pad: 'valid' }, // odd sizes: uncovered last row/column
    { shape: [2, 7, 9, 3], size: 2, stride: 2, pad: 'same' },
    { shape: [2, 9, 9, 4], size: 3, stride: 2, pad: 'same' }, // overlapping windows
    { shape: [1, 6, 6, 2], size: 3, stride: 1, pad: 'same' },
    { shape: [4, 5, 5, 1], size: 2, stride: 1, pad: 'valid' },
  ];
  for (const c of cases) {
    for (const ties of [false, true]) {
      const xv = uniform(rng, tf.util.sizeFromShape(c.shape));
      // ReLU outputs: many exact zeros, so windows tie
      if (ties) for (let i = 0; i < xv.length; i++) xv[i] = Math.max(0, Math.round(xv[i]! * 2) / 2);
      await assertSameOnWasmAndCpu(`maxPool grad ${JSON.stringify(c)} ties=${ties}`, () => {
        const x = tf.tensor4d(xv, c.shape);
        // through the public op and its registered gradient, with a weighted sum so dy is not constant
        return tf.grad((t: tf.Tensor) => {
          const y = tf.maxPool(t as tf.Tensor4D, c.size, c.stride, c.pad);
          return tf.sum(tf.mul(y, tf.tensor(uniform(new Rng(8), y.size), y.shape)));
        })(x);
      });
      await assertSameOnWasmAndCpu(`MaxPoolGrad kernel ${JSON.stringify(c)} ties=${ties}`, () => {
        const x = tf.tensor4d(xv, c.shape);
        const y = tf.maxPool(x, c.size, c.stride, c.pad);
        const dy = tf.tensor(uniform(new Rng(9), y.size), y.shape);
        return tf.engine().runKernel(tf.MaxPoolGrad, { dy, input: x, output: y }, {
          filterSize: c.size,
          strides: c.stride,
          pad: c.pad,
        } as unknown as tf.NamedAttrMap) as tf.Tensor;
      });
    }
  }
});

test('Sum and Mean over leading/middle axes on wasm match cpu; other reductions still work', async () => {
  const rng = new Rng(4);
  const x = uniform(rng, 3 * 5 * 6 * 7);
  const cases: Array<[number | number[], boolean]> = [
    [[0, 1, 2], false],
    [[0, 1, 2], true],
    [[1, 2], false],
    [0, true],
    [[2, 1], false],
    [3, false], // trailing: shipped kernel
    [[0, 3], false], // not contiguous: shipped kernel
    [[0, 1, 2, 3], false],
  ];
  for (const [axis, keepDims] of cases) {
    await assertSameOnWasmAndCpu(`sum/mean axis ${JSON.stringify(axis)} keepDims ${keepDims}`, () => {
      const t = tf.tensor4d(x, [3, 5, 6, 7]);
      return [tf.sum(t, axis, keepDims), tf.mean(t, axis, keepDims)];
    });
  }
  await assertSameOnWasmAndCpu('int32 sum', () => tf.sum(tf.tensor3d([1, 2, 3, 4, 5, 6, 7, 8], [2, 2, 2], 'int32'), [0, 1]));
});

test('BatchMatMul with transposes and batches on wasm matches cpu', async () => {
  const rng = new Rng(5);
  for (const [m, k, n] of [[7, 5, 3], [1, 9, 4], [16, 33, 10]] as const) {
    for (const transposeA of [false, true]) {
      for (const transposeB of [false, true]) {
        for (const [ba, bb] of [[1, 1], [3, 3], [3, 1], [1, 2]] as const) {
          const aShape = transposeA ? [k, m] : [m, k];
          const bShape = transposeB ? [n, k] : [k, n];
          const av = uniform(rng, ba * m * k);
          const bv = uniform(rng, bb * k * n);
          await assertSameOnWasmAndCpu(`matMul ${m}x${k}x${n} tA=${transposeA} tB=${transposeB} batch ${ba}/${bb}`, () => {
            const a = ba === 1 ? tf.tensor(av, aShape) : tf.tensor(av, [ba, ...aShape]);
            const b = bb === 1 ? tf.tensor(bv, bShape) : tf.tensor(bv, [bb, ...bShape]);
            return tf.matMul(a, b, transposeA, transposeB);
          });
        }
      }
    }
  }
});

test('Tile on wasm matches cpu (float32, int32, bool; the batch-norm gradient shape)', async () => {
  const rng = new Rng(10);
  const cases: Array<[number[], number[]]> = [
    [[1, 1, 1, 8], [4, 5, 6, 1]],
    [[4, 3, 5], [2, 3, 4]],
    [[2, 1, 3], [1, 4, 1]],
    [[7], [3]],
    [[3, 2], [1, 1]],
    [[2, 3], [0, 2]],
  ];
  for (const [shape, reps] of cases) {
    const v = uniform(rng, tf.util.sizeFromShape(shape));
    await assertSameOnWasmAndCpu(`tile ${JSON.stringify(shape)} x ${JSON.stringify(reps)}`, () => {
      const t = tf.tensor(v, shape);
      return [tf.tile(t, reps), tf.tile(tf.cast(tf.mul(t, 100), 'int32'), reps), tf.tile(tf.greater(t, 0), reps)];
    });
  }
  // tf.batchNorm's gradient goes through Tile
  const x = uniform(rng, 3 * 4 * 4 * 5);
  await assertSameOnWasmAndCpu('batchNorm grads', () =>
    tf.grads((a: tf.Tensor, s: tf.Tensor) => tf.sum(tf.mul(tf.batchNorm(a, tf.zeros([5]), tf.ones([5]).mul(2), tf.zeros([5]), s, 1e-3), a)))([
      tf.tensor4d(x, [3, 4, 4, 5]),
      tf.tensor1d([1, 2, 3, 4, 5]),
    ]),
  );
});

test('UnsortedSegmentSum on wasm matches cpu, so tf.gather trains on wasm', async () => {
  const rng = new Rng(11);
  const table = uniform(rng, 6 * 4);
  const values = uniform(rng, 7 * 4);
  await assertSameOnWasmAndCpu('unsortedSegmentSum', () =>
    tf.unsortedSegmentSum(tf.tensor2d(values, [7, 4]), tf.tensor1d([0, 2, 2, 5, 1, 0, 9], 'int32'), 6),
  );
  await assertSameOnWasmAndCpu('gather gradient', () =>
    tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.gather(t, tf.tensor1d([3, 0, 3, 5, 1], 'int32')), tf.tensor2d(values.slice(0, 20), [5, 4]))))(
      tf.tensor2d(table, [6, 4]),
    ),
  );
});

test('Identity and same-dtype Cast share the buffer safely; real casts still convert', async () => {
  await tf.setBackend('wasm');
  const x = tf.tensor([1.5, -2, 3]);
  const copy = tf.clone(x);
  const same = tf.cast(x, 'float32');
  x.dispose();
  assert.deepEqual(Array.from(copy.dataSync()), [1.5, -2, 3]);
  assert.deepEqual(Array.from(same.dataSync()), [1.5, -2, 3]);
  copy.dispose();
  assert.deepEqual(Array.from(same.dataSync()), [1.5, -2, 3]);
  same.dispose();
  const ints = tf.cast(tf.tensor([1.7, -2.2]), 'int32');
  assert.equal(ints.dtype, 'int32');
  assert.deepEqual(Array.from(ints.dataSync()), [1, -2]);
  ints.dispose();
});

interface SmallNet {
  w1: tf.Tensor4D;
  b1: tf.Tensor1D;
  w2: tf.Tensor4D;
  w3: tf.Tensor2D;
}

function smallNetLoss(p: SmallNet, x: tf.Tensor4D, labels: tf.Tensor2D): tf.Scalar {
  let y = tf.relu(tf.add(tf.conv2d(x, p.w1, 1, 'same'), p.b1)) as tf.Tensor4D;
  y = tf.maxPool(y, 2, 2, 'valid');
  y = tf.relu(tf.conv2d(y, p.w2, 2, 'same'));
  const mean = tf.mean(y, [0, 1, 2]);
  y = tf.sub(y, mean) as tf.Tensor4D;
  const flat = tf.reshape(y, [y.shape[0], -1]) as tf.Tensor2D;
  return tf.losses.softmaxCrossEntropy(labels, tf.matMul(flat, p.w3));
}

test('end to end: tf.grads of a small conv net loss on wasm match cpu', async () => {
  const rng = new Rng(6);
  const xv = uniform(rng, 4 * 12 * 12 * 3);
  const w1 = uniform(rng, 3 * 3 * 3 * 8).map((v) => v * 0.5);
  const b1 = uniform(rng, 8).map((v) => v * 0.1);
  const w2 = uniform(rng, 3 * 3 * 8 * 6).map((v) => v * 0.3);
  const w3 = uniform(rng, 3 * 3 * 6 * 5).map((v) => v * 0.3);
  const labels = [0, 3, 1, 4];
  await assertSameOnWasmAndCpu('grads', () => {
    const params: SmallNet = {
      w1: tf.tensor4d(w1, [3, 3, 3, 8]),
      b1: tf.tensor1d(b1),
      w2: tf.tensor4d(w2, [3, 3, 8, 6]),
      w3: tf.tensor2d(w3, [54, 5]),
    };
    const x = tf.tensor4d(xv, [4, 12, 12, 3]);
    const y = tf.oneHot(tf.tensor1d(labels, 'int32'), 5) as tf.Tensor2D;
    const f = (w1t: tf.Tensor, b1t: tf.Tensor, w2t: tf.Tensor, w3t: tf.Tensor) =>
      smallNetLoss({ w1: w1t as tf.Tensor4D, b1: b1t as tf.Tensor1D, w2: w2t as tf.Tensor4D, w3: w3t as tf.Tensor2D }, x, y);
    const grads = tf.grads(f)([params.w1, params.b1, params.w2, params.w3]);
    return [f(params.w1, params.b1, params.w2, params.w3), ...grads];
  });
});

test('end to end: tf.grads through a stride-2 convolution with explicit symmetric padding on wasm match cpu', async () => {
  // the Conv2D gradient hands the explicit padding to Lethe's Conv2DBackpropInput and Conv2DBackpropFilter
  const rng = new Rng(13);
  const pad: Pad = [[0, 0], [1, 1], [1, 1], [0, 0]];
  for (const h of [8, 9]) {
    const xv = uniform(rng, 2 * h * h * 6);
    const fv = uniform(rng, 3 * 3 * 6 * 4);
    const out = Math.floor((h + 2 - 3) / 2) + 1; // PyTorch's output size
    const weights = uniform(rng, 2 * out * out * 4);
    await assertSameOnWasmAndCpu(`grads ${h}x${h}`, () => {
      const x = tf.tensor4d(xv, [2, h, h, 6]);
      const f = tf.tensor4d(fv, [3, 3, 6, 4]);
      const loss = (a: tf.Tensor, b: tf.Tensor): tf.Scalar =>
        tf.sum(tf.mul(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 2, pad), tf.tensor4d(weights, [2, out, out, 4])));
      return [tf.conv2d(x, f, 2, pad), ...tf.grads(loss)([x, f])];
    });
  }
});

test('no tensors or wasm buffers leak across 20 conv-net training steps on wasm', async () => {
  await tf.setBackend('wasm');
  const rng = new Rng(7);
  const params = {
    w1: tf.variable(tf.tensor4d(uniform(rng, 3 * 3 * 3 * 8), [3, 3, 3, 8]).mul(0.3)),
    b1: tf.variable(tf.zeros([8])),
    w2: tf.variable(tf.tensor4d(uniform(rng, 3 * 3 * 8 * 6), [3, 3, 8, 6]).mul(0.2)),
    w3: tf.variable(tf.tensor2d(uniform(rng, 54 * 5), [54, 5]).mul(0.2)),
  };
  const x = tf.tensor4d(uniform(rng, 8 * 12 * 12 * 3), [8, 12, 12, 3]);
  const labels = tf.oneHot(tf.tensor1d([0, 1, 2, 3, 4, 0, 1, 2], 'int32'), 5) as tf.Tensor2D;
  const optimizer = tf.train.sgd(0.1);
  const buffers: number[] = [];
  const losses: number[] = [];
  await assertTensorCountFlat(
    () => {
      const loss = optimizer.minimize(() => smallNetLoss(params as unknown as SmallNet, x, labels), true) as tf.Scalar;
      losses.push(loss.dataSync()[0]!);
      loss.dispose();
      buffers.push(tf.engine().backend.numDataIds());
    },
    20,
    'wasm conv-net training step',
  );
  // the kernels' own scratch buffers and views are freed too (tf.memory() would not see them)
  assert.ok(buffers.every((b) => b === buffers[0]), `wasm data ids drift: ${buffers.join(', ')}`);
  assert.ok(losses[19]! < losses[0]!, `training should reduce the loss: ${losses[0]} -> ${losses[19]}`);
  optimizer.dispose();
  tf.dispose([x, labels, ...Object.values(params)]);
});

test('without Lethe kernels wasm cannot train a CNN; registration is idempotent', async () => {
  await tf.setBackend('wasm');
  const x = tf.ones([1, 4, 4, 1]);
  const w = tf.ones([3, 3, 1, 1]);
  const gradW = () => tf.tidy(() => tf.grad((f: tf.Tensor) => tf.sum(tf.conv2d(x as tf.Tensor4D, f as tf.Tensor4D, 1, 'same')))(w).dataSync());
  restoreShippedWasmKernels();
  try {
    assert.throws(gradW, /Kernel 'Conv2DBackpropFilter' not registered for backend 'wasm'/);
  } finally {
    registerWasmTrainingKernels();
  }
  // the 3x3 'same' filter gradient of sum(conv(ones)) counts, per tap, the outputs that tap reaches: 9 in the middle
  assert.deepEqual(Array.from(gradW()), [9, 12, 9, 12, 16, 12, 9, 12, 9]);
  const before = wasmTrainingKernels.map((k) => tf.getKernel(k.kernelName, 'wasm')!.kernelFunc);
  assert.deepEqual(registerWasmTrainingKernels(), wasmTrainingKernels.map((k) => k.kernelName));
  assert.deepEqual(
    wasmTrainingKernels.map((k) => tf.getKernel(k.kernelName, 'wasm')!.kernelFunc),
    before,
  );
  tf.dispose([x, w]);
});
