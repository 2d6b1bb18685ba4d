import assert from 'node:assert/strict';
import test from 'node:test';
import { Rng, initBackend } from '@lethe/runtime';
import { Model } from '@lethe/models';
import { syntheticImageDataset } from '@lethe/datasets';
import { logitScaledConfidence, trueLabelConfidence, type ModelOutputs, type ReferenceModelSignals } from '@lethe/attacks';
import {
  accuracy,
  activationDistance,
  alignmentGap,
  evaluate,
  evaluateMembership,
  forgettingRate,
  meanConfidenceInterval,
  meanKlDivergence,
  memoryRetentionRate,
  OutputCache,
  pairedTTest,
  kendallTau,
  primaryAttack,
  studentTCdf,
  studentTQuantile,
  type EvaluationContext,
} from './index.js';

await initBackend('wasm');

const close = (a: number, b: number, tol = 1e-9): void => assert.ok(Math.abs(a - b) <= tol, `${a} != ${b} (tol ${tol})`);

test('Student t: quantiles and CDF against the textbook table and closed forms', () => {
  // t-table values (3 decimals)
  close(studentTQuantile(0.975, 4), 2.776, 5e-4);
  close(studentTQuantile(0.975, 9), 2.262, 5e-4);
  close(studentTQuantile(0.995, 4), 4.604, 5e-4);
  // df = 1 is the Cauchy distribution: F(t) = 1/2 + atan(t) / pi; df = 2: F(t) = 1/2 + t / (2 sqrt(2 + t^2))
  // (jStat's incomplete beta is good to about 2e-8)
  for (const t of [-3, -0.5, 0, 1.2, 7]) {
    close(studentTCdf(t, 1), 0.5 + Math.atan(t) / Math.PI, 5e-8);
    close(studentTCdf(t, 2), 0.5 + t / (2 * Math.sqrt(2 + t * t)), 5e-8);
  }
  assert.throws(() => studentTQuantile(1, 3), /q must be in \(0, 1\)/);
});

test('95% confidence interval of a mean: the textbook t-interval for n = 5', () => {
  const values = [10, 12, 9, 11, 13];
  const ci = meanConfidenceInterval(values);
  // mean 11; squared deviations 1+1+4+0+4 = 10, s^2 = 10/4; half-width t_{0.975,4} s / sqrt 5 with t = 2.776
  assert.equal(ci.mean, 11);
  close(ci.std, Math.sqrt(2.5));
  close(ci.halfWidth!, (2.776 * Math.sqrt(2.5)) / Math.sqrt(5), 5e-4);
  close(ci.low!, 11 - ci.halfWidth!);
  close(ci.high!, 11 + ci.halfWidth!);
  // a wider level gives a wider interval; one value gives no interval
  assert.ok(meanConfidenceInterval(values, 0.99).halfWidth! > ci.halfWidth!);
  assert.deepEqual(meanConfidenceInterval([4]), { n: 1, mean: 4, std: 0, level: 0.95, halfWidth: null, low: null, high: null });
  assert.throws(() => meanConfidenceInterval([]), /no values/);
  assert.throws(() => meanConfidenceInterval([1, NaN]), /value 1 is NaN/);
});

test('paired t-test: the hand-computed statistic, and p-values from closed forms', () => {
  // differences 1, 2, 0, 3, 1: mean 1.4, s^2 = (0.16+0.36+1.96+2.56+0.16)/4 = 1.3, t = 1.4 / sqrt(1.3/5)
  const r = pairedTTest([5, 7, 6, 9, 8], [4, 5, 6, 6, 7]);
  close(r.meanDifference, 1.4);
  close(r.stdDifference, Math.sqrt(1.3));
  close(r.t, 1.4 / Math.sqrt(1.3 / 5));
  assert.equal(r.degreesOfFreedom, 4);
  // t = 2.7456 is just below t_{0.975,4} = 2.776: p just above 0.05
  assert.ok(r.pValue > 0.05 && r.pValue < 0.055, `p ${r.pValue}`);
  // two pairs: df = 1 (Cauchy), p = 1 - 2 atan(|t|) / pi; differences 1 and 3: t = 2 / (sqrt 2 / sqrt 2) = 2
  const two = pairedTTest([3, 5], [2, 2]);
  close(two.t, 2);
  close(two.pValue, 1 - (2 * Math.atan(2)) / Math.PI, 1e-7);
  // swapping the methods flips the sign, not the p-value
  const swapped = pairedTTest([4, 5, 6, 6, 7], [5, 7, 6, 9, 8]);
  close(swapped.t, -r.t);
  close(swapped.pValue, r.pValue);
  assert.deepEqual(pairedTTest([1, 2], [1, 2]), { n: 2, meanDifference: 0, stdDifference: 0, t: NaN, degreesOfFreedom: 1, pValue: 1 });
  assert.equal(pairedTTest([2, 3], [1, 2]).pValue, 0);
  assert.throws(() => pairedTTest([1, 2, 3], [1, 2]), /3 values against 2; the samples must be paired/);
  assert.throws(() => pairedTTest([1], [1]), /at least 2 pairs/);
});

