import type { TopLevelSpec } from 'vega-lite';
import { groupLabel, isRetrain, type LeaderboardRow } from './summarize.js';

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

/** The metrics the rows' Avg Gap compares, for a label: "UA, RA, TA, MIA", or each list when rows differ. */
export function gapMetricsLabel(rows: readonly LeaderboardRow[]): string {
  const lists = [...new Set(rows.map((r) => r.avgGapOver.join(', ')))];
  return lists.length === 1 ? lists[0]! : `${lists.join(' or ')} (per row; see the tooltip)`;
}

/**
 * Bar chart of Avg Gap per method (one bar per row; lower is better): the gap of the means as in AMUN's tables
 * (LeaderboardRow.avgGap), over the metrics named in the subtitle; the tooltip adds the mean of the runs' own
 * gaps. Retrain, whose gap is 0 by definition, gets its own colour. Several benchmarks/settings are split into
 * facet rows. Pure: returns a plain JSON-serialisable object.
 */
export function avgGapChartSpec(rows: readonly LeaderboardRow[]): TopLevelSpec {
  const values = rows.map((r) => ({
    method: r.method,
    group: groupLabel(r),
    avgGap: round(r.avgGap),
    over: r.avgGapOver.join(', '),
    meanRunGap: round(r.meanRunGap),
    meanRunGapStd: round(r.meanRunGapStd),
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
          { field: 'meanRunGapStd', type: 'quantitative', title: 'Std of run gaps (pp)', format: '.2f' },
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
  const title = { text: 'Avg Gap to the retrained model', subtitle: `|mean(method) − mean(retrain)| over the runs, averaged over ${gapMetricsLabel(rows)}; lower is better` };
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

/**
 * Grouped bars of UA, RA and TA per method, with a black tick at the retrained model's value for each:
 * the target is the tick, not 0 (a perfect method matches retrain on the forget set too).
 */
export function accuracyChartSpec(rows: readonly LeaderboardRow[]): TopLevelSpec {
  const values = rows.flatMap((r, order) =>
    (['UA', 'RA', 'TA'] as const).map((metric) => ({
      method: r.method,
      order,
      group: groupLabel(r),
      metric,
      value: round(r[metric]),
      retrain: round(r.gold[metric]),
    })),
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
  const xOffset = { field: 'metric', type: 'nominal', sort: ['UA', 'RA', 'TA'] } as const;
  const layer = [
    {
      mark: { type: 'bar', tooltip: true },
      encoding: {
        x,
        xOffset,
        y: { field: 'value', type: 'quantitative', title: 'Accuracy (%)', scale: { domain: [0, 100] } },
        color: {
          field: 'metric',
          type: 'nominal',
          title: 'Metric',
          sort: ['UA', 'RA', 'TA'],
          // Not red: red marks the retrain reference in the Avg Gap chart.
          scale: { range: ['#54a24b', '#eeca3b', '#b279a2'] },
          legend: { orient: 'bottom', labelExpr: "{UA: 'UA (forget set)', RA: 'RA (retain set)', TA: 'TA (test set)'}[datum.label]" },
        },
        tooltip: [
          { field: 'method', type: 'nominal', title: 'Method' },
          { field: 'metric', type: 'nominal', title: 'Metric' },
          { field: 'value', type: 'quantitative', title: 'Method (%)', format: '.2f' },
          { field: 'retrain', type: 'quantitative', title: 'Retrain (%)', format: '.2f' },
        ],
      },
    },
    {
      mark: { type: 'tick', color: 'black', thickness: 2 },
      encoding: { x, xOffset, y: { field: 'retrain', type: 'quantitative' } },
    },
  ];
  const title = { text: 'Accuracy per method', subtitle: 'bars: the method; black ticks: the retrained model (the target)' };
  if (multiGroup(rows)) {
    return {
      $schema: VEGA_LITE_SCHEMA,
      title,
      data: { values },
      facet: { row: { field: 'group', type: 'nominal', title: null } },
      spec: { width: { step: 22 }, height: 220, layer },
    } as TopLevelSpec;
  }
  return { $schema: VEGA_LITE_SCHEMA, title, data: { values }, width: { step: 22 }, height: 220, layer } as TopLevelSpec;
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
