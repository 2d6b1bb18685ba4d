/**
 * Avg Gap (AMUN, arXiv 2503.00917, Sec. 5): the mean over the compared metrics of |method - retrain|, in
 * percentage points. This module imports nothing (no TensorFlow.js), so light callers such as the leaderboard
 * can use it through `@lethe/metrics/gap`.
 */

/** One run's metric values, by name (UA, RA, TA, MIA, ...); a metric a run lacks is undefined. */
export type RunMetrics = Readonly<Record<string, number | undefined>>;

/** Avg Gap of one run: the method's and the gold model's values of the same run. */
export function avgGap(method: RunMetrics, gold: RunMetrics, keys: readonly string[]): number {
  if (keys.length === 0) throw new Error('avgGap needs at least one metric to compare');
  let sum = 0;
  for (const key of keys) {
    const a = method[key];
    const b = gold[key];
    if (a === undefined || b === undefined) throw new Error(`avgGap: metric '${key}' is missing from the ${a === undefined ? 'method' : 'gold model'}'s results`);
    sum += Math.abs(a - b);
  }
  return sum / keys.length;
}

export interface GapOfMeans {
  /** mean over `over` of |methodMeans[k] - retrainMeans[k]|, percentage points */
  avgGap: number;
  /** the metrics compared, in the order given */
  over: string[];
  /** per metric: the method's mean over its runs */
  methodMeans: Record<string, number>;
  /** per metric: the retrained model's mean over its runs */
  retrainMeans: Record<string, number>;
  /** per metric: |methodMeans[k] - retrainMeans[k]| */
  gaps: Record<string, number>;
}

function meansOf(runs: readonly RunMetrics[], keys: readonly string[], who: 'method' | 'retrain'): Record<string, number> {
  if (runs.length === 0) throw new Error(`gapOfMeans: no ${who} runs`);
  const means: Record<string, number> = {};
  for (const key of keys) {
    let sum = 0;
    runs.forEach((run, i) => {
      const v = run[key];
      if (v === undefined || !Number.isFinite(v)) throw new Error(`gapOfMeans: ${who} run ${i} has no finite '${key}' (got ${v}); every run must have every compared metric`);
      sum += v;
    });
    means[key] = sum / runs.length;
  }
  return means;
}

/**
 * Avg Gap across runs as AMUN's tables take it: average each metric over the runs first, then the mean over the
 * metrics of |mean(method) - mean(retrain)| (Table 1's FT row at 10%: (0.67 + 3.36 + 2.12 + 2.08) / 4 = 2.06).
 * Not the mean of the per-run gaps: with paired runs that is never smaller (mean |d_i| >= |mean d_i|, the triangle
 * inequality) and is larger whenever a metric's difference to retrain changes sign between runs, as it does for
 * the methods whose gaps are near 0, the ones the tables compare most closely.
 * `methodRuns` and `retrainRuns` need not pair up or be as many: only their means enter.
 */
export function gapOfMeans(methodRuns: readonly RunMetrics[], retrainRuns: readonly RunMetrics[], keys: readonly string[]): GapOfMeans {
  if (keys.length === 0) throw new Error('gapOfMeans needs at least one metric to compare');
  if (new Set(keys).size !== keys.length) throw new Error(`gapOfMeans: a metric is listed twice in [${keys.join(', ')}]`);
  const methodMeans = meansOf(methodRuns, keys, 'method');
  const retrainMeans = meansOf(retrainRuns, keys, 'retrain');
  const gaps: Record<string, number> = {};
  let sum = 0;
  for (const key of keys) {
    gaps[key] = Math.abs(methodMeans[key]! - retrainMeans[key]!);
    sum += gaps[key];
  }
  return { avgGap: sum / keys.length, over: [...keys], methodMeans, retrainMeans, gaps };
}
