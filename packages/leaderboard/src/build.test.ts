import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { buildLeaderboard, noResultsMessage } from './build.js';
import { FIXTURE_METHOD_COUNT, fakeResult, fixtureResults, multiRunResults, tempDir as tmp, writeFixtureDir } from './fixtures.test-util.js';
import type { ResultProblem } from '@lethe/harness/results';

test('buildLeaderboard writes index.html with table, both charts, vendor bundles and provenance', async () => {
  const outDir = path.join(tmp('lethe-lb-out-'), 'nested', 'dist');
  const res = await buildLeaderboard({ resultsDir: writeFixtureDir(), outDir, now: new Date('2025-02-03T04:05:06Z') });
  assert.equal(res.indexPath, path.join(outDir, 'index.html'));
  assert.equal(res.rows, FIXTURE_METHOD_COUNT);
  assert.equal(res.results, FIXTURE_METHOD_COUNT * 2);
  const html = fs.readFileSync(res.indexPath, 'utf8');
  assert.equal((html.match(/<table class="leaderboard" id="leaderboard-0">[\s\S]*?<tbody>([\s\S]*?)<\/tbody>/)![1]!.match(/<tr\b/g) ?? []).length, FIXTURE_METHOD_COUNT);
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

/** A configs folder with one valid config named `name` (and a search record beside it), and the config's hash as the harness computes it. */
async function configsDir(name: string): Promise<{ dir: string; hash: string }> {
  const dir = tmp('lethe-lb-configs-');
  const config = {
    name,
    description: 'A fixture config <b>with markup</b>.',
    dataset: { name: 'cifar10', trainSubset: 1000, testSubset: 200 },
    model: { arch: 'small-cnn', batchNorm: false },
    training: { epochs: 7, lr: 0.05 },
    forgetSets: [{ kind: 'random', fraction: 0.1 }],
    methods: [{ name: 'retrain' }, { name: 'finetune' }],
  };
  fs.writeFileSync(path.join(dir, `${name}.json`), JSON.stringify(config));
  fs.writeFileSync(path.join(dir, `${name}.tuning.json`), JSON.stringify({ schema: 'lethe.tuning/v1' }));
  fs.writeFileSync(path.join(dir, 'not-a-config.json'), '{}');
  const { readBenchmarkConfig, contentHash } = await import('@lethe/harness');
  return { dir, hash: contentHash(readBenchmarkConfig(path.join(dir, `${name}.json`))) };
}

test('one section per benchmark: its protocol in one line, a link to the config its results name by hash, the beats matrix', async () => {
  const { dir: configs, hash } = await configsDir('fixture-bench');
  const results = [...multiRunResults().map((r) => ({ ...r, provenance: { ...r.provenance, configHash: hash } })), ...fixtureResults().map((r) => ({ ...r, benchmark: 'other-bench' }))];
  const outDir = tmp('lethe-lb-sections-');
  const base = 'https://github.com/someone/lethe/blob/main/benchmarks/';
  await buildLeaderboard({ resultsDir: writeFixtureDir(results), outDir, configsDir: configs, configBaseUrl: base, papers: { finetune: 'Golatkar et al. 2020' } });
  const html = fs.readFileSync(path.join(outDir, 'index.html'), 'utf8');
  const sections = [...html.matchAll(/<section class="benchmark" id="benchmark-(\d)" data-benchmark="([^"]*)">([\s\S]*?)<\/section>/g)];
  assert.deepEqual(sections.map((m) => [m[1], m[2]]), [['0', 'fixture-bench'], ['1', 'other-bench']]);
  const [fixture, other] = [sections[0]![3]!, sections[1]![3]!];
  // the protocol: images, forget set, runs and MIA from the results; dataset, model and epochs from the config
  assert.match(
    fixture,
    /<p class="protocol">cifar10: 1,000 training images \(100 to forget\), 200 test · model small-cnn \(normalize true, batchNorm false, width 1\) · trained 7 epochs · forget set random-10pct \(retain set available\) · 12 result files: 3 original models × 1 forget-set draw × 1 unlearning run · MIA: FT AUC by rmia online, K=8; MIA-efficacy by svc-mia<\/p>/,
  );
  assert.ok(fixture.includes(`Config: <a href="${base}fixture-bench.json"><code>benchmarks/fixture-bench.json</code></a> (config hash <code>${hash}</code>, as recorded in the result files)`));
  // the config's description is text
  assert.ok(fixture.includes('A fixture config &lt;b&gt;with markup&lt;/b&gt;.'));
  // the search record beside the config is linked from the row's details
  assert.ok(fixture.includes(`search record <a href="${base}fixture-bench.tuning.json">`));
  assert.match(fixture, /<dt>Paper<\/dt><dd>Golatkar et al\. 2020<\/dd>/);
  // several runs per method: a beats matrix (4 methods: 12 cells off the diagonal)
  assert.equal((fixture.match(/data-verdict=/g) ?? []).length, 12);
  // each section has its own table and charts; MIA chart only where the results have MIA
  assert.match(fixture, /id="leaderboard-0"/);
  assert.match(fixture, /id="chart-0-mia-live"/);
  assert.doesNotMatch(other, /chart-1-mia/);
  // a benchmark without a config of its name or hash says so, and its protocol says what is not known
  assert.match(other, /Config: no config in the repository’s <code>benchmarks\/<\/code> has this benchmark’s name or its results’ config hash/);
  assert.match(other, /<p class="protocol">1,000 training images \(100 to forget\), 200 test · model: not recorded in the results \(no config found\) · forget set/);
});

test('a config that changed since its results is linked by name and flagged; the default link is relative; other schemes are refused', async () => {
  const { dir: configs, hash } = await configsDir('fixture-bench');
  const resultsDir = writeFixtureDir(fixtureResults().map((r) => ({ ...r, provenance: { ...r.provenance, configHash: 'feedfacefeedface' } })));
  const outDir = path.join(tmp('lethe-lb-stale-'), 'site');
  await buildLeaderboard({ resultsDir, outDir, configsDir: configs });
  const html = fs.readFileSync(path.join(outDir, 'index.html'), 'utf8');
  const relative = `${path.relative(outDir, configs).split(path.sep).join('/')}/fixture-bench.json`;
  assert.ok(html.includes(`<a href="${relative}"><code>benchmarks/fixture-bench.json</code></a> — <strong>changed since these results</strong>: its hash is <code>${hash}</code>, the result files record <code>feedfacefeedface</code>`));
  // the relative link resolves to the config from the page's folder
  assert.ok(fs.existsSync(path.resolve(outDir, relative)));
  await assert.rejects(buildLeaderboard({ resultsDir, outDir, configsDir: configs, configBaseUrl: 'javascript:alert(1)//' }), /configBaseUrl 'javascript:alert\(1\)\/\/' is neither an http\(s\) URL nor a relative path/);
});
