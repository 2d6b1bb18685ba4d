import assert from 'node:assert/strict';
import test from 'node:test';
import { validResult } from '../results/fixtures.test-util.js';
import type { CellResult } from '../results/results.js';
import { commitNote, compareResults, formatVerifyOutcome, identityBlockers } from './verify.js';

const nativeBackend = { name: 'native', tfjsBackend: 'native', version: '0.1.0', threads: 2, detail: 'oneDNN 2.6.3 (avx512_core), 2 thread(s)' };
function result(edit: (r: CellResult) => void = () => {}): CellResult {
  const r = validResult();
  r.provenance.backend = { ...nativeBackend };
  r.provenance.gitCommit = 'a'.repeat(40);
  edit(r);
  return r;
}

test('a re-run can be identical only with the same backend, threads, instruction set, versions and data', () => {
  assert.deepEqual(identityBlockers(result(), result()), []);
  const blockers = (edit: (r: CellResult) => void): string => identityBlockers(result(), result(edit)).join('\n');
  assert.match(blockers((r) => (r.provenance.backend.threads = 1)), /backend threads: 2 published, 1 here/);
  assert.match(blockers((r) => (r.provenance.backend.detail = 'oneDNN 2.6.3 (avx2), 2 thread(s)')), /backend detail \(instruction set, threads\)/);
  assert.match(blockers((r) => (r.provenance.backend = { name: 'wasm', tfjsBackend: 'wasm', version: '4.22.0' })), /backend: "native" published, "wasm" here/);
  // another commit does not excuse other numbers; it is noted
  assert.deepEqual(identityBlockers(result(), result((r) => (r.provenance.gitCommit = 'b'.repeat(40)))), []);
  assert.match(commitNote(result(), result((r) => (r.provenance.gitCommit = 'b'.repeat(40))))!, /published at commit a{40}, re-run at b{40}: a difference may come from a change since \(`git diff a{12} b{12}`/);
  assert.equal(commitNote(result(), result()), null);
  assert.match(blockers((r) => (r.provenance.tfjs = '4.23.0')), /TensorFlow\.js: "4\.22\.0" published, "4\.23\.0" here/);
  const old = result((r) => (r.provenance.backend = { name: 'native', tfjsBackend: 'native', version: '0.1.0' }));
  assert.match(identityBlockers(old, result()).join('\n'), /does not record its backend threads and instruction set/);
});

test('identical results verify; in exact mode any changed number is a mismatch, however small', () => {
  const same = compareResults(result(), result(), true, 2);
  assert.ok(same.every((f) => f.ok && f.checked));
  assert.ok(same.some((f) => f.field === 'metrics.UA' && f.published === 91 && f.rerun === 91));
  assert.ok(same.some((f) => f.field === 'cell.hyperParameters.lr'));
  assert.ok(!same.some((f) => f.field.startsWith('timing') || f.field.startsWith('provenance')), 'timings and provenance are not compared');
  const tiny = compareResults(result(), result((r) => (r.metrics.klTest = 0.05 + 1e-12)), true, 2);
  assert.deepEqual(tiny.filter((f) => !f.ok).map((f) => f.field), ['metrics.klTest']);
});

test('in tolerance mode headline metrics may move by the tolerance, other numbers are shown only, labels must match', () => {
  const moved = compareResults(result(), result((r) => { r.metrics.UA = 92.5; r.gold.TA = 86.5; r.metrics.FR = 0.9; }), false, 2);
  const by = new Map(moved.map((f) => [f.field, f]));
  assert.deepEqual([by.get('metrics.UA')!.ok, by.get('metrics.UA')!.difference], [true, 1.5]);
  assert.deepEqual([by.get('gold.TA')!.ok, by.get('gold.TA')!.difference], [false, -2.5]);
  assert.deepEqual([by.get('metrics.FR')!.checked, by.get('metrics.FR')!.ok], [false, true]);
  const relabelled = compareResults(result(), result((r) => (r.mia!.attack = 'lira')), false, 2);
  assert.deepEqual(relabelled.filter((f) => !f.ok).map((f) => f.field), ['mia.attack']);
});

test('a field the re-run lacks is a mismatch; one only the re-run has (added since) is shown, not held against the file', () => {
  const lacking = compareResults(result(), result((r) => delete (r.metrics as Partial<CellResult['metrics']>).MIA), true, 2);
  assert.deepEqual(lacking.filter((f) => !f.ok).map((f) => f.field), ['metrics.MIA']);
  const added = compareResults(result(), result((r) => ((r.metrics as unknown as Record<string, number>).newScore = 3)), true, 2);
  const extra = added.find((f) => f.field === 'metrics.newScore')!;
  assert.deepEqual([extra.checked, extra.ok, extra.published], [false, true, null]);
  assert.ok(added.every((f) => f.ok));
});

test('the report prints each field side by side and names the mismatches', () => {
  const fields = compareResults(result(), result((r) => (r.metrics.UA = 50)), true, 2);
  const text = formatVerifyOutcome({ file: 'x.json', config: 'c.json', exact: true, differences: [], commitNote: null, tolerance: 2, fields, ok: false, trained: [] });
  assert.match(text, /metrics\.UA\s+91\s+50\s+-41\s+MISMATCH/);
  assert.match(text, /NOT verified: 1 field\(s\) differ \(metrics\.UA\)/);
  assert.match(text, /expected: identical numbers/);
});
