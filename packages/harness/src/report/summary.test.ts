import assert from 'node:assert/strict';
import test from 'node:test';
import { RESULT_SCHEMA, type CellResult } from '../results/results.js';
import { compareMethods, formatSummaryTable, metricValue, summarizeAcrossSeeds } from './summary.js';
import { formatResultsTable } from './table.js';

function result(label: string, seed: number, values: { UA: number; avgGap: number; ftAuc?: number }, forgetSet = 'random-10pct'): CellResult {
  return {
    schema: RESULT_SCHEMA,
    benchmark: 'unit',
    cellHash: `${label}-${seed}-${forgetSet}`,
    cell: { method: label, label, setting: 'retain', forgetSet, seed, hyperParameters: {} },
    metrics: { UA: values.UA, RA: 99, TA: 90, avgGap: values.avgGap, avgGapOver: ['UA', 'RA', 'TA', 'MIA'], MIA: values.ftAuc ?? 50 },
    ...(values.ftAuc !== undefined ? { mia: { attack: 'rmia', referenceModels: 8, ftAuc: values.ftAuc, tprAt1Fpr: 1, efficacy: 20 } } : {}),
    gold: { UA: 90, RA: 100, TA: 90, MIA: 50 },
    original: { UA: 100, RA: 100, TA: 91 },
    sizes: { train: 10, forget: 1, retain: 9, test: 5 },
    timing: { unlearnSeconds: 10, retrainSeconds: 100, relativeToRetrain: 0.1 },
    provenance: { lethe: {}, tfjs: '4.22.0', backend: { name: 'wasm', tfjsBackend: 'wasm', version: '4.22.0' }, node: 'v20', platform: 'linux', cpus: '2', gitCommit: null, dataChecksum: 'x', configHash: 'y', createdAt: '2025-01-01T00:00:00.000Z' },
  };
}

// five seeds of method "a" (UA 10, 12, 9, 11, 13: the textbook sample) and of "b" (UA 9, 10, 9, 8, 12)
const a = [10, 12, 9, 11, 13].map((UA, seed) => result('a', seed, { UA, avgGap: UA / 10, ftAuc: 50 + seed }));
const b = [9, 10, 9, 8, 12].map((UA, seed) => result('b', seed, { UA, avgGap: 1 }));

test('summary across seeds: mean and the Student t 95% interval per method and metric', () => {
  const rows = summarizeAcrossSeeds([...a, ...b]);
  assert.equal(rows.length, 2);
  const rowA = rows.find((r) => r.label === 'a')!;
  assert.equal(rowA.runs, 5);
  assert.deepEqual(rowA.seeds, [0, 1, 2, 3, 4].map((s) => ({ original: s, forgetSet: s, unlearning: s })));
  assert.equal(rowA.referenceModels, 8);
  assert.equal(rowA.metrics.UA!.mean, 11);
  // t_{0.975,4} = 2.776, s = sqrt(2.5)
  assert.ok(Math.abs(rowA.metrics.UA!.halfWidth! - (2.776 * Math.sqrt(2.5)) / Math.sqrt(5)) < 5e-4);
  assert.equal(rowA.metrics.ftAuc!.mean, 52);
  // "b" never ran a reference-model attack: no FT AUC to summarise
  assert.equal(rows.find((r) => r.label === 'b')!.metrics.ftAuc, undefined);
  assert.equal(metricValue(b[0]!, 'ftAuc'), null);
  assert.equal(metricValue(a[0]!, 'relativeToRetrain'), 0.1);
  const table = formatSummaryTable(rows);
  assert.match(table, /^method\s+forget set\s+seeds\s+UA/);
  assert.match(table, /a\s+random-10pct\s+5\s+11\.00 ± 1\.96/);
});

