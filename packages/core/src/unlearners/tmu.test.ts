import assert from 'node:assert/strict';
import test from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { Rng, initBackend } from '@lethe/runtime';
import { Model, type ModelSpec } from '@lethe/models';
import { subset, syntheticImageDataset, type ImageDataset } from '@lethe/datasets';
import { trainFromScratch, type TrainingRecipe } from '../training/recipe.js';
import type { UnlearningTask } from '../unlearner.js';
import { resolveHyperParameters } from '../registry.js';
import './index.js';
import { recordingHooks } from './memorised.test-util.js';
import { computeTmuFeatures, fineTuneBatches, heldOutSet, relabelHardSamples, tmu, type TmuHyperParameters } from './tmu.js';
import { applyFeatureScaler, fitFeatureScaler, iqrFences, quantile } from './tmu/scaling.js';
import { adversarialFeature, distanceFeature, lossFeature, NO_NEIGHBOUR_DISTANCE } from './tmu/features.js';
import { pgdLinf } from '@lethe/attacks';
import { GeneralisationPredictor, binaryCrossEntropyWithLogits } from './tmu/predictor.js';
import { allIndices } from './tmu/data.js';

await initBackend('wasm');

const cnnSpec: ModelSpec = { arch: 'small-cnn', numClasses: 4, inputShape: [8, 8, 3], batchNorm: true };
const resnetSpec: ModelSpec = { arch: 'resnet18', numClasses: 4, inputShape: [8, 8, 3], width: 0.25 };
const recipe: TrainingRecipe = { epochs: 12, batchSize: 16, optimizer: { lr: 0.05, momentum: 0.9, weightDecay: 5e-4 }, schedule: { kind: 'cosine' }, augment: false };

/** Wrong labels for the share `share` of `indices` (seeded): the samples a model that generalises gets wrong. */
function flipLabels(ds: ImageDataset, indices: Int32Array, share: number, seed: number): { dataset: ImageDataset; flipped: Int32Array } {
  const rng = new Rng(seed);
  const flipped = Int32Array.from(rng.sample(indices.length, Math.round(share * indices.length)), (k) => indices[k]!).sort();
  const labels = Uint8Array.from(ds.labels);
  for (const i of flipped) labels[i] = (labels[i]! + 1 + rng.int(ds.numClasses - 1)) % ds.numClasses;
  return { dataset: { ...ds, labels }, flipped };
}

// The twin problem's hard samples are mislabelled test images (the original model, which generalises, gets
// them "wrong"); in the real problem, half the forget set is mislabelled training images, which the original
// memorises and a gold model retrained without them gets wrong.
const images = syntheticImageDataset({ count: 480, numClasses: 4, height: 8, width: 8, channels: 3, seed: 31, noise: 50 });
const forget = Int32Array.from({ length: 24 }, (_, i) => i * 10);
const retain = allIndices(240).filter((i) => i % 10 !== 0);
const trainFlip = flipLabels(subset(images, allIndices(240)), forget, 0.5, 1);
const train = trainFlip.dataset;
const testFlip = flipLabels(subset(images, Int32Array.from({ length: 240 }, (_, i) => 240 + i)), allIndices(240), 0.3, 2);
const testSet = testFlip.dataset;
const original = (await trainFromScratch(cnnSpec, recipe, train, allIndices(240), 7)).model;

function task(model: Model, seed: number, log: string[] = [], counts?: Map<string, number[]>, overrides: Partial<UnlearningTask> = {}): UnlearningTask {
  return {
    original: model,
    train,
    test: testSet,
    forget,
    retain,
    setting: 'retain',
    seed,
    recipe,
    ...recordingHooks(log, counts),
    ...overrides,
  };
}

const hp = (raw: Record<string, unknown>): TmuHyperParameters => resolveHyperParameters('tmu', 'retain', raw) as TmuHyperParameters;

function accuracyOn(model: Model, ds: ImageDataset, indices: Int32Array): number {
  const size = ds.height * ds.width * ds.channels;
  return tf.tidy(() => {
    const x = tf.tensor4d(Float32Array.from({ length: indices.length * size }, (_, p) => ds.images[indices[Math.floor(p / size)]! * size + (p % size)]! / 255), [indices.length, ds.height, ds.width, ds.channels]);
    const predicted = tf.argMax(model.logits(x), 1).dataSync();
    return indices.reduce((n, i, k) => n + (predicted[k] === ds.labels[i] ? 1 : 0), 0) / indices.length;
  });
}

