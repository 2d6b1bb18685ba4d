import { equalizedOutReferences, meanOf, type ReferenceSignal } from './references.js';

/**
 * RMIA (Zarifzadeh et al. 2024, "Low-Cost High-Power Membership Inference Attacks", ICML 2024). For a sample x,
 * Pr(x|theta) is a per-sample signal of the attacked model (a true-label probability: the softmax one, or AMUN's
 * taylor-soft-margin one) and Pr(x) its prior, estimated from reference models. With
 *
 *   LR(x, z) = (Pr(x|theta) / Pr(x)) / (Pr(z|theta) / Pr(z)),
 *
 * the score of x is the fraction of population samples z with LR(x, z) > gamma. The two variants differ in Pr(x):
 * - offline (`rmiaOfflineScores`): only reference models that did not train on x, corrected by the parameter a;
 * - online (`rmiaOnlineScores`): the mean over all K reference models, which trained on random halves of a pool
 *   that holds every scored sample, so x is IN for about half of them and OUT for the rest.
 */

export interface RmiaOptions {
  /**
   * The offline approximation parameter a: with OUT models only, Pr(x) = (Pr_IN(x) + Pr_OUT(x)) / 2 is
   * estimated with Pr_IN(x) ~ a Pr_OUT(x) + (1 - a), i.e. Pr(x) = ((1 + a) Pr_OUT(x) + (1 - a)) / 2
   * (Zarifzadeh et al. 2024, offline RMIA; a is tuned per data set there, 0.3 is the default of their public
   * code, ml_privacy_meter).
   */
  offlineA: number;
  /** gamma: x "dominates" z when LR(x, z) = (Pr(x|theta)/Pr(x)) / (Pr(z|theta)/Pr(z)) exceeds it (1 in their public code) */
  gamma: number;
  /**
   * positions (into the scored samples) of the population samples z. Each one's Pr(z) comes from its own OUT
   * reference models, like every scored sample's, so z may be IN for some reference models.
   */
  population: ArrayLike<number>;
  /** OUT reference models per sample (default: the fewest any scored sample has; see equalizedOutReferences) */
  outReferences?: number;
  seed: number;
}

/**
 * Offline RMIA: the score of x is the fraction of population samples z with LR(x, z) > gamma, where Pr(.) is the
 * average of Pr(.|reference) over OUT reference models with the offline approximation above. The population is a
 * list of positions into the scored samples; a sample that is itself in the population is not compared with itself
 * (the fraction is over the others).
 *
 * `target` and `references.values` are probability-like signals (softmax or taylor-soft-margin), not logit-scaled ones.
 */
export function rmiaOfflineScores(target: ArrayLike<number>, references: ReferenceSignal, options: RmiaOptions): Float64Array {
  const who = 'RMIA';
  const { offlineA: a, gamma } = options;
  if (!(a >= 0 && a <= 1)) throw new Error(`${who}: the offline parameter a must be in [0, 1], got ${a}`);
  checkGamma(gamma, who);
  const { chosen } = equalizedOutReferences(target, references, { ...(options.outReferences !== undefined ? { count: options.outReferences } : {}), seed: options.seed, who });
  const n = target.length;
  const ratio = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const prOut = meanOf(references.values, chosen[i]!, i);
    // a softmax prior is >= 0, and 0 only by underflow: keep the ratio finite. A taylor-soft-margin prior can be
    // negative (see taylorSoftMarginOf) and keeps its sign.
    const pr = ((1 + a) * prOut + (1 - a)) / 2;
    ratio[i] = target[i]! / (pr === 0 ? Number.MIN_VALUE : pr);
  }
  return relativeScores(ratio, options.population, gamma, who);
}

export interface RmiaOnlineOptions {
  /** x "dominates" z when LR(x, z) exceeds it; AMUN's rmia_evaluate.py and the RMIA authors' online configuration use 2 */
  gamma: number;
  /** positions (into the scored samples) of the population samples z; see `relativeScores` */
  population: ArrayLike<number>;
}

