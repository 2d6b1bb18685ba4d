import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { TopLevelSpec } from 'vega-lite';
import {
  JUPYTER_VEGA_LITE_SCHEMA,
  VEGA_LITE_SCHEMA,
  accuracyChartSpec,
  avgGapChartSpec,
  forJupyter,
  miaChartSpec,
  renderChartSvg,
} from './charts.js';
import { FIXTURE_METHOD_COUNT, fakeResult, fixtureResults, multiRunResults, straddlingResults } from './fixtures.test-util.js';
import { summarize } from './summarize.js';

const rows = summarize(fixtureResults());

/** Paths inside vega's rect-mark groups (bars; ticks are rects too), per group, from an SVG string. */
function rectMarkCounts(svg: string): number[] {
  const groups = svg.match(/<g class="mark-rect role-mark[^"]*"[^>]*>.*?<\/g>/gs) ?? [];
  return groups.map((g) => (g.match(/<path\b/g) ?? []).length);
}

const values = (spec: TopLevelSpec): Array<Record<string, unknown>> => (spec.data as { values: Array<Record<string, unknown>> }).values;

test('avgGapChartSpec: one datum per method, retrain coloured apart, units in the axis title', () => {
  const spec = avgGapChartSpec(rows);
  assert.equal(spec.$schema, VEGA_LITE_SCHEMA);
  const data = values(spec);
  assert.equal(data.length, FIXTURE_METHOD_COUNT);
  assert.deepEqual(new Set(data.map((d) => d.method)), new Set(rows.map((r) => r.method)));
  assert.deepEqual(data.find((d) => d.method === 'retrain')?.kind, 'retrain (reference)');
  assert.equal(new Set(data.filter((d) => d.method !== 'retrain').map((d) => d.kind)).size, 1);
  const json = JSON.stringify(spec);
  assert.match(json, /Avg Gap \(percentage points\)/);
  assert.ok(spec.title);
  // a plain object: survives a JSON round trip unchanged
  assert.deepEqual(JSON.parse(json), spec);
});

test('accuracyChartSpec: UA, RA and TA for each method with the retrain value beside it', () => {
  const data = values(accuracyChartSpec(rows));
  assert.equal(data.length, FIXTURE_METHOD_COUNT * 3);
  const ft = data.filter((d) => d.method === 'finetune');
  assert.deepEqual(ft.map((d) => d.metric), ['UA', 'RA', 'TA']);
  assert.deepEqual(ft.map((d) => d.retrain), [90, 99, 91]);
});

test('renderChartSvg: one bar <path> per method in the Avg Gap chart', async () => {
  const svg = await renderChartSvg(avgGapChartSpec(rows));
  assert.match(svg, /^<svg/);
  assert.deepEqual(rectMarkCounts(svg), [FIXTURE_METHOD_COUNT]);
  // text from result files is escaped by vega's SVG renderer
  assert.ok(!svg.includes('<b>evil'));
  assert.ok(svg.includes('&lt;b&gt;evil'));
});

test('renderChartSvg: accuracy chart has a bar and a retrain tick per method and metric', async () => {
  const svg = await renderChartSvg(accuracyChartSpec(rows));
  assert.deepEqual(rectMarkCounts(svg), [FIXTURE_METHOD_COUNT * 3, FIXTURE_METHOD_COUNT * 3]);
});

