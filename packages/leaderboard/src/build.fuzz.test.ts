import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { buildLeaderboard } from './build.js';
import { fakeResult, tempDir } from './fixtures.test-util.js';

/**
 * Fuzz (issue 13): result directories holding random and adversarial result files (wrong types, out-of-range numbers,
 * NaN and infinities, huge strings, control and bidirectional characters, path separators, markup) through the whole
 * leaderboard build. Properties: the build never throws while one valid file is left; every file left out is
 * reported with its path and a field; nothing is written outside the output directory; every accepted string renders
 * as inert text (no markup of its own, no control or bidirectional characters on the page).
 */

const seed = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : 13;
const runs = (n: number): number => (process.env.FUZZ_RUNS ? Number(process.env.FUZZ_RUNS) : n);

/** Markup that must never appear as markup: each carries a marker the page itself never uses. */
const MARKUP = ['<x-evil>', '"><x-evil onerror=alert(1)>', '</script><x-evil>', "'><x-evil>", '<!--x-evil-->', '{{x-evil}}'];
const strings = fc.oneof(
  fc.constantFrom(
    ...MARKUP,
    '',
    '..',
    '../../etc/passwd',
    'a/b\\c',
    'x\u0000y',
    '\u001b[31mred',
    '\u202egnp.exe',
    '\u2066x\u2069',
    'a\u2028b',
    '\ud800',
    'constructor',
    '__proto__',
    'toString',
    'datum.method',
    'x'.repeat(50_000),
    '日本語 ✓',
  ),
  fc.string({ unit: 'binary', maxLength: 30 }),
  fc.tuple(fc.constantFrom(...MARKUP), fc.string({ maxLength: 10 })).map(([m, s]) => `${s}${m}`),
);
const values = fc.oneof(strings, fc.double(), fc.constantFrom(NaN, Infinity, -Infinity, -1, 101, 1e308, null), fc.integer(), fc.boolean(), fc.constant(undefined), fc.array(fc.integer(), { maxLength: 2 }));

/** Where in a result file a wrong value goes (the fields the leaderboard shows, and a few it does not). */
const FIELDS: string[][] = [
  ['benchmark'],
  ['schema'],
  ['cellHash'],
  ['cell', 'method'],
  ['cell', 'label'],
  ['cell', 'setting'],
  ['cell', 'forgetSet'],
  ['cell', 'seed'],
  // any JSON, shown in each row's details
  ['cell', 'hyperParameters', 'lr'],
  ['cell', 'hyperParameters', '<x-evil>\u202e'],
  ['metrics', 'UA'],
  ['metrics', 'RA'],
  ['metrics', 'TA'],
  ['metrics', 'avgGap'],
  ['metrics', 'avgGapOver'],
  ['metrics', 'MIA'],
  ['gold', 'UA'],
  ['original', 'TA'],
  ['timing', 'unlearnSeconds'],
  ['timing', 'relativeToRetrain'],
  ['sizes', 'forget'],
  ['provenance', 'cpus'],
  ['provenance', 'gitCommit'],
  ['provenance', 'backend', 'name'],
  ['provenance', 'createdAt'],
];

function set(target: Record<string, unknown>, at: string[], value: unknown): void {
  let node = target;
  for (const key of at.slice(0, -1)) node = node[key] as Record<string, unknown>;
  if (value === undefined) delete node[at.at(-1)!];
  else node[at.at(-1)!] = value;
}

/** A result file: a made-up valid result with up to three fields made wrong (or hostile but valid), or raw noise. */
const resultFile = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.tuple(fc.constantFrom('finetune', 'retrain', 'salun'), fc.array(fc.tuple(fc.constantFrom(...FIELDS), values), { minLength: 1, maxLength: 3 })).map(([method, edits]) => {
      const r = JSON.parse(JSON.stringify(fakeResult({ method, metrics: { UA: 80, RA: 95, TA: 85 } }))) as Record<string, unknown>;
      for (const [at, value] of edits) set(r, at, value);
      return JSON.stringify(r) ?? 'undefined';
    }),
  },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 200 }) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }).map((v) => JSON.stringify(v)) },
);

/** Every file under `dir`, relative. */
function listFiles(dir: string): string[] {
  return fs.readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => path.relative(dir, path.join(e.parentPath, e.name))).sort();
}

test('fuzz: the leaderboard build over hostile result files', async () => {
  const root = tempDir('lethe-lb-fuzz-');
  await fc.assert(
    fc.asyncProperty(fc.array(resultFile, { minLength: 1, maxLength: 4 }), async (files) => {
      const resultsDir = path.join(root, 'results');
      const outDir = path.join(root, 'out');
      fs.rmSync(root, { recursive: true, force: true });
      // one valid file, so there is always something to build; the hostile ones beside it, one folder deeper too
      fs.mkdirSync(path.join(resultsDir, 'bench', 'deeper'), { recursive: true });
      fs.writeFileSync(path.join(resultsDir, 'bench', 'valid.json'), JSON.stringify(fakeResult({ method: 'retrain', metrics: { UA: 90, RA: 99, TA: 91 } })));
      files.forEach((text, i) => fs.writeFileSync(path.join(resultsDir, 'bench', i % 2 ? 'deeper' : '.', `f${i}.json`), text));
      const before = listFiles(root);
      const built = await buildLeaderboard({ resultsDir, outDir, now: new Date(0) });
      // every left-out file is named with a field, and it is one of ours
      for (const p of built.problems) {
        assert.ok(p.file.startsWith(resultsDir + path.sep) && p.field.length > 0 && p.message.length > 0, JSON.stringify(p).slice(0, 300));
      }
      assert.equal(built.results + new Set(built.problems.map((p) => p.file)).size <= files.length + 1, true);
      assert.deepEqual(built.chartErrors, []);
      // nothing written outside the output directory, nothing changed in the results
      const after = listFiles(root);
      assert.deepEqual(after.filter((f) => !f.startsWith(`out${path.sep}`)), before);
      // accepted strings are inert: no markup of their own, no control or bidirectional characters on the page
      const html = fs.readFileSync(built.indexPath, 'utf8');
      assert.ok(!/<x-evil|<!--x-evil/i.test(html), 'markup from a result file reached the page');
      // eslint-disable-next-line no-control-regex -- matching control characters is the point
      assert.ok(!/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f\u202a-\u202e\u2066-\u2069]/.test(html), 'a control or bidirectional character reached the page');
      // only the page's own scripts: sort and embed, the 3 vendor bundles, and each chart's spec (2 or 3 per benchmark)
      const scripts = html.match(/<script\b[^>]*>/g) ?? [];
      assert.equal(scripts.filter((t) => t === '<script>').length, 2);
      assert.deepEqual(scripts.filter((t) => t.startsWith('<script src=')), ['vega.min.js', 'vega-lite.min.js', 'vega-embed.min.js'].map((f) => `<script src="vendor/${f}">`));
      const specs = scripts.filter((t) => t.startsWith('<script type='));
      assert.ok(specs.every((t) => /^<script type="application\/json" id="chart-\d+-(avg-gap|accuracy|mia)-spec">$/.test(t)), JSON.stringify(specs));
      assert.equal(scripts.length, 2 + 3 + specs.length);
      const sections = (html.match(/<section class="benchmark"/g) ?? []).length;
      assert.ok(sections >= 1 && specs.length >= 2 * sections, `${specs.length} charts for ${sections} benchmark section(s)`);
    }),
    { numRuns: runs(25), seed },
  );
});