function outputsOf(rows: number[][], labels: number[]): ModelOutputs {
  return { logits: Float32Array.from(rows.flat()), labels: Int32Array.from(labels), count: rows.length, numClasses: rows[0]!.length };
}

test('forgetting rate, memory retention rate, alignment gap, activation distance, KL: hand-worked arrays', () => {
  close(forgettingRate(80, 60), 0.25);
  close(forgettingRate(80, 80), 0);
  assert.ok(Number.isNaN(forgettingRate(0, 0)));
  close(memoryRetentionRate(90, 81), 0.9);
  assert.equal(alignmentGap(60, 75), 15);
  assert.equal(alignmentGap(75, 60), 15);
  // row 0: softmax [0, 0] = [.5, .5] vs softmax [ln 3, 0] = [.75, .25]: distance sqrt(2 * .25^2); row 1 identical
  const gold = outputsOf([[Math.log(3), 0], [1, 2]], [0, 1]);
  const model = outputsOf([[0, 0], [1, 2]], [0, 1]);
  close(activationDistance(model, gold), Math.sqrt(2 * 0.0625) / 2, 1e-7);
  // KL([.75, .25] || [.5, .5]) = .75 ln 1.5 + .25 ln .5; row 1: 0
  close(meanKlDivergence(gold, model), (0.75 * Math.log(1.5) + 0.25 * Math.log(0.5)) / 2, 1e-7);
  close(meanKlDivergence(gold, gold), 0);
  // a probability that underflows in float64 still gives a finite KL (log-softmax)
  const far = outputsOf([[0, 900]], [0]);
  const near = outputsOf([[0, 0]], [0]);
  close(meanKlDivergence(near, far), 0.5 * 900 - Math.log(2) - 0, 1e-6);
  assert.throws(() => activationDistance(model, outputsOf([[1, 2, 3]], [0])), /do not pair up/);
});

test('registered metrics on real models: UA/RA/TA equal the direct accuracy, FR/MRR/gap/KL from the same numbers', async () => {
  const train = syntheticImageDataset({ count: 40, numClasses: 4, height: 8, width: 8, channels: 3, seed: 1 });
  const test = syntheticImageDataset({ count: 20, numClasses: 4, height: 8, width: 8, channels: 3, seed: 2 });
  const spec = { arch: 'small-cnn' as const, numClasses: 4, inputShape: [8, 8, 3] as [number, number, number], batchNorm: false };
  const model = Model.create(spec, 1);
  const gold = Model.create(spec, 2);
  const original = Model.create(spec, 3);
  const forget = Int32Array.from({ length: 10 }, (_, i) => i * 4);
  const retain = Int32Array.from({ length: 40 }, (_, i) => i).filter((i) => i % 4 !== 0);
  const testIndices = Int32Array.from({ length: 20 }, (_, i) => i);
  const cache = new OutputCache();
  const context: EvaluationContext = { model, gold, original, train, test, forget, retain, testIndices, outputs: cache };
  const m = await evaluate(context, ['UA', 'RA', 'TA', 'FR', 'MRR', 'alignmentGap', 'activationDistance', 'klForget', 'klTest']);
  // independent: tf argMax accuracy (the metrics derive theirs from cached logits)
  const ua = await accuracy(model, train, forget);
  assert.equal(m.UA, ua);
  assert.equal(m.RA, await accuracy(model, train, retain));
  assert.equal(m.TA, await accuracy(model, test, testIndices));
  const uaOriginal = await accuracy(original, train, forget);
  assert.equal(m.FR, uaOriginal === 0 ? NaN : (uaOriginal - ua) / uaOriginal);
  close(m.MRR!, (await accuracy(model, train, retain)) / (await accuracy(original, train, retain)));
  assert.equal(m.alignmentGap, Math.abs(ua - (await accuracy(gold, train, forget))));
  assert.ok(m.activationDistance! > 0 && m.klForget! > 0 && m.klTest! > 0);
  // one inference pass per (model, set): the cache hands back the same outputs
  assert.equal(cache.get(model, 'forget', context), cache.get(model, 'forget', context));
  // the gold model compared with itself
  const self = await evaluate({ ...context, model: gold }, ['alignmentGap', 'activationDistance', 'klForget']);
  assert.deepEqual(self, { alignmentGap: 0, activationDistance: 0, klForget: 0 });
  await assert.rejects(evaluate({ model, train, test, forget, retain, testIndices }, ['klTest']), /klTest compares with the gold model, but the evaluation context has none/);
  await assert.rejects(evaluate(context, ['MIA']), /MIA needs membership settings/);
  assert.throws(() => cache.get(model, 'forget', { ...context, forget: retain }), /other evaluation sets/);
  for (const m of [model, gold, original]) m.dispose();
});

