import assert from 'node:assert/strict';
import test from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { Rng, combineSeeds, initBackend } from '@lethe/runtime';
import { Model, type ModelSpec } from '@lethe/models';
import { subset, syntheticImageDataset, type ImageDataset } from '@lethe/datasets';
import { crossEntropy } from '../training/loss.js';
import { trainFromScratch, type TrainingRecipe } from '../training/recipe.js';
import type { Setting, UnlearningTask } from '../unlearner.js';
import { resolveHyperParameters } from '../registry.js';
import './index.js';
import { recordingHooks } from './memorised.test-util.js';
import { topkPerturbation } from './topk-perturbation.js';
import { randomkPerturbation } from './randomk-perturbation.js';
import { perturbationCount, selectRandomK, selectTopK } from './perturbation/select.js';
import { flatParameters, forgetLossGradient, parameterLayout, type PerturbationHyperParameters } from './perturbation/perturb.js';

await initBackend('wasm');

const recipe: TrainingRecipe = { epochs: 2, batchSize: 16, optimizer: { lr: 0.05, momentum: 0.9, weightDecay: 5e-4 }, schedule: { kind: 'constant' }, augment: false };
const cnnSpec: ModelSpec = { arch: 'small-cnn', numClasses: 4, inputShape: [8, 8, 3], batchNorm: true };
const resnetSpec: ModelSpec = { arch: 'resnet18', numClasses: 4, inputShape: [8, 8, 3], width: 0.25 };

const data = syntheticImageDataset({ count: 64, numClasses: 4, height: 8, width: 8, channels: 3, seed: 21 });
const train: ImageDataset = subset(data, Int32Array.from({ length: 48 }, (_, i) => i));
const testSet: ImageDataset = subset(data, Int32Array.from({ length: 16 }, (_, i) => 48 + i));
const forget = Int32Array.from({ length: 8 }, (_, i) => i * 6);
const retain = Int32Array.from({ length: 48 }, (_, i) => i).filter((i) => i % 6 !== 0);

const cnn = (await trainFromScratch(cnnSpec, recipe, train, Int32Array.from({ length: 48 }, (_, i) => i), 4)).model;

function task(original: Model, setting: Setting, seed: number, log: string[] = [], counts?: Map<string, number[]>): UnlearningTask {
  return {
    original,
    train,
    test: testSet,
    forget,
    retain: setting === 'retain' ? retain : new Int32Array(0),
    setting,
    seed,
    recipe,
    ...recordingHooks(log, counts),
  };
}

function hp<T>(name: string, setting: Setting, raw: Record<string, unknown>): T {
  return resolveHyperParameters(name, setting, raw) as T;
}

/** Flat indices where two flat parameter arrays differ (bitwise). */
function changedEntries(before: Float32Array, after: Float32Array): Int32Array {
  const out: number[] = [];
  for (let i = 0; i < before.length; i++) if (!Object.is(before[i], after[i])) out.push(i);
  return Int32Array.from(out);
}

/** |d mean CE(D_f) / dw| in one forward/backward pass over the whole forget set, independently of forgetLossGradient. */
function directForgetGradient(model: Model): Float32Array {
  const size = train.height * train.width * train.channels;
  const x = new Float32Array(forget.length * size);
  forget.forEach((i, k) => {
    for (let p = 0; p < size; p++) x[k * size + p] = train.images[i * size + p]! / 255;
  });
  const xs = tf.tensor4d(x, [forget.length, 8, 8, 3]);
  const ys = tf.tensor1d(Int32Array.from(forget, (i) => train.labels[i]!), 'int32');
  const variables = [...model.params.values()];
  const { value, grads } = tf.variableGrads(() => crossEntropy(model.logits(xs, { training: false }), ys), variables);
  const out = new Float32Array(parameterLayout(model).total);
  let o = 0;
  for (const v of variables) {
    const g = grads[v.name]!.dataSync();
    out.set(g, o);
    o += g.length;
  }
  tf.dispose([xs, ys, value, ...Object.values(grads)]);
  return out;
}