test('paired comparison of two methods on the same (forget set, seed) pairs: the hand-computed t', () => {
  // differences a - b: 1, 2, 0, 3, 1 -> t = 1.4 / sqrt(1.3 / 5)
  const c = compareMethods([...a, ...b, result('b', 9, { UA: 0, avgGap: 0 })], 'a', 'b', 'UA');
  assert.equal(c.pairs.length, 5);
  assert.deepEqual(c.pairs[1], { benchmark: 'unit', forgetSet: 'random-10pct', seeds: { original: 1, forgetSet: 1, unlearning: 1 }, a: 12, b: 10 });
  assert.ok(Math.abs(c.test.t - 1.4 / Math.sqrt(1.3 / 5)) < 1e-12);
  assert.ok(c.test.pValue > 0.05 && c.test.pValue < 0.055);
  // another forget set is another unit: not paired with seed 0 of random-10pct
  assert.throws(() => compareMethods([a[0]!, result('b', 0, { UA: 1, avgGap: 1 }, 'random-50pct'), a[1]!], 'a', 'b', 'UA'), /share 0 \(forget set, seed\) pair/);
  assert.throws(() => compareMethods(a, 'a', 'nope', 'UA'), /no results for method 'nope'/);
});

test('the results table: MIA-efficacy and FT AUC columns (with K), and the across-seed table when seeds repeat', () => {
  const table = formatResultsTable([...a, ...b]);
  const [header] = table.split('\n');
  assert.match(header!, /UA\s+RA\s+TA\s+MIA-eff\s+FT AUC \(rmia offline, K=8\)\s+Avg Gap/);
  assert.match(table, /a\s+random-10pct\s+0\s+10\.00\s+99\.00\s+90\.00\s+20\.00\s+50\.00\s+1\.00/);
  // b has no MIA record: dashes, not zeros
  assert.match(table, /b\s+random-10pct\s+0\s+9\.00\s+99\.00\s+90\.00\s+-\s+-\s+1\.00/);
  assert.match(table, /mean ± 95% CI half-width over seeds/);
  assert.doesNotMatch(formatResultsTable([a[0]!]), /over seeds/);
});

/** A result of one run with its own gold model; `runGap` is that run's Avg Gap, worked out by hand in the test. */
function run(
  label: string,
  seeds: { original: number; forgetSet: number; unlearning: number },
  metrics: { UA: number; RA: number; TA: number; MIA?: number },
  gold: { UA: number; RA: number; TA: number; MIA?: number },
  runGap: number,
  avgGapOver = ['UA', 'RA', 'TA', 'MIA'],
): CellResult {
  const base = result(label, seeds.unlearning, { UA: metrics.UA, avgGap: runGap });
  return {
    ...base,
    cellHash: `${label}-${seeds.original}-${seeds.forgetSet}-${seeds.unlearning}`,
    cell: { ...base.cell, seeds },
    metrics: { ...metrics, avgGap: runGap, avgGapOver },
    gold,
  };
}

// Three runs of "ft", each against its own gold model. Differences to gold (method - gold) per run:
//   UA +2 -4 +4, RA -2 -1 -3, TA -2 +2 -2, MIA +3 -3 +3
// per-run gaps: (2+2+2+3)/4 = 2.25, (4+1+2+3)/4 = 2.5, (4+3+2+3)/4 = 3; their mean 7.75/3 = 2.5833...
// gap of the means: mean differences UA 2/3, RA -2, TA -2/3, MIA 1 -> (2/3 + 2 + 2/3 + 1)/4 = 13/12 = 1.0833...
const ft = [
  run('ft', { original: 0, forgetSet: 0, unlearning: 0 }, { UA: 92, RA: 98, TA: 88, MIA: 53 }, { UA: 90, RA: 100, TA: 90, MIA: 50 }, 2.25),
  run('ft', { original: 0, forgetSet: 1, unlearning: 0 }, { UA: 87, RA: 99, TA: 91, MIA: 48 }, { UA: 91, RA: 100, TA: 89, MIA: 51 }, 2.5),
  run('ft', { original: 1, forgetSet: 0, unlearning: 0 }, { UA: 93, RA: 97, TA: 89, MIA: 52 }, { UA: 89, RA: 100, TA: 91, MIA: 49 }, 3),
];

