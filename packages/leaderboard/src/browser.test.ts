import assert from 'node:assert/strict';
import fs from 'node:fs';
import { pathToFileURL } from 'node:url';
import { test, type TestContext } from 'node:test';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import type { CellResult } from '@lethe/harness/results';
import { buildLeaderboard } from './build.js';
import { FIXTURE_METHOD_COUNT, fixtureResults, multiRunResults, tempDir, writeFixtureDir } from './fixtures.test-util.js';
import { leaderboardTableHtml } from './html.js';
import { summarize } from './summarize.js';

// LETHE_CHROMIUM: another Chromium-family binary (CI runners ship Google Chrome at /usr/bin/google-chrome)
const CHROMIUM = process.env.LETHE_CHROMIUM ?? '/usr/bin/chromium';
const INSTALL = `Chromium not found at ${CHROMIUM}; install it with: apt-get update && apt-get install -y --no-install-recommends chromium (or point LETHE_CHROMIUM at a Chromium or Chrome binary)`;

/** On CI a missing browser is a failure (the test must not silently pass); locally it is a skip. */
function chromiumOrSkip(t: TestContext): boolean {
  if (fs.existsSync(CHROMIUM)) return true;
  if (process.env.CI) assert.fail(INSTALL);
  t.skip(INSTALL);
  return false;
}

async function launch(options: { javaScriptEnabled?: boolean } = {}): Promise<BrowserContext> {
  // A fresh profile per run: nothing cached from earlier runs can make the page look as if it worked.
  const profile = tempDir('lethe-chromium-');
  return chromium.launchPersistentContext(profile, {
    ...options,
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
  });
}

// This package compiles without the DOM lib, so the DOM shapes used in the page are spelled out.
type DomRow = { cells: ArrayLike<{ getAttribute(name: string): string | null }> };
type DomElement = { textContent: string | null; getBoundingClientRect(): { top: number; bottom: number } };

/** The data-sort values of one column of a table, top to bottom. */
const columnValues = (page: Page, table: string, col: number): Promise<string[]> =>
  page.$$eval(`${table} tbody tr`, (trs, c) => trs.map((tr) => (tr as unknown as DomRow).cells[c]!.getAttribute('data-sort') ?? ''), col);