/** Area under the ROC curve (Mann-Whitney U with mid-ranks for ties): P(a random positive scores above a random negative). */
function rocAuc(scores: ArrayLike<number>, labels: ArrayLike<number>): number {
  const order = Array.from({ length: scores.length }, (_, i) => i).sort((a, b) => scores[a]! - scores[b]!);
  let positives = 0;
  let rankSum = 0;
  for (let i = 0; i < order.length; ) {
    let j = i;
    while (j + 1 < order.length && scores[order[j + 1]!] === scores[order[i]!]) j++;
    for (let t = i; t <= j; t++) {
      if (!labels[order[t]!]) continue;
      positives++;
      rankSum += (i + j) / 2 + 1;
    }
    i = j + 1;
  }
  const negatives = scores.length - positives;
  return (rankSum - (positives * (positives + 1)) / 2) / (positives * negatives);
}

test('quantiles interpolate linearly between order statistics; IQR clipping and min-max scaling by hand', () => {
  assert.equal(quantile([3, 1, 2, 4, 100], 0.25), 2);
  assert.equal(quantile([3, 1, 2, 4, 100], 0.75), 4);
  // positions 1.25 and 3.75 of [1, 2, 3, 4, 5, 60]
  assert.equal(quantile([1, 2, 3, 4, 5, 60], 0.25), 2.25);
  assert.equal(quantile([1, 2, 3, 4, 5, 60], 0.75), 4.75);
  assert.deepEqual(iqrFences([1, 2, 3, 4, 5, 60]), { lower: 2.25 - 1.5 * 2.5, upper: 4.75 + 1.5 * 2.5 });
  // [1, 2, 3, 4, 100]: Q1 2, Q3 4, IQR 2, fences [-1, 7]; clipped [1, 2, 3, 4, 7]; scaled (v - 1) / 6
  const scaler = fitFeatureScaler([Float32Array.from([1, 2, 3, 4, 100]), Float32Array.from([5, 5, 5, 5, 5])]);
  assert.deepEqual(scaler, { lower: [-1, 5], upper: [7, 5], min: [1, 5], max: [7, 5] });
  const [fitted, constant] = applyFeatureScaler(scaler, [Float32Array.from([1, 2, 3, 4, 100]), Float32Array.from([5, 5, 5, 5, 5])]);
  assert.deepEqual([...fitted!], [0, 1 / 6, 2 / 6, 3 / 6, 1].map(Math.fround));
  assert.deepEqual([...constant!], [0, 0, 0, 0, 0]);
  // new data: clipped at the fitted fences, then the fitted range (not re-fitted, not clamped to [0, 1])
  const [applied] = applyFeatureScaler(scaler, [Float32Array.from([-10, 2.5, 100]), Float32Array.from([1, 2, 3])]);
  assert.deepEqual([...applied!], [-2 / 6, 1.5 / 6, 1].map(Math.fround));
  assert.throws(() => applyFeatureScaler(scaler, [Float32Array.from([1])]), /scaler was fitted on 2 features, got 1/);
});

