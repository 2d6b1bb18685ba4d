import assert from 'node:assert/strict';
import { test } from 'node:test';
import { avgGapChartSpec, miaChartSpec } from './charts.js';
import { fakeResult, fixtureResults, multiRunResults, straddlingResults } from './fixtures.test-util.js';
import { COLUMN_NOTES_HTML, TABLE_CSS, leaderboardTableHtml, tableHeaders } from './html.js';
import { summarize, type LeaderboardRow } from './summarize.js';

/** The header labels (text before any generated sub-label) of a sortable table. */
const headerLabels = (html: string): string[] => [...html.matchAll(/<th [^>]*><button type="button">(.*?)<\/button><\/th>/g)].map((m) => m[1]!.replace(/<span class="sub">.*<\/span>/, ''));

/** The cells of each body row, as [data-sort value, inner HTML]. */
function bodyRows(html: string): Array<Array<[string, string]>> {
  const body = html.match(/<tbody>([\s\S]*)<\/tbody>/)![1]!;
  return body.split('\n').filter((l) => l.startsWith('<tr')).map((tr) => [...tr.matchAll(/<td[^>]*data-sort="([^"]*)"[^>]*>([\s\S]*?)<\/td>/g)].map((m) => [m[1]!, m[2]!]));
}

test('the table shows the gap of the means as Avg Gap and the runs’ own gaps as Mean run gap', () => {
  // random 10% runs of straddlingResults: gap of the means 0.5 over UA, RA, TA, MIA; the runs' own gaps 1.5 each
  const html = leaderboardTableHtml(summarize(straddlingResults().slice(0, 2)), { sortable: true });
  const header = headerLabels(html);
  const [row] = bodyRows(html);
  const at = (label: string): [string, string] => row![header.indexOf(label)]!;
  assert.deepEqual(at('Avg Gap (pp)'), ['0.5', '<span title="over UA, RA, TA, MIA">0.50</span>']);
  // two runs with gaps 1.5 and 1.5: std 0, so the 95% interval has half-width 0
  assert.deepEqual(at('Mean run gap (pp)'), ['1.5', '1.50<span class="ci" title="95% interval [1.50, 1.50] over 2 runs (Student t)"> ± 0.00</span>']);
  assert.match(COLUMN_NOTES_HTML, /<dt>Avg Gap<\/dt><dd>The gap of the means/);
  assert.match(COLUMN_NOTES_HTML, /<dt>Mean run gap<\/dt>/);
});

test('MIA columns: FT AUC and MIA-efficacy with their 95% intervals and targets; headers name the attack, mode and K from the results', () => {
  const rows = summarize(multiRunResults());
  const html = leaderboardTableHtml(rows, { sortable: true });
  const header = headerLabels(html);
  assert.deepEqual(header, ['Method', 'Setting', 'Avg Gap (pp)', 'Mean run gap (pp)', 'UA (%)', 'RA (%)', 'TA (%)', 'FT AUC (%)', 'MIA-efficacy (%)', 'Unlearn time (s)', 'Time vs retrain (%)', 'Runs']);
  const headers = tableHeaders(rows);
  assert.equal(headers.find((h) => h.label === 'FT AUC (%)')!.sub, 'rmia online, K=8');
  assert.match(headers.find((h) => h.label === 'FT AUC (%)')!.help, /^membership inference by rmia online, K=8 \(K = reference models\)/);
  assert.equal(headers.find((h) => h.label === 'MIA-efficacy (%)')!.sub, 'svc-mia');
  const ft = bodyRows(html)[rows.findIndex((r) => r.label === 'finetune')]!;
  // FT AUC 53, 55, 54: mean 54, std 1, half-width t(0.975, 2) / sqrt(3) = 4.3027 / 1.7321 = 2.48; retrained model 50
  assert.deepEqual(ft[header.indexOf('FT AUC (%)')], ['54', '<span title="rmia online, K=8">54.00<span class="ci" title="95% interval [51.52, 56.48] over 3 runs (Student t)"> ± 2.48</span><br><span class="ref">retrain 50.00</span></span>']);
  // MIA-efficacy 14, 12, 13: mean 13 ± 2.48; retrained model 20
  assert.deepEqual(ft[header.indexOf('MIA-efficacy (%)')], ['13', '13.00<span class="ci" title="95% interval [10.52, 15.48] over 3 runs (Student t)"> ± 2.48</span><br><span class="ref">retrain 20.00</span>']);
  // UA 96, 94, 92: 94 ± t * 2 / sqrt(3) = 4.97
  assert.match(ft[header.indexOf('UA (%)')]![1], /^94\.00<span class="ci" title="95% interval \[89\.03, 98\.97\] over 3 runs \(Student t\)"> ± 4\.97<\/span><br><span class="ref">retrain 90\.00<\/span>$/);

  // another attack in the result files: the header says so; no mode recorded: none named
  const lira = summarize([fakeResult({ method: 'm', metrics: { UA: 90, RA: 99, TA: 91, MIA: 55 }, gold: { UA: 90, RA: 99, TA: 91, MIA: 50 }, mia: { attack: 'lira', referenceModels: 16 } })]);
  assert.equal(tableHeaders(lira).find((h) => h.label === 'FT AUC (%)')!.sub, 'lira, K=16');
  assert.ok(!tableHeaders(lira).some((h) => h.label === 'MIA-efficacy (%)'), 'no MIA-efficacy column without an MIA-efficacy');
  // no membership inference in the results: no MIA columns
  assert.deepEqual(tableHeaders(summarize(fixtureResults())).map((h) => h.label).filter((l) => /AUC|MIA/.test(l)), []);
});

/** The metric lists a text names after "averaged over " (a list, or lists joined by " or "). */
function namedMetricSets(text: string): string[][] {
  const list = text.match(/averaged over (.*?)(?: \(per row; see the tooltip\))?(?: \(MIA: [^)]*\))?(?:;|$)/)![1]!;
  return list.split(' or ').map((l) => l.split(', '));
}
const rowSets = (rows: readonly LeaderboardRow[]): string[][] => [...new Set(rows.map((r) => JSON.stringify(r.avgGapOver)))].map((s) => JSON.parse(s) as string[]);

