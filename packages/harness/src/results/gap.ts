import { gapOfMeans, type GapOfMeans, type RunMetrics } from '@lethe/metrics/gap';
import type { CellResult } from './results.js';

/**
 * Avg Gap over several result files, as AMUN's tables report it. This module imports nothing heavy (no
 * TensorFlow.js), so the leaderboard loads it through `@lethe/harness/gap`.
 */
export interface AvgGapAcrossRuns extends GapOfMeans {
  /** results the means are over */
  runs: number;
  /** mean of the runs' own Avg Gap (each result's metrics.avgGap, over its own avgGapOver) */
  meanRunGap: number;
}

/** The metrics every result compares in its Avg Gap, in the first result's order. */
export function commonGapMetrics(results: readonly CellResult[]): string[] {
  const [first, ...rest] = results;
  if (!first) return [];
  return first.metrics.avgGapOver.filter((metric) => rest.every((r) => r.metrics.avgGapOver.includes(metric)));
}

const describe = (r: CellResult): string => `result ${r.cellHash} (${r.cell.label ?? r.cell.method}, ${r.cell.forgetSet})`;

/**
 * Avg Gap across runs = the gap of the means (`gapOfMeans` of @lethe/metrics): per metric, |mean over the runs of
 * the method's value - mean over the same runs of their gold models' value|, averaged over the metrics. The
 * retrain means come from each result's own `gold` record, so no retrain result file is needed. The metrics are
 * those every result lists in `avgGapOver` (results written under different evaluation settings compare over
 * what they share, and `over` says which), unless `over` names them. `meanRunGap` keeps the old figure, the mean
 * of the per-run gaps.
 *
 * There is no confidence interval for it: |mean difference| is not differentiable where the difference is 0,
 * which is where a good method's per-metric gaps sit (AMUN's best are tenths of a point), and there the
 * bootstrap over runs is inconsistent (Fang & Santos, "Inference on directionally differentiable functions",
 * Rev. Econ. Stud. 86(1), 2019), so its interval would not have the coverage it claims. The runs also share
 * original and gold models (AMUN: 3 x 3 x 3), which a bootstrap over runs would treat as independent. The
 * per-metric means carry their own t intervals; look at those for the spread.
 */
export function avgGapAcrossRuns(results: readonly CellResult[], over: readonly string[] = commonGapMetrics(results)): AvgGapAcrossRuns {
  if (results.length === 0) throw new Error('avgGapAcrossRuns: no results');
  if (over.length === 0) throw new Error(`avgGapAcrossRuns: no metric to compare (the results' avgGapOver: ${results.map((r) => `[${r.metrics.avgGapOver.join(', ')}]`).join(' vs ')})`);
  const method: RunMetrics[] = [];
  const retrain: RunMetrics[] = [];
  for (const r of results) {
    const m = r.metrics as unknown as RunMetrics;
    const g = r.gold as unknown as RunMetrics;
    for (const metric of over) {
      if (!Number.isFinite(m[metric])) throw new Error(`${describe(r)} compares '${metric}' in its Avg Gap but has no finite value for it; re-run the cell`);
      if (!Number.isFinite(g[metric])) throw new Error(`${describe(r)} compares '${metric}' in its Avg Gap but its gold model has no finite value for it; re-run the cell`);
    }
    method.push(m);
    retrain.push(g);
  }
  return {
    ...gapOfMeans(method, retrain, over),
    runs: results.length,
    meanRunGap: results.reduce((sum, r) => sum + r.metrics.avgGap, 0) / results.length,
  };
}