test('DF equals a brute-force mean distance to the nearest same-class references in normalised features', async () => {
  // queries from D_f, references from D_r, as in TMU's real problem; class 3 gets no references at all
  const queries = { dataset: train, indices: forget.slice(0, 8) };
  const refIndices = retain.filter((i) => train.labels[i] !== 3).slice(0, 30);
  const references = { dataset: train, indices: refIndices };
  const df = await distanceFeature(original, queries, references, 3, 4);
  const normalised = (idx: Int32Array): number[][] =>
    tf.tidy(() => {
      const size = 8 * 8 * 3;
      const x = tf.tensor4d(Float32Array.from({ length: idx.length * size }, (_, p) => train.images[idx[Math.floor(p / size)]! * size + (p % size)]! / 255), [idx.length, 8, 8, 3]);
      return (original.features(x).arraySync() as number[][]).map((row) => {
        const norm = Math.hypot(...row);
        return row.map((v) => v / norm);
      });
    });
  const q = normalised(queries.indices);
  const r = normalised(refIndices);
  let sawEmptyClass = false;
  queries.indices.forEach((qi, k) => {
    const distances = [...refIndices]
      .map((ri, j) => ({ label: train.labels[ri], d: Math.hypot(...q[k]!.map((v, t) => v - r[j]![t]!)) }))
      .filter((e) => e.label === train.labels[qi])
      .map((e) => e.d)
      .sort((a, b) => a - b)
      .slice(0, 3);
    if (distances.length === 0) {
      sawEmptyClass = true;
      assert.equal(df[k], NO_NEIGHBOUR_DISTANCE);
    } else {
      const expected = distances.reduce((s, d) => s + d, 0) / distances.length;
      assert.ok(Math.abs(df[k]! - expected) < 1e-4, `query ${qi}: ${df[k]} vs ${expected}`);
    }
  });
  assert.ok(sawEmptyClass, 'the hand case should include a class without references');
});

test('PGD stays in the eps-ball and [0, 1] and raises the loss; AF is that rise', async () => {
  const set = { dataset: testSet, indices: allIndices(32) };
  const eps = 4 / 255;
  const size = 8 * 8 * 3;
  const x = tf.tensor4d(Float32Array.from({ length: 32 * size }, (_, p) => testSet.images[p]! / 255), [32, 8, 8, 3]);
  const y = tf.tensor1d(Int32Array.from(testSet.labels.subarray(0, 32)), 'int32');
  const adversarial = pgdLinf(original, x, y, { eps, steps: 5, stepSize: 1 / 255 });
  const a = adversarial.dataSync();
  const clean = x.dataSync();
  for (let i = 0; i < a.length; i++) {
    assert.ok(a[i]! >= 0 && a[i]! <= 1 && Math.abs(a[i]! - clean[i]!) <= eps + 1e-6, `pixel ${i}: ${a[i]} from ${clean[i]}`);
  }
  tf.dispose([x, y, adversarial]);
  const af = await adversarialFeature(original, set, { eps, steps: 5, stepSize: 1 / 255 }, 10);
  const before = await lossFeature(original, set, 10);
  assert.ok(af.every((v) => v > -1e-4), 'an attack should not lower the loss');
  assert.ok(af.reduce((s, v) => s + v, 0) / af.length > 0.01, `mean AF ${af.reduce((s, v) => s + v, 0) / af.length}`);
  const none = await adversarialFeature(original, set, { eps, steps: 0, stepSize: 1 / 255 }, 10);
  assert.ok(none.every((v) => Math.abs(v) < 1e-5));
  assert.equal(before.length, 32);
});

test('the predictor learns a separable problem with Adam, deterministically; BCE matches its closed form', async () => {
  const z = tf.tensor1d([2, -1, 0]);
  const t = tf.tensor1d([1, 0, 1]);
  const expected = (Math.log(1 + Math.exp(-2)) + Math.log(1 + Math.exp(-1)) + Math.log(2)) / 3;
  assert.ok(Math.abs(binaryCrossEntropyWithLogits(z, t).dataSync()[0]! - expected) < 1e-6);
  tf.dispose([z, t]);
  const rng = new Rng(4);
  const n = 200;
  const a = Float32Array.from({ length: n }, () => rng.next());
  const b = Float32Array.from({ length: n }, () => rng.next());
  const hard = Uint8Array.from(a, (v, i) => (v + b[i]! > 1.1 ? 1 : 0));
  const before = tf.memory().numTensors;
  const p1 = await GeneralisationPredictor.train([a, b], hard, { epochs: 200, lr: 0.01, batchSize: 0, seed: 1 });
  const p2 = await GeneralisationPredictor.train([a, b], hard, { epochs: 200, lr: 0.01, batchSize: 0, seed: 1 });
  assert.equal(tf.memory().numTensors, before + 12, 'two predictors of 6 variables each, nothing else');
  const prob = p1.predictHardProbability([a, b]);
  assert.deepEqual(prob, p2.predictHardProbability([a, b]));
  const accuracy = prob.reduce((s, p, i) => s + ((p > 0.5 ? 1 : 0) === hard[i] ? 1 : 0), 0) / n;
  assert.ok(accuracy > 0.9, `accuracy ${accuracy}`);
  assert.deepEqual(p1.variables.map((v) => v.shape), [[2, 32], [32], [32, 16], [16], [16, 1], [1]]);
  p1.dispose();
  p2.dispose();
});

