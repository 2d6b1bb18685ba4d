import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'node:test';
import { Model, saveModel, loadModel } from '@lethe/models';
import { initBackend } from '@lethe/runtime';
import { parseBenchmarkConfig, planBenchmark, jobGraph, exportCheckpoints, importCheckpoints, plannedModelKeys, diskCheckpointer, trainingCheckpointDir } from '../index.js';

/** Checkpoints: a plan's trained models carried out of one cache and into another, whole and verified. */

const config = parseBenchmarkConfig({
  name: 'checkpoints',
  dataset: { name: 'cifar10' },
  model: { arch: 'small-cnn' },
  training: { epochs: 1, batchSize: 32, lr: 0.05, augment: false },
  forgetSets: [{ kind: 'random', fraction: 0.2 }],
  seeds: { original: [0, 1], forgetSet: [0], unlearning: [0] },
  methods: [{ name: 'retrain' }, { name: 'finetune', hyperParameters: { epochs: 1, batchSize: 32 } }],
  evaluation: { mia: { attacks: ['rmia'], referenceModels: 2 } },
});

await initBackend('cpu', { log: () => {} });

const tmp = (name: string): string => fs.mkdtempSync(path.join(os.tmpdir(), `lethe-ckpt-${name}-`));

test('plannedModelKeys: every model job of the plan (references, originals, golds), none of the cells', () => {
  const plan = planBenchmark(config);
  const keys = plannedModelKeys(plan);
  const models = jobGraph(plan).filter((j) => ['reference', 'original', 'gold'].includes(j.kind));
  assert.equal(keys.size, models.length);
  assert.equal(models.length, 2 + 2 + 2); // 2 references, 2 originals, 2 golds
  assert.deepEqual([...keys.values()].sort(), ['gold', 'gold', 'original', 'original', 'reference', 'reference']);
});

test('export then import carries the trained models to an empty cache; the copies load to the same weights', async () => {
  const plan = planBenchmark(config);
  const [originalKey, goldKey] = [...plannedModelKeys(plan).entries()].filter(([, k]) => k === 'original' || k === 'gold').map(([key]) => key);
  const cache = tmp('cache');
  const model = Model.create(plan.modelSpec, 7);
  await saveModel(model, path.join(cache, originalKey!), { role: 'original' });
  // a model the plan does not name is never exported
  await saveModel(model, path.join(cache, 'not-planned'), {});
  const checkpoints = tmp('out');
  const out = exportCheckpoints(plan, cache, checkpoints);
  assert.deepEqual(out.copied, [originalKey]);
  assert.ok(out.missing.includes(goldKey!));
  assert.deepEqual(fs.readdirSync(checkpoints).sort(), [originalKey]);
  assert.deepEqual(exportCheckpoints(plan, cache, checkpoints).copied, [], 'a second export copies nothing');

  const fresh = tmp('fresh');
  const back = importCheckpoints(plan, checkpoints, fresh);
  assert.deepEqual(back.copied, [originalKey]);
  const { model: loaded } = await loadModel(path.join(fresh, originalKey!));
  for (const [name, v] of model.params) assert.deepEqual(await loaded.params.get(name)!.data(), await v.data(), name);
  model.dispose();
  loaded.dispose();
});

test('import refuses an entry with other weights than its model.json records, or another model spec, and names the file', async () => {
  const plan = planBenchmark(config);
  const [keyA, keyB] = [...plannedModelKeys(plan).entries()].filter(([, k]) => k === 'original').map(([key]) => key);
  const checkpoints = tmp('bad');
  const model = Model.create(plan.modelSpec, 1);
  await saveModel(model, path.join(checkpoints, keyA!), {});
  const weights = path.join(checkpoints, keyA!, 'weights.bin');
  const bytes = fs.readFileSync(weights);
  bytes[100] = bytes[100]! ^ 0xff;
  fs.writeFileSync(weights, bytes);
  const other = Model.create({ ...plan.modelSpec, numClasses: 5 }, 1);
  await saveModel(other, path.join(checkpoints, keyB!), {});
  model.dispose();
  other.dispose();
  const cache = tmp('cache2');
  const out = importCheckpoints(plan, checkpoints, cache);
  assert.deepEqual(out.copied, []);
  const reasons = new Map(out.refused.map((r) => [r.key, r.reason]));
  assert.match(reasons.get(keyA!)!, new RegExp(`${keyA}/weights\\.bin' is corrupt: SHA-256 [0-9a-f]{64}, expected [0-9a-f]{64}`));
  assert.match(reasons.get(keyB!)!, /model\.json' holds model spec .*"numClasses":5.*but the model expected under this key is/);
  assert.deepEqual(fs.readdirSync(cache), [], 'nothing refused reaches the cache');
  assert.throws(() => importCheckpoints(plan, path.join(checkpoints, 'nowhere'), cache), /checkpoint directory .*nowhere does not exist/);
});

test('with --with-training a training in progress travels too, is replaced by a later one, and goes once the model is finished', async () => {
  const plan = planBenchmark(config);
  const key = [...plannedModelKeys(plan).entries()].find(([, k]) => k === 'original')![0];
  const cache = tmp('train-cache');
  const model = Model.create(plan.modelSpec, 3);
  const momentum = new Map([...model.params].map(([name, v]) => [name, new Float32Array(v.size).fill(0.5)]));
  const save = (epochsDone: number) => diskCheckpointer(cache, key, () => {}).save(model, { epochsDone, epochLosses: Array(epochsDone).fill(1), steps: 10 * epochsDone, seconds: 5 * epochsDone, momentum });
  await save(1);
  const out = tmp('train-out');
  assert.deepEqual(exportCheckpoints(plan, cache, out).trainings, [], 'not without the option');
  assert.deepEqual(exportCheckpoints(plan, cache, out, { withTraining: true }).trainings, [{ key, epochsDone: 1 }]);
  await save(2);
  assert.deepEqual(exportCheckpoints(plan, cache, out, { withTraining: true }).trainings, [{ key, epochsDone: 2 }], 'a later epoch replaces it');
  assert.deepEqual(exportCheckpoints(plan, cache, out, { withTraining: true }).trainings, [], 'the same epoch is not copied again');
  // on a fresh machine it is imported, and the training resumes from it (momentum and all)
  const fresh = tmp('train-fresh');
  assert.deepEqual(importCheckpoints(plan, out, fresh).trainings, [{ key, epochsDone: 2 }]);
  const resumed = Model.create(plan.modelSpec, 99);
  const state = await diskCheckpointer(fresh, key, () => {}).restore(resumed);
  assert.equal(state!.epochsDone, 2);
  assert.deepEqual(state!.momentum.get('dense.kernel'), momentum.get('dense.kernel'));
  for (const [name, v] of model.params) assert.deepEqual(await resumed.params.get(name)!.data(), await v.data(), name);
  // once the model is finished, the export carries it and drops the training checkpoint
  await saveModel(model, path.join(cache, key), {});
  assert.deepEqual(exportCheckpoints(plan, cache, out, { withTraining: true }).copied, [key]);
  assert.ok(!fs.existsSync(trainingCheckpointDir(out, key)));
  model.dispose();
  resumed.dispose();
});
