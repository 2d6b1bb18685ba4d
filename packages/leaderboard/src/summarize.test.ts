import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fakeResult, straddlingResults } from './fixtures.test-util.js';
import { summarize } from './summarize.js';

// Gold is UA 90, RA 99, TA 91 unless given (see fixtures.test-util.ts).
const results = [
  fakeResult({ method: 'finetune', seed: 0, forgetSet: 'f1', metrics: { UA: 96, RA: 98, TA: 90 }, unlearnSeconds: 4, retrainSeconds: 100 }),
  fakeResult({ method: 'finetune', seed: 1, forgetSet: 'f2', metrics: { UA: 94, RA: 96, TA: 88 }, unlearnSeconds: 8, retrainSeconds: 200 }),
  fakeResult({ method: 'finetune', seed: 0, forgetSet: 'f2', metrics: { UA: 92, RA: 97, TA: 89 }, unlearnSeconds: 6, retrainSeconds: null }),
  fakeResult({ method: 'retrain', seed: 0, metrics: { UA: 90, RA: 99, TA: 91 }, unlearnSeconds: 100 }),
  fakeResult({ method: 'grad-ascent', seed: 0, metrics: { UA: 60, RA: 80, TA: 70 }, gold: { UA: 88, RA: 98, TA: 90 } }),
  fakeResult({ method: 'finetune', benchmark: 'other', seed: 0, metrics: { UA: 90, RA: 99, TA: 91 } }),
  fakeResult({ method: 'finetune', setting: 'forget-only', seed: 0, metrics: { UA: 91, RA: 99, TA: 91 } }),
];

test('summarize: one row per (benchmark, setting, method), means checked by hand', () => {
  const rows = summarize(results);
  assert.equal(rows.length, 5);
  const ft = rows.find((r) => r.method === 'finetune' && r.benchmark === 'fixture-bench' && r.setting === 'retain');
  assert.ok(ft);
  assert.equal(ft.runs, 3);
  assert.deepEqual(ft.seeds, [0, 1].map((s) => ({ original: s, forgetSet: s, unlearning: s })));
  assert.deepEqual(ft.forgetSets, ['f1', 'f2']);
  assert.equal(ft.UA, 94); // (96 + 94 + 92) / 3
  assert.equal(ft.RA, 97); // (98 + 96 + 97) / 3
  assert.equal(ft.TA, 89); // (90 + 88 + 89) / 3
  // per-run gaps: (6+1+1)/3 = 8/3, (4+3+3)/3 = 10/3, (2+2+2)/3 = 6/3 -> mean 24/9 = 8/3
  assert.ok(Math.abs(ft.meanRunGap - 8 / 3) < 1e-12, `meanRunGap ${ft.meanRunGap}`);
  // deviations 0, +2/3, -2/3 -> sample variance (8/9)/2 = 4/9, std 2/3
  assert.ok(Math.abs(ft.meanRunGapStd - 2 / 3) < 1e-12, `meanRunGapStd ${ft.meanRunGapStd}`);
  // gap of the means per forget set: f1 (one run) 8/3; f2 means UA 93, RA 96.5, TA 88.5 vs 90, 99, 91 -> (3 + 2.5 + 2.5)/3 = 8/3
  assert.ok(Math.abs(ft.avgGap - 8 / 3) < 1e-12, `avgGap ${ft.avgGap}`);
  assert.equal(ft.unlearnSeconds, 6); // (4 + 8 + 6) / 3
  // only the two runs with a retrain time count: (4/100 + 8/200) / 2
  assert.ok(Math.abs(ft.relativeToRetrain! - 0.04) < 1e-12);
  assert.deepEqual(ft.gold, { UA: 90, RA: 99, TA: 91 });
  assert.deepEqual(ft.avgGapOver, ['UA', 'RA', 'TA']);

  const ga = rows.find((r) => r.method === 'grad-ascent');
  assert.ok(ga);
  assert.deepEqual(ga.gold, { UA: 88, RA: 98, TA: 90 });
  assert.equal(ga.avgGap, (28 + 18 + 20) / 3);
  assert.equal(ga.meanRunGap, (28 + 18 + 20) / 3);
  assert.equal(ga.meanRunGapStd, 0);
});

test('summarize: sorted by Avg Gap ascending, ties broken by benchmark, setting, method', () => {
  const rows = summarize(results);
  const gaps = rows.map((r) => r.avgGap);
  assert.deepEqual(gaps, [...gaps].sort((a, b) => a - b));
  assert.deepEqual(
    rows.map((r) => `${r.benchmark}/${r.setting}/${r.method}`),
    ['fixture-bench/retain/retrain', 'other/retain/finetune', 'fixture-bench/forget-only/finetune', 'fixture-bench/retain/finetune', 'fixture-bench/retain/grad-ascent'],
  );
});

test('summarize: relativeToRetrain is null when no run recorded a retrain time; empty input gives no rows', () => {
  const rows = summarize([fakeResult({ method: 'x', metrics: { UA: 1, RA: 2, TA: 3 }, retrainSeconds: null })]);
  assert.equal(rows[0]!.relativeToRetrain, null);
  assert.deepEqual(summarize([]), []);
});

const salun = straddlingResults();

test("summarize: Avg Gap is the gap of the means (AMUN's tables), per forget set; the runs' own gaps are meanRunGap", () => {
  const [one] = summarize(salun.slice(0, 2));
  // random 10%: mean differences UA 0, RA -1, TA -0.5, MIA +0.5 -> (0 + 1 + 0.5 + 0.5)/4 = 0.5; the runs' own gaps average 1.5
  assert.equal(one!.avgGap, 0.5);
  assert.deepEqual(one!.avgGapOver, ['UA', 'RA', 'TA', 'MIA']);
  assert.equal(one!.meanRunGap, 1.5);
  assert.equal(one!.meanRunGapStd, 0);
  // with random 50% too: the mean of the two forget sets' gaps, (0.5 + 2)/2, not the gap of means pooled over
  // both forget sets ((2/3 + 4/3 + 2/3 + 4/3)/4 = 1) nor the runs' mean (1.5 + 1.5 + 2)/3
  const [both] = summarize(salun);
  assert.equal(both!.avgGap, 1.25);
  assert.ok(Math.abs(both!.meanRunGap - 5 / 3) < 1e-12);
  // a run without MIA: every run's Avg Gap compares UA, RA, TA only
  const [noMia] = summarize([salun[0]!, fakeResult({ method: 'salun', seed: 2, metrics: { UA: 88, RA: 98, TA: 90 } })]);
  assert.deepEqual(noMia!.avgGapOver, ['UA', 'RA', 'TA']);
  // UA 0, RA -1, TA -0.5 (gold 90, 99, 91 in both runs)
  assert.equal(noMia!.avgGap, 0.5);
});
