import type { TopLevelSpec } from 'vega-lite';
import { seedsOf, type CellResult, type MiaResult } from '@lethe/harness/results';
import { VEGA_LITE_SCHEMA } from './charts.js';
import { isRetrain } from './summarize.js';

/**
 * Membership-inference ROC curves from result files: each result keeps its reference-model attacks' curves at a
 * fixed grid of false-positive rates (`mia.byAttack.<attack>.roc`, percent; `ROC_FPR_GRID` in @lethe/attacks), for
 * the unlearned model and, beside it, the original and the retrained (gold) model. A curve here is the mean TPR at
 * each grid FPR over a model's runs (vertical averaging).
 */

/** Which model a curve belongs to: the original before unlearning, the retrained (gold) model, or a method. */
export type RocModelKind = 'original' | 'retrain (gold)' | 'method';

export interface RocModelCurve {
  /** 'original', 'retrain (gold)' or the method's label */
  model: string;
  kind: RocModelKind;
  /** how many runs (distinct models) the mean is over */
  runs: number;
  /** false-positive rates, percent (the grid) */
  fpr: number[];
  /** mean true-positive rate at each FPR, percent */
  tpr: number[];
  /** mean FT AUC of the attack, percent */
  auc: number;
}

export interface RocCurves {
  attack: string;
  /** 'online' or 'offline' */
  mode: string;
  /** reference models behind the attack */
  referenceModels: number;
  benchmark: string;
  curves: RocModelCurve[];
}

type AttackEntry = NonNullable<MiaResult['byAttack']>[string];

const entryOf = (mia: MiaResult | undefined, attack: string): AttackEntry | undefined => mia?.byAttack?.[attack];
const hasRoc = (mia: MiaResult | undefined, attack: string): boolean => entryOf(mia, attack)?.roc !== undefined;

/** The attacks with ROC curves in these results, in the order first seen (the primary attack of a file first). */
export function rocAttacksIn(results: readonly CellResult[]): string[] {
  const attacks = new Set<string>();
  for (const r of results) {
    const byAttack = r.mia?.byAttack ?? {};
    const ordered = [r.mia?.attack, ...Object.keys(byAttack)].filter((a): a is string => a !== undefined);
    for (const a of ordered) if (byAttack[a]?.roc) attacks.add(a);
  }
  return [...attacks];
}

function meanCurve(model: string, kind: RocModelKind, entries: readonly AttackEntry[]): RocModelCurve {
  const fpr = entries[0]!.roc!.fpr;
  for (const e of entries) {
    if (e.roc!.fpr.length !== fpr.length || e.roc!.fpr.some((x, i) => x !== fpr[i])) {
      throw new Error(`ROC curves of ${model} are kept at different false-positive rates; results written by different Lethe versions cannot be averaged`);
    }
  }
  const tpr = fpr.map((_, i) => entries.reduce((s, e) => s + e.roc!.tpr[i]!, 0) / entries.length);
  const auc = entries.reduce((s, e) => s + (e.ftAuc ?? NaN), 0) / entries.length;
  return { model, kind, runs: entries.length, fpr: [...fpr], tpr, auc };
}

/**
 * The curves of one attack over results of one benchmark: one per method (its label; the retrain method's cells
 * are the gold model's, drawn once as 'retrain (gold)'), one for the original models and one for the gold models
 * (each distinct original model x forget set once, however many methods' files repeat it). Results without that
 * attack's curve (files older than 2026-12-07) are left out. Throws, naming the problem, when the results mix
 * benchmarks, modes or reference-model counts (their curves do not belong on one chart), or have no curve at all.
 */
export function rocCurves(results: readonly CellResult[], attack?: string): RocCurves {
  const benchmarks = [...new Set(results.map((r) => r.benchmark))];
  if (benchmarks.length > 1) throw new Error(`ROC curves: results of ${benchmarks.length} benchmarks (${benchmarks.join(', ')}); pass one benchmark's results`);
  const chosen = attack ?? rocAttacksIn(results)[0];
  if (chosen === undefined) {
    throw new Error('ROC curves: no result file carries a ROC curve (mia.byAttack.<attack>.roc, written since 2026-12-07 by RMIA and LiRA); run the benchmark again with a reference-model attack');
  }
  const withCurve = results.filter((r) => hasRoc(r.mia, chosen));
  if (withCurve.length === 0) throw new Error(`ROC curves: no result file carries a ROC curve of ${chosen} (attacks with curves: ${rocAttacksIn(results).join(', ') || 'none'})`);
  const modes = [...new Set(withCurve.map((r) => entryOf(r.mia, chosen)!.mode ?? r.mia!.mode ?? 'offline'))];
  const ks = [...new Set(withCurve.map((r) => entryOf(r.mia, chosen)!.referenceModels ?? r.mia!.referenceModels))];
  if (modes.length > 1 || ks.length > 1) {
    throw new Error(`ROC curves of ${chosen}: the results mix attack settings (modes ${modes.join(', ')}; reference models ${ks.join(', ')}); pass results of one setting`);
  }

  const curves: RocModelCurve[] = [];
  // original and gold: once per original model x forget set (every file of those seeds repeats the same numbers)
  const baselineKey = (r: CellResult): string => {
    const seeds = seedsOf(r);
    return `${seeds.original}/${seeds.forgetSet}/${r.cell.forgetSet}`;
  };
  for (const [kind, pick] of [
    ['original', (r: CellResult) => r.original],
    ['retrain (gold)', (r: CellResult) => r.gold],
  ] as const) {
    const byKey = new Map<string, AttackEntry>();
    for (const r of results) {
      const entry = entryOf(pick(r).mia, chosen);
      if (entry?.roc && !byKey.has(baselineKey(r))) byKey.set(baselineKey(r), entry);
    }
    if (byKey.size > 0) curves.push(meanCurve(kind, kind, [...byKey.values()]));
  }
  const byMethod = new Map<string, AttackEntry[]>();
  for (const r of withCurve) {
    if (isRetrain(r.cell.method)) continue;
    const label = r.cell.label ?? r.cell.method;
    byMethod.set(label, [...(byMethod.get(label) ?? []), entryOf(r.mia, chosen)!]);
  }
  for (const [label, entries] of byMethod) curves.push(meanCurve(label, 'method', entries));
  return { attack: chosen, mode: modes[0]!, referenceModels: ks[0]!, benchmark: benchmarks[0]!, curves };
}

