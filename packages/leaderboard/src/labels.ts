import type { LeaderboardRow, RowMia } from './summarize.js';

/**
 * Every label, header and subtitle that names a metric set or an attack is made here from what the rows hold (their
 * result files' `avgGapOver` and `mia`), so no text can name other numbers than the ones shown.
 */

const distinct = <T>(xs: readonly T[]): T[] => [...new Set(xs)];

/** The metrics the rows' Avg Gap compares, for a label: "UA, RA, TA, MIA", or each list when rows differ. */
export function gapMetricsLabel(rows: readonly LeaderboardRow[]): string {
  const lists = distinct(rows.map((r) => r.avgGapOver.join(', ')));
  return lists.length === 1 ? lists[0]! : `${lists.join(' or ')} (per row; see the tooltip)`;
}

/** What MIA in Avg Gap is, for the rows that compare it: "rmia FT AUC"; null when no row compares MIA. */
export function gapMiaLabel(rows: readonly LeaderboardRow[]): string | null {
  const scores = distinct(rows.filter((r) => r.avgGapOver.includes('MIA')).flatMap((r) => r.mia?.primary ?? ['membership score']));
  return scores.length === 0 ? null : scores.join(' or ');
}

/** gapMetricsLabel, with what MIA is when it is compared: "UA, RA, TA, MIA (MIA: rmia FT AUC)". */
export function gapMetricsDescription(rows: readonly LeaderboardRow[]): string {
  const mia = gapMiaLabel(rows);
  return `${gapMetricsLabel(rows)}${mia ? ` (MIA: ${mia})` : ''}`;
}

/** One row's FT AUC attack: "rmia online, K=8" (the mode only when the result files record one). */
export function describeAuc(mia: RowMia): string | null {
  if (mia.aucAttacks.length === 0) return null;
  const mode = mia.modes.length > 0 ? ` ${mia.modes.join('/')}` : '';
  return `${mia.aucAttacks.join('/')}${mode}, K=${mia.referenceModels.join('/')}`;
}

/** The FT AUC attack over rows ("rmia online, K=8", or each when rows differ); null when no row has an FT AUC. */
export function aucLabel(rows: readonly LeaderboardRow[]): string | null {
  const all = distinct(rows.map((r) => (r.mia ? describeAuc(r.mia) : null)).filter((x): x is string => x !== null));
  return all.length === 0 ? null : all.join(' or ');
}

/** The MIA-efficacy attack over rows ("svc-mia"); null when no row has one. */
export function efficacyLabel(rows: readonly LeaderboardRow[]): string | null {
  const all = distinct(rows.flatMap((r) => r.mia?.efficacyAttacks ?? []));
  return all.length === 0 ? null : all.join(' or ');
}