test('every header and chart subtitle names the metric set the rows’ Avg Gap compares, and what MIA is', () => {
  const cases: Array<[string, LeaderboardRow[]]> = [
    ['with MIA', summarize(multiRunResults())],
    ['without MIA', summarize(fixtureResults())],
    ['mixed', summarize([...straddlingResults(), ...fixtureResults()])],
  ];
  for (const [name, rows] of cases) {
    const expected = rowSets(rows).map((s) => [...s].sort()).sort();
    const gap = tableHeaders(rows).find((h) => h.label === 'Avg Gap (pp)')!;
    const subtitle = (avgGapChartSpec(rows).title as { subtitle: string }).subtitle;
    const named = {
      'header label': gap.sub!.replace(/ \(per row; see the tooltip\)$/, '').split(' or ').map((l) => l.split(', ')),
      'header tooltip': namedMetricSets(gap.help),
      'chart subtitle': namedMetricSets(subtitle),
    };
    for (const [where, sets] of Object.entries(named)) assert.deepEqual(sets.map((s) => [...s].sort()).sort(), expected, `${name}: ${where}`);
    // MIA is explained exactly when some row compares it, as the primary attack's score the result files record
    const comparesMia = rows.some((r) => r.avgGapOver.includes('MIA'));
    assert.equal(/\(MIA: rmia FT AUC\)/.test(subtitle), comparesMia, `${name}: subtitle ${subtitle}`);
    assert.equal(/\(MIA: rmia FT AUC\)/.test(gap.help), comparesMia, `${name}: tooltip ${gap.help}`);
  }
  // the MIA chart names the same attack as the table's header
  const rows = summarize(multiRunResults());
  assert.ok((miaChartSpec(rows)!.title as { subtitle: string }).subtitle.startsWith(`FT AUC: ${tableHeaders(rows).find((h) => h.label === 'FT AUC (%)')!.sub};`));
});

