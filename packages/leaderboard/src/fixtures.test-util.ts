// Test fixtures: MADE-UP numbers for display tests only. They are not measurements of any method.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { AccuracyMetrics, CellResult, MiaResult, RESULT_SCHEMA } from '@lethe/harness/results';

// A literal rather than the harness's value, so fixtures load without the harness's runtime imports;
// the type still breaks the build if the schema id changes.
const SCHEMA: typeof RESULT_SCHEMA = 'lethe.result/v1';

type WithMia = AccuracyMetrics & { MIA?: number };

export interface FakeCell {
  method: string;
  seed?: number;
  forgetSet?: string;
  benchmark?: string;
  setting?: CellResult['cell']['setting'];
  /** with MIA in both metrics and gold, Avg Gap compares it too (as the harness does when membership inference ran) */
  metrics: WithMia;
  gold?: WithMia;
  unlearnSeconds?: number;
  retrainSeconds?: number | null;
  createdAt?: string;
  label?: string;
  /** seeds apart (original, forget-set draw, unlearning run); default all `seed` */
  seeds?: { original: number; forgetSet: number; unlearning: number };
  /**
   * how MIA was measured when metrics.MIA is given: the primary attack's FT AUC is metrics.MIA (gold.MIA for the gold
   * model); with `efficacy`, an SVC MIA-efficacy too. Default rmia, K = 4, no mode recorded.
   */
  mia?: { attack?: string; mode?: string; referenceModels?: number; efficacy?: number; goldEfficacy?: number };
  hyperParameters?: Record<string, unknown>;
  hyperParameterSource?: CellResult['cell']['hyperParameterSource'];
  configHash?: string;
}

/** The `mia` record of a model whose FT AUC is `ftAuc` (see FakeCell.mia). */
function miaRecord(ftAuc: number, efficacy: number | undefined, m: NonNullable<FakeCell['mia']>): MiaResult {
  const attack = m.attack ?? 'rmia';
  const referenceModels = m.referenceModels ?? 4;
  return {
    attack,
    referenceModels,
    ftAuc,
    tprAt1Fpr: 2,
    efficacy: efficacy ?? null,
    ...(m.mode ? { mode: m.mode } : {}),
    byAttack: {
      [attack]: { ftAuc, tprAt1Fpr: 2, referenceModels, ...(m.mode ? { mode: m.mode } : {}) },
      ...(efficacy === undefined ? {} : { 'svc-mia': { efficacy } }),
    },
  };
}

const made: string[] = [];
process.on('exit', () => {
  for (const dir of made) fs.rmSync(dir, { recursive: true, force: true });
});

/** A fresh temp dir, removed when the test process exits. */
export function tempDir(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  made.push(dir);
  return dir;
}

const GOLD: WithMia = { UA: 90, RA: 99, TA: 91 };

/** A CellResult with the given numbers; avgGap is computed from metrics vs gold like the harness does. */
export function fakeResult(c: FakeCell): CellResult {
  const gold = c.gold ?? GOLD;
  const avgGapOver: Array<keyof WithMia> = c.metrics.MIA !== undefined && gold.MIA !== undefined ? ['UA', 'RA', 'TA', 'MIA'] : ['UA', 'RA', 'TA'];
  const avgGap = avgGapOver.reduce((sum, k) => sum + Math.abs(c.metrics[k]! - gold[k]!), 0) / avgGapOver.length;
  const unlearnSeconds = c.unlearnSeconds ?? 10;
  const retrainSeconds = c.retrainSeconds === undefined ? 100 : c.retrainSeconds;
  const withMia = c.metrics.MIA !== undefined && gold.MIA !== undefined;
  const mia = c.mia ?? {};
  return {
    schema: SCHEMA,
    benchmark: c.benchmark ?? 'fixture-bench',
    cellHash: `fixture-${c.label ?? c.method}-${c.seed ?? 0}-${JSON.stringify(c.seeds ?? null)}-${c.forgetSet ?? 'f0'}`,
    cell: {
      method: c.method,
      ...(c.label ? { label: c.label } : {}),
      setting: c.setting ?? 'retain',
      forgetSet: c.forgetSet ?? 'random-10pct',
      seed: c.seeds?.unlearning ?? c.seed ?? 0,
      ...(c.seeds ? { seeds: c.seeds } : {}),
      hyperParameters: c.hyperParameters ?? {},
      ...(c.hyperParameterSource ? { hyperParameterSource: c.hyperParameterSource } : {}),
    },
    metrics: { ...c.metrics, avgGap, avgGapOver },
    ...(withMia ? { mia: miaRecord(c.metrics.MIA!, mia.efficacy, mia) } : {}),
    gold: withMia ? { ...gold, mia: miaRecord(gold.MIA!, mia.goldEfficacy, mia) } : gold,
    original: { UA: 100, RA: 100, TA: 92 },
    sizes: { train: 1000, forget: 100, retain: 900, test: 200 },
    timing: {
      unlearnSeconds,
      retrainSeconds,
      relativeToRetrain: retrainSeconds === null ? null : unlearnSeconds / retrainSeconds,
    },
    provenance: {
      lethe: { '@lethe/harness': '0.1.0', '@lethe/core': '0.1.0' },
      tfjs: '4.22.0',
      backend: { name: 'fixture-backend', tfjsBackend: 'cpu', version: '0.0.0-fixture' },
      node: 'v20.0.0',
      platform: 'linux x64',
      cpus: '2 x fixture CPU',
      gitCommit: null,
      dataChecksum: 'sha256:fixture',
      configHash: c.configHash ?? 'fixture',
      createdAt: c.createdAt ?? '2025-01-01T00:00:00.000Z',
    },
  };
}

