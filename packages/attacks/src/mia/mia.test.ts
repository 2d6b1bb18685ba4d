import assert from 'node:assert/strict';
import test from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { Rng, initBackend } from '@lethe/runtime';
import { Model } from '@lethe/models';
import { batches, subset, syntheticImageDataset } from '@lethe/datasets';
import {
  getMembershipAttack,
  listMembershipAttacks,
  liraOfflineScores,
  logitScaledConfidence,
  modelOutputs,
  modifiedEntropy,
  predictionEntropy,
  rbfSvcFitPredict,
  resolveAttackOptions,
  rmiaOfflineScores,
  rocAuc,
  rocCurve,
  rocAtFprGrid,
  ROC_FPR_GRID,
  runMembershipAttack,
  svcMembershipInference,
  taylorSoftMargin,
  taylorSoftMarginOf,
  tprAtFpr,
  trueLabelConfidence,
  truncatedExp,
  type ModelOutputs,
  type ReferenceModelSignals,
  type SampleSignals,
} from '../index.js';

await initBackend('wasm');

const close = (a: number, b: number, tol = 1e-9): void => assert.ok(Math.abs(a - b) <= tol, `${a} != ${b} (tol ${tol})`);

test('AUC: hand-counted pairs, ties counted one half, equal to the area under the ROC curve', () => {
  assert.equal(rocAuc([3, 4], [1, 2]), 1);
  assert.equal(rocAuc([1], [2]), 0);
  // pairs (1,2) (1,3) (2,2) (2,3): only (2,2) ties -> 0.5 / 4
  assert.equal(rocAuc([1, 2], [2, 3]), 0.125);
  // (.9,.8) 1, (.9,.3) 1, (.8,.8) 1/2, (.8,.3) 1, (.4,.8) 0, (.4,.3) 1 -> 4.5 / 6
  assert.equal(rocAuc([0.9, 0.8, 0.4], [0.8, 0.3]), 0.75);
  // all tied: indistinguishable
  assert.equal(rocAuc([5, 5, 5], [5, 5]), 0.5);
  // trapezoidal area under the curve through every threshold gives the same number
  const pos = [0.9, 0.8, 0.8, 0.4, 0.1];
  const neg = [0.8, 0.3, 0.4, 0.05];
  const curve = rocCurve(pos, neg);
  let area = 0;
  for (let i = 1; i < curve.length; i++) area += ((curve[i]!.falsePositiveRate - curve[i - 1]!.falsePositiveRate) * (curve[i]!.truePositiveRate + curve[i - 1]!.truePositiveRate)) / 2;
  close(rocAuc(pos, neg), area);
  assert.deepEqual(curve.at(-1), { threshold: 0.05, falsePositiveRate: 1, truePositiveRate: 1 });
  assert.throws(() => rocAuc([], [1]), /no positive scores/);
  assert.throws(() => rocAuc([NaN], [1]), /positive score 0 is NaN/);
});

test('TPR at 1% FPR: the best threshold that lets at most 1 in 100 negatives through', () => {
  const negatives = Array.from({ length: 100 }, (_, i) => i);
  // threshold 98.5 passes negative 99 only (FPR 1%) and positives 99.5 and 98.5; threshold 98 would pass 2 negatives
  assert.equal(tprAtFpr([99.5, 98.5, 50, 10], negatives, 0.01), 0.5);
  assert.equal(tprAtFpr([99.5, 98.5, 50, 10], negatives, 0), 0.25);
  assert.equal(tprAtFpr([1000], negatives, 0), 1);
  // a positive tied with the top negative cannot be separated from it at FPR 0
  assert.equal(tprAtFpr([99], negatives, 0), 0);
  assert.throws(() => tprAtFpr([1], [0], 2), /must be in \[0, 1\]/);
});

