/**
 * ROC analysis of a membership score: positives are the samples whose membership is tested (the forget set
 * D_f), negatives known non-members (the test set D_t); a higher score means "more likely a member".
 */

function checkScores(name: string, scores: ArrayLike<number>): void {
  if (scores.length === 0) throw new Error(`ROC: no ${name} scores`);
  for (let i = 0; i < scores.length; i++) if (Number.isNaN(scores[i]!)) throw new Error(`ROC: ${name} score ${i} is NaN`);
}

/**
 * Area under the ROC curve = P(score of a random positive > score of a random negative) + 1/2 P(equal): the
 * Mann-Whitney U statistic over n+ n-, with ties counted one half (so it equals the trapezoidal area under the
 * ROC curve drawn through every distinct threshold). 0.5 = the score tells nothing. O((n+ + n-) log(n+ + n-)).
 */
export function rocAuc(positives: ArrayLike<number>, negatives: ArrayLike<number>): number {
  checkScores('positive', positives);
  checkScores('negative', negatives);
  const n = positives.length + negatives.length;
  const values = new Float64Array(n);
  for (let i = 0; i < positives.length; i++) values[i] = positives[i]!;
  for (let i = 0; i < negatives.length; i++) values[positives.length + i] = negatives[i]!;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => values[a]! - values[b]!);
  // average ranks (1-based) over runs of equal values
  let positiveRankSum = 0;
  for (let start = 0; start < n; ) {
    let end = start + 1;
    while (end < n && values[order[end]!] === values[order[start]!]) end++;
    const averageRank = (start + 1 + end) / 2;
    for (let r = start; r < end; r++) if (order[r]! < positives.length) positiveRankSum += averageRank;
    start = end;
  }
  const np = positives.length;
  const u = positiveRankSum - (np * (np + 1)) / 2;
  return u / (np * negatives.length);
}

export interface RocPoint {
  /** predict "member" when score >= threshold */
  threshold: number;
  falsePositiveRate: number;
  truePositiveRate: number;
}

/** The ROC curve through every distinct score, from (0, 0) (threshold +Infinity) to (1, 1). */
export function rocCurve(positives: ArrayLike<number>, negatives: ArrayLike<number>): RocPoint[] {
  checkScores('positive', positives);
  checkScores('negative', negatives);
  const all = [...Array.from(positives, (s) => ({ s, positive: true })), ...Array.from(negatives, (s) => ({ s, positive: false }))].sort((a, b) => b.s - a.s);
  const points: RocPoint[] = [{ threshold: Infinity, falsePositiveRate: 0, truePositiveRate: 0 }];
  let tp = 0;
  let fp = 0;
  for (let i = 0; i < all.length; ) {
    const threshold = all[i]!.s;
    while (i < all.length && all[i]!.s === threshold) {
      if (all[i]!.positive) tp++;
      else fp++;
      i++;
    }
    points.push({ threshold, falsePositiveRate: fp / negatives.length, truePositiveRate: tp / positives.length });
  }
  return points;
}

/**
 * TPR at a fixed low FPR (Carlini et al. 2022, Sec. III: the metric that matters for membership inference): the
 * largest true-positive rate of any threshold whose false-positive rate is at most `maxFalsePositiveRate`.
 */
export function tprAtFpr(positives: ArrayLike<number>, negatives: ArrayLike<number>, maxFalsePositiveRate: number): number {
  if (!(maxFalsePositiveRate >= 0 && maxFalsePositiveRate <= 1)) throw new Error(`tprAtFpr: the false-positive rate must be in [0, 1], got ${maxFalsePositiveRate}`);
  let best = 0;
  for (const p of rocCurve(positives, negatives)) if (p.falsePositiveRate <= maxFalsePositiveRate + 1e-12) best = Math.max(best, p.truePositiveRate);
  return best;
}

/**
 * The false-positive rates a result keeps its ROC curve at, in percent: 0, then four per decade from 0.01% to 100%.
 * Log-spaced, because membership-inference ROC curves are read on log-log axes (Carlini et al. 2022) where the
 * low-FPR end is what matters; 18 points keep a result file small.
 */
export const ROC_FPR_GRID: readonly number[] = [0, ...Array.from({ length: 17 }, (_, i) => Number((100 * 10 ** (-4 + i / 4)).toPrecision(6)))];

/** A ROC curve kept at fixed false-positive rates: `tpr[i]` is the best true-positive rate at FPR <= `fpr[i]`, percent. */
export interface RocGrid {
  fpr: number[];
  tpr: number[];
}

/** The ROC curve at the FPR grid (percent): at each grid rate, the largest TPR of any threshold at or below it. */
export function rocAtFprGrid(positives: ArrayLike<number>, negatives: ArrayLike<number>, grid: readonly number[] = ROC_FPR_GRID): RocGrid {
  const curve = rocCurve(positives, negatives);
  const tpr = grid.map((percent) => {
    let best = 0;
    for (const p of curve) if (100 * p.falsePositiveRate <= percent + 1e-9) best = Math.max(best, p.truePositiveRate);
    return 100 * best;
  });
  return { fpr: [...grid], tpr };
}
