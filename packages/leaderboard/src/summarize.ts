import { avgGapAcrossRuns, commonGapMetrics } from '@lethe/harness/gap';
import { rocAttackOf, seedsOf, type AccuracyMetrics, type CellResult, type CellSeeds, type HyperParameterSource, type MiaResult } from '@lethe/harness/results';
import { metricValue, type SummaryMetric } from '@lethe/harness/summary';
import { meanConfidenceInterval, type MeanSummary } from '@lethe/metrics/statistics';

/** The numbers a row gives with a 95% interval over its runs. */
export const INTERVAL_METRICS = ['UA', 'RA', 'TA', 'runGap', 'ftAuc', 'efficacy', 'unlearnSeconds'] as const;
export type IntervalMetric = (typeof INTERVAL_METRICS)[number];

/**
 * What a row's membership-inference numbers are, as its result files record them (`MiaResult`); each field lists the
 * distinct values over the runs (one, unless runs were evaluated differently).
 */
export interface RowMia {
  /** the attack behind FT AUC (`rocAttackOf`): 'rmia', 'lira'; empty when no run has an FT AUC */
  aucAttacks: string[];
  /** that attack's mode ('online', 'offline') where the result records one */
  modes: string[];
  /** reference models behind the FT AUC (K) */
  referenceModels: number[];
  /** the attack behind MIA-efficacy ('svc-mia'); empty when no run has one */
  efficacyAttacks: string[];
  /** the primary attack (`mia.attack`), whose score is MIA in Avg Gap, with which of its numbers that is */
  primary: string[];
}

/** One hyper-parameter setting a row's runs used, where it came from, and how many runs used it. */
export interface RowHyperParameters {
  values: Record<string, unknown>;
  /** `cell.hyperParameterSource`; absent in older result files (the config) */
  source: HyperParameterSource;
  runs: number;
}

/** One leaderboard line: a method (by its label) on one benchmark and setting, averaged over its seeds and forget sets. */
export interface LeaderboardRow {
  benchmark: string;
  setting: CellResult['cell']['setting'];
  /** the registry name of the unlearner */
  method: string;
  /** the display name (`cell.label`, else the method); rows are one per label, as `compareMethods` pairs them */
  label: string;
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
  /**
   * Mean, std and 95% Student-t interval over the runs (the harness's `metricValue` and `meanConfidenceInterval`, as
   * `lethe report` computes them): UA, RA, TA, the runs' own gaps (`runGap`), FT AUC and MIA-efficacy (percent, when
   * the runs have them) and the unlearning time. halfWidth is null with one run.
   */
  intervals: Partial<Record<IntervalMetric, MeanSummary>>;
  /** what the MIA numbers are (attack, mode, K); null when no run ran membership inference */
  mia: RowMia | null;
  /** the retrained models' FT AUC and MIA-efficacy over the same runs (the targets), when recorded */
  goldMia: { ftAuc: number | null; efficacy: number | null };
  /** the distinct hyper-parameter settings of the runs (one unless runs differ), with their source */
  hyperParameters: RowHyperParameters[];
  /** the result files averaged, for details (provenance) and paired tests */
  runResults: CellResult[];
}

const mean = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

function sampleStd(xs: readonly number[]): number {
  if (xs.length < 2) return 0;
  const m = mean(xs);
  return Math.sqrt(xs.reduce((a, x) => a + (x - m) ** 2, 0) / (xs.length - 1));
}

/** The attack behind MIA-efficacy: the primary attack when it has one, else the first that does (as rocAttackOf for FT AUC). */
export function efficacyAttackOf(mia: Pick<MiaResult, 'attack' | 'efficacy' | 'byAttack'>): string | null {
  if (mia.efficacy === null) return null;
  if (!mia.byAttack || mia.byAttack[mia.attack]?.efficacy !== undefined) return mia.attack;
  return Object.entries(mia.byAttack).find(([, r]) => r.efficacy !== undefined)?.[0] ?? null;
}

/** Which of the primary attack's numbers is MIA in Avg Gap: its FT AUC when it has one, else its MIA-efficacy. */
export function primaryScoreOf(mia: MiaResult): string {
  return `${mia.attack} ${rocAttackOf(mia) === mia.attack ? 'FT AUC' : 'MIA-efficacy'}`;
}

