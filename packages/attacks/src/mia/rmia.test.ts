import assert from 'node:assert/strict';
import test from 'node:test';
import { Rng } from '@lethe/runtime';
import { relativeScores, resolveAttackOptions, rmiaOnlineScores, rocAuc, runMembershipAttack, sampleSignals, trueLabelConfidence, type MembershipAttackInput, type ModelOutputs, type ReferenceModelSignals } from '../index.js';

const close = (a: number, b: number, tol = 1e-9): void => assert.ok(Math.abs(a - b) <= tol, `${a} != ${b} (tol ${tol})`);

test('online RMIA: hand-worked scores of 3 samples against 2 reference models (the prior averages IN and OUT models)', () => {
  // Pr(x) = mean of both references = [0.375, 0.5, 0.375]; ratios Pr(x|theta)/Pr(x) = [0.75/0.375, 0.375/0.5, 0.375/0.375] = [2, 0.75, 1]
  const references = { values: [[0.5, 0.25, 0.5], [0.25, 0.75, 0.25]] };
  const target = [0.75, 0.375, 0.375];
  // gamma 1, every sample in the population (each compared with the other two):
  // x0 (2): LR with z1 = 2/0.75 = 2.67 > 1, with z2 = 2 > 1 -> 2/2; x1 (0.75): 0.375, 0.75 -> 0; x2 (1): 0.5, 1.33 -> 1/2
  assert.deepEqual(Array.from(rmiaOnlineScores(target, references, { gamma: 1, population: [0, 1, 2] })), [1, 0, 0.5]);
  // gamma 2: x0: 2.67 > 2 but 2 is not > 2 -> 1/2; x1: 0; x2: 1.33 -> 0
  assert.deepEqual(Array.from(rmiaOnlineScores(target, references, { gamma: 2, population: [0, 1, 2] })), [0.5, 0, 0]);
  // population {1, 2}: x0 is compared with both; x1 with z2 only (0.75 / 1 -> no); x2 with z1 only (1 / 0.75 -> yes)
  assert.deepEqual(Array.from(rmiaOnlineScores(target, references, { gamma: 1, population: [1, 2] })), [1, 0, 1]);
  // the online prior does not look at which models trained on which sample
  const withMasks = { ...references, included: [[1, 0, 1], [0, 1, 0]] };
  assert.deepEqual(Array.from(rmiaOnlineScores(target, withMasks, { gamma: 1, population: [0, 1, 2] })), [1, 0, 0.5]);
  assert.throws(() => rmiaOnlineScores([0.5], { values: [[0]] }, { gamma: 1, population: [0] }), /sample 0 has Pr\(x\) = 0/);
  assert.throws(() => rmiaOnlineScores([0.5], { values: [] }, { gamma: 1, population: [0] }), /no reference models/);
  assert.throws(() => rmiaOnlineScores([0.5, 0.5], { values: [[0.5]] }, { gamma: 1, population: [0] }), /reference model 0 has 1 signals for 2 samples/);
  assert.throws(() => rmiaOnlineScores([0.5], { values: [[0.5]] }, { gamma: 0, population: [0] }), /gamma must be a positive number, got 0/);
});

