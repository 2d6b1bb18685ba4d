import { gapOfMeans, kendallTau, meanConfidenceInterval, type MeanSummary } from '@lethe/metrics';
import { rocAttackOf, seedsOf, type CellResult } from '../results/results.js';
import { summarizeAcrossSeeds, type SummaryRow } from './summary.js';

/**
 * Stage 5 (report) for a reproduction: a benchmark's methods with each metric's mean and 95% interval over the runs,
 * Avg Gap as the papers take it (gap of the means), wall time as a fraction of retraining, and the ranking by Avg
 * Gap set beside a paper's, with Kendall's tau. Markdown, for the README and for notebooks.
 */

/** A paper's table column: Avg Gap per method, with the Lethe method labels the rows correspond to. */
export interface PaperTable {
  id: string;
  title: string;
  /** where the numbers come from */
  source: string;
  rows: Array<{ paperName: string; label: string; UA: number; RA: number; TA: number; MIA: number; avgGap: number }>;
}

/**
 * AMUN (arXiv 2503.00917) Table 1, retain set available, random 10% column: UA / RA / TA / MIA (FT AUC, online
 * RMIA with 128 reference models) / Avg Gap, means of 27 runs (recorded in REFERENCE.md).
 */
export const AMUN_TABLE1_RANDOM10: PaperTable = {
  id: 'amun-table1-random10',
  title: "AMUN's Table 1, random 10%",
  source: 'Ebrahimpour-Boroojeny et al., AMUN (arXiv 2503.00917), Table 1',
  rows: [
    { paperName: 'FT', label: 'finetune', UA: 95.16, RA: 96.64, TA: 92.21, MIA: 52.08, avgGap: 2.06 },
    { paperName: 'RL', label: 'random-label', UA: 95.54, RA: 97.47, TA: 92.17, MIA: 51.33, avgGap: 1.74 },
    { paperName: 'GA', label: 'gradient-ascent', UA: 98.94, RA: 99.22, TA: 93.39, MIA: 60.96, avgGap: 4.28 },
    { paperName: 'BS', label: 'boundary-shrink', UA: 99.14, RA: 99.89, TA: 93.04, MIA: 57.85, avgGap: 3.48 },
    { paperName: 'l1-sparse', label: 'l1-sparse', UA: 94.29, RA: 95.63, TA: 91.55, MIA: 51.21, avgGap: 2.16 },
    { paperName: 'SalUn', label: 'salun', UA: 96.25, RA: 98.14, TA: 93.06, MIA: 50.88, avgGap: 1.44 },
    { paperName: 'AMUN', label: 'amun', UA: 95.45, RA: 99.57, TA: 93.45, MIA: 50.18, avgGap: 0.62 },
    { paperName: 'AMUN+SalUn', label: 'amun-salun', UA: 95.02, RA: 99.58, TA: 93.29, MIA: 50.72, avgGap: 0.68 },
  ],
};

export const PAPER_TABLES: Record<string, PaperTable> = { [AMUN_TABLE1_RANDOM10.id]: AMUN_TABLE1_RANDOM10 };

/** 1-based ranks, lowest value first; equal values share the mean of their ranks (as rank correlations expect). */
export function ranksOf(values: readonly number[]): number[] {
  const order = values.map((v, i) => [v, i] as const).sort((x, y) => x[0] - y[0]);
  const ranks = new Array<number>(values.length);
  for (let start = 0; start < order.length; ) {
    let end = start;
    while (end + 1 < order.length && order[end + 1]![0] === order[start]![0]) end++;
    const rank = (start + end) / 2 + 1;
    for (let k = start; k <= end; k++) ranks[order[k]![1]] = rank;
    start = end + 1;
  }
  return ranks;
}

export interface RankComparison {
  paper: PaperTable;
  rows: Array<{ paperName: string; label: string; paperGap: number; paperRank: number; letheGap: number; letheRank: number }>;
  /** paper methods without a Lethe result (left out of the ranks) */
  missing: string[];
  tau: number;
}

/** Rank the paper's methods that have Lethe results by Avg Gap on both sides; Kendall's tau-b between the two. */
export function compareRanks(summary: readonly SummaryRow[], paper: PaperTable): RankComparison {
  const present = paper.rows.filter((p) => summary.some((r) => r.label === p.label));
  const missing = paper.rows.filter((p) => !present.includes(p)).map((p) => p.paperName);
  if (present.length < 2) throw new Error(`compareRanks: only ${present.length} of ${paper.title}'s methods have results; a ranking needs 2`);
  const letheGaps = present.map((p) => summary.find((r) => r.label === p.label)!.avgGap.avgGap);
  const paperGaps = present.map((p) => p.avgGap);
  const [paperRanks, letheRanks] = [ranksOf(paperGaps), ranksOf(letheGaps)];
  return {
    paper,
    rows: present.map((p, i) => ({ paperName: p.paperName, label: p.label, paperGap: p.avgGap, paperRank: paperRanks[i]!, letheGap: letheGaps[i]!, letheRank: letheRanks[i]! })),
    missing,
    tau: kendallTau(paperGaps, letheGaps),
  };
}

