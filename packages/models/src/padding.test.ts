import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@lethe/runtime';
import { Model, NETWORK_REVISION, loadModel, saveModel, type ModelSpec } from './index.js';
import { ParameterStore, applyConv, symmetricPadding, type ConvSpec } from './layers.js';

/**
 * The networks pad like the papers' PyTorch code (nn.Conv2d with padding=(k - 1) / 2): checked against a hand-worked
 * case and against an independent forward pass built from tf.pad + 'valid' convolutions, on the cpu backend.
 */

// through Lethe's runtime, which also loads tfjs's gradient definitions (tfjs-core alone has none)
await initBackend('cpu');

const PYTORCH_PAD: [[number, number], [number, number], [number, number], [number, number]] = [[0, 0], [1, 1], [1, 1], [0, 0]];

/** PyTorch's Conv2d(padding=(k - 1) / 2) written out: zero-pad every side, then a convolution without padding. */
function padThenValid(x: tf.Tensor4D, kernel: tf.Tensor4D, stride: number): tf.Tensor4D {
  const p = (kernel.shape[0] - 1) / 2;
  return tf.conv2d(tf.pad(x, [[0, 0], [p, p], [p, p], [0, 0]]), kernel, stride, 'valid');
}

/** Lethe's padding before network revision 2: tfjs 'same' for 3x3, 'valid' for 1x1. */
function tensorflowSame(x: tf.Tensor4D, kernel: tf.Tensor4D, stride: number): tf.Tensor4D {
  return tf.conv2d(x, kernel, stride, kernel.shape[0] === 1 ? 'valid' : 'same');
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  return worst;
}

test('symmetricPadding: 1x1 none, 3x3 one on each side, named \'same\' only where TensorFlow pads the same', () => {
  assert.equal(symmetricPadding(1, 2, 32, 32), 'valid');
  assert.equal(symmetricPadding(3, 1, 32, 32), 'same'); // stride 1: 'same' pads 1 and 1
  assert.equal(symmetricPadding(3, 2, 7, 9), 'same'); // odd sizes: (4 - 1) * 2 + 3 - 7 = 2, split 1 and 1
  assert.deepEqual(symmetricPadding(3, 2, 32, 32), PYTORCH_PAD); // even: 'same' would pad 0 and 1
  assert.deepEqual(symmetricPadding(3, 2, 7, 8), PYTORCH_PAD);
  assert.throws(() => symmetricPadding(2, 1, 8, 8), /symmetric padding needs an odd kernel size, got 2/);
});

test('hand-worked 4x4 input, 3x3 kernel, stride 2: the output PyTorch\'s padding=1 gives, not TensorFlow\'s \'same\'', async () => {
  // x = 1..16 row by row; w = 1..9 row by row; out[i][j] = sum over a, b of w[a][b] * x[2i + a - 1][2j + b - 1]
  // (x is zero outside 0..3), tfjs and PyTorch both computing cross-correlation:
  //   out[0][0] = 5*1 + 6*2 + 8*5 + 9*6                                    = 111
  //   out[0][1] = 4*2 + 5*3 + 6*4 + 7*6 + 8*7 + 9*8                        = 217
  //   out[1][0] = 2*5 + 3*6 + 5*9 + 6*10 + 8*13 + 9*14                     = 363
  //   out[1][1] = 1*6 + 2*7 + 3*8 + 4*10 + 5*11 + 6*12 + 7*14 + 8*15 + 9*16 = 573
  // TensorFlow's 'same' pads 0 before and 1 after instead, so its out[0][0] is w . x[0..2][0..2] = 348.
  const store = new ParameterStore();
  const spec: ConvSpec = { name: 'c', inChannels: 1, outChannels: 1, kernel: 3, stride: 2, bias: false };
  store.addParam('c.kernel', Float32Array.from({ length: 9 }, (_, i) => i + 1), [3, 3, 1, 1]);
  const x = tf.tensor4d(Float32Array.from({ length: 16 }, (_, i) => i + 1), [1, 4, 4, 1]);
  const y = applyConv(store, spec, x);
  assert.deepEqual(y.shape, [1, 2, 2, 1]);
  assert.deepEqual(Array.from(await y.data()), [111, 217, 363, 573]);
  const old = tensorflowSame(x, store.param('c.kernel') as tf.Tensor4D, 2);
  assert.equal((await old.data())[0], 348); // what revision 1 computed: the test above fails with it
  tf.dispose([x, y, old]);
  store.dispose();
});

const resnet: ModelSpec = { arch: 'resnet18', numClasses: 10, inputShape: [32, 32, 3], width: 0.25 };

