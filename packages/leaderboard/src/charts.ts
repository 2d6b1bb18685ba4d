import type { TopLevelSpec } from 'vega-lite';
import type { MeanSummary } from '@lethe/metrics/statistics';
import { aucLabel, efficacyLabel, gapMetricsDescription, gapMetricsLabel } from './labels.js';
import { groupLabel, isRetrain, type LeaderboardRow } from './summarize.js';

export { gapMetricsLabel };

/** The Vega-Lite major version the page ships (vega-lite 6). */
export const VEGA_LITE_SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json';

/**
 * JupyterLab 4 renders Vega-Lite under the v5 media type only (its vega5-extension bundles vega-lite 5);
 * no v6 media type is registered there, so notebook outputs use this one with a matching v5 $schema.
 */
export const JUPYTER_VEGA_LITE_MIME = 'application/vnd.vegalite.v5+json';
export const JUPYTER_VEGA_LITE_SCHEMA = 'https://vega.github.io/schema/vega-lite/v5.json';

const RETRAIN_KIND = 'retrain (reference)';
const METHOD_KIND = 'unlearning method';
const RETRAIN_COLOR = '#e45756';
const METHOD_COLOR = '#4c78a8';

const round = (x: number, digits = 4): number => Number(x.toFixed(digits));

const multiGroup = (rows: readonly LeaderboardRow[]): boolean => new Set(rows.map(groupLabel)).size > 1;

/**
 * Bar chart of Avg Gap per method (one bar per row; lower is better): the gap of the means as in AMUN's tables
 * (LeaderboardRow.avgGap), over the metrics named in the subtitle; the tooltip adds the mean of the runs' own
 * gaps. Retrain, whose gap is 0 by definition, gets its own colour. Several benchmarks/settings are split into
 * facet rows. Pure: returns a plain JSON-serialisable object.
 */
export function avgGapChartSpec(rows: readonly LeaderboardRow[]): TopLevelSpec {
  const values = rows.map((r) => ({
    method: r.label,
    group: groupLabel(r),
    avgGap: round(r.avgGap),
    over: r.avgGapOver.join(', '),
    meanRunGap: round(r.meanRunGap),
    meanRunGapStd: round(r.meanRunGapStd),
    meanRunGapHalfWidth: r.intervals.runGap?.halfWidth == null ? null : round(r.intervals.runGap.halfWidth),
    runs: r.runs,
    kind: isRetrain(r.method) ? RETRAIN_KIND : METHOD_KIND,
  }));
  const encoding = {
    y: { field: 'method', type: 'nominal', title: 'Method', sort: { field: 'avgGap', op: 'min', order: 'ascending' } },
    x: { field: 'avgGap', type: 'quantitative', title: 'Avg Gap (percentage points)' },
  } as const;
  const layer = [
    {
      mark: { type: 'bar' },
      encoding: {
        tooltip: [
          { field: 'method', type: 'nominal', title: 'Method' },
          { field: 'group', type: 'nominal', title: 'Benchmark · setting' },
          { field: 'avgGap', type: 'quantitative', title: 'Avg Gap, gap of the means (pp)', format: '.2f' },
          { field: 'over', type: 'nominal', title: 'Compared' },
          { field: 'meanRunGap', type: 'quantitative', title: 'Mean run gap (pp)', format: '.2f' },
          { field: 'meanRunGapHalfWidth', type: 'quantitative', title: 'Mean run gap: 95% interval ± (pp)', format: '.2f' },
          { field: 'runs', type: 'quantitative', title: 'Runs' },
        ],
        color: {
          field: 'kind',
          type: 'nominal',
          title: null,
          scale: { domain: [RETRAIN_KIND, METHOD_KIND], range: [RETRAIN_COLOR, METHOD_COLOR] },
          legend: { orient: 'bottom' },
        },
      },
    },
    // The value at the end of each bar; also what makes retrain (a zero-length bar) visible.
    { mark: { type: 'text', align: 'left', dx: 4 }, encoding: { text: { field: 'avgGap', type: 'quantitative', format: '.2f' } } },
  ];
  const title = { text: 'Avg Gap to the retrained model', subtitle: `|mean(method) − mean(retrain)| over the runs, averaged over ${gapMetricsDescription(rows)}; lower is better` };
  const description = 'Average gap between the means of each unlearning method and of retraining from scratch over the runs, in percentage points.';
  const size = { width: 420, height: { step: 24 } };
  if (multiGroup(rows)) {
    return {
      $schema: VEGA_LITE_SCHEMA,
      title,
      description,
      data: { values },
      facet: { row: { field: 'group', type: 'nominal', title: null } },
      spec: { ...size, encoding, layer },
    } as TopLevelSpec;
  }
  return { $schema: VEGA_LITE_SCHEMA, title, description, data: { values }, ...size, encoding, layer } as TopLevelSpec;
}