/** Paths inside vega's rule-mark groups (the error bars), from an SVG string. */
const ruleCount = (svg: string): number =>
  // an empty group is written self-closing (<g .../>), which must not swallow the elements after it
  (svg.match(/<g class="mark-rule role-mark[^"]*"[^>]*?(?:\/>|>.*?<\/g>)/gs) ?? []).reduce((n, g) => n + (g.match(/<line\b|<path\b/g) ?? []).length, 0);

test('accuracy and MIA charts: error bars over the 95% interval (one per method and metric with several runs), checked by hand', async () => {
  const multi = summarize(multiRunResults());
  const spec = accuracyChartSpec(multi);
  const ft = values(spec).find((d) => d.method === 'finetune' && d.metric === 'UA')!;
  // UA 96, 94, 92: mean 94 ± t(0.975, 2) * 2 / sqrt(3), t(0.975, 2) = sqrt(0.9025 * 2 / 0.0975) (closed form for 2 degrees of freedom)
  const half = (Math.sqrt((0.9025 * 2) / 0.0975) * 2) / Math.sqrt(3);
  assert.equal(ft.value, 94);
  assert.ok(Math.abs((ft.low as number) - (94 - half)) < 1e-4 && Math.abs((ft.high as number) - (94 + half)) < 1e-4, JSON.stringify(ft));
  assert.match((spec.title as { subtitle: string }).subtitle, /error bars: 95% interval of the mean over the runs/);
  // every method has 3 runs: bars, ticks and error bars, one each per method and metric
  const svg = await renderChartSvg(spec);
  assert.deepEqual(rectMarkCounts(svg), [4 * 3, 4 * 3]);
  assert.equal(ruleCount(svg), 4 * 3);
  // one run per method: no error bars, and the subtitle does not promise them
  const single = accuracyChartSpec(summarize(fixtureResults().filter((r) => r.cell.seed === 0)));
  assert.equal(ruleCount(await renderChartSvg(single)), 0);
  assert.doesNotMatch((single.title as { subtitle: string }).subtitle, /error bars/);

  const mia = miaChartSpec(multi)!;
  const miaData = values(mia).filter((d) => d.method === 'finetune');
  assert.deepEqual(miaData.map((d) => [d.metric, d.value, d.retrain]), [['FT AUC', 54, 50], ['MIA-efficacy', 13, 20]]);
  assert.equal((mia.title as { subtitle: string }).subtitle, 'FT AUC: rmia online, K=8; MIA-efficacy: svc-mia; black ticks: the retrained model (the target); error bars: 95% interval of the mean over the runs');
  const miaSvg = await renderChartSvg(mia);
  assert.deepEqual(rectMarkCounts(miaSvg), [4 * 2, 4 * 2]);
  assert.equal(ruleCount(miaSvg), 4 * 2);
  // no membership inference in the results: no MIA chart
  assert.equal(miaChartSpec(rows), null);
});

test('several benchmarks are faceted, still one bar per row', async () => {
  const two = summarize([...fixtureResults(), ...fixtureResults().map((r) => ({ ...r, benchmark: 'second' }))]);
  const svg = await renderChartSvg(avgGapChartSpec(two));
  assert.deepEqual(rectMarkCounts(svg), [FIXTURE_METHOD_COUNT, FIXTURE_METHOD_COUNT]);
});

test('forJupyter swaps only $schema to the v5 one JupyterLab renders', () => {
  const spec = avgGapChartSpec(rows);
  const j = forJupyter(spec);
  assert.equal(j.$schema, JUPYTER_VEGA_LITE_SCHEMA);
  assert.deepEqual({ ...j, $schema: undefined }, { ...spec, $schema: undefined });
});

test('the Avg Gap chart plots the gap of the means and names the compared metrics from avgGapOver', () => {
  // random 10% runs of straddlingResults: gap of the means 0.5 over UA, RA, TA, MIA; the runs' own gaps 1.5 each
  const spec = avgGapChartSpec(summarize(straddlingResults().slice(0, 2)));
  const [datum] = values(spec);
  assert.equal(datum!.avgGap, 0.5);
  assert.equal(datum!.meanRunGap, 1.5);
  assert.equal(datum!.over, 'UA, RA, TA, MIA');
  // MIA is the primary attack's FT AUC in these result files (rmia)
  assert.equal((spec.title as { subtitle: string }).subtitle, '|mean(method) − mean(retrain)| over the runs, averaged over UA, RA, TA, MIA (MIA: rmia FT AUC); lower is better');
  // the fixture results compare UA, RA, TA only
  assert.match((avgGapChartSpec(rows).title as { subtitle: string }).subtitle, /averaged over UA, RA, TA;/);
  // rows comparing different metrics: each list is named (in row order: retrain's UA, RA, TA comes first)
  const mixed = summarize([...straddlingResults(), ...fixtureResults()]);
  assert.match((avgGapChartSpec(mixed).title as { subtitle: string }).subtitle, /averaged over UA, RA, TA or UA, RA, TA, MIA \(per row; see the tooltip\) \(MIA: rmia FT AUC\)/);
});

test('method names that are words of JavaScript (constructor, toString, __proto__) draw like any other', async () => {
  // before issue 13 the accuracy chart sorted by a list of the names, which Vega turned into an expression:
  // 'constructor' failed with "Operator not defined" and aborted the whole leaderboard build
  const names = ['constructor', 'toString', '__proto__', 'valueOf', "it's", 'a"b', 'back\\slash'];
  const rows = summarize(names.map((method, i) => fakeResult({ method, metrics: { UA: 80 + i, RA: 90, TA: 85 } })));
  const svg = await renderChartSvg(accuracyChartSpec(rows));
  assert.deepEqual(rectMarkCounts(svg), [names.length * 3, names.length * 3]);
  assert.deepEqual(rectMarkCounts(await renderChartSvg(avgGapChartSpec(rows))), [names.length]);
});
