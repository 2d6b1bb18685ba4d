import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fakeResult, multiRunResults, straddlingResults } from './fixtures.test-util.js';
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

test('summarize: one row per (benchmark, setting, method label), means checked by hand', () => {
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

// Student's t with 2 degrees of freedom has the closed form P(T <= t) = 1/2 + t / (2 sqrt(2 + t^2)), so its 0.975
// quantile solves t / sqrt(2 + t^2) = 0.95: t^2 = 0.9025 * 2 / (1 - 0.9025).
const T975_DF2 = Math.sqrt((0.9025 * 2) / 0.0975);

test('summarize: 95% intervals over three runs, checked by hand (t quantile from the closed form for 2 degrees of freedom)', () => {
  assert.ok(Math.abs(T975_DF2 - 4.302653) < 1e-6, 'the table value of t(0.975, 2)');
  const rows = summarize(multiRunResults());
  const ft = rows.find((r) => r.label === 'finetune')!;
  assert.equal(ft.runs, 3);
  // UA 96, 94, 92: mean 94, sample std 2, half-width t * 2 / sqrt(3)
  const ua = ft.intervals.UA!;
  assert.equal(ua.mean, 94);
  assert.equal(ua.std, 2);
  assert.ok(Math.abs(ua.halfWidth! - (T975_DF2 * 2) / Math.sqrt(3)) < 1e-7, `UA half-width ${ua.halfWidth}`);
  assert.ok(Math.abs(ua.low! - (94 - (T975_DF2 * 2) / Math.sqrt(3))) < 1e-7);
  // FT AUC 53, 55, 54 and MIA-efficacy 14, 12, 13: std 1 each
  assert.equal(ft.intervals.ftAuc!.mean, 54);
  assert.ok(Math.abs(ft.intervals.ftAuc!.halfWidth! - T975_DF2 / Math.sqrt(3)) < 1e-7);
  assert.equal(ft.intervals.efficacy!.mean, 13);
  assert.ok(Math.abs(ft.intervals.efficacy!.halfWidth! - T975_DF2 / Math.sqrt(3)) < 1e-7);
  // runs' own gaps over UA, RA, TA, MIA against gold 90, 99, 91, 50: (6+1+1+3)/4, (4+3+3+5)/4, (2+2+2+4)/4
  assert.deepEqual(ft.avgGapOver, ['UA', 'RA', 'TA', 'MIA']);
  assert.equal(ft.intervals.runGap!.mean, 3);
  // the retrained models' numbers, the targets
  assert.deepEqual(ft.goldMia, { ftAuc: 50, efficacy: 20 });
  // what the MIA numbers are, from the result files
  assert.deepEqual(ft.mia, { aucAttacks: ['rmia'], modes: ['online'], referenceModels: [8], efficacyAttacks: ['svc-mia'], primary: ['rmia FT AUC'] });
  // finetune's hyper-parameters came from a search, the others' from the config
  assert.equal(ft.hyperParameters.length, 1);
  assert.deepEqual(ft.hyperParameters[0]!.values, { epochs: 3, lr: 0.01 });
  assert.equal(ft.hyperParameters[0]!.source.kind, 'search');
  assert.equal(ft.hyperParameters[0]!.runs, 3);
  assert.deepEqual(rows.find((r) => r.label === 'salun')!.hyperParameters.map((h) => h.source), [{ kind: 'config' }]);
  // one run: no interval, and no MIA record: no MIA description
  const [single] = summarize([fakeResult({ method: 'x', metrics: { UA: 1, RA: 2, TA: 3 } })]);
  assert.equal(single!.intervals.UA!.halfWidth, null);
  assert.equal(single!.intervals.ftAuc, undefined);
  assert.equal(single!.mia, null);
  assert.deepEqual(single!.goldMia, { ftAuc: null, efficacy: null });
});

test('summarize: one row per method label (a config may run one method twice under two labels)', () => {
  const rows = summarize([
    fakeResult({ method: 'finetune', label: 'finetune-lr-small', metrics: { UA: 96, RA: 98, TA: 90 } }),
    fakeResult({ method: 'finetune', label: 'finetune-lr-large', metrics: { UA: 90, RA: 99, TA: 91 } }),
  ]);
  assert.deepEqual(rows.map((r) => [r.label, r.method]), [['finetune-lr-large', 'finetune'], ['finetune-lr-small', 'finetune']]);
});

test('summarize: the FT AUC attack, its mode only when recorded, and K, from the result files', () => {
  const [noMode] = summarize([fakeResult({ method: 'a', metrics: { UA: 90, RA: 99, TA: 91, MIA: 55 }, gold: { UA: 90, RA: 99, TA: 91, MIA: 50 } })]);
  assert.deepEqual(noMode!.mia, { aucAttacks: ['rmia'], modes: [], referenceModels: [4], efficacyAttacks: [], primary: ['rmia FT AUC'] });
  const [lira] = summarize([fakeResult({ method: 'a', metrics: { UA: 90, RA: 99, TA: 91, MIA: 55 }, gold: { UA: 90, RA: 99, TA: 91, MIA: 50 }, mia: { attack: 'lira', mode: 'offline', referenceModels: 16 } })]);
  assert.deepEqual([lira!.mia!.aucAttacks, lira!.mia!.modes, lira!.mia!.referenceModels], [['lira'], ['offline'], [16]]);
});
