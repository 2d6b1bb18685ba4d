import { meanConfidenceInterval, pairedTTest, type MeanSummary, type PairedTTest } from '@lethe/metrics/statistics';
import { avgGapAcrossRuns, type AvgGapAcrossRuns } from '../results/gap.js';
import { seedsOf, type CellResult, type CellSeeds } from '../results/results.js';

/**
 * Statistics across seeds over result files: each (benchmark, setting, method label, forget set) summarised over
 * its runs, and paired comparisons of two methods on the same runs (same benchmark, setting, forget set and
 * seeds: original model, forget-set draw and unlearning run, `seedsOf`). Light: no TensorFlow.js, so the leaderboard
 * loads it through `@lethe/harness/summary`.
 */

/**
 * Numbers a result holds, by name: the metrics' keys, plus the MIA details and the timing. `runGap` is the
 * result's own Avg Gap (metrics.avgGap, this run against its gold model); its mean over runs is the "mean run
 * gap", not the Avg Gap of a multi-run row, which is the gap of the means (SummaryRow.avgGap).
 */
export const SUMMARY_METRICS = ['UA', 'RA', 'TA', 'MIA', 'runGap', 'ftAuc', 'tprAt1Fpr', 'efficacy', 'FR', 'MRR', 'alignmentGap', 'activationDistance', 'klForget', 'klTest', 'unlearnSeconds', 'relativeToRetrain'] as const;
/** A built-in summary metric, or any other number a result's `metrics` holds by name (a registered metric). */
export type SummaryMetric = (typeof SUMMARY_METRICS)[number] | (string & {});

/**
 * The metrics to summarise over some results: the built-in ones, then every other number their `metrics` hold (a
 * metric registered with `reported: true` lands there by name, so summaries, tables and reports need no edit for it).
 */
export function summaryMetricsOf(results: readonly CellResult[]): SummaryMetric[] {
  const extra = new Set<string>();
  const builtIn = new Set<string>([...SUMMARY_METRICS, 'avgGap']);
  for (const r of results) for (const [k, v] of Object.entries(r.metrics)) if (!builtIn.has(k) && (typeof v === 'number' || v === null)) extra.add(k);
  return [...SUMMARY_METRICS, ...extra];
}

/** One number of a result, or null when the result does not have it (older files, MIA not run, ...). */
export function metricValue(result: CellResult, metric: SummaryMetric): number | null {
  let value: number | null | undefined;
  switch (metric) {
    case 'ftAuc':
    case 'tprAt1Fpr':
    case 'efficacy':
      value = result.mia?.[metric as 'ftAuc' | 'tprAt1Fpr' | 'efficacy'];
      break;
    case 'unlearnSeconds':
    case 'relativeToRetrain':
      value = result.timing[metric as 'unlearnSeconds' | 'relativeToRetrain'];
      break;
    case 'runGap':
      value = result.metrics.avgGap;
      break;
    default:
      value = (result.metrics as Record<string, unknown>)[metric] as number | null | undefined;
  }
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}

export interface SummaryRow {
  benchmark: string;
  setting: CellResult['cell']['setting'];
  label: string;
  method: string;
  forgetSet: string;
  /** results summarised (one per run) */
  runs: number;
  /** each run's seeds (original model, forget-set draw, unlearning run), sorted */
  seeds: CellSeeds[];
  /** reference models behind the FT AUC (when every run used the same number) */
  referenceModels: number | null;
  /** per metric: mean, std and confidence interval over the runs that have it (runGap: the mean run gap) */
  metrics: Partial<Record<SummaryMetric, MeanSummary>>;
  /** Avg Gap as AMUN's tables take it: the gap of the means over the runs (no interval; see avgGapAcrossRuns) */
  avgGap: AvgGapAcrossRuns;
}

const compareSeeds = (x: CellSeeds, y: CellSeeds): number => x.original - y.original || x.forgetSet - y.forgetSet || x.unlearning - y.unlearning;