/** One metric of a grouped bar chart: its value's summary over the runs and the retrained model's value. */
interface BarMetric {
  key: string;
  /** legend text (a constant: it goes into a Vega expression, so never text from a result file) */
  legend: string;
  /** what the tooltip says produced the number (may come from result files: it is data, never an expression) */
  source?: string;
  summary: (r: LeaderboardRow) => MeanSummary | undefined;
  target: (r: LeaderboardRow) => number | null;
}

/**
 * Grouped bars of some metrics per method with a black tick at the retrained model's value for each and, where a
 * row has more than one run, an error bar over the 95% interval of the mean (LeaderboardRow.intervals).
 */
function groupedBarsSpec(rows: readonly LeaderboardRow[], metrics: readonly BarMetric[], options: { title: { text: string; subtitle: string }; yTitle: string; colors: string[] }): TopLevelSpec {
  const keys = metrics.map((m) => m.key);
  const values = rows.flatMap((r, order) =>
    metrics.flatMap((m) => {
      const summary = m.summary(r);
      if (!summary) return [];
      const target = m.target(r);
      return [
        {
          method: r.label,
          order,
          group: groupLabel(r),
          metric: m.key,
          value: round(summary.mean),
          retrain: target === null ? null : round(target),
          low: summary.low === null ? null : round(summary.low),
          high: summary.high === null ? null : round(summary.high),
          runs: summary.n,
          source: m.source ?? m.legend,
        },
      ];
    }),
  );
  const x = {
    field: 'method',
    type: 'nominal',
    title: 'Method',
    // the rows' order by a number: a sort list of the names would put them into a Vega expression, where a name
    // like 'constructor' or one holding U+2028 breaks the chart
    sort: { field: 'order', op: 'min' },
    axis: { labelAngle: -30, labelLimit: 160 },
  } as const;
  const xOffset = { field: 'metric', type: 'nominal', sort: keys } as const;
  const legendText = `{${metrics.map((m) => `${JSON.stringify(m.key)}: ${JSON.stringify(m.legend)}`).join(', ')}}[datum.label]`;
  const layer = [
    {
      mark: { type: 'bar' },
      encoding: {
        x,
        xOffset,
        y: { field: 'value', type: 'quantitative', title: options.yTitle, scale: { domain: [0, 100] } },
        color: {
          field: 'metric',
          type: 'nominal',
          title: 'Metric',
          sort: keys,
          scale: { domain: keys, range: options.colors },
          legend: { orient: 'bottom', labelExpr: legendText },
        },
        tooltip: [
          { field: 'method', type: 'nominal', title: 'Method' },
          { field: 'source', type: 'nominal', title: 'Metric' },
          { field: 'value', type: 'quantitative', title: 'Method, mean (%)', format: '.2f' },
          { field: 'low', type: 'quantitative', title: '95% interval from', format: '.2f' },
          { field: 'high', type: 'quantitative', title: '95% interval to', format: '.2f' },
          { field: 'retrain', type: 'quantitative', title: 'Retrain (%)', format: '.2f' },
          { field: 'runs', type: 'quantitative', title: 'Runs' },
        ],
      },
    },
    {
      transform: [{ filter: 'isValid(datum.retrain)' }],
      mark: { type: 'tick', color: 'black', thickness: 2 },
      encoding: { x, xOffset, y: { field: 'retrain', type: 'quantitative' } },
    },
    // the 95% interval of the mean, where there is one (more than one run)
    {
      transform: [{ filter: 'isValid(datum.low) && isValid(datum.high)' }],
      mark: { type: 'rule', color: '#333', strokeWidth: 1.5 },
      encoding: { x, xOffset, y: { field: 'low', type: 'quantitative' }, y2: { field: 'high' } },
    },
  ];
  if (multiGroup(rows)) {
    return {
      $schema: VEGA_LITE_SCHEMA,
      title: options.title,
      data: { values },
      facet: { row: { field: 'group', type: 'nominal', title: null } },
      spec: { width: { step: 22 }, height: 220, layer },
    } as TopLevelSpec;
  }
  return { $schema: VEGA_LITE_SCHEMA, title: options.title, data: { values }, width: { step: 22 }, height: 220, layer } as TopLevelSpec;
}

