import type { CellResult } from '@lethe/harness/results';
import { compareMethods, type MethodComparison } from '@lethe/harness/summary';

/** The level below which a paired test's two-sided p-value counts as a difference. */
export const BEATS_ALPHA = 0.05;

/** How the row method (a) compares with the column method (b) on the runs they share. */
export type BeatsVerdict = 'beats' | 'loses' | 'no difference' | 'too few pairs';

export interface BeatsCell {
  /** row and column method labels */
  a: string;
  b: string;
  verdict: BeatsVerdict;
  /** the paired test (mean of a − b, p-value, pairs), when there were at least 2 shared runs */
  comparison: MethodComparison | null;
  /** why there is no test (compareMethods' message), when there is none */
  reason: string | null;
}

export interface BeatsMatrix {
  /** the methods, in the order given (rows and columns) */
  labels: string[];
  /** cells[i][j]: labels[i] against labels[j]; null on the diagonal */
  cells: Array<Array<BeatsCell | null>>;
  /** the per-run number compared: each run's own Avg Gap against its retrained model (`runGap`; lower is better) */
  metric: 'runGap';
  alpha: number;
}

/**
 * Pairwise "beats" matrix of methods on one benchmark and setting: for each ordered pair, the harness's paired t-test
 * (`compareMethods`) of the runs' own Avg Gap over the runs both methods share (same forget set and seeds). a beats b
 * when its mean gap is lower and the two-sided p-value is below `alpha`; the tests are not corrected for multiple
 * comparisons (the page says so). Pairs sharing fewer than 2 runs get 'too few pairs'.
 */
export function beatsMatrix(results: readonly CellResult[], labels: readonly string[], alpha = BEATS_ALPHA): BeatsMatrix {
  const cells = labels.map((a, i) =>
    labels.map((b, j): BeatsCell | null => {
      if (i === j) return null;
      let comparison: MethodComparison;
      try {
        comparison = compareMethods(results, a, b, 'runGap');
      } catch (err) {
        return { a, b, verdict: 'too few pairs', comparison: null, reason: (err as Error).message };
      }
      const { meanDifference, pValue } = comparison.test;
      const verdict: BeatsVerdict = pValue < alpha && meanDifference !== 0 ? (meanDifference < 0 ? 'beats' : 'loses') : 'no difference';
      return { a, b, verdict, comparison, reason: null };
    }),
  );
  return { labels: [...labels], cells, metric: 'runGap', alpha };
}
