import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend, Rng } from '@lethe/runtime';
import { syntheticImageDataset, type ImageDataset } from '@lethe/datasets';
import { getUnlearner, trainFromScratch, type TrainingRecipe, type UnlearningTask } from '@lethe/core';
import type { ModelSpec } from '@lethe/models';
import { modelOutputs } from '@lethe/attacks';
import { trainSpdGan, perturbedDataset, spdDegree, accuracyAndConfidence, saveSpdGenerator, loadSpdGenerator, SPD_GAN_DEFAULTS, evaluate, type SpdGanOptions } from './index.js';

await initBackend('wasm', { log: () => {} });

// 8x8 toy images with random labels: only memorisation fits them, so a model scores clearly better on the
// samples it was trained on than on those it never saw (chance, 25%)
const synthetic = syntheticImageDataset({ count: 160, numClasses: 4, height: 8, width: 8, channels: 3, seed: 11 });
const labelRng = new Rng(7);
const train: ImageDataset = { ...synthetic, labels: Uint8Array.from(synthetic.labels, () => labelRng.int(4)) };
const test_ = syntheticImageDataset({ count: 40, numClasses: 4, height: 8, width: 8, channels: 3, seed: 12, noise: 150 });
const forget = Int32Array.from({ length: 32 }, (_, i) => i * 5);
const retain = Int32Array.from({ length: 160 }, (_, i) => i).filter((i) => i % 5 !== 0);
const all = Int32Array.from({ length: 160 }, (_, i) => i);
const gan: SpdGanOptions = { ...SPD_GAN_DEFAULTS, epochs: 2, batchSize: 16, hidden: 4, lr: 0.02, seed: 3 };
const spec: ModelSpec = { arch: 'small-cnn', batchNorm: false, numClasses: 4, inputShape: [8, 8, 3], normalization: null };
const recipe: TrainingRecipe = { epochs: 25, batchSize: 16, optimizer: { lr: 0.05, momentum: 0.9, weightDecay: 0 }, schedule: { kind: 'constant' }, augment: false };

function pixels(ds: ImageDataset, i: number): Float32Array {
  const size = ds.height * ds.width * ds.channels;
  const out = new Float32Array(size);
  for (let k = 0; k < size; k++) out[k] = ds.images instanceof Float32Array ? ds.images[i * size + k]! : ds.images[i * size + k]! / 255;
  return out;
}

test('the perturbation is bounded by eps, stays in [0, 1], touches only the forget set, and is deterministic by seed', async () => {
  const before = tf.memory().numTensors;
  const { generator, report } = await trainSpdGan(train, forget, retain, gan);
  assert.equal(report.steps, 4);
  assert.ok(Number.isFinite(report.generatorLoss) && Number.isFinite(report.discriminatorLoss));
  const perturbed = await perturbedDataset(train, forget, generator);
  // only the generator's own variables remain
  assert.equal(tf.memory().numTensors - before, generator.weights.size);
  let maxDelta = 0;
  let changed = 0;
  for (let i = 0; i < train.count; i++) {
    const a = pixels(train, i);
    const b = pixels(perturbed, i);
    for (let k = 0; k < a.length; k++) {
      assert.ok(b[k]! >= 0 && b[k]! <= 1);
      const d = Math.abs(a[k]! - b[k]!);
      if (i % 5 !== 0) assert.equal(d, 0);
      maxDelta = Math.max(maxDelta, d);
      if (d > 0) changed++;
    }
  }
  assert.ok(maxDelta <= gan.eps + 1e-6, `max |delta| ${maxDelta} > eps ${gan.eps}`);
  assert.ok(maxDelta > gan.eps / 4, `the generator barely perturbs (max |delta| ${maxDelta})`);
  assert.ok(changed > 0);

  const again = await trainSpdGan(train, forget, retain, gan);
  for (const [name, w] of generator.weights) assert.deepEqual(await again.generator.weights.get(name)!.data(), await w.data(), name);
  const other = await trainSpdGan(train, forget, retain, { ...gan, seed: 4 });
  assert.notDeepEqual(await other.generator.weights.get('g1/kernel')!.data(), await generator.weights.get('g1/kernel')!.data());

  // a saved and loaded generator perturbs identically
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'lethe-spd-')), 'g.bin');
  await saveSpdGenerator(generator, file, { note: 'test' });
  const loaded = loadSpdGenerator(file);
  assert.equal(loaded.metadata.note, 'test');
  assert.equal(loaded.generator.eps, gan.eps);
  assert.deepEqual((await perturbedDataset(train, forget, loaded.generator)).images, perturbed.images);
  // a damaged body, or a header that lists another layout, is refused naming the file (issue 13)
  const bytes = fs.readFileSync(file);
  const damaged = `${file}.damaged`;
  fs.writeFileSync(damaged, Buffer.concat([bytes.subarray(0, bytes.length - 4), Buffer.from([1, 2, 3, 4])]));
  assert.throws(() => loadSpdGenerator(damaged), /g\.bin\.damaged' is damaged \(its body has SHA-256 [0-9a-f]{64}, its header records [0-9a-f]{64}\); delete it/);
  const newline = bytes.indexOf(0x0a);
  const header = JSON.parse(bytes.subarray(0, newline).toString('utf8')) as { weights: Array<{ name: string; shape: number[] }> };
  header.weights[1]!.name = 'g1/other';
  const edited = `${file}.edited`;
  fs.writeFileSync(edited, Buffer.concat([Buffer.from(JSON.stringify(header) + '\n'), bytes.subarray(newline + 1)]));
  assert.throws(() => loadSpdGenerator(edited), /g\.bin\.edited: header lists weights .*g1\/other.*not the generator's layout/);
  for (const g of [generator, again.generator, other.generator, loaded.generator]) g.dispose();
  assert.equal(tf.memory().numTensors, before);
});

