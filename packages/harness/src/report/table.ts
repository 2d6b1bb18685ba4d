import { rocAttackOf, seedsOf, type CellResult } from '../results/results.js';
import { summarizeAcrossSeeds, formatSummaryTable } from './summary.js';

function fmt(value: number | null | undefined, digits = 2): string {
  return value === null || value === undefined || Number.isNaN(value) ? '-' : value.toFixed(digits);
}

/**
 * Stage 5 (report): a plain-text table of a run, with the original model as a reference row. Accuracies in
 * percent; MIA-eff is the SVC MIA-efficacy (percent of D_f called non-member), FT AUC the reference-model
 * attack's AUC of D_f vs D_t (50 ideal; its number of reference models is in the header); Avg Gap in
 * percentage points against the retrained model (each row: that run against its own gold model). The seed column
 * is the run's seed, or original/forget-set/unlearning seeds when a result has the three apart. When some method
 * ran more than once, a second table gives each metric's mean and 95% confidence interval over the runs, and the
 * Avg Gap of the runs as AMUN's tables take it: the gap of the means (formatSummaryTable).
 */
export function formatResultsTable(results: CellResult[]): string {
  const referenceCounts = [...new Set(results.map((r) => r.mia?.referenceModels).filter((k): k is number => k !== undefined && k > 0))];
  // the attack behind the FT AUC, its mode and K, when every result agrees (e.g. "FT AUC (rmia online, K=8)")
  const aucAttacks = [...new Set(results.filter((r) => r.mia && r.mia.ftAuc !== null).map((r) => `${rocAttackOf(r.mia!)} ${r.mia!.mode ?? 'offline'}`))];
  const aucParts = [...(aucAttacks.length === 1 ? [aucAttacks[0]!] : []), ...(referenceCounts.length === 1 ? [`K=${referenceCounts[0]}`] : [])];
  const aucHeader = aucParts.length > 0 ? `FT AUC (${aucParts.join(', ')})` : 'FT AUC';
  // SPD-GAN degree (only when some result has it): accuracy drop on G(D_f), with the retrained model's target
  const withSpd = results.some((r) => r.spdGan);
  const header = ['method', 'forget set', 'seed', 'UA', 'RA', 'TA', 'MIA-eff', aucHeader, 'Avg Gap', ...(withSpd ? ['SPD deg acc (retrain)', 'SPD deg conf (retrain)', 'SPD gap G(Df) / clean Df'] : []), 'time (s)', 'x retrain'];
  const rows: string[][] = [];
  const seenOriginal = new Set<string>();
  for (const r of results) {
    const seeds = seedsOf(r);
    const seed = r.cell.seeds ? `${seeds.original}/${seeds.forgetSet}/${seeds.unlearning}` : String(r.cell.seed);
    // the original model's numbers on D_f depend on the model and on the forget-set draw, not on the unlearning run
    const key = JSON.stringify([r.benchmark, r.cell.forgetSet, seeds.original, seeds.forgetSet]);
    if (!seenOriginal.has(key)) {
      seenOriginal.add(key);
      const mia = r.original.mia;
      rows.push(['(original)', r.cell.forgetSet, r.cell.seeds ? `${seeds.original}/${seeds.forgetSet}/-` : seed, fmt(r.original.UA), fmt(r.original.RA), fmt(r.original.TA), fmt(mia?.efficacy), fmt(mia?.ftAuc), '-', ...(withSpd ? ['-', '-', r.spdGan?.cleanGap !== undefined ? `${fmt(r.spdGan.perturbedGap)} / ${fmt(r.spdGan.cleanGap)}` : '-'] : []), '-', '-']);
    }
    rows.push([
      r.cell.label ?? r.cell.method,
      r.cell.forgetSet,
      seed,
      fmt(r.metrics.UA),
      fmt(r.metrics.RA),
      fmt(r.metrics.TA),
      fmt(r.mia?.efficacy),
      fmt(r.mia?.ftAuc),
      fmt(r.metrics.avgGap),
      ...(withSpd ? [r.spdGan ? `${fmt(r.spdGan.degreeAccuracy)} (${fmt(r.spdGan.retrainDegreeAccuracy)})` : '-', r.spdGan ? `${fmt(r.spdGan.degreeConfidence)} (${fmt(r.spdGan.retrainDegreeConfidence)})` : '-', ''] : []),
      fmt(r.timing.unlearnSeconds, 1),
      fmt(r.timing.relativeToRetrain, 3),
    ]);
  }
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i < 3 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  const table = [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
  const summary = summarizeAcrossSeeds(results);
  if (!summary.some((row) => row.runs > 1)) return table;
  return `${table}\n\nmean ± 95% CI half-width over seeds (Student t):\n${formatSummaryTable(summary)}`;
}