test('membership evaluation: RMIA is MIA when run (FT AUC), the SVC gives MIA-efficacy, reference counts stated', async () => {
  // two-class logits [s, 0]: members (forget) confident, non-members (test) not; references see all as OUT but for IN halves
  const rng = new Rng(3);
  const n = 80;
  const member = Array.from({ length: n }, () => [4 + rng.normal(), 0]);
  const nonMember = Array.from({ length: n }, () => [rng.normal(), 0]);
  const labels = new Array(n).fill(0);
  const target = { forget: outputsOf(member, labels), retain: outputsOf(member.map(([a]) => [a! + 0.1, 0]), labels), test: outputsOf(nonMember, labels) };
  const refOutputs = (rows: number[][]) => {
    const o = outputsOf(rows, labels);
    return { confidence: trueLabelConfidence(o), logitConfidence: logitScaledConfidence(o) };
  };
  const references: ReferenceModelSignals = {
    forget: [0, 1].map(() => refOutputs(Array.from({ length: n }, () => [rng.normal(), 0]))),
    test: [0, 1].map(() => refOutputs(Array.from({ length: n }, () => [rng.normal(), 0]))),
    forgetIncluded: [new Uint8Array(n).fill(0), new Uint8Array(n).fill(0)],
  };
  const summary = await evaluateMembership(target, { attacks: ['svc-mia', 'rmia'], seed: 0 }, references);
  assert.equal(summary.attack, 'rmia');
  assert.equal(summary.value, summary.ftAuc);
  assert.ok(summary.ftAuc! > 95);
  assert.equal(summary.referenceModels, 2);
  assert.equal(summary.efficacy, summary.byAttack['svc-mia']!.efficacy);
  assert.ok(summary.efficacy! < 10, `members called non-members: ${summary.efficacy}`);
  const svcOnly = await evaluateMembership(target, { attacks: ['svc-mia'], seed: 0 });
  assert.equal(svcOnly.attack, 'svc-mia');
  assert.equal(svcOnly.value, summary.efficacy);
  assert.equal(svcOnly.ftAuc, null);
  assert.equal(svcOnly.referenceModels, 0);
  assert.equal(primaryAttack({ attacks: ['svc-mia', 'lira', 'rmia'] }), 'lira');
  assert.throws(() => primaryAttack({ attacks: ['svc-mia'], primary: 'rmia' }), /primary attack 'rmia' is not among the attacks run/);
});

test("Kendall's tau-b: hand-worked orders, ties, and errors", () => {
  // one swapped pair of six: (5 concordant - 1 discordant) / 6
  assert.ok(Math.abs(kendallTau([1, 2, 3, 4], [1, 3, 2, 4]) - 4 / 6) < 1e-12);
  assert.equal(kendallTau([1, 2, 3], [3, 2, 1]), -1);
  // one tie in each list: 4 concordant, 0 discordant, sqrt((6 - 1) (6 - 1)) = 5
  assert.ok(Math.abs(kendallTau([1, 2, 2, 3], [1, 2, 3, 3]) - 0.8) < 1e-12);
  assert.throws(() => kendallTau([1, 2], [1]), /2 scores against 1/);
  assert.throws(() => kendallTau([1, 1, 1], [1, 2, 3]), /ranks every item equal/);
});