const distinctSorted = <T extends string | number>(xs: readonly T[]): T[] => [...new Set(xs)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));

function rowMia(runs: readonly CellResult[]): RowMia | null {
  const mias = runs.map((r) => r.mia).filter((m): m is MiaResult => m !== undefined);
  if (mias.length === 0) return null;
  const auc = mias.map((m) => ({ m, attack: rocAttackOf(m) })).filter((x): x is { m: MiaResult; attack: string } => x.attack !== null);
  return {
    aucAttacks: distinctSorted(auc.map((x) => x.attack)),
    modes: distinctSorted(auc.map((x) => x.m.byAttack?.[x.attack]?.mode ?? (x.attack === x.m.attack ? x.m.mode : undefined)).filter((x): x is string => x !== undefined)),
    referenceModels: distinctSorted(auc.map((x) => x.m.byAttack?.[x.attack]?.referenceModels ?? x.m.referenceModels)),
    efficacyAttacks: distinctSorted(mias.map(efficacyAttackOf).filter((x): x is string => x !== null)),
    primary: distinctSorted(mias.map(primaryScoreOf)),
  };
}

function intervalsOf(runs: readonly CellResult[]): LeaderboardRow['intervals'] {
  const out: LeaderboardRow['intervals'] = {};
  for (const metric of INTERVAL_METRICS) {
    const values = runs.map((r) => metricValue(r, metric as SummaryMetric)).filter((v): v is number => v !== null);
    if (values.length > 0) out[metric] = meanConfidenceInterval(values, 0.95);
  }
  return out;
}

const meanOrNull = (xs: ReadonlyArray<number | null | undefined>): number | null => {
  const finite = xs.filter((x): x is number => typeof x === 'number' && Number.isFinite(x));
  return finite.length > 0 ? mean(finite) : null;
};

/** The distinct hyper-parameter settings (with their source) of some runs, in the order first seen. */
function hyperParametersOf(runs: readonly CellResult[]): RowHyperParameters[] {
  const seen = new Map<string, RowHyperParameters>();
  for (const r of runs) {
    const source: HyperParameterSource = r.cell.hyperParameterSource ?? { kind: 'config' };
    const key = JSON.stringify([r.cell.hyperParameters, source]);
    const entry = seen.get(key);
    if (entry) entry.runs++;
    else seen.set(key, { values: r.cell.hyperParameters, source, runs: 1 });
  }
  return [...seen.values()];
}

const meanMetrics = (ms: readonly AccuracyMetrics[]): AccuracyMetrics => ({
  UA: mean(ms.map((m) => m.UA)),
  RA: mean(ms.map((m) => m.RA)),
  TA: mean(ms.map((m) => m.TA)),
});

/**
 * Average result cells into one row per (benchmark, setting, method label), sorted by Avg Gap ascending
 * (best first); ties are broken by benchmark, setting and label so the order is deterministic.
 */
export function summarize(results: readonly CellResult[]): LeaderboardRow[] {
  const groups = new Map<string, CellResult[]>();
  for (const r of results) {
    // JSON of a tuple is an unambiguous key even if names contain separators.
    const key = JSON.stringify([r.benchmark, r.cell.setting, r.cell.label ?? r.cell.method]);
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
      label: first.cell.label ?? first.cell.method,
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
      intervals: intervalsOf(runs),
      mia: rowMia(runs),
      goldMia: { ftAuc: meanOrNull(runs.map((r) => r.gold.mia?.ftAuc)), efficacy: meanOrNull(runs.map((r) => r.gold.mia?.efficacy)) },
      hyperParameters: hyperParametersOf(runs),
      runResults: runs,
    });
  }

  return rows.sort(
    (a, b) =>
      a.avgGap - b.avgGap ||
      a.benchmark.localeCompare(b.benchmark) ||
      a.setting.localeCompare(b.setting) ||
      a.label.localeCompare(b.label),
  );
}

/** The label of a row's (benchmark, setting) group, used to facet charts and in tables. */
export const groupLabel = (row: Pick<LeaderboardRow, 'benchmark' | 'setting'>): string =>
  `${row.benchmark} · ${row.setting}`;

/** True for the retrain baseline, the reference every other method is measured against. */
export const isRetrain = (method: string): boolean => method.trim().toLowerCase() === 'retrain';