test('RMIA pairwise test: negative and zero ratios (taylor-soft-margin signals can be negative) count as IEEE division does', () => {
  // ratios [2, -1, -4, 0.5, 0], gamma 1, every sample in the population:
  // x0 (2):    2/-1 = -2 no, 2/-4 = -0.5 no, 2/0.5 = 4 yes, 2/0 = +inf yes        -> 2/4
  // x1 (-1):   -1/2 no, -1/-4 = 0.25 no, -1/0.5 = -2 no, -1/0 = -inf no           -> 0
  // x2 (-4):   -4/2 no, -4/-1 = 4 yes, -4/0.5 = -8 no, -inf no                     -> 1/4
  // x3 (0.5):  0.25 no, -0.5 no, -0.125 no, +inf yes                               -> 1/4
  // x4 (0):    0/2, 0/-1, 0/-4, 0/0.5 are all 0 (or -0), never > 1                 -> 0
  const ratios = Float64Array.from([2, -1, -4, 0.5, 0]);
  assert.deepEqual(Array.from(relativeScores(ratios, [0, 1, 2, 3, 4], 1, 'test')), [0.5, 0, 0.25, 0.25, 0]);
  // gamma 0.5: a sample would dominate itself (r / r = 1 > 0.5), and is still not compared with itself;
  // x1 (-1) now dominates z2 (-1/-4 = 0.25 > 0.5? no) -> 0; x2 (-4): -4/-1 = 4 -> 1/4; x3 (0.5): 0.5/2 = 0.25 no -> 1/4
  assert.deepEqual(Array.from(relativeScores(ratios, [0, 1, 2, 3, 4], 0.5, 'test')), [0.5, 0, 0.25, 0.25, 0]);
  // against a direct count of r_x / r_z > gamma on random ratios of both signs
  const rng = new Rng(11);
  const random = Float64Array.from({ length: 60 }, () => (rng.next() < 0.3 ? -1 : 1) * Math.exp(rng.normal()));
  random[7] = 0;
  const population = Array.from(rng.sample(60, 40));
  for (const gamma of [0.5, 1, 2]) {
    const scores = relativeScores(random, population, gamma, 'test');
    for (let i = 0; i < 60; i++) {
      const others = population.filter((p) => p !== i);
      const direct = others.filter((p) => random[i]! / random[p]! > gamma).length / others.length;
      close(scores[i]!, direct, 0);
    }
  }
  assert.throws(() => relativeScores(Float64Array.from([NaN]), [0], 1, 'RMIA'), /ratio Pr\(x\|theta\)\/Pr\(x\) of sample 0 is NaN/);
  assert.throws(() => relativeScores(Float64Array.from([1, 2]), [1, 1], 1, 'RMIA'), /position 1 appears twice/);
});

/** Two-class outputs whose true-label (class 0) softmax probabilities are `p`: logits [log(p / (1 - p)), 0]. */
function probabilityOutputs(p: number[]): ModelOutputs {
  return { logits: Float32Array.from(p.flatMap((q) => [Math.log(q / (1 - q)), 0])), labels: new Int32Array(p.length), count: p.length, numClasses: 2 };
}

interface HandSpec {
  target: { forget: number[]; test: number[]; retain: number[] };
  /** per reference model: its true-label probabilities on each set */
  references: { forget: number[]; test: number[]; retain: number[] }[];
  forgetIncluded: number[][];
  testIncluded: number[][];
  retainIncluded: number[][];
}

/** An attack input with every field a run can give: logits (from the probabilities), signals, IN masks. */
function handInput(spec: HandSpec): MembershipAttackInput & { references: ReferenceModelSignals } {
  const refs = spec.references;
  return {
    target: { forget: probabilityOutputs(spec.target.forget), test: probabilityOutputs(spec.target.test), retain: probabilityOutputs(spec.target.retain) },
    references: {
      forget: refs.map((r) => sampleSignals(probabilityOutputs(r.forget))),
      test: refs.map((r) => sampleSignals(probabilityOutputs(r.test))),
      forgetIncluded: spec.forgetIncluded.map((m) => Uint8Array.from(m)),
      testIncluded: spec.testIncluded.map((m) => Uint8Array.from(m)),
      forgetOutputs: refs.map((r) => probabilityOutputs(r.forget)),
      testOutputs: refs.map((r) => probabilityOutputs(r.test)),
      retainOutputs: refs.map((r) => probabilityOutputs(r.retain)),
      retainIncluded: spec.retainIncluded.map((m) => Uint8Array.from(m)),
    },
    seed: 0,
  };
}

/**
 * 1 forget sample f0, 3 test samples t0..t2, 1 retain sample r0, 2 reference models trained on complementary halves
 * of all five (f0, t1, r0 IN for reference 0; t0, t2 IN for reference 1).
 */
