import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { buildLeaderboard, noResultsMessage } from './build.js';
import { FIXTURE_METHOD_COUNT, fakeResult, tempDir as tmp, writeFixtureDir } from './fixtures.test-util.js';
import type { ResultProblem } from '@lethe/harness/results';

test('buildLeaderboard writes index.html with table, both charts, vendor bundles and provenance', async () => {
  const outDir = path.join(tmp('lethe-lb-out-'), 'nested', 'dist');
  const res = await buildLeaderboard({ resultsDir: writeFixtureDir(), outDir, now: new Date('2025-02-03T04:05:06Z') });
  assert.equal(res.indexPath, path.join(outDir, 'index.html'));
  assert.equal(res.rows, FIXTURE_METHOD_COUNT);
  assert.equal(res.results, FIXTURE_METHOD_COUNT * 2);
  const html = fs.readFileSync(res.indexPath, 'utf8');
  assert.equal((html.match(/<tbody>[\s\S]*<\/tbody>/)![0].match(/<tr\b/g) ?? []).length, FIXTURE_METHOD_COUNT);
  for (const f of ['vega.min.js', 'vega-lite.min.js', 'vega-embed.min.js']) {
    assert.ok(fs.statSync(path.join(outDir, 'vendor', f)).size > 10_000, f);
    assert.ok(html.includes(`<script src="vendor/${f}"></script>`), f);
  }
  assert.ok(!/https?:\/\/(?!vega\.github\.io\/schema|www\.w3\.org)/.test(html), 'no network URLs besides schema ids');
  assert.equal((html.match(/<svg\b/g) ?? []).length, 2, 'two pre-rendered charts');
  assert.match(html, /fixture-backend 0\.0\.0-fixture/);
  assert.match(html, /@lethe\/harness 0\.1\.0/);
  assert.match(html, /from 2025-01-01T00:00:00\.000Z/);
  assert.match(html, /Built 2025-02-03T04:05:06\.000Z/);
  assert.match(html, /not 0/);
  // the made-up method name with markup never appears unescaped
  assert.ok(!html.includes('<b>evil'));
  assert.ok(html.includes('&lt;b&gt;evil&lt;/b&gt; &amp; &quot;co&quot;'));
  // atomic writes leave no temp files
  assert.deepEqual(fs.readdirSync(outDir).filter((f) => f.endsWith('.tmp')), []);
  assert.deepEqual(fs.readdirSync(path.join(outDir, 'vendor')).filter((f) => f.endsWith('.tmp')), []);
});

test('buildLeaderboard: missing or empty results dir gives the run-a-benchmark-first error', async () => {
  const missing = path.join(tmp('lethe-lb-missing-'), 'nope');
  await assert.rejects(buildLeaderboard({ resultsDir: missing, outDir: tmp('lethe-lb-out-') }), { message: noResultsMessage(missing) });
  const empty = tmp('lethe-lb-empty-');
  fs.writeFileSync(path.join(empty, 'other.json'), JSON.stringify({ schema: 'something-else' }));
  await assert.rejects(buildLeaderboard({ resultsDir: empty, outDir: tmp('lethe-lb-out-') }), (err: Error) => {
    assert.equal(err.message, `no result files in ${empty}; run \`pnpm lethe run benchmarks/smoke.json\` first`);
    return true;
  });
});

test('CommonJS callers (tslab notebooks) can require() the package', () => {
  // Node >= 20.19 can require() ES modules without top-level await; vega and @lethe/harness are only
  // imported dynamically, so they cannot break this.
  const entry = fileURLToPath(new URL('./index.js', import.meta.url));
  const res = spawnSync(process.execPath, ['-e', `const l = require(${JSON.stringify(entry)}); console.log(typeof l.summarize, typeof l.renderChartSvg)`], {
    encoding: 'utf8',
  });
  assert.equal(res.status, 0, res.stderr);
  assert.equal(res.stdout.trim(), 'function function');
});

test('bad result files are reported with their path and field, listed on the page, and the rest still build', async () => {
  const dir = writeFixtureDir();
  const bench = path.join(dir, 'fixture-bench');
  const base = (): Record<string, unknown> => JSON.parse(JSON.stringify(fakeResult({ method: 'badmethod', metrics: { UA: 1, RA: 2, TA: 3 } })));
  const bad: Record<string, [content: string, field: string]> = {
    // a missing field: before issue 13 a raw TypeError naming no file
    'missing.json': [JSON.stringify({ ...base(), timing: undefined }), 'timing'],
    // a null metric: before, shown as 0.00
    'null.json': [JSON.stringify({ ...base(), metrics: { ...(base().metrics as object), UA: null } }), 'metrics.UA'],
    // out of range: before, ranked as if valid
    'range.json': [JSON.stringify({ ...base(), metrics: { ...(base().metrics as object), TA: 101 } }), 'metrics.TA'],
    // another schema version: before, dropped without a word
    'v2.json': [JSON.stringify({ ...base(), schema: 'lethe.result/v2' }), 'schema'],
    // an escape sequence and a bidi override in names, markup in the field name of a problem
    'control.json': [JSON.stringify({ ...base(), benchmark: 'x\u001b]8;;evil\u0007' }), 'benchmark'],
    'bidi.json': [JSON.stringify({ ...base(), cell: { ...(base().cell as object), method: '\u202e<img src=x onerror=alert(1)>' } }), 'cell.method'],
    'broken.json': ['{"schema": "lethe.result/v1",', '(file)'],
  };
  for (const [name, [content]] of Object.entries(bad)) fs.writeFileSync(path.join(bench, name), content);
  const seen: ResultProblem[] = [];
  const outDir = tmp('lethe-lb-bad-');
  const res = await buildLeaderboard({ resultsDir: dir, outDir, onProblem: (p) => seen.push(p) });
  assert.equal(res.rows, FIXTURE_METHOD_COUNT, 'the good files still build, the bad ones are not rows');
  assert.equal(res.results, FIXTURE_METHOD_COUNT * 2);
  assert.deepEqual(res.problems, seen);
  for (const [name, [, field]] of Object.entries(bad)) {
    assert.ok(seen.some((p) => p.file === path.join(bench, name) && p.field === field), `${name} -> ${field}: ${JSON.stringify(seen)}`);
  }
  const html = fs.readFileSync(res.indexPath, 'utf8');
  assert.ok(!html.includes('badmethod'), 'no row of a bad file');
  assert.match(html, /7 result file\(s\) did not pass the result schema/);
  assert.match(html, /<code>fixture-bench\/null\.json<\/code>: <code>metrics\.UA<\/code>: expected a finite number, found null/);
  assert.match(html, /v2\.json<\/code>: <code>schema<\/code>: &quot;lethe\.result\/v2&quot; is not the result schema this Lethe reads/);
  assert.ok(!html.includes('<img') && !html.includes('\u202e') && !html.includes('\u001b'));
  // without onProblem the problems are still returned
  assert.equal((await buildLeaderboard({ resultsDir: dir, outDir })).problems.length, seen.length);
});

test('loadResultsDir without onProblem refuses a directory with a bad file, naming it and the field', async () => {
  const { loadResultsDir } = await import('./build.js');
  const dir = writeFixtureDir();
  fs.writeFileSync(path.join(dir, 'fixture-bench', 'bad.json'), JSON.stringify({ ...fakeResult({ method: 'm', metrics: { UA: 1, RA: 2, TA: 3 } }), sizes: null }));
  await assert.rejects(loadResultsDir(dir), /bad\.json': sizes: /);
});