test('relabelling gives every hard forget sample a different label and leaves everything else alone', () => {
  const labels = Uint8Array.from({ length: 50 }, (_, i) => i % 4);
  const forgetSet = Int32Array.from([3, 7, 11, 20, 21, 40]);
  const hard = [1, 0, 1, 1, 0, 1];
  const out = relabelHardSamples(labels, forgetSet, hard, 4, new Rng(1));
  for (let i = 0; i < 50; i++) {
    const k = forgetSet.indexOf(i);
    if (k >= 0 && hard[k]) assert.notEqual(out[i], labels[i], `hard sample ${i}`);
    else assert.equal(out[i], labels[i], `sample ${i}`);
    assert.ok(out[i]! < 4);
  }
  // all wrong classes are used over many draws
  const many = relabelHardSamples(new Uint8Array(300), allIndices(300), new Uint8Array(300).fill(1), 4, new Rng(2));
  assert.deepEqual([...new Set(many)].sort(), [1, 2, 3]);
  assert.throws(() => relabelHardSamples(labels, forgetSet, [1], 4, new Rng(1)), /6 forget samples but 1 hard flags/);
});

test('the noise-perturbed variant adds pixel noise of the given std to forget samples only', () => {
  const indices = allIndices(64);
  const noisy = Uint8Array.from({ length: 240 }, (_, i) => (i % 2 === 0 ? 1 : 0));
  const read = (noiseStd: number) =>
    [...fineTuneBatches(train, indices, 16, noisy, noiseStd, 3, false)(1)].map((b) => {
      const out = { x: b.x.dataSync().slice(), y: b.y.dataSync().slice() };
      tf.dispose([b.x, b.y]);
      return out;
    });
  const clean = read(0);
  const noised = read(0.1);
  let movedRows = 0;
  let sum = 0;
  let sq = 0;
  let count = 0;
  clean.forEach((batch, b) => {
    assert.deepEqual(noised[b]!.y, batch.y);
    const size = 8 * 8 * 3;
    for (let k = 0; k < batch.y.length; k++) {
      const diffs = Array.from({ length: size }, (_, p) => noised[b]!.x[k * size + p]! - batch.x[k * size + p]!);
      if (!diffs.some((d) => d !== 0)) continue;
      movedRows++;
      for (let p = 0; p < size; p++) {
        const v = batch.x[k * size + p]!;
        if (v > 0.35 && v < 0.65) {
          sum += diffs[p]!;
          sq += diffs[p]! ** 2;
          count++;
        }
      }
    }
  });
  // the same order and labels with and without noise; exactly the 32 flagged samples of the 64 moved
  assert.equal(movedRows, 32);
  const std = Math.sqrt(sq / count - (sum / count) ** 2);
  assert.ok(Math.abs(std - 0.1) < 0.01, `noise std ${std} over ${count} unclamped pixels`);
});