function handCase(): MembershipAttackInput & { references: ReferenceModelSignals } {
  return handInput({
    target: { forget: [0.9], test: [0.4, 0.68, 0.99], retain: [0.35] },
    references: [
      { forget: [0.9], test: [0.6, 0.01, 0.1], retain: [0.9] },
      { forget: [0.5], test: [0.99, 0.2, 0.9], retain: [0.5] },
    ],
    forgetIncluded: [[1], [0]],
    testIncluded: [[0, 1, 0], [1, 0, 1]],
    retainIncluded: [[1], [0]],
  });
}

test('rmia through the registry, hand-worked: online and offline priors, the population choice, the mode named in the result', async () => {
  const input = handCase();
  // online, gamma 1, population 'test': Pr = mean of both models, ratio = target / Pr
  //   f0: 0.9 / 0.7 = 1.286; t0: 0.4 / 0.795 = 0.503; t1: 0.68 / 0.105 = 6.48; t2: 0.99 / 0.5 = 1.98
  //   scores: f0 dominates t0 only -> 1/3; t0 (vs t1, t2) -> 0; t1 (vs t0, t2) -> 1; t2 (vs t0, t1) -> 1/2
  //   AUC of f0 against t0, t1, t2: 1 + 0 + 0 over 3 -> 33.3%
  const online = await runMembershipAttack('rmia', input, { mode: 'online', gamma: 1 });
  assert.equal(online.mode, 'online');
  assert.equal(online.signal, 'softmax');
  assert.equal(online.referenceModels, 2);
  assert.equal(online.outReferences, undefined);
  close(online.ftAuc!, 100 / 3);
  // population 'all' adds r0 (0.35 / 0.7 = 0.5) and f0 to it: f0 dominates t0 and r0 -> 2/4; t0 dominates r0 only
  // (0.503 / 0.5 > 1) -> 1/4; t1 -> 4/4; t2 dominates f0, t0, r0 -> 3/4.  f0 (1/2) beats t0 only -> 33.3% again
  close((await runMembershipAttack('rmia', input, { mode: 'online', gamma: 1, population: 'all' })).ftAuc!, 100 / 3);
  // where the population changes the AUC: ratios f0 1.0 (0.4 / mean(0.6, 0.2)), t0 1.5 (0.6 / 0.4), t1 1.8 (0.9 / 0.5),
  // r0 0.5 (0.35 / 0.7). Population 'test': f0 dominates neither test sample -> 0; t0 (vs t1) -> 0; t1 -> 1, so f0
  // ties with t0 -> AUC (0.5 + 0) / 2 = 25%. Population 'all': f0 dominates r0 -> 1/3; t0 dominates f0, r0 -> 2/3;
  // t1 -> 1 -> AUC 0%.
  const tie = handInput({
    target: { forget: [0.4], test: [0.6, 0.9], retain: [0.35] },
    references: [
      { forget: [0.6], test: [0.2, 0.8], retain: [0.9] },
      { forget: [0.2], test: [0.6, 0.2], retain: [0.5] },
    ],
    forgetIncluded: [[1], [0]],
    testIncluded: [[0, 1], [1, 0]],
    retainIncluded: [[1], [0]],
  });
  close((await runMembershipAttack('rmia', tie, { mode: 'online', gamma: 1 })).ftAuc!, 25);
  close((await runMembershipAttack('rmia', tie, { mode: 'online', gamma: 1, population: 'all' })).ftAuc!, 0);
  // 'forget-and-test': f0 (vs t0, t1) -> 0; t0 (vs f0, t1) -> 1/2; t1 -> 1 -> AUC 0%
  close((await runMembershipAttack('rmia', tie, { mode: 'online', gamma: 1, population: 'forget-and-test' })).ftAuc!, 0);
  // offline (a = 0: Pr = (Pr_OUT + 1) / 2), each sample's OUT model only, the test samples' too (testIncluded):
  //   f0: OUT ref1 0.5 -> 0.75 -> 1.2; t0: OUT ref0 0.6 -> 0.8 -> 0.5; t1: OUT ref1 0.2 -> 0.6 -> 1.133; t2: OUT ref0 0.1 -> 0.55 -> 1.8
  //   f0 dominates t0, t1 -> 2/3; t0 -> 0; t1 (vs t0, t2) -> 1/2; t2 -> 1.  AUC: f0 beats t0, t1 -> 2/3
  // Had the IN model been averaged in for t1 (0.105 -> 0.5525 -> 1.231 > 1.2), t1 would outrank f0 (AUC 1/3).
  const offline = await runMembershipAttack('rmia', input, { offlineA: 0 });
  assert.equal(offline.mode, 'offline');
  assert.equal(offline.outReferences, 1);
  close(offline.ftAuc!, 200 / 3);
  // the same with the taylor-soft-margin signal computed from the logits, against the signal computed by hand
  const e = (s: number): number => 1 + s + (s * s) / 2 + (s * s * s) / 6;
  const tsm = (p: number): number => e(Math.log(p / (1 - p)) / 2 - 0.6) / (e(Math.log(p / (1 - p)) / 2 - 0.6) + e(0));
  const prior = (a: number, b: number): number => (tsm(a) + tsm(b)) / 2;
  const ratio = { f0: tsm(0.9) / prior(0.9, 0.5), t0: tsm(0.4) / prior(0.6, 0.99), t1: tsm(0.68) / prior(0.01, 0.2), t2: tsm(0.99) / prior(0.1, 0.9) };
  // (t1's IN model gives it logit -4.6, s - m = -2.9, where the cubic is negative: its prior is small and odd)
  const taylor = await runMembershipAttack('rmia', input, { mode: 'online', signal: 'taylor-soft-margin', gamma: 2 });
  assert.equal(taylor.signal, 'taylor-soft-margin');
  // gamma 2: f0 dominates t0 iff ratio f0 / ratio t0 > 2
  const f0Score = (ratio.f0 / ratio.t0 > 2 ? 1 : 0) / 3;
  const t0Score = 0;
  const t1Score = ((ratio.t1 / ratio.t0 > 2 ? 1 : 0) + (ratio.t1 / ratio.t2 > 2 ? 1 : 0)) / 2;
  const t2Score = ((ratio.t2 / ratio.t0 > 2 ? 1 : 0) + (ratio.t2 / ratio.t1 > 2 ? 1 : 0)) / 2;
  const pairs = [t0Score, t1Score, t2Score].map((t) => (f0Score > t ? 1 : f0Score === t ? 0.5 : 0));
  close(taylor.ftAuc!, (100 * (pairs[0]! + pairs[1]! + pairs[2]!)) / 3);
});

