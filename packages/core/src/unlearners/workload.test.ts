import assert from 'node:assert/strict';
import test from 'node:test';
import { builtInUnlearners, getUnlearner, resolveHyperParameters, type TaskSizes } from '../index.js';

/** Every method states its work for `lethe plan`'s estimate; a few checked by hand. */
const sizes: TaskSizes = { forget: 5000, retain: 45_000, test: 10_000, setting: 'retain', recipeEpochs: 15 };

test('every unlearner but retrain (whose work is the gold model\'s) states its workload', () => {
  assert.deepEqual(builtInUnlearners.filter((n) => getUnlearner(n).isGoldModel), ['retrain']);
  for (const name of builtInUnlearners) {
    const u = getUnlearner(name);
    if (u.isGoldModel) continue;
    assert.ok(u.workload, `${u.name} has no workload`);
    const w = u.workload!(sizes, resolveHyperParameters(u.name, 'retain', {}) as never);
    assert.ok(w.trainImages >= 0 && w.inferenceImages >= 0 && Number.isFinite(w.trainImages + w.inferenceImages), u.name);
  }
});

test('workloads by hand: epochs x the data each pass reads', () => {
  const of = (name: string, hp: Record<string, unknown>, s: TaskSizes = sizes) => getUnlearner(name).workload!(s, resolveHyperParameters(name, s.setting, hp) as never);
  assert.deepEqual(of('finetune', { epochs: 3 }), { trainImages: 135_000, inferenceImages: 0 });
  // AMUN's code runs GA with a D_r pass first: 3 x (45,000 + 5,000); without it, 3 x 5,000
  assert.equal(of('gradient-ascent', { epochs: 3, retainPass: true }).trainImages, 150_000);
  assert.equal(of('gradient-ascent', { epochs: 3 }).trainImages, 15_000);
  // AMUN: 3 epochs over D_r ∪ D_f ∪ D_adv; its adversarial search (50 PGD steps per forget sample, one radius) is
  // an artefact of its own, shared with AMUN+SalUn and by every candidate of a search
  assert.equal(of('amun', { epochs: 3 }).trainImages, 3 * 55_000);
  assert.equal(of('amun', { epochs: 3 }, { ...sizes, setting: 'forget-only' }).trainImages, 3 * 10_000);
  const artefacts = (name: string, hp: Record<string, unknown>) => getUnlearner(name).artefacts!(resolveHyperParameters(name, 'retain', hp) as never);
  assert.deepEqual(artefacts('amun', { attackSteps: 20 }).map((a) => [a.name, a.workload(sizes).trainImages]), [['amun-adversarial-set', 5000 * 20]]);
  // AMUN+SalUn asks for the same artefact (same name and options) as AMUN with the same attack, whatever its lr
  assert.deepEqual(artefacts('amun-salun', { lr: 0.5 }).map((a) => [a.name, a.options]), artefacts('amun', { lr: 0.001 }).map((a) => [a.name, a.options]));
  assert.notDeepEqual(artefacts('amun', { initialEps: 0.08 })[0]!.options, artefacts('amun', {})[0]!.options);
  // NegGrad+: max(352 retain steps of 128, 10 forget steps of 512) steps, each with one batch of each
  assert.equal(of('neggrad-plus', { epochs: 1 }).trainImages, 352 * (128 + 512));
});