/** Four methods x two seeds of made-up results, including retrain (gap 0) and a name needing escaping. */
export function fixtureResults(): CellResult[] {
  const methods: Array<[string, AccuracyMetrics, AccuracyMetrics]> = [
    ['retrain', GOLD, GOLD],
    ['finetune', { UA: 96, RA: 98, TA: 90 }, { UA: 94, RA: 98, TA: 90 }],
    ['grad-ascent', { UA: 70, RA: 90, TA: 85 }, { UA: 74, RA: 92, TA: 83 }],
    ['<b>evil</b> & "co"', { UA: 91, RA: 97, TA: 90 }, { UA: 89, RA: 97, TA: 92 }],
  ];
  return methods.flatMap(([method, s0, s1]) => [
    fakeResult({ method, seed: 0, metrics: s0, unlearnSeconds: method === 'retrain' ? 100 : 5 }),
    fakeResult({ method, seed: 1, metrics: s1, unlearnSeconds: method === 'retrain' ? 100 : 7, createdAt: '2025-01-02T00:00:00.000Z' }),
  ]);
}

export const FIXTURE_METHOD_COUNT = 4;

/**
 * Three runs of "salun" that land on both sides of retrain, so the gap of the means and the runs' own gaps differ.
 * Per metric (method - gold):
 *   random-10pct seed 0: UA +2, RA -1, TA 0, MIA +3 -> own gap 6/4 = 1.5
 *   random-10pct seed 1: UA -2, RA -1, TA -1, MIA -2 -> own gap 6/4 = 1.5
 *   random-50pct seed 0: UA -2, RA -2, TA -1, MIA +3 -> own gap 8/4 = 2
 */
export function straddlingResults(): CellResult[] {
  return [
    fakeResult({ method: 'salun', seed: 0, metrics: { UA: 92, RA: 98, TA: 91, MIA: 53 }, gold: { UA: 90, RA: 99, TA: 91, MIA: 50 } }),
    fakeResult({ method: 'salun', seed: 1, metrics: { UA: 88, RA: 98, TA: 90, MIA: 48 }, gold: { UA: 90, RA: 99, TA: 91, MIA: 50 } }),
    fakeResult({ method: 'salun', seed: 0, forgetSet: 'random-50pct', metrics: { UA: 80, RA: 97, TA: 88, MIA: 55 }, gold: { UA: 82, RA: 99, TA: 89, MIA: 52 } }),
  ];
}

/** Write results as JSON files into a fresh temp dir (one file per cell, nested like the harness does). */
export function writeFixtureDir(results: readonly CellResult[] = fixtureResults()): string {
  const dir = tempDir('lethe-leaderboard-fixture-');
  results.forEach((r, i) => {
    const sub = path.join(dir, r.benchmark);
    fs.mkdirSync(sub, { recursive: true });
    fs.writeFileSync(path.join(sub, `cell-${i}.json`), JSON.stringify(r, null, 2));
  });
  return dir;
}

/**
 * Made-up results with membership inference and three runs per method (seeds 0, 1, 2 of the original model), rmia
 * online with K = 8 and an SVC MIA-efficacy; gold UA 90, RA 99, TA 91, FT AUC 50, MIA-efficacy 20 in every run.
 * finetune's hyper-parameters come from a search record, the others' from the config.
 */
export function multiRunResults(): CellResult[] {
  const gold = { UA: 90, RA: 99, TA: 91, MIA: 50 };
  const runs: Array<[method: string, perSeed: Array<{ UA: number; RA: number; TA: number; MIA: number; efficacy: number }>]> = [
    ['retrain', [0, 1, 2].map(() => ({ ...gold, efficacy: 20 }))],
    ['finetune', [{ UA: 96, RA: 98, TA: 90, MIA: 53, efficacy: 14 }, { UA: 94, RA: 96, TA: 88, MIA: 55, efficacy: 12 }, { UA: 92, RA: 97, TA: 89, MIA: 54, efficacy: 13 }]],
    ['salun', [{ UA: 91, RA: 98, TA: 91, MIA: 51, efficacy: 19 }, { UA: 89, RA: 98, TA: 90, MIA: 50, efficacy: 21 }, { UA: 90, RA: 97, TA: 90, MIA: 52, efficacy: 18 }]],
    ['gradient-ascent', [{ UA: 70, RA: 90, TA: 85, MIA: 40, efficacy: 45 }, { UA: 74, RA: 92, TA: 83, MIA: 42, efficacy: 40 }, { UA: 72, RA: 91, TA: 84, MIA: 41, efficacy: 42 }]],
  ];
  return runs.flatMap(([method, perSeed]) =>
    perSeed.map(({ efficacy, ...metrics }, seed) =>
      fakeResult({
        method,
        seeds: { original: seed, forgetSet: 0, unlearning: 0 },
        metrics,
        gold,
        mia: { mode: 'online', referenceModels: 8, efficacy, goldEfficacy: 20 },
        hyperParameters: method === 'finetune' ? { epochs: 3, lr: 0.01 } : {},
        ...(method === 'finetune'
          ? { hyperParameterSource: { kind: 'search' as const, file: 'fixture-bench.tuning.json', searchKey: 'abc123', candidates: 4, validationAvgGap: 0.75, validation: { originalSeed: 0, forgetSetSeed: 100, unlearningSeed: 0 } } }
          : {}),
        unlearnSeconds: method === 'retrain' ? 100 : 5 + seed,
      }),
    ),
  );
}