test('a ResNet-18 block\'s stride-2 convolutions (3x3 and 1x1 shortcut) and their gradients equal pad + valid convolutions', async () => {
  const m = Model.create(resnet, 11);
  const x = tf.randomUniform([2, 32, 32, 16], -1, 1, 'float32', 4) as tf.Tensor4D; // layer2's input at width 0.25
  for (const spec of [
    { name: 'layer2.0.conv1', inChannels: 16, outChannels: 32, kernel: 3, stride: 2, bias: false },
    { name: 'layer2.0.shortcut', inChannels: 16, outChannels: 32, kernel: 1, stride: 2, bias: false },
  ] satisfies ConvSpec[]) {
    const kernel = m.params.get(`${spec.name}.kernel`)! as tf.Tensor4D;
    const [ours, independent] = tf.tidy(() => [applyConv(m.store, spec, x), padThenValid(x, kernel, 2)]);
    assert.deepEqual(ours!.shape, [2, 16, 16, 32]);
    assert.ok(maxAbsDiff(await ours!.data(), await independent!.data()) <= 1e-6, spec.name);
    // the gradients through the explicit padding (cpu's Conv2DBackpropInput/Filter) against those through tf.pad
    const weights = tf.randomUniform(ours!.shape, -1, 1, 'float32', 5);
    const gradsOf = (conv: (a: tf.Tensor4D, w: tf.Tensor4D) => tf.Tensor4D) =>
      tf.grads((a: tf.Tensor, w: tf.Tensor) => tf.sum(tf.mul(conv(a as tf.Tensor4D, w as tf.Tensor4D), weights)))([x, kernel]);
    const [dx, dw] = gradsOf((a, w) => tf.conv2d(a, w, 2, symmetricPadding(spec.kernel, 2, 32, 32)));
    const [dxRef, dwRef] = gradsOf((a, w) => padThenValid(a, w, 2));
    assert.ok(maxAbsDiff(await dx!.data(), await dxRef!.data()) <= 1e-5, `${spec.name} dx`);
    assert.ok(maxAbsDiff(await dw!.data(), await dwRef!.data()) <= 1e-4, `${spec.name} dW`); // sums over 512 cells
    if (spec.kernel === 3) {
      const old = tensorflowSame(x, kernel, 2);
      assert.ok(maxAbsDiff(await old.data(), await independent!.data()) > 0.1, 'TensorFlow\'s \'same\' computes something else');
      old.dispose();
    }
    tf.dispose([ours!, independent!, weights, dx!, dw!, dxRef!, dwRef!]);
  }
  x.dispose();
  m.dispose();
});

/**
 * ResNet-18 (kuangliu's CIFAR variant) written again from the parameter names, with its own batch norm and the
 * convolution passed in; shares no code with architectures.ts.
 */
function referenceResNet(m: Model, x: tf.Tensor4D, training: boolean, conv: (x: tf.Tensor4D, k: tf.Tensor4D, stride: number) => tf.Tensor4D): tf.Tensor2D {
  const p = (name: string) => m.params.get(name)!;
  const bn = (name: string, y: tf.Tensor4D): tf.Tensor4D => {
    let mean: tf.Tensor = m.state.get(`${name}.movingMean`)!;
    let variance: tf.Tensor = m.state.get(`${name}.movingVariance`)!;
    if (training) ({ mean, variance } = tf.moments(y, [0, 1, 2]));
    return tf.add(tf.mul(tf.div(tf.sub(y, mean), tf.sqrt(tf.add(variance, 1e-5))), p(`${name}.gamma`)), p(`${name}.beta`));
  };
  const convBn = (name: string, y: tf.Tensor4D, stride: number) => bn(`${name}.bn`, conv(y, p(`${name}.kernel`) as tf.Tensor4D, stride));
  let y = tf.relu(convBn('stem', x, 1));
  for (let stage = 1; stage <= 4; stage++) {
    for (let block = 0; block < 2; block++) {
      const name = `layer${stage}.${block}`;
      const stride = stage > 1 && block === 0 ? 2 : 1;
      const shortcut = m.params.has(`${name}.shortcut.kernel`) ? convBn(`${name}.shortcut`, y, stride) : y;
      const z = tf.relu(convBn(`${name}.conv1`, y, stride));
      y = tf.relu(tf.add(convBn(`${name}.conv2`, z, 1), shortcut)) as tf.Tensor4D;
    }
  }
  return tf.add(tf.matMul(tf.mean(y, [1, 2]) as tf.Tensor2D, p('dense.kernel') as tf.Tensor2D), p('dense.bias'));
}

