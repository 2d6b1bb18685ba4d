import assert from 'node:assert/strict';
import test from 'node:test';
import { Rng } from '@lethe/runtime';
import { relativeScores, rmiaOnlineScores } from '../index.js';

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
