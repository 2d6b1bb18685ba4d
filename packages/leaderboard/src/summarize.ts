import { avgGapAcrossRuns, commonGapMetrics } from '@lethe/harness/gap';
import { seedsOf, type AccuracyMetrics, type CellResult, type CellSeeds } from '@lethe/harness/results';

/** One leaderboard line: a method on one benchmark and setting, averaged over its seeds and forget sets. */
export interface LeaderboardRow {
  benchmark: string;
  setting: CellResult['cell']['setting'];
  method: string;
  /** number of result files averaged (seeds x forget sets) */
  runs: number;
  /** the distinct seeds of the runs (original model, forget-set draw, unlearning run), sorted */
  seeds: CellSeeds[];
  forgetSets: string[];
  /** mean accuracy on the forget set, percent */
  UA: number;
  /** mean accuracy on the retain set, percent */
  RA: number;
  /** mean accuracy on the test set, percent */
  TA: number;
  /**
   * Avg Gap as AMUN's tables take it, percentage points: the gap of the means, i.e. per metric |mean(method) -
   * mean(retrain)| over the runs, averaged over the metrics in avgGapOver (`avgGapAcrossRuns`; retrain's means from
   * the same runs' gold records). With several forget sets (e.g. random 10% and 50%), the mean of each forget
   * set's gap of the means: a gap compares a method with retrain on the same forget set, and pooling the means
   * across forget sets would let an error on one cancel an error on the other.
   */
  avgGap: number;
  /** the metrics Avg Gap compares: those every run of the row lists in its avgGapOver */
  avgGapOver: string[];
  /** the mean of the runs' own Avg Gaps (each run against its gold model), percentage points */
  meanRunGap: number;
  /** sample standard deviation of the runs' own Avg Gaps; 0 when there is one run */
  meanRunGapStd: number;
  /** mean wall time of the unlearning method, seconds */
  unlearnSeconds: number;
  /** mean unlearnSeconds / retrainSeconds over the runs that recorded it; null when none did */
  relativeToRetrain: number | null;
  /** the retrained (gold) model's metrics, averaged over the same runs: the targets for UA/RA/TA */
  gold: AccuracyMetrics;
  /** the original model's metrics before unlearning, averaged over the same runs */
  original: AccuracyMetrics;
}

const mean = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

function sampleStd(xs: readonly number[]): number {
  if (xs.length < 2) return 0;
  const m = mean(xs);
  return Math.sqrt(xs.reduce((a, x) => a + (x - m) ** 2, 0) / (xs.length - 1));
}

const meanMetrics = (ms: readonly AccuracyMetrics[]): AccuracyMetrics => ({
  UA: mean(ms.map((m) => m.UA)),
  RA: mean(ms.map((m) => m.RA)),
  TA: mean(ms.map((m) => m.TA)),
});

/**
 * Average result cells into one row per (benchmark, setting, method), sorted by Avg Gap ascending
 * (best first); ties are broken by benchmark, setting and method so the order is deterministic.
 */
export function summarize(results: readonly CellResult[]): LeaderboardRow[] {
  const groups = new Map<string, CellResult[]>();
  for (const r of results) {
    // JSON of a tuple is an unambiguous key even if names contain separators.
    const key = JSON.stringify([r.benchmark, r.cell.setting, r.cell.method]);
    const list = groups.get(key);
    if (list) list.push(r);
    else groups.set(key, [r]);
  }

  const rows: LeaderboardRow[] = [];
  for (const runs of groups.values()) {
    const first = runs[0]!;
    const relative = runs.map((r) => r.timing.relativeToRetrain).filter((x): x is number => typeof x === 'number');
    const runGaps = runs.map((r) => r.metrics.avgGap);
    const over = commonGapMetrics(runs);
    const byForgetSet = new Map<string, CellResult[]>();
    for (const r of runs) byForgetSet.set(r.cell.forgetSet, [...(byForgetSet.get(r.cell.forgetSet) ?? []), r]);
    const seeds = new Map(runs.map((r) => [JSON.stringify(seedsOf(r)), seedsOf(r)]));
    rows.push({
      benchmark: first.benchmark,
      setting: first.cell.setting,
      method: first.cell.method,
      runs: runs.length,
      seeds: [...seeds.values()].sort((x, y) => x.original - y.original || x.forgetSet - y.forgetSet || x.unlearning - y.unlearning),
      forgetSets: [...new Set(runs.map((r) => r.cell.forgetSet))].sort(),
      ...meanMetrics(runs.map((r) => r.metrics)),
      avgGap: mean([...byForgetSet.values()].map((set) => avgGapAcrossRuns(set, over).avgGap)),
      avgGapOver: over,
      meanRunGap: mean(runGaps),
      meanRunGapStd: sampleStd(runGaps),
      unlearnSeconds: mean(runs.map((r) => r.timing.unlearnSeconds)),
      relativeToRetrain: relative.length > 0 ? mean(relative) : null,
      gold: meanMetrics(runs.map((r) => r.gold)),
      original: meanMetrics(runs.map((r) => r.original)),
    });
  }

  return rows.sort(
    (a, b) =>
      a.avgGap - b.avgGap ||
      a.benchmark.localeCompare(b.benchmark) ||
      a.setting.localeCompare(b.setting) ||
      a.method.localeCompare(b.method),
  );
}

/** The label of a row's (benchmark, setting) group, used to facet charts and in tables. */
export const groupLabel = (row: Pick<LeaderboardRow, 'benchmark' | 'setting'>): string =>
  `${row.benchmark} · ${row.setting}`;

/** True for the retrain baseline, the reference every other method is measured against. */
export const isRetrain = (method: string): boolean => method.trim().toLowerCase() === 'retrain';