test("summary across runs: Avg Gap is the gap of the means (AMUN's tables), the mean of per-run gaps is 'mean run gap'", () => {
  const [row] = summarizeAcrossSeeds(ft);
  assert.ok(row);
  assert.equal(row.runs, 3);
  const close = (x: number, y: number): void => assert.ok(Math.abs(x - y) < 1e-12, `${x} != ${y}`);
  close(row.avgGap.avgGap, 13 / 12);
  assert.deepEqual(row.avgGap.over, ['UA', 'RA', 'TA', 'MIA']);
  // the means behind it: the method's over its runs, retrain's from the same runs' gold records
  close(row.avgGap.methodMeans.UA!, 272 / 3);
  close(row.avgGap.retrainMeans.UA!, 90);
  close(row.avgGap.methodMeans.RA!, 98);
  close(row.avgGap.methodMeans.MIA!, 51);
  close(row.avgGap.retrainMeans.MIA!, 50);
  close(row.avgGap.meanRunGap, 7.75 / 3);
  // the old figure under its own name, with its t interval: deviations -4/12, -1/12, 5/12 -> s^2 = (42/144)/2,
  // half-width t_{0.975,2} s / sqrt 3 = 4.303 sqrt(7)/12
  close(row.metrics.runGap!.mean, 7.75 / 3);
  assert.ok(Math.abs(row.metrics.runGap!.halfWidth! - (4.303 * Math.sqrt(7)) / 12) < 5e-4);
  const table = formatSummaryTable([row]);
  const [header, , line, note] = table.split('\n');
  assert.match(header!, /FT AUC\s+Avg Gap\s+mean run gap$/);
  assert.match(line!, /^ft\s+random-10pct\s+3\s.*\s1\.08\s+2\.58 ± 0\.95$/);
  assert.match(note!, /^Avg Gap: \|mean\(method\) - mean\(retrain\)\| per metric over UA, RA, TA, MIA, averaged/);
  // the results table prints the same across-run table under the per-run one
  assert.match(formatResultsTable(ft), /ft\s+random-10pct\s+3\s.*\s1\.08\s+2\.58 ± 0\.95/);
});

test('Avg Gap across runs: metrics every run compares, and errors that name the result', () => {
  // a run that compared no MIA: the gap of the means is over UA, RA, TA for all three
  const mixed = [ft[0]!, ft[1]!, { ...ft[2]!, metrics: { ...ft[2]!.metrics, avgGapOver: ['UA', 'RA', 'TA'] } }];
  const [row] = summarizeAcrossSeeds(mixed);
  assert.deepEqual(row!.avgGap.over, ['UA', 'RA', 'TA']);
  assert.ok(Math.abs(row!.avgGap.avgGap - (2 / 3 + 2 + 2 / 3) / 3) < 1e-12);
  const noGoldMia = { ...ft[1]!, gold: { UA: 91, RA: 100, TA: 89 } };
  assert.throws(() => summarizeAcrossSeeds([ft[0]!, noGoldMia]), /result ft-0-1-0 \(ft, random-10pct\) compares 'MIA' in its Avg Gap but its gold model has no finite value for it; re-run the cell/);
});

test('runs pair up only when original model, forget-set draw and unlearning run are all the same (seedsOf)', () => {
  // "ft" and "other" share the unlearning seed 0 in all three runs, but only two runs have all three seeds equal
  const other = [
    run('other', { original: 0, forgetSet: 0, unlearning: 0 }, { UA: 90, RA: 100, TA: 90, MIA: 50 }, { UA: 90, RA: 100, TA: 90, MIA: 50 }, 0),
    run('other', { original: 0, forgetSet: 1, unlearning: 0 }, { UA: 91, RA: 100, TA: 89, MIA: 51 }, { UA: 91, RA: 100, TA: 89, MIA: 51 }, 0),
    run('other', { original: 2, forgetSet: 0, unlearning: 0 }, { UA: 89, RA: 100, TA: 91, MIA: 49 }, { UA: 89, RA: 100, TA: 91, MIA: 49 }, 0),
  ];
  const c = compareMethods([...ft, ...other], 'ft', 'other', 'runGap');
  assert.deepEqual(
    c.pairs.map((p) => [p.seeds, p.a, p.b]),
    [
      [{ original: 0, forgetSet: 0, unlearning: 0 }, 2.25, 0],
      [{ original: 0, forgetSet: 1, unlearning: 0 }, 2.5, 0],
    ],
  );
  assert.deepEqual(summarizeAcrossSeeds(ft)[0]!.seeds, [
    { original: 0, forgetSet: 0, unlearning: 0 },
    { original: 0, forgetSet: 1, unlearning: 0 },
    { original: 1, forgetSet: 0, unlearning: 0 },
  ]);
});