const ci = (s: MeanSummary | undefined, digits = 2): string => (s === undefined ? '-' : s.halfWidth === null ? s.mean.toFixed(digits) : `${s.mean.toFixed(digits)} ± ${s.halfWidth.toFixed(digits)}`);

/** The reproduction table: per method, mean ± 95% t-interval half-width over the runs, Avg Gap (gap of the means). */
export function reproductionTable(results: readonly CellResult[], benchmark: string): { markdown: string; summary: SummaryRow[] } {
  const own = results.filter((r) => r.benchmark === benchmark);
  if (own.length === 0) throw new Error(`no results of benchmark '${benchmark}'; benchmarks found: ${[...new Set(results.map((r) => r.benchmark))].join(', ') || 'none'}`);
  const summary = summarizeAcrossSeeds(own);
  const withMia = own.find((r) => r.mia && r.mia.ftAuc !== null)?.mia;
  const auc = withMia ? `FT AUC (${rocAttackOf(withMia)} ${withMia.mode ?? 'offline'}, K=${withMia.referenceModels})` : 'FT AUC';
  const header = ['method', 'runs', 'UA', 'RA', 'TA', auc, 'MIA-eff (SVC)', 'Avg Gap', 'mean run gap', 'time (s)', 'x retrain'];
  const lines = [`| ${header.join(' | ')} |`, `|${header.map((_, i) => (i < 2 ? '---' : '---:')).join('|')}|`];
  for (const row of summary) {
    const m = row.metrics;
    lines.push(
      `| ${row.label} | ${row.runs} | ${ci(m.UA)} | ${ci(m.RA)} | ${ci(m.TA)} | ${ci(m.ftAuc)} | ${ci(m.efficacy)} | ${row.avgGap.avgGap.toFixed(2)} | ${ci(m.runGap)} | ${ci(m.unlearnSeconds, 0)} | ${ci(m.relativeToRetrain, 3)} |`,
    );
  }
  const over = summary[0]?.avgGap.over ?? [];
  // the model before unlearning, once per (original, forget-set draw): how far "doing nothing" is from retraining
  const groups = new Map<string, CellResult>();
  for (const r of own) {
    const s = seedsOf(r);
    groups.set(`${r.cell.forgetSet}/${s.original}/${s.forgetSet}`, r);
  }
  const originals = [...groups.values()];
  if (originals.length > 0 && over.length > 0 && originals.every((r) => over.every((k) => Number.isFinite((r.original as unknown as Record<string, number>)[k]) && Number.isFinite((r.gold as unknown as Record<string, number>)[k])))) {
    const runs = originals.map((r) => r.original as unknown as Record<string, number>);
    const mean = (key: string): string => {
      const values = runs.map((v) => v[key]).filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
      return values.length ? ci(meanConfidenceInterval(values)) : '-';
    };
    const efficacy = originals.map((r) => r.original.mia?.efficacy).filter((v): v is number => typeof v === 'number');
    const gap = gapOfMeans(runs, originals.map((r) => r.gold as unknown as Record<string, number>), over).avgGap;
    lines.push(`| (original, before unlearning) | ${originals.length} | ${mean('UA')} | ${mean('RA')} | ${mean('TA')} | ${mean('MIA')} | ${efficacy.length ? ci(meanConfidenceInterval(efficacy)) : '-'} | ${gap.toFixed(2)} | | | |`);
  }
  lines.push('', `Mean ± half-width of the 95% Student-t interval over the runs. Avg Gap: the gap of the means over ${over.join(', ')} (no interval: see avgGapAcrossRuns); mean run gap: the mean of the runs' own gaps. x retrain: the method's wall time over retraining's, on the same backend.`);
  return { markdown: lines.join('\n'), summary };
}

/** The rank comparison as markdown. */
export function rankComparisonMarkdown(comparison: RankComparison): string {
  const lines = [
    `| method | ${comparison.paper.title}: Avg Gap | rank | Lethe: Avg Gap | rank |`,
    '|---|---:|---:|---:|---:|',
    ...[...comparison.rows].sort((a, b) => a.paperRank - b.paperRank).map((r) => `| ${r.paperName} (${r.label}) | ${r.paperGap.toFixed(2)} | ${r.paperRank} | ${r.letheGap.toFixed(2)} | ${r.letheRank} |`),
    '',
    `Kendall's tau-b between the two orders: ${comparison.tau.toFixed(2)} over ${comparison.rows.length} methods${comparison.missing.length ? ` (no results yet: ${comparison.missing.join(', ')})` : ''}.`,
  ];
  return lines.join('\n');
}