/** Outputs from explicit logit rows. */
function outputsOf(rows: number[][], labels: number[]): ModelOutputs {
  return { logits: Float32Array.from(rows.flat()), labels: Int32Array.from(labels), count: rows.length, numClasses: rows[0]!.length };
}

test('per-sample signals: confidence, logit-scaled confidence, entropies, against hand computation', () => {
  const out = outputsOf([[2, 0, -1], [0, 0, 0], [30, 0, 0]], [0, 2, 0]);
  const e = [Math.exp(2), 1, Math.exp(-1)];
  const s = e[0]! + e[1]! + e[2]!;
  const conf = trueLabelConfidence(out);
  close(conf[0]!, e[0]! / s);
  close(conf[1]!, 1 / 3);
  const phi = logitScaledConfidence(out);
  close(phi[0]!, Math.log(conf[0]! / (1 - conf[0]!)));
  close(phi[1]!, Math.log(0.5));
  // p_y = 1 - 2e-30 rounds to 1 in float64; phi is still exact: 30 - log 2
  close(phi[2]!, 30 - Math.log(2));
  const p = e.map((v) => v / s);
  close(predictionEntropy(out)[0]!, -p.reduce((a, q) => a + q * Math.log(q), 0));
  close(predictionEntropy(out)[1]!, Math.log(3));
  // modified entropy (Song & Mittal): -(1 - p_y) log p_y - sum_{j != y} p_j log(1 - p_j)
  close(modifiedEntropy(out)[0]!, -(1 - p[0]!) * Math.log(p[0]!) - p[1]! * Math.log(1 - p[1]!) - p[2]! * Math.log(1 - p[2]!));
});

test('taylor-soft-margin signal: a hand-worked 3-class case, negative values kept, and the softmax as its limit', () => {
  // logits [2, 0, -1], temperature 2 -> s = [1, 0, -0.5]; margin 0.6; 4 Taylor terms: e(s) = 1 + s + s^2/2 + s^3/6
  const e1 = 1 + 1 + 1 / 2 + 1 / 6; // 2.6667
  const e0 = 1;
  const eHalf = 1 - 0.5 + 0.25 / 2 - 0.125 / 6; // 0.604167
  // label 0: the true class's scaled logit 1 - 0.6 = 0.4
  const e04 = 1 + 0.4 + 0.16 / 2 + 0.064 / 6; // 1.490667
  close(taylorSoftMarginOf([2, 0, -1], 0), e04 / (e04 + e0 + eHalf));
  close(e04 / (e04 + e0 + eHalf), 0.481663, 1e-6); // 1.490667 / 3.094833
  // label 2: -0.5 - 0.6 = -1.1
  const eMinus11 = 1 - 1.1 + 1.21 / 2 - 1.331 / 6; // 0.283167
  const out = outputsOf([[2, 0, -1], [2, 0, -1], [0, -8, 0]], [0, 2, 2]);
  const signal = taylorSoftMargin(out, { temperature: 2, margin: 0.6, taylorTerms: 4 });
  close(signal[0]!, e04 / (e04 + e0 + eHalf));
  close(signal[1]!, eMinus11 / (eMinus11 + e1 + e0));
  // logit -8 -> s = -4: the cubic is 1 - 4 + 8 - 64/6 = -5.6667 < 0, so the sum is negative and so is the signal
  // (as in the public code, which does not clamp): e(0 - 0.6) = 1 - 0.6 + 0.18 - 0.036 = 0.544
  close(signal[2]!, 0.544 / (0.544 + (1 - 4 + 8 - 64 / 6) + 1));
  assert.ok(signal[2]! < 0);
  // the defaults are AMUN's (T 2, m 0.6, 4 terms)
  close(taylorSoftMargin(out)[1]!, signal[1]!);
  // exp's series: e_n(s) -> exp(s); with no margin and T = 1 the signal -> the softmax probability of the label
  close(truncatedExp(0.7, 30), Math.exp(0.7), 1e-15);
  const softmaxLimit = taylorSoftMargin(out, { temperature: 1, margin: 0, taylorTerms: 40 });
  const softmax = trueLabelConfidence(out);
  for (let i = 0; i < 3; i++) close(softmaxLimit[i]!, softmax[i]!, 1e-9);
  assert.throws(() => taylorSoftMarginOf([1, 2], 0, { temperature: 0, margin: 0.6, taylorTerms: 4 }), /temperature must be a positive number, got 0/);
  assert.throws(() => taylorSoftMarginOf([1, 2], 0, { temperature: 2, margin: 0.6, taylorTerms: 1 }), /taylorTerms must be an integer >= 2, got 1/);
  assert.throws(() => taylorSoftMarginOf([1, 2], 2), /label 2 out of range for 2 classes/);
});