/** Collects console errors, page errors, failed requests and any network request (the page must need none). */
function watch(page: Page): string[] {
  const problems: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console.error: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()}`));
  page.on('request', (r) => {
    if (!r.url().startsWith('file:')) problems.push(`network request: ${r.url()}`);
  });
  return problems;
}

test('the built page in headless Chromium: table, sorting, live charts with one mark per method, details, no console errors', { timeout: 120_000 }, async (t) => {
  if (!chromiumOrSkip(t)) return;
  const outDir = tempDir('lethe-lb-page-');
  // two benchmarks: the made-up four methods x two seeds, and four methods x three runs with membership inference
  const results = [...fixtureResults(), ...multiRunResults().map((r) => ({ ...r, benchmark: 'mia-bench' }))];
  const { indexPath } = await buildLeaderboard({ resultsDir: writeFixtureDir(results), outDir });

  const ctx = await launch();
  try {
    const page = ctx.pages()[0] ?? (await ctx.newPage());
    const problems = watch(page);
    await page.goto(pathToFileURL(indexPath).href);
    // Fail fast with the real cause (e.g. a vendor bundle missing) rather than a timeout further down.
    assert.deepEqual(problems, [], 'page loaded cleanly');
    assert.deepEqual(await page.$$eval('section.benchmark', (s) => s.map((x) => x.getAttribute('data-benchmark'))), ['fixture-bench', 'mia-bench']);

    // The table: one row per method, in Avg Gap order.
    const table = '#leaderboard-0';
    const header = await page.$$eval(`${table} thead th`, (ths) => ths.map((th) => th.textContent ?? ''));
    const col = (label: string): number => header.findIndex((h) => h.startsWith(label));
    assert.equal(await page.locator(`${table} tbody tr`).count(), FIXTURE_METHOD_COUNT);
    const gaps = (await columnValues(page, table, col('Avg Gap'))).map(Number);
    assert.deepEqual(gaps, [...gaps].sort((a, b) => a - b));
    const methodsBefore = await columnValues(page, table, col('Method'));

    // Clicking a header re-sorts: UA ascending, then descending.
    const ua = page.locator(`${table} thead th`, { hasText: 'UA (%)' });
    await ua.locator('button').click();
    const uaUp = (await columnValues(page, table, col('UA'))).map(Number);
    assert.deepEqual(uaUp, [...uaUp].sort((a, b) => a - b));
    assert.notDeepEqual(await columnValues(page, table, col('Method')), methodsBefore, 'the rows moved');
    assert.equal(await ua.getAttribute('aria-sort'), 'ascending');
    await ua.locator('button').click();
    const uaDown = (await columnValues(page, table, col('UA'))).map(Number);
    assert.deepEqual(uaDown, [...uaUp].sort((a, b) => b - a));
    await page.locator(`${table} thead th`, { hasText: 'Method' }).locator('button').click();
    const methods = await columnValues(page, table, col('Method'));
    assert.deepEqual(methods, [...methods].sort((a, b) => a.localeCompare(b)));
    // the other benchmark's table did not move: each table sorts on its own
    const miaGaps = (await columnValues(page, '#leaderboard-1', 2)).map(Number);
    assert.deepEqual(miaGaps, [...miaGaps].sort((a, b) => a - b));
    // sorting by FT AUC (a column only the MIA benchmark has)
    const miaHeader = await page.$$eval('#leaderboard-1 thead th', (ths) => ths.map((th) => th.textContent ?? ''));
    assert.ok(miaHeader.includes('FT AUC (%)rmia online, K=8'), JSON.stringify(miaHeader));
    await page.locator('#leaderboard-1 thead th', { hasText: 'FT AUC' }).locator('button').click();
    const auc = (await columnValues(page, '#leaderboard-1', miaHeader.findIndex((h) => h.startsWith('FT AUC')))).map(Number);
    assert.deepEqual(auc, [41, 50, 51, 54]);

    // The live vega-embed charts rendered, with one bar per method (and metric), and replaced the pre-rendered ones.
    const marks = async (id: string, selector: string): Promise<number> => {
      await page.waitForSelector(`#${id}-live[data-rendered="true"] svg`, { timeout: 30_000 });
      assert.equal(await page.locator(`#${id}-static`).isHidden(), true, `${id}: pre-rendered chart hidden`);
      return page.locator(`#${id}-live ${selector}`).count();
    };
    assert.equal(await marks('chart-0-avg-gap', 'g.mark-rect.role-mark > path'), FIXTURE_METHOD_COUNT);
    assert.equal(await marks('chart-0-accuracy', 'g.mark-rect.role-mark'), 2, 'bars and retrain ticks');
    assert.equal(await marks('chart-1-avg-gap', 'g.mark-rect.role-mark > path'), 4);
    // the accuracy chart: a bar, a retrain tick and an error bar per method and metric (three runs each)
    assert.equal(await page.locator('#chart-1-accuracy-live g.mark-rect.role-mark').first().locator('path').count(), 4 * 3);
    assert.equal(await marks('chart-1-accuracy', 'g.mark-rule.role-mark > line'), 4 * 3);
    assert.equal(await marks('chart-1-mia', 'g.mark-rule.role-mark > line'), 4 * 2);
    assert.equal(await page.locator('#chart-1-mia-live g.mark-rect.role-mark').first().locator('path').count(), 4 * 2);
    assert.equal(await page.locator('#chart-0-mia-live').count(), 0, 'no MIA chart without membership inference');

    // A method opens to its details.
    const details = page.locator('#leaderboard-1 details', { hasText: 'finetune' }).first();
    assert.equal(await details.locator('dl').isVisible(), false);
    await details.locator('summary').click();
    assert.equal(await details.locator('dl').isVisible(), true);
    assert.match((await details.locator('dl').textContent())!, /source: chosen by lethe tune among 4 candidates/);

    // the beats matrix of the three-run benchmark: 4 methods, 12 verdicts
    assert.equal(await page.locator('#beats-1-0 td[data-verdict]').count(), 12);

    // Escaped names show as text and never became elements.
    assert.equal(await page.locator('#leaderboard-0 b').count(), 0);
    assert.ok((await page.locator('#leaderboard-0').textContent())!.includes('<b>evil</b> & "co"'));

    assert.deepEqual(problems, []);
  } finally {
    await ctx.close();
  }
});

test('with scripts off the page still shows the table and the pre-rendered charts', { timeout: 120_000 }, async (t) => {
  if (!chromiumOrSkip(t)) return;
  const outDir = tempDir('lethe-lb-page-');
  const { indexPath } = await buildLeaderboard({ resultsDir: writeFixtureDir(), outDir });
  const ctx = await launch({ javaScriptEnabled: false });
  try {
    const page = ctx.pages()[0] ?? (await ctx.newPage());
    await page.goto(pathToFileURL(indexPath).href);
    assert.equal(await page.locator('#leaderboard-0 tbody tr').count(), FIXTURE_METHOD_COUNT);
    assert.equal(await page.locator('#chart-0-avg-gap-static').isVisible(), true);
    assert.equal(await page.locator('#chart-0-avg-gap-static g.mark-rect > path').count(), FIXTURE_METHOD_COUNT);
    assert.equal(await page.locator('#chart-0-avg-gap-live svg').count(), 0);
    // details open without scripts
    await page.locator('#leaderboard-0 details summary').first().click();
    assert.equal(await page.locator('#leaderboard-0 details dl').first().isVisible(), true);
  } finally {
    await ctx.close();
  }
});