test('a whole ResNet-18 forward pass equals one built from pad + valid convolutions (training and eval mode)', async () => {
  const m = Model.create(resnet, 12);
  const x = tf.randomUniform([4, 32, 32, 3], 0, 1, 'float32', 6) as tf.Tensor4D;
  for (const training of [true, false]) {
    // the reference first: the model's training pass moves the running statistics the eval pass then uses
    const [expected, old] = tf.tidy(() => [referenceResNet(m, x, training, padThenValid), referenceResNet(m, x, training, tensorflowSame)]);
    const ours = m.logits(x, { training });
    const e = await expected!.data();
    // measured 8e-7 (training) and 7e-9 (eval): float32 rounding of a differently ordered batch norm
    assert.ok(maxAbsDiff(await ours.data(), e) <= 1e-5, `training=${training}`);
    // and the comparison can tell the paddings apart: revision 1's network is 0.33 (training) and 0.002 (eval, where
    // the running statistics are near their initial values and the logits below 0.1) off, far above rounding
    assert.ok(maxAbsDiff(await old!.data(), e) > (training ? 0.05 : 0.001), `training=${training}: revision 1 should differ`);
    tf.dispose([expected!, old!, ours]);
  }
  x.dispose();
  m.dispose();
});

/** The small CNN as revision 1 computed it: every convolution stride 1 with tfjs 'same'. */
function referenceSmallCnn(m: Model, x: tf.Tensor4D): tf.Tensor2D {
  const p = (name: string) => m.params.get(name)!;
  let y = x;
  for (const [i, name] of ['conv1', 'conv2', 'conv3'].entries()) {
    y = tf.relu(tf.add(tf.conv2d(y, p(`${name}.kernel`) as tf.Tensor4D, 1, 'same'), p(`${name}.bias`))) as tf.Tensor4D;
    if (i > 0) y = tf.maxPool(y, 2, 2, 'valid');
  }
  return tf.add(tf.matMul(tf.reshape(y, [y.shape[0], -1]), p('dense.kernel') as tf.Tensor2D), p('dense.bias'));
}

test('the small CNN computes bit for bit what it computed with tfjs \'same\' padding', async () => {
  const m = Model.create({ arch: 'small-cnn', numClasses: 10, inputShape: [32, 32, 3], batchNorm: false }, 13);
  const x = tf.randomUniform([3, 32, 32, 3], 0, 1, 'float32', 7) as tf.Tensor4D;
  const expected = tf.tidy(() => referenceSmallCnn(m, x));
  const ours = m.logits(x);
  assert.deepEqual(Array.from(await ours.data()), Array.from(await expected.data()));
  tf.dispose([x, expected, ours]);
  m.dispose();
});

test('NETWORK_REVISION is 2; a ResNet-18 saved before it is refused, a small CNN of then still loads', async () => {
  assert.equal(NETWORK_REVISION, 2);
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'lethe-revision-'));
  /** Save, then rewrite model.json's networkRevision (undefined: a save from before the field existed). */
  const saveAs = async (spec: ModelSpec, revision: number | undefined): Promise<string> => {
    const dir = path.join(root, `${spec.arch}-${revision}`);
    const m = Model.create(spec, 1);
    await saveModel(m, dir);
    m.dispose();
    const file = path.join(dir, 'model.json');
    const json = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
    assert.equal(json['networkRevision'], NETWORK_REVISION); // saves record the revision they were trained as
    delete json['manifestSha256']; // as saves from before the manifest (issue 13), whose revision this edits
    if (revision === undefined) delete json['networkRevision'];
    else json['networkRevision'] = revision;
    fs.writeFileSync(file, JSON.stringify(json));
    return dir;
  };
  const small: ModelSpec = { arch: 'small-cnn', numClasses: 10, inputShape: [8, 8, 3], batchNorm: false };
  const tiny: ModelSpec = { ...resnet, inputShape: [8, 8, 3], width: 0.125 };
  const oldResnet = await saveAs(tiny, undefined);
  await assert.rejects(loadModel(oldResnet), /was trained as network revision 1, but resnet18 computes a different function since revision 2 .*delete '.*' so the model is trained again/);
  await assert.rejects(loadModel(await saveAs(tiny, 1)), /network revision 1, but resnet18/);
  await assert.rejects(loadModel(await saveAs(small, 3)), /is network revision 3, newer than this Lethe's 2/);
  const loaded = await loadModel(await saveAs(small, undefined));
  loaded.model.dispose();
  (await loadModel(await saveAs(tiny, 2))).model.dispose();
  fs.rmSync(root, { recursive: true });
});