/**
 * Reference models on random halves, as the harness trains them: pair j is model 2j (on half H_j) and 2j+1 (on
 * its complement). Every sample has a per-sample difficulty mu_i; an OUT model's signal is mu_i + noise.
 */
function pairedInclusion(count: number, models: number, rng: Rng): Uint8Array[] {
  const masks: Uint8Array[] = [];
  for (let j = 0; j < models / 2; j++) {
    const half = new Uint8Array(count);
    for (const i of rng.sample(count, Math.floor(count / 2))) half[i] = 1;
    masks.push(half, half.map((v) => 1 - v));
  }
  return masks;
}

function syntheticReferenceSetup(options: { forget: number; test: number; models: number; memberShift: number; seed: number }) {
  const rng = new Rng(options.seed);
  const n = options.forget + options.test;
  const difficulty = Float64Array.from({ length: n }, () => 2 * rng.normal());
  const forgetIncluded = pairedInclusion(options.forget, options.models, rng);
  const included = forgetIncluded.map((m) => {
    const full = new Uint8Array(n);
    full.set(m);
    return full;
  });
  // IN models see the sample shifted up like a member; OUT models do not
  const values = included.map((m) => Float64Array.from({ length: n }, (_, i) => difficulty[i]! + (m[i] ? options.memberShift : 0) + 0.5 * rng.normal()));
  // the target treats forget samples as members (shift) and test samples as non-members
  const target = Float64Array.from({ length: n }, (_, i) => difficulty[i]! + (i < options.forget ? options.memberShift : 0) + 0.5 * rng.normal());
  return { target, values, included, forgetIncluded, n };
}

test('LiRA (offline): hand-worked statistic; AUC near 1 when members are shifted, near 0.5 when both groups are alike', () => {
  // sample 0: OUT values 1 and 3 (mean 2, sd sqrt 2 with n-1), target 4 -> (4 - 2) / sqrt 2
  const hand = liraOfflineScores([4, 0], { values: [[1, 0], [3, 0], [100, 1]], included: [[0, 0], [0, 0], [1, 0]] }, { fixedVariance: false, seed: 0 });
  close(hand[0]!, Math.SQRT2);
  // sample 1 has 3 OUT models; equalised to 2 (a seeded pair of them)
  assert.ok(Number.isFinite(hand[1]!));

  const forget = 150;
  const separable = syntheticReferenceSetup({ forget, test: 150, models: 8, memberShift: 4, seed: 1 });
  const scores = liraOfflineScores(separable.target, { values: separable.values, included: separable.included }, { fixedVariance: 'auto', seed: 3 });
  assert.ok(rocAuc(scores.subarray(0, forget), scores.subarray(forget)) > 0.97);

  const alike = syntheticReferenceSetup({ forget, test: 150, models: 8, memberShift: 0, seed: 2 });
  for (const fixedVariance of [true, false]) {
    const s = liraOfflineScores(alike.target, { values: alike.values, included: alike.included }, { fixedVariance, seed: 3 });
    const auc = rocAuc(s.subarray(0, forget), s.subarray(forget));
    assert.ok(Math.abs(auc - 0.5) < 0.1, `AUC ${auc} on identically distributed groups (fixedVariance ${fixedVariance})`);
  }
  assert.throws(() => liraOfflineScores([1], { values: [[1]], included: [[1]] }, { fixedVariance: true, seed: 0 }), /at least one OUT reference model per sample/);
  assert.throws(() => liraOfflineScores([1, 2], { values: [[1, 2]] }, { fixedVariance: false, seed: 0 }), /per-sample variance needs at least 2 OUT/);
});