const intervalNote = (rows: readonly LeaderboardRow[]): string => (rows.some((r) => r.runs > 1) ? '; error bars: 95% interval of the mean over the runs' : '');

/**
 * Grouped bars of UA, RA and TA per method, with a black tick at the retrained model's value for each:
 * the target is the tick, not 0 (a perfect method matches retrain on the forget set too). Error bars show the 95%
 * interval of the mean where a row has several runs.
 */
export function accuracyChartSpec(rows: readonly LeaderboardRow[]): TopLevelSpec {
  const metric = (key: 'UA' | 'RA' | 'TA', legend: string): BarMetric => ({ key, legend, summary: (r) => r.intervals[key], target: (r) => r.gold[key] });
  return groupedBarsSpec(rows, [metric('UA', 'UA (forget set)'), metric('RA', 'RA (retain set)'), metric('TA', 'TA (test set)')], {
    title: { text: 'Accuracy per method', subtitle: `bars: the method; black ticks: the retrained model (the target)${intervalNote(rows)}` },
    yTitle: 'Accuracy (%)',
    // Not red: red marks the retrain reference in the Avg Gap chart.
    colors: ['#54a24b', '#eeca3b', '#b279a2'],
  });
}

/**
 * Membership inference per method: FT AUC and MIA-efficacy bars with the retrained model's value as a black tick,
 * and error bars over the 95% interval where a row has several runs. The subtitle names the attacks (mode, K) from
 * the result files. Null when no row has either number.
 */
export function miaChartSpec(rows: readonly LeaderboardRow[]): TopLevelSpec | null {
  const auc = aucLabel(rows);
  const efficacy = efficacyLabel(rows);
  if (auc === null && efficacy === null) return null;
  const metrics: BarMetric[] = [];
  const named: string[] = [];
  if (auc !== null) {
    metrics.push({ key: 'FT AUC', legend: 'FT AUC', source: `FT AUC (${auc})`, summary: (r) => r.intervals.ftAuc, target: (r) => r.goldMia.ftAuc });
    named.push(`FT AUC: ${auc}`);
  }
  if (efficacy !== null) {
    metrics.push({ key: 'MIA-efficacy', legend: 'MIA-efficacy', source: `MIA-efficacy (${efficacy})`, summary: (r) => r.intervals.efficacy, target: (r) => r.goldMia.efficacy });
    named.push(`MIA-efficacy: ${efficacy}`);
  }
  return groupedBarsSpec(rows, metrics, {
    title: { text: 'Membership inference per method', subtitle: `${named.join('; ')}; black ticks: the retrained model (the target)${intervalNote(rows)}` },
    yTitle: 'Percent',
    colors: ['#72b7b2', '#f58518'].slice(0, metrics.length),
  });
}

/**
 * The spec as JupyterLab's Vega-Lite renderer expects it: pair the result with JUPYTER_VEGA_LITE_MIME
 * (`tslab.display.raw(JUPYTER_VEGA_LITE_MIME, forJupyter(spec))`). The charts here use only features
 * present in Vega-Lite 5 and 6, so only $schema changes.
 */
export function forJupyter(spec: TopLevelSpec): TopLevelSpec {
  return { ...spec, $schema: JUPYTER_VEGA_LITE_SCHEMA } as TopLevelSpec;
}

/**
 * Render a Vega-Lite spec to an SVG string in Node (no browser). vega and vega-lite are imported lazily:
 * they use top-level await, so a static import would stop CommonJS callers (tslab notebooks) from
 * require()-ing this package.
 */
export async function renderChartSvg(spec: TopLevelSpec): Promise<string> {
  const [vega, vl] = await Promise.all([import('vega'), import('vega-lite')]);
  const view = new vega.View(vega.parse(vl.compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}