/** TPR at a grid FPR (percent), or null when the grid has no such rate. */
export function tprAt(curve: RocModelCurve, fprPercent: number): number | null {
  const i = curve.fpr.findIndex((x) => Math.abs(x - fprPercent) < 1e-9 * Math.max(1, fprPercent));
  return i < 0 ? null : curve.tpr[i]!;
}

const BASELINE_COLORS: Record<string, string> = { original: '#000000', 'retrain (gold)': '#e45756' };

/**
 * The curves on log-log axes, as the LiRA and RMIA papers draw them (Carlini et al. 2022; Zarifzadeh et al. 2024): the
 * low false-positive end, where an attack is confident, is where methods differ. The dashed diagonal is chance (TPR =
 * FPR). Points at FPR or TPR 0 have no place on log axes and are not drawn. The title names the attack, its mode and
 * the number of reference models.
 */
export function rocChartSpec(set: RocCurves, options: { models?: readonly string[] } = {}): TopLevelSpec {
  const shown = options.models ? set.curves.filter((c) => options.models!.includes(c.model)) : set.curves;
  const values = shown.flatMap((c) =>
    c.fpr
      .map((fpr, i) => ({ model: c.model, kind: c.kind, fpr, tpr: Number(c.tpr[i]!.toFixed(4)), runs: c.runs, auc: Number(c.auc.toFixed(2)) }))
      .filter((v) => v.fpr > 0 && v.tpr > 0),
  );
  const lowest = Math.min(...set.curves.flatMap((c) => c.fpr.filter((x) => x > 0)));
  const domain = [lowest, 100];
  const order = shown.map((c) => c.model);
  let methodIndex = 0;
  const colorRange = shown.map((c) => BASELINE_COLORS[c.model] ?? METHOD_PALETTE[methodIndex++ % METHOD_PALETTE.length]!);
  const runs = [...new Set(shown.filter((c) => c.kind === 'method').map((c) => c.runs))];
  return {
    $schema: VEGA_LITE_SCHEMA,
    title: {
      text: `ROC of ${set.attack} (${set.mode}, K=${set.referenceModels} reference models): forget set vs test set`,
      subtitle: `${set.benchmark}; log-log axes; ${runs.length === 1 && runs[0] === 1 ? 'one run per method' : `mean TPR at each FPR over each model's runs (${runs.join('/')})`}; dashed: chance; TPR 0 not drawn`,
    },
    width: 420,
    height: 360,
    layer: [
      {
        data: { values: domain.map((x) => ({ fpr: x, tpr: x })) },
        mark: { type: 'line', strokeDash: [4, 4], color: '#888888' },
        encoding: {
          x: { field: 'fpr', type: 'quantitative', scale: { type: 'log', domain } },
          y: { field: 'tpr', type: 'quantitative', scale: { type: 'log', domain } },
        },
      },
      {
        data: { values },
        mark: { type: 'line', point: { size: 18 }, clip: true },
        encoding: {
          x: { field: 'fpr', type: 'quantitative', title: 'false-positive rate (%)', scale: { type: 'log', domain } },
          y: { field: 'tpr', type: 'quantitative', title: 'true-positive rate (%)', scale: { type: 'log', domain } },
          color: { field: 'model', type: 'nominal', title: 'model', sort: order, scale: { domain: order, range: colorRange }, legend: { labelLimit: 240 } },
          strokeWidth: { condition: { test: "datum.kind !== 'method'", value: 3 }, value: 1.5 },
          tooltip: [
            { field: 'model', type: 'nominal' },
            { field: 'fpr', type: 'quantitative', title: 'FPR (%)' },
            { field: 'tpr', type: 'quantitative', title: 'TPR (%)', format: '.2f' },
            { field: 'auc', type: 'quantitative', title: 'FT AUC (%)', format: '.2f' },
            { field: 'runs', type: 'quantitative', title: 'runs' },
          ],
        },
      },
    ],
  } as unknown as TopLevelSpec;
}

/** Sixteen distinct colours for methods (black and red are the original and the gold model's). */
const METHOD_PALETTE = ['#4c78a8', '#f58518', '#54a24b', '#b279a2', '#72b7b2', '#eeca3b', '#9d755d', '#ff9da6', '#79706e', '#9ecae9', '#ffbf79', '#88d27a', '#d6a5c9', '#bab0ac', '#e7ba52', '#17becf'];