test('RMIA (offline): hand-worked scores; AUC near 1 when members are more confident, near 0.5 when both groups are alike', () => {
  // a = 0: Pr(x) = (mean_out + 1) / 2 = [0.7, 0.75, 0.65]; ratios = [0.9/0.7, 0.5/0.75, 0.2/0.65]
  // population = samples 1 and 2; sample 1 is compared with sample 2 only, sample 2 with sample 1 only
  const refs = { values: [[0.5, 0.5, 0.5], [0.3, 0.5, 0.1]] };
  assert.deepEqual(Array.from(rmiaOfflineScores([0.9, 0.5, 0.2], refs, { offlineA: 0, gamma: 1, population: [1, 2], seed: 0 })), [1, 1, 0]);
  // gamma = 2: sample 0 dominates z when ratio_z < 1.2857 / 2 = 0.643: only sample 2 (0.308), not 1 (0.667);
  // sample 1 dominates sample 2 (0.308 < 0.667 / 2); sample 2 does not dominate sample 1
  assert.deepEqual(Array.from(rmiaOfflineScores([0.9, 0.5, 0.2], refs, { offlineA: 0, gamma: 2, population: [1, 2], seed: 0 })), [0.5, 1, 0]);
  // a = 1: Pr(x) = mean_out = [0.4, 0.5, 0.3]; ratios [2.25, 1, 0.667]
  assert.deepEqual(Array.from(rmiaOfflineScores([0.9, 0.5, 0.2], refs, { offlineA: 1, gamma: 1, population: [0, 1, 2], seed: 0 })), [1, 0.5, 0]);

  const sigmoid = (v: number): number => 1 / (1 + Math.exp(-v));
  const forget = 150;
  const toProb = (s: ReturnType<typeof syntheticReferenceSetup>) => ({ target: s.target.map(sigmoid), values: s.values.map((v) => v.map(sigmoid)), included: s.included });
  const population = Int32Array.from({ length: 150 }, (_, i) => forget + i);
  const separable = toProb(syntheticReferenceSetup({ forget, test: 150, models: 8, memberShift: 4, seed: 4 }));
  const scores = rmiaOfflineScores(separable.target, separable, { offlineA: 0.3, gamma: 1, population, seed: 5 });
  assert.ok(rocAuc(scores.subarray(0, forget), scores.subarray(forget)) > 0.97);
  const alike = toProb(syntheticReferenceSetup({ forget, test: 150, models: 8, memberShift: 0, seed: 6 }));
  const s = rmiaOfflineScores(alike.target, alike, { offlineA: 0.3, gamma: 1, population, seed: 5 });
  const auc = rocAuc(s.subarray(0, forget), s.subarray(forget));
  assert.ok(Math.abs(auc - 0.5) < 0.1, `AUC ${auc} on identically distributed groups`);
  assert.throws(() => rmiaOfflineScores([0.5], { values: [[0.5]] }, { offlineA: 2, gamma: 1, population: [0], seed: 0 }), /a must be in \[0, 1\], got 2/);
});

