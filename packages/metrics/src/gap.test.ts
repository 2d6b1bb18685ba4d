import assert from 'node:assert/strict';
import test from 'node:test';
import { avgGap, gapOfMeans } from './gap.js';

const close = (a: number, b: number, tol = 1e-9): void => assert.ok(Math.abs(a - b) <= tol, `${a} != ${b} (tol ${tol})`);
const OVER = ['UA', 'RA', 'TA', 'MIA'];

// AMUN (arXiv 2503.00917) Table 1, random 10%, retain set available: the means over 27 runs.
const AMUN_FT = { UA: 95.16, RA: 96.64, TA: 92.21, MIA: 52.08 };
const AMUN_RETRAIN = { UA: 94.49, RA: 100, TA: 94.33, MIA: 50.0 };

test("gap of the means reproduces AMUN Table 1's FT row: (0.67 + 3.36 + 2.12 + 2.08) / 4 = 2.0575, printed 2.06", () => {
  const g = gapOfMeans([AMUN_FT], [AMUN_RETRAIN], OVER);
  close(g.avgGap, 2.0575);
  assert.equal(g.avgGap.toFixed(2), '2.06');
  close(g.gaps.UA!, 0.67);
  close(g.gaps.RA!, 3.36);
  close(g.gaps.TA!, 2.12);
  close(g.gaps.MIA!, 2.08);
  assert.deepEqual(g.over, OVER);
});

test('gap of the means over runs whose means are the FT row; the mean of per-run gaps is larger', () => {
  // Made-up runs: the method's UA and MIA straddle the retrained model's in some runs, RA and TA do not.
  // Their means are AMUN's FT and retrain rows, so the gap of the means is again 2.0575.
  const method = [
    { UA: 93.16, RA: 96.64, TA: 92.21, MIA: 49.08 },
    { UA: 95.16, RA: 96.64, TA: 92.21, MIA: 52.08 },
    { UA: 97.16, RA: 96.64, TA: 92.21, MIA: 55.08 },
  ];
  const retrain = [AMUN_RETRAIN, AMUN_RETRAIN, AMUN_RETRAIN];
  const g = gapOfMeans(method, retrain, OVER);
  close(g.avgGap, 2.0575);
  close(g.methodMeans.UA!, 95.16);
  close(g.methodMeans.MIA!, 52.08);
  assert.deepEqual(g.retrainMeans, AMUN_RETRAIN);
  // per-run gaps by hand: (1.33 + 3.36 + 2.12 + 0.92) / 4, (0.67 + 3.36 + 2.12 + 2.08) / 4, (2.67 + 3.36 + 2.12 + 5.08) / 4
  const perRun = method.map((m, i) => avgGap(m, retrain[i]!, OVER));
  close(perRun[0]!, 7.73 / 4);
  close(perRun[1]!, 8.23 / 4);
  close(perRun[2]!, 13.23 / 4);
  close((perRun[0]! + perRun[1]! + perRun[2]!) / 3, 29.19 / 12); // 2.4325, not 2.0575
  // retrain runs need not pair with the method's: one retrain run with the same means gives the same gap
  close(gapOfMeans(method, [AMUN_RETRAIN], OVER).avgGap, 2.0575);
  // only the metrics named are compared
  close(gapOfMeans(method, retrain, ['RA', 'TA']).avgGap, (3.36 + 2.12) / 2);
});

test('gapOfMeans: errors name the missing metric, the run and the side', () => {
  assert.throws(() => gapOfMeans([AMUN_FT], [AMUN_RETRAIN], []), /needs at least one metric/);
  assert.throws(() => gapOfMeans([], [AMUN_RETRAIN], OVER), /no method runs/);
  assert.throws(() => gapOfMeans([AMUN_FT], [], OVER), /no retrain runs/);
  assert.throws(() => gapOfMeans([AMUN_FT, { UA: 1, RA: 2, TA: 3 }], [AMUN_RETRAIN], OVER), /method run 1 has no finite 'MIA' \(got undefined\)/);
  assert.throws(() => gapOfMeans([AMUN_FT], [{ ...AMUN_RETRAIN, TA: NaN }], OVER), /retrain run 0 has no finite 'TA' \(got NaN\)/);
  assert.throws(() => gapOfMeans([AMUN_FT], [AMUN_RETRAIN], ['UA', 'UA']), /a metric is listed twice/);
  assert.throws(() => avgGap({ UA: 1 }, { RA: 1 }, ['UA']), /metric 'UA' is missing from the gold model's results/);
});