/** Group results by (benchmark, setting, label, forget set) and summarise every metric over the runs. */
export function summarizeAcrossSeeds(results: readonly CellResult[], level = 0.95): SummaryRow[] {
  const groups = new Map<string, CellResult[]>();
  for (const r of results) {
    const key = JSON.stringify([r.benchmark, r.cell.setting, r.cell.label ?? r.cell.method, r.cell.forgetSet]);
    const list = groups.get(key);
    if (list) list.push(r);
    else groups.set(key, [r]);
  }
  return [...groups.values()].map((runs) => {
    const first = runs[0]!;
    const metrics: SummaryRow['metrics'] = {};
    for (const metric of summaryMetricsOf(runs)) {
      const values = runs.map((r) => metricValue(r, metric)).filter((v): v is number => v !== null);
      if (values.length > 0) metrics[metric] = meanConfidenceInterval(values, level);
    }
    const counts = new Set(runs.map((r) => r.mia?.referenceModels ?? 0));
    return {
      benchmark: first.benchmark,
      setting: first.cell.setting,
      label: first.cell.label ?? first.cell.method,
      method: first.cell.method,
      forgetSet: first.cell.forgetSet,
      runs: runs.length,
      seeds: runs.map(seedsOf).sort(compareSeeds),
      referenceModels: counts.size === 1 ? [...counts][0]! : null,
      metrics,
      avgGap: avgGapAcrossRuns(runs),
    };
  });
}

export interface MethodComparison {
  metric: SummaryMetric;
  /** method labels: the test is of a - b */
  a: string;
  b: string;
  /** the pairs compared, one per (benchmark, setting, forget set, seeds) both methods have */
  pairs: Array<{ benchmark: string; forgetSet: string; seeds: CellSeeds; a: number; b: number }>;
  test: PairedTTest;
}

/**
 * Paired t-test of `metric` between two method labels over the runs they share: the same original model,
 * forget-set draw and unlearning seed (`seedsOf`). For Avg Gap the per-run values are `runGap`.
 */
export function compareMethods(results: readonly CellResult[], a: string, b: string, metric: SummaryMetric): MethodComparison {
  const keyOf = (r: CellResult): string => {
    const seeds = seedsOf(r);
    return JSON.stringify([r.benchmark, r.cell.setting, r.cell.forgetSet, seeds.original, seeds.forgetSet, seeds.unlearning]);
  };
  const byKey = (label: string): Map<string, CellResult> => {
    const map = new Map<string, CellResult>();
    for (const r of results) if ((r.cell.label ?? r.cell.method) === label) map.set(keyOf(r), r);
    if (map.size === 0) throw new Error(`compareMethods: no results for method '${label}'`);
    return map;
  };
  const left = byKey(a);
  const right = byKey(b);
  const pairs: MethodComparison['pairs'] = [];
  for (const [key, ra] of left) {
    const rb = right.get(key);
    if (!rb) continue;
    const va = metricValue(ra, metric);
    const vb = metricValue(rb, metric);
    if (va === null || vb === null) continue;
    pairs.push({ benchmark: ra.benchmark, forgetSet: ra.cell.forgetSet, seeds: seedsOf(ra), a: va, b: vb });
  }
  if (pairs.length < 2) throw new Error(`compareMethods: '${a}' and '${b}' share ${pairs.length} (forget set, seed) pair(s) with '${metric}'; a paired test needs at least 2`);
  return { metric, a, b, pairs, test: pairedTTest(pairs.map((p) => p.a), pairs.map((p) => p.b)) };
}

const fmt = (s: MeanSummary | undefined): string => (s === undefined ? '-' : s.halfWidth === null ? s.mean.toFixed(2) : `${s.mean.toFixed(2)} ± ${s.halfWidth.toFixed(2)}`);

/**
 * A plain-text table of summary rows: "mean ± CI half-width" per metric, then Avg Gap (the gap of the means, no
 * interval) and the mean run gap (mean ± CI half-width of the runs' own gaps), and a note naming the metrics
 * Avg Gap compares.
 */
export function formatSummaryTable(rows: readonly SummaryRow[], metrics: readonly SummaryMetric[] = ['UA', 'RA', 'TA', 'efficacy', 'ftAuc']): string {
  const names: Partial<Record<SummaryMetric, string>> = { efficacy: 'MIA-eff', ftAuc: 'FT AUC', runGap: 'mean run gap' };
  const header = ['method', 'forget set', 'seeds', ...metrics.map((m) => names[m] ?? m), 'Avg Gap', 'mean run gap'];
  const body = rows.map((r) => [r.label, r.forgetSet, String(r.runs), ...metrics.map((m) => fmt(r.metrics[m])), r.avgGap.avgGap.toFixed(2), fmt(r.metrics.runGap)]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => row[i]!.length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i < 3 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  const lists = [...new Set(rows.map((r) => r.avgGap.over.join(', ')))];
  const note =
    `Avg Gap: |mean(method) - mean(retrain)| per metric over ${lists.length === 0 ? '-' : lists.join(' or ')}, averaged (the gap of the means, as AMUN's tables; no interval). ` +
    "mean run gap: the mean of each run's own Avg Gap.";
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line), note].join('\n');
}
