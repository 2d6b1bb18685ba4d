// MADE-UP ROC points for display tests only; the means below are worked by hand.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { CellResult } from '@lethe/harness/results';
import { renderChartSvg } from './charts.js';
import { fakeResult } from './fixtures.test-util.js';
import { rocAttacksIn, rocChartSpec, rocCurves, tprAt } from './roc.js';

const FPR = [0, 0.1, 1, 10, 100];

/** A result of `method` on original model `original` whose rmia curves are the given TPRs (unlearned, gold, original). */
function withRoc(method: string, original: number, tpr: number[], gold: number[], orig: number[], mode = 'online', k = 8): CellResult {
  const r = fakeResult({ method, seeds: { original, forgetSet: 0, unlearning: 0 }, metrics: { UA: 90, RA: 99, TA: 91, MIA: 50 }, gold: { UA: 90, RA: 99, TA: 91, MIA: 50 }, mia: { mode, referenceModels: k } });
  const curve = (t: number[], auc: number) => ({ ftAuc: auc, tprAt1Fpr: t[2]!, referenceModels: k, mode, roc: { fpr: [...FPR], tpr: t } });
  r.mia!.byAttack!.rmia = curve(tpr, 50 + tpr[2]!);
  r.gold.mia!.byAttack!.rmia = curve(gold, 50 + gold[2]!);
  r.original.mia = { ...r.gold.mia!, byAttack: { rmia: curve(orig, 50 + orig[2]!) } };
  return r;
}

const GOLD0 = [0, 0, 2, 12, 100];
const GOLD1 = [0, 0, 4, 14, 100];
const ORIG0 = [0, 1, 8, 30, 100];
const ORIG1 = [0, 3, 10, 40, 100];

function fixture(): CellResult[] {
  return [
    withRoc('retrain', 0, GOLD0, GOLD0, ORIG0),
    withRoc('finetune', 0, [0, 0, 10, 50, 100], GOLD0, ORIG0),
    withRoc('finetune', 1, [0, 2, 20, 70, 100], GOLD1, ORIG1),
    withRoc('amun', 0, [0, 0, 1, 11, 100], GOLD0, ORIG0),
  ];
}

test('rocCurves: a mean curve per method, and the original and gold models once per original model', () => {
  const set = rocCurves(fixture());
  assert.equal(set.attack, 'rmia');
  assert.equal(set.mode, 'online');
  assert.equal(set.referenceModels, 8);
  assert.deepEqual(
    set.curves.map((c) => [c.model, c.kind, c.runs]),
    [
      ['original', 'original', 2],
      ['retrain (gold)', 'retrain (gold)', 2],
      ['finetune', 'method', 2],
      ['amun', 'method', 1],
    ],
  );
  const byModel = new Map(set.curves.map((c) => [c.model, c]));
  // finetune: the mean of its two runs at each FPR
  assert.deepEqual(byModel.get('finetune')!.tpr, [0, 1, 15, 60, 100]);
  // gold: o0 appears in three files and o1 in one; counted once each, the mean is (2 + 4)/2 = 3 at 1% (not (3x2 + 4)/4)
  assert.deepEqual(byModel.get('retrain (gold)')!.tpr, [0, 0, 3, 13, 100]);
  assert.deepEqual(byModel.get('original')!.tpr, [0, 2, 9, 35, 100]);
  assert.equal(byModel.get('finetune')!.auc, 50 + 15);
  assert.equal(tprAt(byModel.get('finetune')!, 1), 15);
  assert.equal(tprAt(byModel.get('finetune')!, 2), null);
});

test('rocCurves: clear errors for results without curves, mixed settings or mixed benchmarks', () => {
  const old = fakeResult({ method: 'finetune', metrics: { UA: 90, RA: 99, TA: 91, MIA: 50 }, gold: { UA: 90, RA: 99, TA: 91, MIA: 50 } });
  assert.deepEqual(rocAttacksIn([old]), []);
  assert.throws(() => rocCurves([old]), /no result file carries a ROC curve \(mia\.byAttack\.<attack>\.roc, written since 2026-12-07/);
  assert.throws(() => rocCurves(fixture(), 'lira'), /no result file carries a ROC curve of lira \(attacks with curves: rmia\)/);
  const mixed = [...fixture(), withRoc('finetune', 2, [0, 0, 1, 10, 100], GOLD0, ORIG0, 'offline', 4)];
  assert.throws(() => rocCurves(mixed), /mix attack settings \(modes online, offline; reference models 8, 4\)/);
  const other = { ...fixture()[1]!, benchmark: 'other' };
  assert.throws(() => rocCurves([...fixture(), other]), /results of 2 benchmarks \(fixture-bench, other\)/);
  // older files without a curve are left out, not an error
  assert.equal(rocCurves([...fixture(), old]).curves.find((c) => c.model === 'finetune')!.runs, 2);
});

test('rocChartSpec: log-log axes, the attack, its mode and K in the title, no zero on a log axis, one line per model', async () => {
  const set = rocCurves(fixture());
  const spec = rocChartSpec(set) as unknown as { title: { text: string; subtitle: string }; layer: Array<{ data: { values: Array<Record<string, number | string>> }; encoding: Record<string, { scale?: { type?: string } }> }> };
  assert.match(spec.title.text, /^ROC of rmia \(online, K=8 reference models\)/);
  assert.match(spec.title.subtitle, /log-log axes; mean TPR at each FPR over each model's runs \(2\/1\)/);
  const [chance, lines] = spec.layer;
  for (const layer of [chance!, lines!]) {
    assert.equal(layer.encoding.x!.scale!.type, 'log');
    assert.equal(layer.encoding.y!.scale!.type, 'log');
  }
  const values = lines!.data.values;
  assert.ok(values.every((v) => (v.fpr as number) > 0 && (v.tpr as number) > 0), 'no zero on a log axis');
  // finetune: FPR 0 dropped (both 0), TPR at 0.1% is 1, so four points; gold: 0 TPR at 0.1% dropped, three points
  assert.equal(values.filter((v) => v.model === 'finetune').length, 4);
  assert.equal(values.filter((v) => v.model === 'retrain (gold)').length, 3);
  const svg = await renderChartSvg(rocChartSpec(set));
  const lineGroups = svg.match(/<g class="mark-line role-mark[^"]*"[^>]*>.*?<\/g>/gs) ?? [];
  const paths = lineGroups.map((g) => (g.match(/<path\b/g) ?? []).length);
  assert.equal(paths.reduce((a, b) => a + b, 0), 1 + set.curves.length, 'one chance line, one line per model');
  // a subset of models
  const some = rocChartSpec(set, { models: ['original', 'amun'] }) as unknown as typeof spec;
  assert.deepEqual([...new Set(some.layer[1]!.data.values.map((v) => v.model))], ['original', 'amun']);
});
