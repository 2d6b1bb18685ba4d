import assert from 'node:assert/strict';
import test from 'node:test';
import { RESULT_SCHEMA, type CellResult } from '../results/results.js';
import { AMUN_TABLE1_RANDOM10, compareRanks, rankComparisonMarkdown, ranksOf, reproductionTable } from './report.js';

/** A result whose UA, RA, TA and MIA are given, against a gold model with UA 90, RA 100, TA 90, MIA 50. */
function result(label: string, seed: number, m: { UA: number; RA: number; TA: number; MIA: number }): CellResult {
  const gold = { UA: 90, RA: 100, TA: 90, MIA: 50 };
  const gap = (Math.abs(m.UA - gold.UA) + Math.abs(m.RA - gold.RA) + Math.abs(m.TA - gold.TA) + Math.abs(m.MIA - gold.MIA)) / 4;
  return {
    schema: RESULT_SCHEMA,
    benchmark: 'repro',
    cellHash: `${label}-${seed}`,
    cell: { method: label, label, setting: 'retain', forgetSet: 'random-10pct', seed: 0, seeds: { original: seed, forgetSet: 0, unlearning: 0 }, hyperParameters: {} },
    metrics: { ...m, avgGap: gap, avgGapOver: ['UA', 'RA', 'TA', 'MIA'] },
    mia: { attack: 'rmia', mode: 'online', referenceModels: 8, ftAuc: m.MIA, tprAt1Fpr: 1, efficacy: 10, byAttack: { rmia: { ftAuc: m.MIA, mode: 'online' }, 'svc-mia': { efficacy: 10 } } },
    gold,
    original: { UA: 100, RA: 100, TA: 91 },
    sizes: { train: 10, forget: 1, retain: 9, test: 5 },
    timing: { unlearnSeconds: 30, retrainSeconds: 300, relativeToRetrain: 0.1 },
    provenance: { lethe: {}, tfjs: '4.22.0', backend: { name: 'native', tfjsBackend: 'cpu', version: '0.1.0' }, node: 'v20', platform: 'linux', cpus: '2', gitCommit: null, dataChecksum: 'x', configHash: 'y', createdAt: '2026-01-01T00:00:00.000Z' },
  };
}

test('ranks: lowest first, ties share their mean rank', () => {
  assert.deepEqual(ranksOf([0.62, 2.06, 0.68, 1.44]), [1, 4, 2, 3]);
  assert.deepEqual(ranksOf([3, 1, 3, 2]), [3.5, 1, 3.5, 2]);
});

test('the reproduction table: mean ± 95% t half-width per metric, Avg Gap as the gap of the means', () => {
  // finetune over 3 runs: UA 92, 94, 96 (mean 94, s = 2, t_{0.975,2} = 4.303 -> half-width 4.303 * 2 / sqrt(3) = 4.97)
  const runs = [92, 94, 96].map((UA, seed) => result('finetune', seed, { UA, RA: 99, TA: 89, MIA: 52 }));
  const { markdown, summary } = reproductionTable(runs, 'repro');
  // gap of the means: (|94 - 90| + |99 - 100| + |89 - 90| + |52 - 50|) / 4 = 2
  assert.equal(summary[0]!.avgGap.avgGap, 2);
  assert.match(markdown, /\| FT AUC \(rmia online, K=8\) \|/);
  assert.match(markdown, /\| finetune \| 3 \| 94\.00 ± 4\.97 \| 99\.00 ± 0\.00 \|/);
  assert.match(markdown, /\| 2\.00 \|/);
  // the original model (UA 100, RA 100, TA 91, no MIA recorded) against the gold model: no MIA, so no gap over it
  assert.doesNotMatch(markdown, /\(original, before unlearning\)/);
  const withMia = runs.map((r) => ({ ...r, original: { ...r.original, MIA: 56 } }));
  // (|100 - 90| + |100 - 100| + |91 - 90| + |56 - 50|) / 4 = 4.25, over the 3 distinct original models
  assert.match(reproductionTable(withMia, 'repro').markdown, /\| \(original, before unlearning\) \| 3 \| 100\.00 ± 0\.00 \| 100\.00 ± 0\.00 \| 91\.00 ± 0\.00 \| 56\.00 ± 0\.00 \| - \| 4\.25 \|/);
  assert.throws(() => reproductionTable(runs, 'other'), /no results of benchmark 'other'; benchmarks found: repro/);
});

test("rank comparison with AMUN's Table 1: the paper's order, Lethe's order, Kendall's tau", () => {
  // Lethe's gaps in the paper's order except that finetune beats random-label
  const gaps: Record<string, number> = { amun: 1, 'amun-salun': 2, salun: 3, 'random-label': 5, finetune: 4, 'l1-sparse': 6, 'boundary-shrink': 7, 'gradient-ascent': 8 };
  const results = Object.entries(gaps).map(([label, g]) => result(label, 0, { UA: 90 + 4 * g, RA: 100, TA: 90, MIA: 50 }));
  const { summary } = reproductionTable(results, 'repro');
  const comparison = compareRanks(summary, AMUN_TABLE1_RANDOM10);
  assert.equal(comparison.rows.length, 8);
  assert.deepEqual(comparison.missing, []);
  // one discordant pair of 28: tau = (27 - 1) / 28
  assert.ok(Math.abs(comparison.tau - 26 / 28) < 1e-12);
  const markdown = rankComparisonMarkdown(comparison);
  assert.match(markdown, /\| AMUN \(amun\) \| 0\.62 \| 1 \| 1\.00 \| 1 \|/);
  assert.match(markdown, /Kendall's tau-b between the two orders: 0\.93 over 8 methods\./);
  // with fewer methods, the missing ones are named
  const partial = compareRanks(summary.filter((r) => r.label !== 'salun'), AMUN_TABLE1_RANDOM10);
  assert.deepEqual(partial.missing, ['SalUn']);
});