test('the predictor beats chance on held-out samples of its twin problem', async () => {
  // the AUC helper itself, by hand: 3 of 4 positive-negative pairs ranked right; a tie counts half
  assert.equal(rocAuc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]), 0.75);
  assert.equal(rocAuc([0.5, 0.5], [0, 1]), 0.5);
  const features = await computeTmuFeatures(task(original, 3), hp({ heldOutFraction: 1, twinEpochs: 3, referenceSamples: 0, features: ['DF', 'CF'] }));
  const n = features.twin.hard.length;
  assert.equal(n, testSet.count);
  const hardShare = features.twin.hard.reduce((s, h) => s + h, 0) / n;
  assert.ok(hardShare > 0.2 && hardShare < 0.5, `share of hard held-out samples ${hardShare}`);
  // fit on one half of D_h, judge on the other
  const order = new Rng(9).permutation(n);
  const fitRows = order.slice(0, n / 2);
  const evalRows = order.slice(n / 2);
  const pick = (rows: Int32Array) => features.twin.columns.map((c) => Float32Array.from(rows, (r) => c[r]!));
  const scaler = fitFeatureScaler(pick(fitRows));
  const predictor = await GeneralisationPredictor.train(applyFeatureScaler(scaler, pick(fitRows)), Uint8Array.from(fitRows, (r) => features.twin.hard[r]!), {
    epochs: 200,
    lr: 0.01,
    batchSize: 0,
    seed: 1,
  });
  const probability = predictor.predictHardProbability(applyFeatureScaler(scaler, pick(evalRows)));
  predictor.dispose();
  const truth = Uint8Array.from(evalRows, (r) => features.twin.hard[r]!);
  const auc = rocAuc(probability, truth);
  const accuracy = probability.reduce((s, p, k) => s + ((p > 0.5 ? 1 : 0) === truth[k] ? 1 : 0), 0) / truth.length;
  const majority = Math.max(truth.reduce((s, h) => s + h, 0), truth.length - truth.reduce((s, h) => s + h, 0)) / truth.length;
  assert.ok(auc > 0.75, `AUC ${auc.toFixed(3)}`);
  assert.ok(accuracy > majority + 0.05, `accuracy ${accuracy.toFixed(3)} vs always-majority ${majority.toFixed(3)}`);
  // and on the real problem, the mislabelled forget samples are far from their labelled class (DF is column 0)
  const forgetDistance = features.forget.columns[0]!;
  const isFlipped = Uint8Array.from(forget, (i) => (trainFlip.flipped.includes(i) ? 1 : 0));
  assert.ok(rocAuc(forgetDistance, isFlipped) > 0.75, `DF should separate mislabelled forget samples: AUC ${rocAuc(forgetDistance, isFlipped)}`);
});