test('the registry: three attacks by name, options with their defaults, clear errors', async () => {
  assert.deepEqual(listMembershipAttacks().map((a) => a.name).sort(), ['lira', 'rmia', 'svc-mia']);
  assert.deepEqual(resolveAttackOptions('rmia', {}), { offlineA: 0.3, gamma: 1 });
  assert.deepEqual(resolveAttackOptions('svc-mia', {}), { feature: 'confidence', cost: 3, gamma: 'auto' });
  assert.equal(getMembershipAttack('lira').needsReferenceModels, true);
  assert.throws(() => getMembershipAttack('rmai'), /unknown membership attack 'rmai'; known: .*rmia/);
  assert.throws(() => resolveAttackOptions('rmia', { offlineA: 3 }), /invalid options for membership attack 'rmia'[\s\S]*offlineA/);
  assert.throws(() => resolveAttackOptions('lira', { variance: 1 }), /Unrecognized key/);
  const target = { forget: outputsOf([[1, 0]], [0]), retain: outputsOf([[1, 0]], [0]), test: outputsOf([[1, 0]], [0]) };
  await assert.rejects(runMembershipAttack('rmia', { target, seed: 0 }), /'rmia' needs reference models' signals/);
});

test('reference-model attacks through the registry: FT AUC and TPR at 1% FPR in percent, reference counts stated', async () => {
  // logits whose true-label confidence is sigmoid(signal) (2 classes: logit_y = signal, other 0)
  const forget = 120;
  const setup = syntheticReferenceSetup({ forget, test: 120, models: 4, memberShift: 5, seed: 7 });
  const outputsFrom = (signal: Float64Array, from: number, to: number): ModelOutputs => outputsOf(Array.from(signal.subarray(from, to), (v) => [v, 0]), new Array(to - from).fill(0));
  const signalsOf = (values: Float64Array, from: number, to: number): SampleSignals => {
    const o = outputsFrom(values, from, to);
    return { confidence: trueLabelConfidence(o), logitConfidence: logitScaledConfidence(o) };
  };
  const references: ReferenceModelSignals = {
    forget: setup.values.map((v) => signalsOf(v, 0, forget)),
    test: setup.values.map((v) => signalsOf(v, forget, setup.n)),
    forgetIncluded: setup.forgetIncluded,
  };
  const target = { forget: outputsFrom(setup.target, 0, forget), retain: outputsFrom(setup.target, 0, forget), test: outputsFrom(setup.target, forget, setup.n) };
  for (const name of ['lira', 'rmia']) {
    const r = await runMembershipAttack(name, { target, references, seed: 1 });
    assert.equal(r.attack, name);
    assert.equal(r.referenceModels, 4);
    assert.equal(r.outReferences, 2);
    assert.ok(r.ftAuc! > 95 && r.ftAuc! <= 100, `${name} FT AUC ${r.ftAuc}`);
    assert.ok(r.tprAt1Fpr! > 50, `${name} TPR at 1% FPR ${r.tprAt1Fpr}`);
  }
});

test('libsvm (wasm) works under Node ESM: an RBF SVC separates two intervals, and and loading it leaves the process as it was', async () => {
  const samples = [[0.1], [0.2], [0.15], [0.9], [0.95], [0.85]];
  const listenersBefore = process.listeners('unhandledRejection').length;
  const predictions = await rbfSvcFitPredict(samples, [0, 0, 0, 1, 1, 1], [[0.05], [0.12], [0.92], [1]], { cost: 3, gamma: 1 });
  assert.deepEqual(predictions, [0, 0, 1, 1]);
  // loading libsvm leaves no process-wide unhandledRejection handler behind
  assert.equal(process.listeners('unhandledRejection').length, listenersBefore);
  await assert.rejects(rbfSvcFitPredict([[0], [1]], [1, 1], [[0]], { cost: 1, gamma: 1 }), /both classes/);
});

test('SVC MIA separates a memorising model\'s training from its test confidences', async () => {
  // random labels on noise images: the only way to fit them is to memorise them
  const data = syntheticImageDataset({ count: 96, numClasses: 4, height: 8, width: 8, channels: 1, seed: 3, noise: 120 });
  const rng = new Rng(8);
  for (let i = 0; i < data.count; i++) data.labels[i] = rng.int(4);
  const train = subset(data, Int32Array.from({ length: 48 }, (_, i) => i));
  const model = Model.create({ arch: 'small-cnn', numClasses: 4, inputShape: [8, 8, 1], batchNorm: false }, 1);
  const optimizer = tf.train.adam(0.01);
  const all = Int32Array.from({ length: 48 }, (_, i) => i);
  for (let step = 0; step < 150; step++) {
    for (const b of batches(train, { indices: all, batchSize: 48 })) {
      optimizer.minimize(() => tf.losses.softmaxCrossEntropy(tf.oneHot(b.y, 4), model.logits(b.x, { training: true })) as tf.Scalar, false, model.trainableVariables());
      b.x.dispose();
      b.y.dispose();
    }
  }
  optimizer.dispose();
  const members = await modelOutputs(model, data, Int32Array.from({ length: 24 }, (_, i) => i));
  const heldOutMembers = await modelOutputs(model, data, Int32Array.from({ length: 24 }, (_, i) => 24 + i));
  const nonMembers = await modelOutputs(model, data, Int32Array.from({ length: 24 }, (_, i) => 48 + i));
  const freshNonMembers = await modelOutputs(model, data, Int32Array.from({ length: 24 }, (_, i) => 72 + i));
  model.dispose();
  const mean = (a: Float64Array): number => a.reduce((s, v) => s + v, 0) / a.length;
  assert.ok(mean(trueLabelConfidence(members)) > 0.9, 'the model memorised its training labels');
  const options = { feature: 'confidence' as const, cost: 3, gamma: 'auto' as const, seed: 0 };
  // training samples the SVC never saw are still called members; unseen samples non-members
  const onMembers = await svcMembershipInference(members, nonMembers, heldOutMembers, options);
  const onNonMembers = await svcMembershipInference(members, nonMembers, freshNonMembers, options);
  assert.equal(onMembers.trainedOn, 24);
  assert.ok(onMembers.efficacy < 20, `efficacy on training samples ${onMembers.efficacy}`);
  assert.ok(onNonMembers.efficacy > 70, `efficacy on unseen samples ${onNonMembers.efficacy}`);
  // the same through the registry (the retain set plays the members, the test set the non-members)
  const viaRegistry = await runMembershipAttack('svc-mia', { target: { forget: freshNonMembers, retain: members, test: nonMembers }, seed: 0 });
  assert.equal(viaRegistry.efficacy, onNonMembers.efficacy);
});

test('the ROC curve kept at a grid of false-positive rates: the best TPR at or below each rate, by hand', () => {
  // thresholds high to low: P 0.9, P 0.8, N 0.7, P 0.3, N 0.2, N 0.1, N 0.05
  // curve (FPR, TPR): (0, 1/3) (0, 2/3) (1/4, 2/3) (1/4, 1) (1/2, 1) (3/4, 1) (1, 1)
  const roc = rocAtFprGrid([0.9, 0.8, 0.3], [0.7, 0.2, 0.1, 0.05], [0, 10, 25, 50, 100]);
  assert.deepEqual(roc.fpr, [0, 10, 25, 50, 100]);
  assert.deepEqual(roc.tpr.map((t) => Number(t.toFixed(6))), [66.666667, 66.666667, 100, 100, 100]);
  // the default grid: 0, then four points a decade from 0.01% to 100%
  assert.equal(ROC_FPR_GRID.length, 18);
  assert.deepEqual([ROC_FPR_GRID[0], ROC_FPR_GRID[1], ROC_FPR_GRID[5], ROC_FPR_GRID[13], ROC_FPR_GRID[17]], [0, 0.01, 0.1, 10, 100]);
  assert.ok(ROC_FPR_GRID.every((v, i) => i === 0 || v > ROC_FPR_GRID[i - 1]!));
});
