import assert from 'node:assert/strict';
import test from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@lethe/runtime';
import { batches } from '@lethe/datasets';
import { fgsm, type LogitsFunction } from '@lethe/attacks';
import { resolveHyperParameters } from '../registry.js';
import './index.js';
import type { Model } from '@lethe/models';
import { boundaryShrink, boundaryShrinkLabels, type BoundaryShrinkHyperParameters } from './boundary-shrink.js';
import { accuracy, cnnSpec, makeTask, problem, resnetSpec, runChecked, sameWeights, trainOriginal, weightsOf } from './memorised.test-util.js';

await initBackend('wasm');

const { train, forget, retain } = problem;
const original = await trainOriginal();

function hp(setting: 'retain' | 'forget-only', raw: Partial<BoundaryShrinkHyperParameters> = {}): BoundaryShrinkHyperParameters {
  return resolveHyperParameters('boundary-shrink', setting, raw) as BoundaryShrinkHyperParameters;
}

test('defaults: FGSM bound 0.1 with 8-bit rounding, then AMUN\'s fine-tuning setup', () => {
  const d = hp('forget-only');
  assert.equal(d.bound, 0.1);
  assert.equal(d.discretize, true);
  assert.deepEqual([d.epochs, d.lr, d.momentum, d.weightDecay, d.batchSize], [10, 0.01, 0.9, 5e-4, 128]);
  assert.deepEqual(boundaryShrink.settings, ['retain', 'forget-only']);
  assert.throws(() => resolveHyperParameters('boundary-shrink', 'retain', { bound: -0.1 }), /bound/);
});

// A linear classifier on 2x3x1 images with 3 classes; the FGSM step and the label are worked out by hand:
// grad_x CE = W^T (softmax(Wx + b) - onehot(y)); x_adv = round255(clamp(x + bound * sign(grad))); label = argmax(W x_adv + b).
const weights = [
  [1.2, -0.8, 0.5, 0.9, -1.1, 0.4],
  [-0.7, 1.0, -0.6, 0.3, 0.8, -1.2],
  [0.4, 0.6, -0.9, -1.0, 0.5, 1.1],
];
const bias = [0.2, -0.1, 0.0];
const linear: LogitsFunction = (x) =>
  tf.tidy(() => tf.add(tf.matMul(tf.reshape(x, [x.shape[0], 6]), tf.transpose(tf.tensor2d(weights))), tf.tensor1d(bias)) as tf.Tensor2D);
const logitsOf = (xs: number[]): number[] => weights.map((row, k) => row.reduce((s, w, i) => s + w * xs[i]!, bias[k]!));
const argmax = (v: number[]): number => v.indexOf(Math.max(...v));

function handLabel(xs: number[], y: number, bound: number, discretize: boolean): number {
  const z = logitsOf(xs);
  const m = Math.max(...z);
  const e = z.map((v) => Math.exp(v - m));
  const total = e.reduce((s, v) => s + v, 0);
  const r = e.map((v, k) => v / total - (k === y ? 1 : 0));
  const grad = xs.map((_, i) => weights.reduce((s, row, k) => s + row[i]! * r[k]!, 0));
  const adv = xs.map((v, i) => {
    const moved = Math.min(1, Math.max(0, v + bound * Math.sign(grad[i]!)));
    return discretize ? Math.round(moved * 255) / 255 : moved;
  });
  return argmax(logitsOf(adv));
}

test('labels are the class the FGSM example lands in: a hand computation on a linear model', () => {
  const images = [
    [0.3, 0.5, 0.6, 0.55, 0.35, 0.7],
    [0.62, 0.41, 0.33, 0.58, 0.49, 0.52],
    [0.4, 0.45, 0.55, 0.65, 0.3, 0.45],
    [0.9, 0.1, 0.5, 0.8, 0.2, 0.3],
  ];
  const labels = images.map((xs) => argmax(logitsOf(xs))); // each sample's own prediction as its label
  const x = tf.tensor4d(images.flat(), [4, 2, 3, 1]);
  const y = tf.tensor1d(labels, 'int32');
  for (const [bound, discretize] of [[0.1, true], [0.1, false], [0.3, true]] as const) {
    const expected = images.map((xs, s) => handLabel(xs, labels[s]!, bound, discretize));
    const got = boundaryShrinkLabels(linear, x, y, { bound, discretize });
    assert.equal(got.dtype, 'int32');
    assert.deepEqual(Array.from(got.dataSync()), expected, `bound ${bound}, discretize ${discretize}`);
    got.dispose();
  }
  // the cases above include both a sample the step pushes across a boundary and one it does not
  const at = images.map((xs, s) => handLabel(xs, labels[s]!, 0.1, true) !== labels[s]);
  assert.ok(at.some((f) => f) && at.some((f) => !f), `flips at bound 0.1: ${at.join(', ')}`);
  tf.dispose([x, y]);
});