test('perturbationCount rounds k * total to the nearest integer, halves up', () => {
  assert.equal(perturbationCount(0.01, 1234), 12);
  assert.equal(perturbationCount(0.01, 1250), 13);
  assert.equal(perturbationCount(0.01, 1249), 12);
  assert.equal(perturbationCount(0, 1000), 0);
  assert.equal(perturbationCount(1, 1000), 1000);
  assert.throws(() => perturbationCount(1.5, 10), /share of parameters to perturb must be in \[0, 1\], got 1.5/);
});

test('selectTopK picks the largest scores, ties towards the lower index (hand-worked)', () => {
  const scores = Float32Array.from([0.5, 3, 1, 3, 2, 0]);
  assert.deepEqual([...selectTopK(scores, 3)], [1, 3, 4]);
  assert.deepEqual([...selectTopK(scores, 2)], [1, 3]);
  assert.deepEqual([...selectTopK(scores, 1)], [1]);
  assert.deepEqual([...selectTopK(scores, 0)], []);
  assert.deepEqual([...selectTopK(scores, 6)], [0, 1, 2, 3, 4, 5]);
  // three tied at the cut-off, two taken: the two earliest
  assert.deepEqual([...selectTopK(Float32Array.from([1, 2, 2, 2, 0]), 2)], [1, 2]);
  assert.throws(() => selectTopK(scores, 7), /cannot choose 7 of 6 parameter entries/);
});

test('selectTopK agrees with a full sort on random scores with many ties', () => {
  const rng = new Rng(3);
  for (const n of [1, 2, 17, 500, 4001]) {
    const scores = Float32Array.from({ length: n }, () => Math.floor(rng.next() * 20) / 4);
    const byRank = Array.from({ length: n }, (_, i) => i).sort((a, b) => scores[b]! - scores[a]! || a - b);
    for (const count of [0, 1, Math.floor(n / 3), n - 1, n].filter((c) => c >= 0 && c <= n)) {
      assert.deepEqual([...selectTopK(scores, count)], byRank.slice(0, count).sort((a, b) => a - b), `n ${n}, count ${count}`);
    }
  }
});

test('selectRandomK draws distinct sorted indices, reproducibly from the seed', () => {
  const a = selectRandomK(1000, 50, new Rng(1));
  assert.equal(a.length, 50);
  assert.equal(new Set(a).size, 50);
  assert.ok(a.every((v, i) => v >= 0 && v < 1000 && (i === 0 || v > a[i - 1]!)));
  assert.deepEqual(selectRandomK(1000, 50, new Rng(1)), a);
  assert.notDeepEqual(selectRandomK(1000, 50, new Rng(2)), a);
  assert.deepEqual([...selectRandomK(5, 5, new Rng(9))], [0, 1, 2, 3, 4]);
});

test('forgetLossGradient over small batches equals the one-batch gradient of the mean forget loss', async () => {
  const batched = await forgetLossGradient(cnn, train, forget, 3);
  const direct = directForgetGradient(cnn);
  let worst = 0;
  for (let i = 0; i < direct.length; i++) worst = Math.max(worst, Math.abs(batched[i]! - direct[i]!) / (1e-6 + Math.abs(direct[i]!)));
  assert.ok(worst < 1e-3, `largest relative difference ${worst}`);
  assert.ok(direct.some((g) => g !== 0));
});

test('topk-perturbation with no fine-tuning changes exactly round(k * total) entries, the largest-|gradient| ones', async () => {
  const total = parameterLayout(cnn).total;
  const before = await flatParameters(cnn);
  const params = hp<PerturbationHyperParameters>('topk-perturbation', 'retain', { k: 0.03, finetuneEpochs: 0, gradientBatchSize: 64 });
  const model = await topkPerturbation.unlearn(task(cnn, 'retain', 5), params as never);
  const changed = changedEntries(before, await flatParameters(model));
  assert.equal(changed.length, perturbationCount(0.03, total));
  assert.equal(changed.length, Math.round(0.03 * total));
  // every changed entry has a |gradient| at least as large as every unchanged one
  const gradient = directForgetGradient(cnn).map(Math.abs);
  const isChanged = new Uint8Array(total);
  for (const i of changed) isChanged[i] = 1;
  let minChanged = Infinity;
  let maxUnchanged = -Infinity;
  for (let i = 0; i < total; i++) {
    if (isChanged[i]) minChanged = Math.min(minChanged, gradient[i]!);
    else maxUnchanged = Math.max(maxUnchanged, gradient[i]!);
  }
  assert.ok(minChanged >= maxUnchanged, `smallest chosen |grad| ${minChanged} < largest unchosen ${maxUnchanged}`);
  assert.deepEqual(changed, selectTopK(gradient, changed.length));
  model.dispose();
});