/** Each payload would run script, load something or open a link if it reached the page as markup or a URL. */
const PAYLOADS = [
  '<script>window.__pwned = 1</script>',
  '<img src=x onerror="window.__pwned = 2">',
  'javascript:window.__pwned = 3;//',
  '"><svg onload="window.__pwned = 4">',
  "'><iframe src=\"javascript:window.__pwned = 5\"></iframe>",
  '</script><script>window.__pwned = 6</script>',
  '<a href="javascript:window.__pwned = 7">x</a>',
];
/** Fields whose strings are a fixed vocabulary the schema checks (a payload there is refused, not rendered). */
const VOCABULARY = new Set(['schema', 'cell.setting', 'cell.hyperParameterSource.kind', 'metrics.avgGapOver']);

/** A payload for a string, the same for the same string (so names that must agree, e.g. an attack and its byAttack key, still do). */
function payloadFor(text: string): string {
  let h = 0;
  for (const ch of text) h = (h * 31 + ch.codePointAt(0)!) >>> 0;
  return PAYLOADS[h % PAYLOADS.length]!;
}

/** Every string of a result, keys included, with a payload in front (names cut to the schema's 80 characters). */
function poison(value: unknown, at: string): unknown {
  if (typeof value === 'string') return VOCABULARY.has(at) ? value : `${payloadFor(value)}${value}`.slice(0, at.startsWith('provenance.') ? 500 : 80);
  if (Array.isArray(value)) return VOCABULARY.has(at) ? value : value.map((v) => poison(v, at));
  if (value === null || typeof value !== 'object') return value;
  // keys that are names (attacks, hyper-parameters, packages) get payloads too; the schema's own field names cannot
  const renameKeys = /(^|\.)(byAttack|hyperParameters|lethe)$/.test(at);
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [renameKeys ? `${payloadFor(k)}${k}`.slice(0, 80) : k, poison(v, at ? `${at}.${k}` : k)]));
}

/** A result whose every string field carries a payload, plus a metric named by one in its Avg Gap and hostile hyper-parameters. */
function hostile(result: CellResult): CellResult {
  const r = poison(result, '') as CellResult;
  const metric = '<img src=x onerror="window.__pwned = 8">';
  const m = r.metrics as Record<string, unknown>;
  m[metric] = 1;
  (r.gold as unknown as Record<string, unknown>)[metric] = 2;
  r.metrics.avgGapOver = [...r.metrics.avgGapOver, metric];
  r.cell.hyperParameters = { ...r.cell.hyperParameters, '<script>window.__pwned = 9</script>': ['javascript:window.__pwned = 10', { '</script>': '<b>' }] };
  r.cell.hyperParameterSource = { kind: 'search', file: 'javascript:window.__pwned = 11', searchKey: '<script>window.__pwned = 12</script>', candidates: 2, validationAvgGap: 1, validation: { originalSeed: 0, forgetSetSeed: 1, unlearningSeed: 0 } };
  return r;
}