test('on the CNN the new labels differ from the true ones exactly where the FGSM step changes the prediction', () => {
  const [b] = [...batches(train, { indices: forget, batchSize: forget.length })];
  const labels = boundaryShrinkLabels(original, b!.x, b!.y, { bound: 0.1, discretize: true });
  // independently: FGSM from the attacks package, 8-bit rounding in JS, the model's prediction
  const adversarial = fgsm(original, b!.x, b!.y, { eps: 0.1 });
  const rounded = Float32Array.from(adversarial.dataSync(), (v) => Math.round(v * 255) / 255);
  const predictions = tf.tidy(() => Array.from(tf.argMax(original.logits(tf.tensor4d(rounded, b!.x.shape), { training: false }), 1).dataSync()));
  const newLabels = Array.from(labels.dataSync());
  const trueLabels = Array.from(b!.y.dataSync());
  assert.deepEqual(newLabels, predictions);
  let flipped = 0;
  newLabels.forEach((l, k) => {
    const changed = predictions[k] !== trueLabels[k];
    assert.equal(l !== trueLabels[k], changed, `sample ${k}`);
    if (changed) flipped++;
  });
  assert.ok(flipped > 0, 'the attack moves some forget samples across a boundary');
  tf.dispose([b!.x, b!.y, labels, adversarial]);
});

for (const [label, spec] of [['small-cnn', cnnSpec], ['resnet18 (width 0.25)', resnetSpec]] as const) {
  test(`runs on ${label} in both settings, leaks no tensor and is deterministic`, async () => {
    const model = label === 'small-cnn' ? original : await trainOriginal(spec, 1);
    try {
      for (const setting of ['retain', 'forget-only'] as const) {
        const params = hp(setting, { epochs: 2, batchSize: 16 });
        const a = await runChecked((task) => boundaryShrink.unlearn(task, params), model, setting, 4);
        const b = await runChecked((task) => boundaryShrink.unlearn(task, params), model, setting, 4);
        assert.ok(sameWeights(weightsOf(a.model), weightsOf(b.model)), `${setting}: same seed, bit-identical weights`);
        assert.ok(!sameWeights(weightsOf(a.model), weightsOf(model)), `${setting}: the weights moved`);
        // 'retain': per epoch a pass over D_r (56 samples: 4 batches of 16) then D_f (8: 1 batch); 'forget-only': D_f
        assert.equal(a.stepCounts.length, setting === 'retain' ? 2 * (Math.ceil(retain.length / 16) + 1) : 2);
        a.model.dispose();
        b.model.dispose();
      }
    } finally {
      if (model !== original) model.dispose();
    }
  });
}

test('behaviour: the memorised forget set is forgotten; with D_r available retain accuracy stays high', async () => {
  assert.equal(accuracy(original, train, forget), 1, 'the original memorised the forget set');
  const forgetOnly = await boundaryShrink.unlearn(makeTask(original, 'forget-only', 1), hp('forget-only', { batchSize: 16 }));
  const withRetain = await boundaryShrink.unlearn(makeTask(original, 'retain', 1), hp('retain', { batchSize: 16 }));
  const forgetOnlyAccuracy = accuracy(forgetOnly, train, forget);
  const withRetainAccuracy = accuracy(withRetain, train, forget);
  const retainAccuracy = accuracy(withRetain, train, retain);
  assert.ok(forgetOnlyAccuracy <= 0.5, `forget-only: forget accuracy ${forgetOnlyAccuracy}`);
  assert.ok(withRetainAccuracy <= 0.5, `retain: forget accuracy ${withRetainAccuracy}`);
  assert.ok(retainAccuracy >= 0.95, `retain: retain accuracy ${retainAccuracy}`);
  forgetOnly.dispose();
  withRetain.dispose();
});