test('the table fragment carries its own scoped styles, and no value runs into its retrain target even without them (notebooks)', () => {
  const rows = summarize(multiRunResults());
  const html = leaderboardTableHtml(rows);
  assert.ok(html.startsWith(`<style>${TABLE_CSS}</style>\n<table class="leaderboard">`));
  // every rule is scoped to the table, so the fragment cannot restyle the notebook around it
  const selectors = TABLE_CSS.split('}').map((rule) => rule.split('{')[0]!.trim()).filter(Boolean).flatMap((s) => s.split(',').map((x) => x.trim()));
  assert.ok(selectors.length > 5);
  for (const selector of selectors) assert.ok(selector.startsWith('table.leaderboard'), selector);
  // a <br> before each target: "60.40retrain 57.60" cannot happen even where a renderer drops the styles
  assert.equal((html.match(/<span class="ref">retrain /g) ?? []).length, rows.length * 5);
  assert.equal((html.match(/<br><span class="ref">retrain /g) ?? []).length, rows.length * 5);
  const text = html.replace(/<style>[\s\S]*?<\/style>/, '').replace(/<br>/g, '\n').replace(/<[^>]+>/g, '');
  assert.doesNotMatch(text, /\dretrain/);
  assert.equal(leaderboardTableHtml(rows, { style: false }).startsWith('<table class="leaderboard">'), true);
});

test('each method row opens to its hyper-parameters and their source (search record), its paper and its provenance', () => {
  const rows = summarize(multiRunResults().map((r) => ({ ...r, provenance: { ...r.provenance, configHash: 'cafe0123', gitCommit: 'abc1234' } })));
  const html = leaderboardTableHtml(rows, {
    papers: { finetune: 'Golatkar et al. 2020 "FT"' },
    searchRecordHref: (file, benchmark) => `../benchmarks/${file}?b=${benchmark}`,
  });
  const ft = html.split('\n').find((l) => l.includes('<summary>finetune</summary>'))!;
  assert.match(ft, /<dt>Paper<\/dt><dd>Golatkar et al\. 2020 &quot;FT&quot;<\/dd>/);
  assert.match(ft, /<dt>Hyper-parameters<\/dt><dd><code>epochs<\/code> = <code>3<\/code>, <code>lr<\/code> = <code>0\.01<\/code><br>/);
  assert.match(ft, /source: chosen by <code>lethe tune<\/code> among 4 candidates by Avg Gap 0\.75 on a validation forget set \(original seed 0, forget-set seed 100, unlearning seed 0\); search record <a href="\.\.\/benchmarks\/fixture-bench\.tuning\.json\?b=fixture-bench"><code>fixture-bench\.tuning\.json<\/code><\/a>, search <code>abc123<\/code>/);
  assert.match(ft, /<dt>Runs<\/dt><dd>3 on forget set random-10pct; seeds \(original\/forget set\/unlearning\): 0\/0\/0, 1\/0\/0, 2\/0\/0<\/dd>/);
  assert.match(ft, /<dt>Config hash<\/dt><dd>cafe0123<\/dd>/);
  assert.match(ft, /<dt>Git commit<\/dt><dd>abc1234<\/dd>/);
  const salun = html.split('\n').find((l) => l.includes('<summary>salun</summary>'))!;
  assert.match(salun, /<dt>Paper<\/dt><dd>not known to this Lethe’s registry<\/dd>/);
  assert.match(salun, /<dd>the method’s defaults<br><span class="ref">source: the benchmark config<\/span><\/dd>/);
  // without a link maker the record is named, not linked
  assert.doesNotMatch(leaderboardTableHtml(rows), /<a href/);
});