/**
 * Online RMIA as AMUN evaluates with it (Ali-E/AMUN, rmia_evaluate.py, `compute_rmia_online` with its default
 * `exclusive=False`): Pr(x) is the plain mean of the signal over all K reference models, IN and OUT alike,
 *
 *   Pr(x) = (1/K) sum_k Pr(x|theta_k),
 *
 * and the same for every population sample z; then score(x) = fraction of the population z != x with
 * LR(x, z) > gamma. (The RMIA authors' own code, ml_privacy_meter research/2023_rmia/main.py, takes a 20%-trimmed
 * mean over equally many IN and OUT models instead; AMUN's plain mean is what is reproduced here.)
 *
 * The reference models must have trained on random halves of a pool holding the scored samples (AMUN: the 60,000
 * images of CIFAR-10's train + test sets), so that the mean mixes IN and OUT models for members and non-members
 * alike; `references.included` is not read here (the registry's `rmia` checks it).
 */
export function rmiaOnlineScores(target: ArrayLike<number>, references: ReferenceSignal, options: RmiaOnlineOptions): Float64Array {
  const who = 'RMIA (online)';
  checkGamma(options.gamma, who);
  const K = references.values.length;
  if (K === 0) throw new Error(`${who}: no reference models`);
  const n = target.length;
  references.values.forEach((v, k) => {
    if (v.length !== n) throw new Error(`${who}: reference model ${k} has ${v.length} signals for ${n} samples`);
  });
  const ratio = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let sum = 0;
    for (let k = 0; k < K; k++) sum += references.values[k]![i]!;
    const prior = sum / K;
    if (prior === 0) throw new Error(`${who}: sample ${i} has Pr(x) = 0 (the mean of its ${K} reference signals), so Pr(x|theta)/Pr(x) is undefined`);
    ratio[i] = target[i]! / prior;
  }
  return relativeScores(ratio, options.population, options.gamma, who);
}

function checkGamma(gamma: number, who: string): void {
  if (!(gamma > 0 && Number.isFinite(gamma))) throw new Error(`${who}: gamma must be a positive number, got ${gamma}`);
}

/**
 * RMIA's pairwise test, given every sample's ratio r = Pr(x|theta)/Pr(x): score(x) = the fraction of population
 * samples z (z != x) with r_x / r_z > gamma. Ratios are compared as IEEE division would: r_z > 0 counts when
 * r_z < r_x / gamma, r_z < 0 when r_z > r_x / gamma (dividing by a negative number flips the test), and r_z = 0
 * when r_x > 0 (r_x / 0 = +infinity; 0 / 0 is no count). Negative ratios only arise from signals that can be
 * negative (taylor-soft-margin). O((n + P) log P) with P population samples, by binary search in sorted ratios.
 */
export function relativeScores(ratio: Float64Array, population: ArrayLike<number>, gamma: number, who: string): Float64Array {
  const n = ratio.length;
  for (let i = 0; i < n; i++) if (Number.isNaN(ratio[i]!)) throw new Error(`${who}: the ratio Pr(x|theta)/Pr(x) of sample ${i} is NaN`);
  const populationIndex = Int32Array.from(population);
  if (populationIndex.length === 0) throw new Error(`${who}: the population is empty`);
  const isPopulation = new Uint8Array(n);
  const positives: number[] = [];
  const negatives: number[] = [];
  let zeros = 0;
  for (const p of populationIndex) {
    if (p < 0 || p >= n) throw new RangeError(`${who}: population position ${p} out of range for ${n} samples`);
    if (isPopulation[p]) throw new Error(`${who}: population position ${p} appears twice`);
    isPopulation[p] = 1;
    const r = ratio[p]!;
    if (r > 0) positives.push(r);
    else if (r < 0) negatives.push(r);
    else zeros++;
  }
  const sortedPositives = Float64Array.from(positives).sort();
  const sortedNegatives = Float64Array.from(negatives).sort();
  // number of entries of `sorted` below v (orEqual: below or equal to v)
  const countBelow = (sorted: Float64Array, v: number, orEqual: boolean): number => {
    let lo = 0;
    let hi = sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (sorted[mid]! < v || (orEqual && sorted[mid]! === v)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  // whether x dominates a z of ratio rz
  const dominates = (rx: number, rz: number): boolean => (rz > 0 ? rz < rx / gamma : rz < 0 ? rz > rx / gamma : rx > 0);
  const scores = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const rx = ratio[i]!;
    const bound = rx / gamma;
    let count = countBelow(sortedPositives, bound, false) + (sortedNegatives.length - countBelow(sortedNegatives, bound, true)) + (rx > 0 ? zeros : 0);
    let total = populationIndex.length;
    if (isPopulation[i]) {
      total -= 1;
      if (dominates(rx, rx)) count -= 1;
    }
    scores[i] = total > 0 ? count / total : 0;
  }
  return scores;
}