/**
 * A stand-in for `original` (it is one, through the prototype chain) whose clones, and itself, record the weights
 * they hold at every inference-mode forward pass: those are the FGSM labelling passes (training steps run in
 * training mode). `epochOf` says which epoch a pass belongs to.
 */
function recordingOriginal(epochOf: () => number): { stand: Model; clones: Model[]; passes: { model: Model; epoch: number; weights: Float32Array[]; all: Float32Array[][] }[] } {
  const clones: Model[] = [];
  const passes: { model: Model; epoch: number; weights: Float32Array[]; all: Float32Array[][] }[] = [];
  const watch = (m: Model): void => {
    const forward = m.logits.bind(m);
    m.logits = (x, options) => {
      if (!options?.training) passes.push({ model: m, epoch: epochOf(), weights: weightsOf(m), all: clones.map(weightsOf) });
      return forward(x, options);
    };
  };
  const stand = Object.create(original) as Model;
  watch(stand);
  stand.clone = () => {
    const copy = original.clone();
    watch(copy);
    clones.push(copy);
    return copy;
  };
  return { stand, clones, passes };
}

test("relabelFrom 'current-each-epoch': each epoch's labels come from a copy of the model as that epoch's D_f pass starts", async () => {
  const settings = { epochs: 2, batchSize: 16, lr: 0.05 };
  let epoch = 0;
  const onProgress = (p: { epoch: number; epochLoss?: number }): void => {
    if (p.epochLoss !== undefined) epoch = p.epoch + 1;
  };
  const originalWeights = weightsOf(original);

  // forget-only: epoch 2's labelling model is the model after epoch 1, i.e. what a 1-epoch run returns
  const oneEpoch = await boundaryShrink.unlearn(makeTask(original, 'forget-only', 3), hp('forget-only', { ...settings, epochs: 1, relabelFrom: 'current-each-epoch' }));
  const afterEpoch1 = weightsOf(oneEpoch);
  oneEpoch.dispose();
  assert.ok(!sameWeights(afterEpoch1, originalWeights), 'one epoch moves the model');
  for (const relabelFrom of ['current-each-epoch', 'original'] as const) {
    epoch = 0;
    const spy = recordingOriginal(() => epoch);
    const model = await boundaryShrink.unlearn(makeTask(spy.stand, 'forget-only', 3, { onProgress }), hp('forget-only', { ...settings, relabelFrom }));
    assert.ok(spy.passes.some((p) => p.epoch === 0) && spy.passes.some((p) => p.epoch === 1), 'labelling passes in both epochs');
    for (const pass of spy.passes) {
      const expected = pass.epoch === 1 && relabelFrom === 'current-each-epoch' ? afterEpoch1 : originalWeights;
      assert.ok(sameWeights(pass.weights, expected), `${relabelFrom}: the labelling model of epoch ${pass.epoch + 1} is not the expected one`);
    }
    model.dispose();
    spy.clones.forEach((c) => c.dispose());
  }

  // 'retain': the copy is taken after the epoch's D_r pass, so it equals the trained model at the first labelling
  // pass of each epoch (one D_f batch per epoch here) and is no longer the original
  epoch = 0;
  const spy = recordingOriginal(() => epoch);
  const model = await boundaryShrink.unlearn(makeTask(spy.stand, 'retain', 3, { onProgress }), hp('retain', { ...settings, relabelFrom: 'current-each-epoch' }));
  const trained = spy.clones.indexOf(model);
  assert.ok(trained >= 0);
  for (const e of [0, 1]) {
    const first = spy.passes.find((p) => p.epoch === e)!;
    assert.notEqual(first.model, model, 'labels come from a copy, not from the model being trained');
    assert.ok(sameWeights(first.weights, first.all[trained]!), `epoch ${e + 1}: the copy equals the trained model after the D_r pass`);
    assert.ok(!sameWeights(first.weights, originalWeights), `epoch ${e + 1}: the copy is not the original`);
  }
  spy.clones.forEach((c) => c.dispose());
});

test("relabelFrom 'current-each-epoch' leaks no tensor and stays flat across steps in both settings", async () => {
  for (const setting of ['retain', 'forget-only'] as const) {
    const params = hp(setting, { epochs: 2, batchSize: 16, relabelFrom: 'current-each-epoch' });
    const run = await runChecked((task) => boundaryShrink.unlearn(task, params), original, setting, 4);
    run.model.dispose();
  }
  assert.equal(hp('retain').relabelFrom, 'original');
});