test('a model trained on D_r ∪ G(D_f) scores higher on G(D_f) than one that never saw it; retrain closes the gap', async () => {
  const { generator } = await trainSpdGan(train, forget, retain, gan);
  const perturbed = await perturbedDataset(train, forget, generator);
  generator.dispose();
  const spdOriginal = (await trainFromScratch(spec, recipe, perturbed, all, 1)).model;
  const neverSaw = (await trainFromScratch(spec, recipe, perturbed, retain, 2)).model;
  const seen = accuracyAndConfidence(await modelOutputs(spdOriginal, perturbed, forget, 64));
  const unseen = accuracyAndConfidence(await modelOutputs(neverSaw, perturbed, forget, 64));
  assert.ok(seen.accuracy - unseen.accuracy >= 20, `accuracy on G(D_f): trained on it ${seen.accuracy}, never saw it ${unseen.accuracy}`);
  assert.ok(seen.confidence - unseen.confidence >= 20, `confidence on G(D_f): ${seen.confidence} vs ${unseen.confidence}`);

  const task: UnlearningTask = { original: spdOriginal, train: perturbed, test: test_, forget, retain, setting: 'retain', seed: 5, recipe, log: () => {}, onProgress: () => {} };
  const retrained = await getUnlearner('retrain').unlearn(task, {});
  const degree = await spdDegree(spdOriginal, retrained, perturbed, forget, 64);
  const fullGap = seen.accuracy - unseen.accuracy;
  // the retrained model is another model that never saw G(D_f): its degree is the full gap, up to seed noise
  assert.ok(Math.abs(degree.degreeAccuracy - fullGap) <= 15, `retrain degree ${degree.degreeAccuracy} vs gap ${fullGap}`);
  assert.ok(Math.abs(degree.degreeConfidence - (seen.confidence - unseen.confidence)) <= 15);
  // by hand: the degree is the difference of the two models' accuracies on G(D_f)
  const after = accuracyAndConfidence(await modelOutputs(retrained, perturbed, forget, 64));
  assert.ok(Math.abs(degree.degreeAccuracy - (seen.accuracy - after.accuracy)) < 1e-9);
  // the registered metric agrees
  const values = await evaluate({ model: retrained, original: spdOriginal, train: perturbed, test: test_, forget, retain, testIndices: Int32Array.from({ length: 40 }, (_, i) => i) }, ['spd-gan-degree']);
  assert.ok(Math.abs(values['spd-gan-degree']! - degree.degreeAccuracy) < 1e-9);
  // a model that is not unlearned at all has degree 0
  assert.equal((await spdDegree(spdOriginal, spdOriginal, perturbed, forget)).degreeAccuracy, 0);
  for (const m of [spdOriginal, neverSaw, retrained]) m.dispose();
});

test('trainSpdGan rejects a bad eps and an empty forget set', async () => {
  await assert.rejects(trainSpdGan(train, forget, retain, { ...gan, eps: 0 }), /eps must be in \(0, 1\]/);
  await assert.rejects(trainSpdGan(train, new Int32Array(0), retain, gan), /forget set is empty/);
});

test('the signature term pulls the perturbation towards the signature; without it the alignment stays near 0', async () => {
  const opts = { ...gan, epochs: 4 };
  const withSig = await trainSpdGan(train, forget, retain, opts);
  const without = await trainSpdGan(train, forget, retain, { ...opts, signatureWeight: 0 });
  assert.ok(withSig.report.signatureAlignment > 0.15, `alignment with the signature term ${withSig.report.signatureAlignment}`);
  assert.ok(Math.abs(without.report.signatureAlignment) < 0.1, `alignment without it ${without.report.signatureAlignment}`);
  withSig.generator.dispose();
  without.generator.dispose();
});
