import jStat from 'jstat';

/**
 * Statistics across seeds: a benchmark repeats each cell over seeds (AMUN: 3 original models x 3 forget sets x
 * 3 unlearning runs), so a number is reported as a mean with its spread and a confidence interval, and two methods
 * are compared on the same (original model, forget set) pairs. Student's t distribution comes from jStat (npm
 * `jstat`), whose incomplete beta function is accurate to about 2e-8: ample for p-values and intervals. This module
 * imports nothing else (no TensorFlow.js), so light callers such as the leaderboard load it through
 * `@lethe/metrics/statistics`.
 */

function checkSample(values: readonly number[], who: string): void {
  if (values.length === 0) throw new Error(`${who}: no values`);
  values.forEach((v, i) => {
    if (!Number.isFinite(v)) throw new Error(`${who}: value ${i} is ${v}`);
  });
}

export function mean(values: readonly number[]): number {
  checkSample(values, 'mean');
  return values.reduce((a, b) => a + b, 0) / values.length;
}

/** Sample standard deviation (n - 1 in the denominator); 0 for a single value. */
export function sampleStd(values: readonly number[]): number {
  checkSample(values, 'sampleStd');
  if (values.length < 2) return 0;
  const m = mean(values);
  return Math.sqrt(values.reduce((a, v) => a + (v - m) ** 2, 0) / (values.length - 1));
}

/** The q-quantile of Student's t distribution with `degreesOfFreedom` degrees of freedom. */
export function studentTQuantile(q: number, degreesOfFreedom: number): number {
  if (!(q > 0 && q < 1)) throw new Error(`studentTQuantile: q must be in (0, 1), got ${q}`);
  if (!(degreesOfFreedom > 0)) throw new Error(`studentTQuantile: degrees of freedom must be positive, got ${degreesOfFreedom}`);
  return jStat.studentt.inv(q, degreesOfFreedom);
}

/** P(T <= t) for Student's t with `degreesOfFreedom` degrees of freedom. */
export function studentTCdf(t: number, degreesOfFreedom: number): number {
  if (!(degreesOfFreedom > 0)) throw new Error(`studentTCdf: degrees of freedom must be positive, got ${degreesOfFreedom}`);
  if (t === Infinity) return 1;
  if (t === -Infinity) return 0;
  return jStat.studentt.cdf(t, degreesOfFreedom);
}

export interface MeanSummary {
  n: number;
  mean: number;
  /** sample standard deviation (0 when n = 1) */
  std: number;
  /** confidence level of the interval, e.g. 0.95 */
  level: number;
  /** half-width t_{(1+level)/2, n-1} * std / sqrt(n); null when n < 2 (no interval from one value) */
  halfWidth: number | null;
  low: number | null;
  high: number | null;
}

/** Mean, sample std and the Student t confidence interval of the mean (default 95%). */
export function meanConfidenceInterval(values: readonly number[], level = 0.95): MeanSummary {
  checkSample(values, 'meanConfidenceInterval');
  if (!(level > 0 && level < 1)) throw new Error(`meanConfidenceInterval: level must be in (0, 1), got ${level}`);
  const n = values.length;
  const m = mean(values);
  const std = sampleStd(values);
  if (n < 2) return { n, mean: m, std, level, halfWidth: null, low: null, high: null };
  const halfWidth = (studentTQuantile((1 + level) / 2, n - 1) * std) / Math.sqrt(n);
  return { n, mean: m, std, level, halfWidth, low: m - halfWidth, high: m + halfWidth };
}

export interface PairedTTest {
  /** number of pairs */
  n: number;
  /** mean of a_i - b_i */
  meanDifference: number;
  /** sample std of a_i - b_i */
  stdDifference: number;
  /** t = meanDifference / (stdDifference / sqrt n) */
  t: number;
  degreesOfFreedom: number;
  /** two-sided p-value, P(|T| >= |t|) */
  pValue: number;
}

/**
 * Paired t-test of a against b (a_i and b_i measured on the same unit: here the same original model and forget
 * set). When all differences are equal the statistic is infinite (p = 0), or undefined when they are all 0
 * (t = NaN, p = 1: no evidence of a difference).
 */
export function pairedTTest(a: readonly number[], b: readonly number[]): PairedTTest {
  if (a.length !== b.length) throw new Error(`pairedTTest: ${a.length} values against ${b.length}; the samples must be paired`);
  if (a.length < 2) throw new Error(`pairedTTest: needs at least 2 pairs, got ${a.length}`);
  const d = a.map((v, i) => v - b[i]!);
  checkSample(d, 'pairedTTest');
  const n = d.length;
  const meanDifference = mean(d);
  const stdDifference = sampleStd(d);
  const degreesOfFreedom = n - 1;
  if (stdDifference === 0) {
    return meanDifference === 0
      ? { n, meanDifference, stdDifference, t: Number.NaN, degreesOfFreedom, pValue: 1 }
      : { n, meanDifference, stdDifference, t: Math.sign(meanDifference) * Infinity, degreesOfFreedom, pValue: 0 };
  }
  const t = meanDifference / (stdDifference / Math.sqrt(n));
  const pValue = Math.min(1, 2 * studentTCdf(-Math.abs(t), degreesOfFreedom));
  return { n, meanDifference, stdDifference, t, degreesOfFreedom, pValue };
}

/**
 * Kendall's rank correlation tau-b of two score lists over the same items (Kendall 1945's tie-corrected form):
 * (concordant - discordant) / sqrt((n0 - ties in a) (n0 - ties in b)), n0 = n(n-1)/2 pairs. 1: the same order,
 * -1: reversed, about 0: unrelated. Used to compare a reproduction's method ranking with a paper's.
 */
export function kendallTau(a: readonly number[], b: readonly number[]): number {
  if (a.length !== b.length) throw new Error(`kendallTau: ${a.length} scores against ${b.length}; both lists must score the same items`);
  if (a.length < 2) throw new Error(`kendallTau: needs at least 2 items, got ${a.length}`);
  checkSample(a, 'kendallTau');
  checkSample(b, 'kendallTau');
  let concordant = 0;
  let discordant = 0;
  let tiesA = 0;
  let tiesB = 0;
  for (let i = 0; i < a.length; i++) {
    for (let j = i + 1; j < a.length; j++) {
      const da = Math.sign(a[i]! - a[j]!);
      const db = Math.sign(b[i]! - b[j]!);
      if (da === 0) tiesA++;
      if (db === 0) tiesB++;
      if (da !== 0 && db !== 0) {
        if (da === db) concordant++;
        else discordant++;
      }
    }
  }
  const pairs = (a.length * (a.length - 1)) / 2;
  const denominator = Math.sqrt((pairs - tiesA) * (pairs - tiesB));
  if (denominator === 0) throw new Error('kendallTau: one list ranks every item equal; no order to compare');
  return (concordant - discordant) / denominator;
}
