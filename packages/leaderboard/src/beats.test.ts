import assert from 'node:assert/strict';
import { test } from 'node:test';
import { beatsMatrix } from './beats.js';
import { fakeResult } from './fixtures.test-util.js';
import { beatsMatrixHtml } from './html.js';

// Gold UA 90, RA 99, TA 91: a run whose UA is 90 + 3g (or 90 - 3g) and RA, TA the gold's has its own Avg Gap g.
const run = (method: string, seed: number, gap: number, sign = 1) => fakeResult({ method, seed, metrics: { UA: 90 + sign * 3 * gap, RA: 99, TA: 91 } });
const results = [
  ...[1, 2, 3].map((g, seed) => run('a', seed, g)),
  ...[2, 4, 5].map((g, seed) => run('b', seed, g, -1)),
  ...[1, 2, 2].map((g, seed) => run('c', seed, g)),
  run('d', 0, 1),
];

// Student's t with 2 degrees of freedom: P(|T| >= |t|) = 1 - |t| / sqrt(2 + t^2).
const pValueDf2 = (t: number): number => 1 - Math.abs(t) / Math.sqrt(2 + t * t);

test('beatsMatrix: the paired test of the runs’ own Avg Gap, checked by hand', () => {
  const m = beatsMatrix(results, ['a', 'b', 'c', 'd']);
  assert.deepEqual(m.labels, ['a', 'b', 'c', 'd']);
  assert.equal(m.cells[0]![0], null);
  // a - b per seed: 1-2, 2-4, 3-5 = -1, -2, -2: mean -5/3, sample std sqrt(1/3), t = -5
  const ab = m.cells[0]![1]!;
  assert.equal(ab.verdict, 'beats');
  assert.equal(ab.comparison!.test.n, 3);
  assert.ok(Math.abs(ab.comparison!.test.meanDifference + 5 / 3) < 1e-12);
  assert.ok(Math.abs(ab.comparison!.test.t + 5) < 1e-9);
  assert.ok(Math.abs(ab.comparison!.test.pValue - pValueDf2(5)) < 1e-7, `p ${ab.comparison!.test.pValue} vs ${pValueDf2(5)}`);
  assert.ok(pValueDf2(5) < 0.05);
  // the mirror cell: b loses to a, same p
  assert.equal(m.cells[1]![0]!.verdict, 'loses');
  assert.equal(m.cells[1]![0]!.comparison!.test.pValue, ab.comparison!.test.pValue);
  // a - c: 0, 0, 1: mean 1/3, std sqrt(1/3), t = 1, p = 1 - 1/sqrt(3) ≈ 0.42: no difference
  const ac = m.cells[0]![2]!;
  assert.equal(ac.verdict, 'no difference');
  assert.ok(Math.abs(ac.comparison!.test.pValue - pValueDf2(1)) < 1e-7);
  // d ran once: no paired test, and compareMethods' reason is kept
  const ad = m.cells[0]![3]!;
  assert.equal(ad.verdict, 'too few pairs');
  assert.equal(ad.comparison, null);
  assert.match(ad.reason!, /share 1 \(forget set, seed\) pair/);
});

test('beatsMatrixHtml: one cell per ordered pair, verdicts as text, names escaped', () => {
  const html = beatsMatrixHtml(beatsMatrix(results, ['a', 'b']), { id: 'm' });
  assert.match(html, /<table class="beats" id="m">/);
  assert.deepEqual([...html.matchAll(/data-verdict="([^"]+)"/g)].map((x) => x[1]), ['beats', 'loses']);
  assert.match(html, /title="a − b: mean difference of the runs’ own Avg Gap -1\.67 pp over 3 shared runs, paired t-test p = 0\.038"/);
  const evil = [...[1, 2].map((g, seed) => run('<img src=x onerror=alert(1)>', seed, g)), ...[2, 4].map((g, seed) => run('b', seed, g))];
  const escaped = beatsMatrixHtml(beatsMatrix(evil, ['<img src=x onerror=alert(1)>', 'b']));
  assert.ok(!escaped.includes('<img'));
  assert.ok(escaped.includes('&lt;img src=x onerror=alert(1)&gt;'));
});