test("the noise is N(0, 1) draws per tensor times noiseScale times the tensor's std; 'weight-gradient' ranks by |w * grad|", async () => {
  const before = await flatParameters(cnn);
  const layout = parameterLayout(cnn);
  const params = hp<PerturbationHyperParameters>('topk-perturbation', 'retain', { k: 0.05, finetuneEpochs: 0, noiseScale: 0.5, score: 'weight-gradient' });
  const model = await topkPerturbation.unlearn(task(cnn, 'retain', 6), params as never);
  const after = await flatParameters(model);
  const changed = changedEntries(before, after);
  const scores = directForgetGradient(cnn).map((g, i) => Math.abs(g * before[i]!));
  assert.deepEqual(changed, selectTopK(scores, perturbationCount(0.05, layout.total)));
  // recompute the noise of one tensor by hand
  const p = layout.names.indexOf('dense.kernel');
  const start = layout.offsets[p]!;
  const values = before.subarray(start, start + layout.sizes[p]!);
  const mean = values.reduce((s, v) => s + v, 0) / values.length;
  const std = Math.sqrt(values.reduce((s, v) => s + (v - mean) ** 2, 0) / values.length);
  const rng = new Rng(combineSeeds(combineSeeds(6, 'topk-perturbation', 'perturb'), 'noise', 'dense.kernel'));
  const inTensor = [...changed].filter((i) => i >= start && i < start + values.length);
  assert.ok(inTensor.length > 0);
  for (const i of inTensor) {
    const expected = Math.fround(before[i]! + 0.5 * std * rng.normal());
    assert.ok(Math.abs(after[i]! - expected) <= 1e-6 * Math.max(1, Math.abs(expected)), `entry ${i}: ${after[i]} vs ${expected}`);
  }
  model.dispose();
});

test("mode 'reset' re-draws the chosen entries from the architecture's initialiser", async () => {
  const before = await flatParameters(cnn);
  const params = hp<PerturbationHyperParameters>('topk-perturbation', 'forget-only', { k: 0.02, mode: 'reset', finetuneEpochs: 0 });
  const model = await topkPerturbation.unlearn(task(cnn, 'forget-only', 7), params as never);
  const after = await flatParameters(model);
  const fresh = Model.create(cnnSpec, combineSeeds(7, 'topk-perturbation', 'perturb'));
  const init = await flatParameters(fresh);
  const chosen = selectTopK(directForgetGradient(cnn).map(Math.abs), perturbationCount(0.02, before.length));
  const isChosen = new Uint8Array(before.length);
  for (const i of chosen) isChosen[i] = 1;
  for (let i = 0; i < before.length; i++) assert.equal(after[i], isChosen[i] ? init[i] : before[i], `entry ${i}`);
  model.dispose();
  fresh.dispose();
});

test('randomk-perturbation changes exactly round(k * total) entries, not Top-K’s, and its choice depends on the seed', async () => {
  const before = await flatParameters(cnn);
  const total = before.length;
  const params = hp<PerturbationHyperParameters>('randomk-perturbation', 'forget-only', { k: 0.03, finetuneEpochs: 0 });
  const a = await randomkPerturbation.unlearn(task(cnn, 'forget-only', 5), params);
  const b = await randomkPerturbation.unlearn(task(cnn, 'forget-only', 6), params);
  const changedA = changedEntries(before, await flatParameters(a));
  const changedB = changedEntries(before, await flatParameters(b));
  assert.equal(changedA.length, perturbationCount(0.03, total));
  assert.equal(changedB.length, perturbationCount(0.03, total));
  assert.deepEqual(changedA, selectRandomK(total, changedA.length, new Rng(combineSeeds(5, 'randomk-perturbation', 'choose'))));
  assert.notDeepEqual(changedA, changedB);
  const topK = selectTopK(directForgetGradient(cnn).map(Math.abs), changedA.length);
  const overlap = [...changedA].filter((i) => topK.includes(i)).length;
  assert.ok(overlap < changedA.length / 2, `random choice overlaps Top-K in ${overlap} of ${changedA.length} entries`);
  a.dispose();
  b.dispose();
});