test('rmia population draw: populationSize picks that many of the chosen population, seeded', async () => {
  const input = handCase();
  const a = await runMembershipAttack('rmia', input, { mode: 'online', population: 'all', populationSize: 3 });
  const b = await runMembershipAttack('rmia', input, { mode: 'online', population: 'all', populationSize: 3 });
  assert.deepEqual(a, b);
  // asking for more than there is takes all of it
  assert.deepEqual(await runMembershipAttack('rmia', input, { mode: 'online', population: 'all', populationSize: 50 }), await runMembershipAttack('rmia', input, { mode: 'online', population: 'all' }));
});

test('rmia options and inputs: defaults unchanged, invalid combinations and missing inputs name the option and the fix', async () => {
  // configs written before the online mode resolve as before (same keys, same values)
  assert.deepEqual(resolveAttackOptions('rmia', {}), { offlineA: 0.3, gamma: 1 });
  assert.deepEqual(resolveAttackOptions('rmia', { mode: 'online', signal: 'taylor-soft-margin', gamma: 2, population: 'all' }), { mode: 'online', signal: 'taylor-soft-margin', gamma: 2, population: 'all' });
  assert.deepEqual(resolveAttackOptions('rmia', { signal: 'taylor-soft-margin', temperature: 1 }), { signal: 'taylor-soft-margin', temperature: 1, offlineA: 0.3, gamma: 1 });
  assert.throws(() => resolveAttackOptions('rmia', { mode: 'online', offlineA: 0.3 }), /offlineA [^\n]*applies to mode 'offline' only[^\n]*remove offlineA or set mode: 'offline'/);
  assert.throws(() => resolveAttackOptions('rmia', { mode: 'online', outReferences: 2 }), /outReferences applies to mode 'offline' only/);
  assert.throws(() => resolveAttackOptions('rmia', { temperature: 2 }), /temperature applies to signal 'taylor-soft-margin' only[^\n]*set signal: 'taylor-soft-margin' or remove temperature/);
  assert.throws(() => resolveAttackOptions('rmia', { signal: 'softmax', margin: 0.5 }), /margin applies to signal 'taylor-soft-margin' only/);
  assert.throws(() => resolveAttackOptions('rmia', { mode: 'onlin' }), /invalid options for membership attack 'rmia'[\s\S]*mode/);
  assert.throws(() => resolveAttackOptions('rmia', { signal: 'taylor-soft-margin', taylorTerms: 1 }), /taylorTerms/);

  const input = handCase();
  const without = (field: 'testIncluded' | 'testOutputs' | 'retainOutputs'): MembershipAttackInput => {
    const references = { ...input.references };
    delete references[field];
    return { ...input, references };
  };
  await assert.rejects(runMembershipAttack('rmia', without('testIncluded'), { mode: 'online' }), /'rmia' in mode 'online' needs references\.testIncluded[^]*random halves of train \+ test[^]*or use mode 'offline'/);
  const allOut = { ...input, references: { ...input.references, testIncluded: [new Uint8Array(3), new Uint8Array(3)] } };
  await assert.rejects(runMembershipAttack('rmia', allOut, { mode: 'online' }), /testIncluded marks no test sample IN for any reference model/);
  await assert.rejects(runMembershipAttack('rmia', without('testOutputs'), { signal: 'taylor-soft-margin' }), /'taylor-soft-margin' signal is computed from the reference models' logits[^]*references\.testOutputs is missing; pass them, or use signal 'softmax'/);
  await assert.rejects(runMembershipAttack('rmia', without('retainOutputs'), { population: 'all' }), /population 'all'[^]*references\.retainOutputs is missing[^]*or use population 'test'/);
  const shuffled = { ...input, references: { ...input.references, testOutputs: input.references.testOutputs!.map((o) => ({ ...o, labels: Int32Array.of(0, 1, 0) })) } };
  await assert.rejects(runMembershipAttack('rmia', shuffled, { signal: 'taylor-soft-margin' }), /references\.testOutputs sample 1 has label 1, the target's has 0/);
  const short = { ...input, references: { ...input.references, testIncluded: [Uint8Array.of(1), Uint8Array.of(0)] } };
  await assert.rejects(runMembershipAttack('rmia', short), /references\.testIncluded has 1 entries for 3 samples/);
  // offline mode refuses a test sample that every reference model trained on (no OUT model to estimate Pr(x) from)
  const allIn = { ...input, references: { ...input.references, testIncluded: [Uint8Array.of(1, 1, 0), Uint8Array.of(1, 0, 1)] } };
  await assert.rejects(runMembershipAttack('rmia', allIn), /in the training data of every reference model/);
});

/**
 * Online setting on synthetic data: K reference models in pairs on complementary random halves of the forget, test
 * and retain samples together; a model's logit for the true class (2 classes, the other logit 0) is the sample's
 * difficulty, plus 3 if the model trained on it, plus noise. The target trained on the retain samples (+3), and
 * treats forget samples with `targetShift` (its memory of them) and test samples with none.
 */
function onlineSetup(options: { forget: number; test: number; retain: number; models: number; targetShift: number; seed: number }): MembershipAttackInput {
  const rng = new Rng(options.seed);
  const { forget: nf, test: nt, retain: nr } = options;
  const n = nf + nt + nr;
  const shift = 3;
  const difficulty = Float64Array.from({ length: n }, () => 1 + rng.normal());
  const included: Uint8Array[] = [];
  for (let j = 0; j < options.models / 2; j++) {
    const half = new Uint8Array(n);
    for (const i of rng.sample(n, Math.floor(n / 2))) half[i] = 1;
    included.push(half, half.map((v) => 1 - v));
  }
  const outputs = (logits: Float64Array, from: number, to: number): ModelOutputs => ({
    logits: Float32Array.from({ length: 2 * (to - from) }, (_, j) => (j % 2 === 0 ? logits[from + j / 2]! : 0)),
    labels: new Int32Array(to - from),
    count: to - from,
    numClasses: 2,
  });
  const refLogits = included.map((m) => Float64Array.from({ length: n }, (_, i) => difficulty[i]! + (m[i] ? shift : 0) + 0.5 * rng.normal()));
  const targetShift = (i: number): number => (i < nf ? options.targetShift : i < nf + nt ? 0 : shift);
  const targetLogits = Float64Array.from({ length: n }, (_, i) => difficulty[i]! + targetShift(i) + 0.5 * rng.normal());
  const forgetOutputs = refLogits.map((v) => outputs(v, 0, nf));
  const testOutputs = refLogits.map((v) => outputs(v, nf, nf + nt));
  return {
    target: { forget: outputs(targetLogits, 0, nf), test: outputs(targetLogits, nf, nf + nt), retain: outputs(targetLogits, nf + nt, n) },
    references: {
      forget: forgetOutputs.map(sampleSignals),
      test: testOutputs.map(sampleSignals),
      forgetIncluded: included.map((m) => m.slice(0, nf)),
      testIncluded: included.map((m) => m.slice(nf, nf + nt)),
      forgetOutputs,
      testOutputs,
      retainOutputs: refLogits.map((v) => outputs(v, nf + nt, n)),
      retainIncluded: included.map((m) => m.slice(nf + nt)),
    },
    seed: options.seed,
  };
}

test('online RMIA (taylor-soft-margin, gamma 2): AUC well above 50 when the target remembers the forget set, about 50 when it treats both sets alike', async () => {
  const sizes = { forget: 150, test: 150, retain: 150, models: 8 };
  for (const population of ['all', 'forget-and-test']) {
    const options = { mode: 'online', signal: 'taylor-soft-margin', gamma: 2, population };
    const remembers = await runMembershipAttack('rmia', onlineSetup({ ...sizes, targetShift: 3, seed: 21 }), options);
    assert.ok(remembers.ftAuc! > 90, `FT AUC ${remembers.ftAuc} when the target remembers D_f (population ${population})`);
    assert.equal(remembers.referenceModels, 8);
    for (const seed of [22, 23, 24]) {
      const alike = await runMembershipAttack('rmia', onlineSetup({ ...sizes, targetShift: 0, seed }), options);
      assert.ok(Math.abs(alike.ftAuc! - 50) < 10, `FT AUC ${alike.ftAuc} on identically distributed groups (seed ${seed}, population ${population})`);
    }
  }
  // the registry's scores are rmiaOnlineScores' on the same signals (here softmax, population 'test')
  const input = onlineSetup({ forget: 40, test: 40, retain: 10, models: 4, targetShift: 3, seed: 25 });
  const viaRegistry = await runMembershipAttack('rmia', input, { mode: 'online', gamma: 1 });
  const target = Float64Array.from([...trueLabelConfidence(input.target.forget), ...trueLabelConfidence(input.target.test)]);
  const values = input.references!.forget.map((s, k) => Float64Array.from([...s.confidence, ...input.references!.test[k]!.confidence]));
  const scores = rmiaOnlineScores(target, { values }, { gamma: 1, population: Array.from({ length: 40 }, (_, i) => 40 + i) });
  close(viaRegistry.ftAuc!, 100 * rocAuc(scores.subarray(0, 40), scores.subarray(40)), 1e-9);
});
