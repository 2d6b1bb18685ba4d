import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { TopLevelSpec } from 'vega-lite';
import {
  JUPYTER_VEGA_LITE_SCHEMA,
  VEGA_LITE_SCHEMA,
  accuracyChartSpec,
  avgGapChartSpec,
  forJupyter,
  renderChartSvg,
} from './charts.js';
import { FIXTURE_METHOD_COUNT, fakeResult, fixtureResults, straddlingResults } from './fixtures.test-util.js';
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
  assert.equal((spec.title as { subtitle: string }).subtitle, '|mean(method) − mean(retrain)| over the runs, averaged over UA, RA, TA, MIA; lower is better');
  // the fixture results compare UA, RA, TA only
  assert.match((avgGapChartSpec(rows).title as { subtitle: string }).subtitle, /averaged over UA, RA, TA;/);
  // rows comparing different metrics: each list is named (in row order: retrain's UA, RA, TA comes first)
  const mixed = summarize([...straddlingResults(), ...fixtureResults()]);
  assert.match((avgGapChartSpec(mixed).title as { subtitle: string }).subtitle, /averaged over UA, RA, TA or UA, RA, TA, MIA \(per row; see the tooltip\)/);
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