test('a result file with script, HTML and javascript: payloads in every string field renders them as inert text', { timeout: 120_000 }, async (t) => {
  if (!chromiumOrSkip(t)) return;
  const results = multiRunResults().map(hostile);
  const outDir = tempDir('lethe-lb-hostile-');
  const built = await buildLeaderboard({ resultsDir: writeFixtureDir(results), outDir });
  // the payloads are valid result files: the test is of rendering, not of the schema refusing them
  assert.deepEqual(built.problems, []);
  assert.deepEqual(built.chartErrors, []);
  assert.equal(built.rows, 4);
  const html = fs.readFileSync(built.indexPath, 'utf8');
  // markup never reaches the page as written (a javascript: text may: as text it is inert, checked below as a link)
  for (const p of PAYLOADS.filter((x) => x.includes('<'))) assert.ok(!html.includes(p), `a payload reached the page as written: ${p}`);

  const ctx = await launch();
  try {
    const page = ctx.pages()[0] ?? (await ctx.newPage());
    const problems = watch(page);
    await page.goto(pathToFileURL(built.indexPath).href);
    for (const id of ['chart-0-avg-gap', 'chart-0-accuracy', 'chart-0-mia']) await page.waitForSelector(`#${id}-live[data-rendered="true"] svg`, { timeout: 30_000 });
    // open every method's details and hover every bar (the charts' tooltips show the names too)
    for (const summary of await page.locator('summary').all()) await summary.click();
    for (const bar of (await page.locator('#chart-0-avg-gap-live g.mark-rect.role-mark > path').all()).slice(0, 4)) await bar.hover();
    for (const bar of (await page.locator('#chart-0-mia-live g.mark-rect.role-mark > path').all()).slice(0, 2)) await bar.hover();

    assert.equal(await page.evaluate(() => (globalThis as { __pwned?: unknown }).__pwned), undefined, 'no payload ran');
    // no element a payload would have made, no link to a javascript: URL, only the page's own scripts
    assert.equal(await page.locator('img, iframe, svg[onload], [onerror], [onload]').count(), 0);
    const hrefs = await page.$$eval('a[href]', (as) => as.map((a) => a.getAttribute('href') ?? ''));
    assert.ok(hrefs.every((h) => h.startsWith('#') || h.startsWith('../') || /^https?:/.test(h)), JSON.stringify(hrefs));
    assert.equal(await page.locator('script').count(), 2 + 3 + 3, 'sort, 3 vendor bundles, embed, 3 chart specs');
    // ... and the payloads are there as text: in the table, the details and the header
    const text = (await page.locator('#leaderboard-0').textContent())!;
    assert.ok(text.includes(`${payloadFor('finetune')}finetune`), 'method label as text');
    assert.ok(text.includes('<script>window.__pwned = 9</script>'), 'hyper-parameter name as text');
    assert.ok(text.includes('javascript:window.__pwned = 11'), 'search record file as text, not a link');
    assert.ok(text.includes('<img src=x onerror="window.__pwned = 8">'), 'the metric in the Avg Gap header as text');
    const section = (await page.locator('#benchmark-0').textContent())!;
    assert.ok(section.includes(`${payloadFor('fixture-bench')}fixture-bench`), 'benchmark name as text');
    assert.ok(section.includes(`${payloadFor('random-10pct')}random-10pct`), 'forget set in the protocol line as text');
    // the live chart drew each method's name as text
    const chartText = (await page.locator('#chart-0-avg-gap-live svg').textContent())!;
    assert.ok(chartText.includes(`${payloadFor('salun')}salun`.slice(0, 20)), chartText.slice(0, 300));
    assert.deepEqual(problems, []);
  } finally {
    await ctx.close();
  }
});

test('the table fragment a notebook displays: each value and its retrain target on separate lines, with and without its styles', { timeout: 120_000 }, async (t) => {
  if (!chromiumOrSkip(t)) return;
  const fragment = leaderboardTableHtml(summarize(multiRunResults()));
  const ctx = await launch();
  try {
    const page = ctx.pages()[0] ?? (await ctx.newPage());
    for (const [name, html] of [['with its <style>', fragment], ['styles dropped (as a code host renders notebooks)', fragment.replace(/<style>[\s\S]*?<\/style>/, '')]] as const) {
      // a bare page with no stylesheet of its own, as a notebook output is
      await page.setContent(`<!doctype html><html><body>${html}</body></html>`);
      const cells = await page.$$eval('table.leaderboard tbody td.num', (tds) =>
        tds
          .map((td) => {
            const ref = td.querySelector('.ref') as unknown as DomElement | null;
            // the first text in the cell is the value
            const doc = (globalThis as unknown as { document: { createTreeWalker(root: unknown, show: number): { nextNode(): { textContent: string | null } | null }; createRange(): { selectNodeContents(n: unknown): void; getBoundingClientRect(): { bottom: number } } } }).document;
            const first = doc.createTreeWalker(td, 4 /* NodeFilter.SHOW_TEXT */).nextNode();
            if (!ref || !first) return null;
            const range = doc.createRange();
            range.selectNodeContents(first);
            return { value: first.textContent, valueBottom: range.getBoundingClientRect().bottom, refTop: ref.getBoundingClientRect().top, text: (td as unknown as DomElement).textContent };
          })
          .filter((x) => x !== null),
      );
      assert.ok(cells.length >= 4 * 5, `${name}: ${cells.length} cells with a target`);
      for (const c of cells) assert.ok(c!.refTop >= c!.valueBottom - 1, `${name}: "${c!.text}" runs the value into its target`);
    }
  } finally {
    await ctx.close();
  }
});