test('tmu forgets the forget samples the gold model gets wrong and keeps the ones it gets right', async () => {
  const gold = (await trainFromScratch(cnnSpec, recipe, train, retain, 8)).model;
  const flipped = trainFlip.flipped;
  const clean = forget.filter((i) => !flipped.includes(i));
  const log: string[] = [];
  // a stronger fine-tune than the public code's (5 epochs of 4 steps at lr 0.01 barely move this tiny model)
  const settings = { heldOutFraction: 1, twinEpochs: 3, referenceSamples: 0, epochs: 8, lr: 0.05 };
  const unlearned = await tmu.unlearn(task(original, 5, log), hp(settings));
  // the same fine-tuning with no sample ever judged hard: D_r and D_f with their own labels
  const noRelabelling = await tmu.unlearn(task(original, 5), hp({ ...settings, hardThreshold: 1 }));
  const report = (m: Model) => ({ forget: accuracyOn(m, train, forget), flipped: accuracyOn(m, train, flipped), clean: accuracyOn(m, train, clean) });
  const r = { original: report(original), gold: report(gold), tmu: report(unlearned), noRelabelling: report(noRelabelling) };
  const summary = JSON.stringify(r) + '\n' + log.join('\n');
  assert.ok(r.original.flipped > 0.8 && r.gold.flipped < 0.3, `the setup needs memorised mislabelled samples: ${summary}`);
  assert.ok(r.tmu.flipped <= r.noRelabelling.flipped - 0.6, `relabelling should undo the memorised labels: ${summary}`);
  assert.ok(r.tmu.clean >= 0.8, `clean forget samples should stay correct: ${summary}`);
  assert.ok(Math.abs(r.tmu.forget - r.gold.forget) < Math.abs(r.original.forget - r.gold.forget) / 3, `forget accuracy should move to the gold model's: ${summary}`);
  assert.ok(log.some((l) => /tmu: D_h = 240 of 240 test images \(heldOut 'test-split'/.test(l)), summary);
  [gold, unlearned, noRelabelling].forEach((m) => m.dispose());
});

for (const [label, spec] of [['small-cnn', cnnSpec], ['resnet18 width 0.25', resnetSpec]] as const) {
  test(`tmu runs on ${label}: deterministic, no leaked tensors, flat across steps`, async () => {
    const model = label === 'small-cnn' ? original : Model.create(spec, 3);
    const params = hp({
      heldOutFraction: 0.2,
      twinEpochs: 1,
      earlyEpochs: 1,
      epochs: 1,
      referenceSamples: 40,
      predictorEpochs: 20,
      features: ['DF', 'AF', 'CF'],
      pgdSteps: 2,
      noiseStd: 0.05,
      batchSize: 32,
    });
    const shortTask = (seed: number, counts?: Map<string, number[]>) => task(model, seed, [], counts, { recipe: { ...recipe, epochs: 1, batchSize: 32 } });
    const start = tf.memory().numTensors;
    const counts = new Map<string, number[]>();
    const a = await tmu.unlearn(shortTask(4, counts), params);
    assert.equal(tf.memory().numTensors, start + a.params.size + a.state.size, "live tensors beyond the returned model's");
    for (const phase of ['tmu-early-model', 'tmu-twin', 'tmu-finetune']) {
      const steps = counts.get(phase) ?? [];
      assert.ok(steps.length >= 2, `${phase}: ${steps.length} steps`);
      assert.ok(steps.slice(1).every((c) => c === steps[1]), `${phase} counts ${steps.join(',')}`);
    }
    const b = await tmu.unlearn(shortTask(4), params);
    for (const [name, v] of a.params) assert.deepEqual(await v.data(), await b.params.get(name)!.data(), name);
    for (const [name, v] of a.state) assert.deepEqual(await v.data(), await b.state.get(name)!.data(), name);
    const c = await tmu.unlearn(shortTask(5), params);
    assert.notDeepEqual(await a.params.get('dense.kernel')!.data(), await c.params.get('dense.kernel')!.data());
    [a, b, c].forEach((m) => m.dispose());
    if (model !== original) model.dispose();
  });
}

test("held-out data: a seeded share of the test set; 'train-holdout' takes training images outside D_f and D_r, and is refused without them", () => {
  const a = heldOutSet(task(original, 1), { heldOut: 'test-split', heldOutFraction: 0.5 });
  assert.equal(a.dataset, testSet);
  assert.equal(a.indices.length, 120);
  assert.equal(new Set(a.indices).size, 120);
  assert.deepEqual(heldOutSet(task(original, 1), { heldOut: 'test-split', heldOutFraction: 0.5 }).indices, a.indices);
  assert.notDeepEqual(heldOutSet(task(original, 2), { heldOut: 'test-split', heldOutFraction: 0.5 }).indices, a.indices);
  assert.throws(() => heldOutSet(task(original, 1), { heldOut: 'train-holdout', heldOutFraction: 0.5 }), /heldOut 'train-holdout' needs training images the original model never saw.*use heldOut 'test-split'/);
  const kept = heldOutSet(task(original, 1, [], undefined, { retain: retain.filter((i) => i < 200) }), { heldOut: 'train-holdout', heldOutFraction: 0.5 });
  assert.deepEqual([...kept.indices], [...allIndices(240)].filter((i) => i >= 200 && i % 10 !== 0));
  assert.equal(kept.dataset, train);
});

test('hyper-parameters: documented defaults; tmu needs the retain setting', () => {
  const d = hp({});
  assert.equal(d.heldOut, 'test-split');
  assert.equal(d.heldOutFraction, 0.5);
  assert.deepEqual(d.features, ['DF', 'CF']);
  assert.equal(d.neighbours, 5);
  assert.equal(d.pgdEpsilon, 4 / 255);
  assert.equal(d.pgdSteps, 5);
  assert.equal(d.earlyEpochs, 2);
  assert.equal(d.predictorEpochs, 200);
  assert.equal(d.predictorLr, 0.01);
  assert.equal(d.noiseStd, 0);
  assert.deepEqual([d.lr, d.momentum, d.weightDecay, d.batchSize, d.epochs], [0.01, 0.9, 5e-4, 64, 5]);
  assert.throws(() => resolveHyperParameters('tmu', 'forget-only', {}), /does not support the 'forget-only' setting/);
  assert.throws(() => hp({ features: ['DF', 'DF'] }), /invalid hyper-parameters for unlearner 'tmu':[\s\S]*features/);
  assert.throws(() => hp({ heldOut: 'validation' }), /invalid hyper-parameters[\s\S]*heldOut/);
});
