import assert from 'node:assert/strict';
import { test } from 'node:test';
import { straddlingResults } from './fixtures.test-util.js';
import { COLUMN_NOTES_HTML, leaderboardTableHtml } from './html.js';
import { summarize } from './summarize.js';

/** The cells of the one body row, as [data-sort value, inner HTML]. */
function cells(html: string): Array<[string, string]> {
  const body = html.match(/<tbody>([\s\S]*)<\/tbody>/)![1]!;
  return [...body.matchAll(/<td[^>]*data-sort="([^"]*)"[^>]*>([\s\S]*?)<\/td>/g)].map((m) => [m[1]!, m[2]!]);
}

test('the table shows the gap of the means as Avg Gap and the runs’ own gaps as Mean run gap', () => {
  // random 10% runs of straddlingResults: gap of the means 0.5 over UA, RA, TA, MIA; the runs' own gaps 1.5 each
  const html = leaderboardTableHtml(summarize(straddlingResults().slice(0, 2)), { sortable: true });
  const header = [...html.matchAll(/<th [^>]*><button type="button">([^<]*)<\/button><\/th>/g)].map((m) => m[1]);
  const row = cells(html);
  const at = (label: string): [string, string] => row[header.indexOf(label)]!;
  assert.deepEqual(at('Avg Gap (pp)'), ['0.5', '<span title="over UA, RA, TA, MIA">0.50</span>']);
  assert.deepEqual(at('Mean run gap (pp)'), ['1.5', '1.50<span class="ref">± 0.00</span>']);
  assert.match(COLUMN_NOTES_HTML, /<dt>Avg Gap<\/dt><dd>The gap of the means/);
  assert.match(COLUMN_NOTES_HTML, /<dt>Mean run gap<\/dt>/);
});