test('fine-tuning runs only when D_r is available, and then moves the other entries too', async () => {
  const before = await flatParameters(cnn);
  const log: string[] = [];
  const params = hp<PerturbationHyperParameters>('topk-perturbation', 'forget-only', { k: 0.01, finetuneEpochs: 2 });
  const forgetOnly = await topkPerturbation.unlearn(task(cnn, 'forget-only', 3, log), params as never);
  assert.equal(changedEntries(before, await flatParameters(forgetOnly)).length, perturbationCount(0.01, before.length));
  assert.ok(log.some((l) => /no retain set in the 'forget-only' setting, so no fine-tuning/.test(l)), log.join('\n'));
  const withRetain = await topkPerturbation.unlearn(task(cnn, 'retain', 3), params as never);
  assert.ok(changedEntries(before, await flatParameters(withRetain)).length > 0.5 * before.length);
  forgetOnly.dispose();
  withRetain.dispose();
});

for (const [label, spec] of [['small-cnn', cnnSpec], ['resnet18 width 0.25', resnetSpec]] as const) {
  test(`both methods run on ${label}: deterministic, no leaked tensors, flat across fine-tuning steps`, async () => {
    const original = label === 'small-cnn' ? cnn : Model.create(spec, 8);
    for (const method of [topkPerturbation, randomkPerturbation]) {
      const params = resolveHyperParameters(method.name, 'retain', { k: 0.02, finetuneEpochs: 1, batchSize: 8 });
      const start = tf.memory().numTensors;
      const counts = new Map<string, number[]>();
      const a = await method.unlearn(task(original, 'retain', 11, [], counts), params as never);
      // the returned model's own variables, and nothing else
      assert.equal(tf.memory().numTensors, start + a.params.size + a.state.size, `${method.name}: live tensors beyond the returned model's`);
      const steps = counts.get(`${method.name}-finetune`)!;
      assert.ok(steps.length >= 4, `${steps.length} fine-tuning steps`);
      assert.ok(steps.slice(1).every((c) => c === steps[1]), `${method.name} counts ${steps.join(',')}`);
      const b = await method.unlearn(task(original, 'retain', 11), params as never);
      for (const [name, v] of a.params) assert.deepEqual(await v.data(), await b.params.get(name)!.data(), `${method.name} ${name}`);
      for (const [name, v] of a.state) assert.deepEqual(await v.data(), await b.state.get(name)!.data(), `${method.name} ${name}`);
      a.dispose();
      b.dispose();
    }
    if (original !== cnn) original.dispose();
  });
}

test('hyper-parameters: documented defaults, and bad values refused by field', () => {
  const top = resolveHyperParameters('topk-perturbation', 'forget-only', {});
  assert.deepEqual(top, {
    k: 0.01,
    mode: 'noise',
    noiseScale: 1,
    finetuneEpochs: 1,
    lr: 0.01,
    momentum: 0.9,
    weightDecay: 5e-4,
    batchSize: 128,
    schedule: 'constant',
    stepEpochs: 1,
    stepGamma: 0.1,
    score: 'gradient',
    gradientBatchSize: 128,
  });
  assert.throws(() => resolveHyperParameters('randomk-perturbation', 'retain', { k: 2 }), /invalid hyper-parameters for unlearner 'randomk-perturbation':[\s\S]*k/);
  assert.throws(() => resolveHyperParameters('randomk-perturbation', 'retain', { score: 'gradient' }), /invalid hyper-parameters[\s\S]*score/);
  assert.throws(() => resolveHyperParameters('topk-perturbation', 'retain', { mode: 'zero' }), /invalid hyper-parameters[\s\S]*mode/);
});
