import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { Rng } from '@lethe/runtime';
import {
  Model,
  ParameterStore,
  applyBatchNorm,
  applyConv,
  applyConvBatchNormInference,
  createBatchNorm,
  createConv,
  loadModel,
  saveModel,
  savedModelProblem,
  type BatchNormSpec,
  type ConvSpec,
  type ModelSpec,
} from './index.js';

await tf.setBackend('cpu');

const cnn: ModelSpec = { arch: 'small-cnn', numClasses: 10, inputShape: [32, 32, 3], batchNorm: false };
const cnnBn: ModelSpec = { ...cnn, batchNorm: true, normalization: { mean: [0.5, 0.4, 0.3], std: [0.2, 0.25, 0.3] } };

test('parameter counts match hand counts and the standard CIFAR ResNet-18', () => {
  // conv1 3*3*3*32+32, conv2 3*3*32*32+32, conv3 3*3*32*64+64, dense 8*8*64*10+10
  const plain = Model.create(cnn, 0);
  assert.equal(plain.parameterCount(), 896 + 9248 + 18496 + 40970);
  plain.dispose();
  // with BN: convolutions lose their bias, each BN adds gamma and beta
  const withBn = Model.create(cnnBn, 0);
  assert.equal(withBn.parameterCount(), 864 + 9216 + 18432 + 2 * (32 + 32 + 64) + 40970);
  withBn.dispose();
  // 11,173,962 is the widely published parameter count of ResNet-18 for CIFAR-10 (3x3 stem, no max-pool)
  const resnet = Model.create({ arch: 'resnet18', numClasses: 10, inputShape: [32, 32, 3], width: 1 }, 0);
  assert.equal(resnet.parameterCount(), 11_173_962);
  resnet.dispose();
});

test('same seed gives identical weights, another seed different ones', async () => {
  const a = Model.create(cnnBn, 5);
  const b = Model.create(cnnBn, 5);
  const c = Model.create(cnnBn, 6);
  for (const [name, v] of a.params) {
    assert.deepEqual(await v.data(), await b.params.get(name)!.data(), name);
  }
  assert.notDeepEqual(await a.params.get('conv1.kernel')!.data(), await c.params.get('conv1.kernel')!.data());
  a.dispose();
  b.dispose();
  c.dispose();
});

test('convolution init is PyTorch\'s default U(-1/sqrt(fanIn), 1/sqrt(fanIn))', async () => {
  const m = Model.create({ arch: 'resnet18', numClasses: 10, inputShape: [32, 32, 3], width: 0.5 }, 1);
  const k = (await m.params.get('layer4.0.conv2.kernel')!.data()) as Float32Array; // 3*3*256*256
  const bound = 1 / Math.sqrt(3 * 3 * 256);
  let s2 = 0;
  for (const x of k) {
    assert.ok(Math.abs(x) <= bound);
    s2 += x * x;
  }
  // the standard deviation of U(-b, b) is b / sqrt(3)
  assert.ok(Math.abs(Math.sqrt(s2 / k.length) - bound / Math.sqrt(3)) < 0.01 * bound);
  m.dispose();
});

test('training-mode batch norm normalises each channel; running statistics follow the PyTorch update', async () => {
  const m = Model.create(cnnBn, 2);
  const x: tf.Tensor4D = tf.randomUniform([4, 32, 32, 3], 0, 1, "float32", 3);
  // conv1 output before BN, computed independently of the model's BN code
  const pre = tf.tidy(() => tf.conv2d(tf.div<tf.Tensor4D>(tf.sub(x, tf.tensor1d([0.5, 0.4, 0.3])), tf.tensor1d([0.2, 0.25, 0.3])), m.params.get('conv1.kernel')! as tf.Tensor4D, 1, 'same'));
  const preData = (await pre.data()) as Float32Array;
  const channels = 32;
  const n = preData.length / channels;
  const mean = new Float64Array(channels);
  const sq = new Float64Array(channels);
  for (let i = 0; i < preData.length; i++) mean[i % channels]! += preData[i]! / n;
  for (let i = 0; i < preData.length; i++) sq[i % channels]! += (preData[i]! - mean[i % channels]!) ** 2;
  m.logits(x, { training: true }).dispose();
  const runMean = (await m.state.get('conv1.bn.movingMean')!.data()) as Float32Array;
  const runVar = (await m.state.get('conv1.bn.movingVariance')!.data()) as Float32Array;
  for (let c = 0; c < channels; c++) {
    assert.ok(Math.abs(runMean[c]! - 0.1 * mean[c]!) < 1e-5, `running mean of channel ${c}`);
    const unbiased = sq[c]! / (n - 1);
    assert.ok(Math.abs(runVar[c]! - (0.9 + 0.1 * unbiased)) < 1e-4, `running variance of channel ${c}`);
  }
  pre.dispose();
  x.dispose();
  m.dispose();
});

test('forward passes keep no tensors and give the right shapes', () => {
  const m = Model.create({ arch: 'resnet18', numClasses: 7, inputShape: [16, 16, 3], width: 0.125 }, 0);
  const x = tf.randomUniform([2, 16, 16, 3]) as tf.Tensor4D;
  const before = tf.memory().numTensors;
  const logits = m.logits(x, { training: true });
  const feats = m.features(x);
  assert.deepEqual(logits.shape, [2, 7]);
  assert.deepEqual(feats.shape, [2, 64]);
  logits.dispose();
  feats.dispose();
  assert.equal(tf.memory().numTensors, before);
  x.dispose();
  m.dispose();
});

test('save then load gives identical outputs; corruption and unfinished saves are refused', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lethe-model-'));
  const m = Model.create(cnnBn, 9);
  const x = tf.randomUniform([3, 32, 32, 3], 0, 1, 'float32', 1) as tf.Tensor4D;
  m.logits(x, { training: true }).dispose(); // move BN running statistics away from their initial values
  const expected = await m.logits(x).data();
  await saveModel(m, dir, { note: 'hello' });
  const { model: loaded, metadata } = await loadModel(dir);
  assert.deepEqual(metadata, { note: 'hello' });
  assert.deepEqual(await loaded.logits(x).data(), expected);
  for (const [name, v] of m.state) assert.deepEqual(await loaded.state.get(name)!.data(), await v.data(), name);
  loaded.dispose();

  const weights = path.join(dir, 'weights.bin');
  const bytes = fs.readFileSync(weights);
  bytes[100] = bytes[100]! ^ 0xff;
  fs.writeFileSync(weights, bytes);
  await assert.rejects(loadModel(dir), /weights\.bin' is corrupt: SHA-256 [0-9a-f]{64}, expected [0-9a-f]{64}/);
  fs.rmSync(path.join(dir, 'model.json'));
  await assert.rejects(loadModel(dir), /no saved model in .*model\.json is missing/);
  x.dispose();
  m.dispose();
});

test('a cache entry is verified as a whole: spec, recorded key, manifest and variable layout (issue 13)', async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'lethe-entry-'));
  const m = Model.create(cnnBn, 4);
  const x = tf.randomUniform([2, 32, 32, 3], 0, 1, 'float32', 3) as tf.Tensor4D;
  const expected = await m.logits(x).data();
  /** A fresh save under `key`, with its model.json passed through `edit` (`legacy`: as saved before issue 13). */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the test edits model.json as untyped JSON
  type Json = Record<string, any>;
  const entry = async (key: string, edit: (json: Json) => void = () => {}, legacy = false): Promise<string> => {
    const dir = path.join(root, key);
    await saveModel(m, dir, { role: 'original' }, { cacheKey: key });
    const file = path.join(dir, 'model.json');
    const json = JSON.parse(fs.readFileSync(file, 'utf8')) as Json;
    if (legacy) {
      delete json.cacheKey;
      delete json.manifestSha256;
    }
    edit(json);
    fs.writeFileSync(file, JSON.stringify(json));
    return dir;
  };
  const good = await entry('k-good');
  const json = JSON.parse(fs.readFileSync(path.join(good, 'model.json'), 'utf8')) as Record<string, unknown>;
  assert.equal(json.cacheKey, 'k-good');
  assert.match(String(json.manifestSha256), /^[0-9a-f]{64}$/);
  const loaded = await loadModel(good, { spec: cnnBn, cacheKey: 'k-good' });
  assert.deepEqual(await loaded.model.logits(x).data(), expected);
  loaded.model.dispose();

  // stored under another key (a copied or moved entry)
  await assert.rejects(loadModel(good, { spec: cnnBn, cacheKey: 'k-other' }), /records cache key 'k-good', but it is stored under 'k-other'.*delete '.*k-good' so the model is trained again/);
  // an edited but valid model.json: before issue 13 each of these loaded, and gave other outputs than the saved model
  const normalisation = await entry('k-norm', (j) => (j.spec.normalization.mean = [0, 0, 0]));
  await assert.rejects(loadModel(normalisation, { spec: cnnBn }), /model\.json' was edited after it was saved/);
  const swapped = await entry('k-swap', (j) => {
    const [a, b] = [j.variables.find((v: { name: string }) => v.name.endsWith('gamma')), j.variables.find((v: { name: string }) => v.name.endsWith('beta'))];
    [a.offset, b.offset] = [b.offset, a.offset];
  });
  await assert.rejects(loadModel(swapped, { spec: cnnBn }), /was edited after it was saved/);
  // entries saved before issue 13 (no manifest, no key) still load, and are still checked against spec and layout
  const legacy = await entry('k-legacy', () => {}, true);
  (await loadModel(legacy, { spec: cnnBn, cacheKey: 'k-legacy' })).model.dispose();
  const legacyNorm = await entry('k-legacy-norm', (j) => (j.spec.normalization.std = [1, 1, 1]), true);
  await assert.rejects(loadModel(legacyNorm, { spec: cnnBn }), /holds model spec .*"std":\[1,1,1\].*but the model expected under this key is .*"std":\[0\.2,0\.25,0\.3\]/);
  const shifted = await entry('k-shift', (j) => (j.variables[1].offset += 1), true);
  await assert.rejects(loadModel(shifted), /variables '.*' and '.*' overlap in weights\.bin/);
  const pastEnd = await entry('k-end', (j) => (j.variables.at(-1).offset += 10), true);
  await assert.rejects(loadModel(pastEnd), /past the end of weights\.bin/);
  const gap = await entry('k-gap', (j) => j.variables.pop(), true);
  await assert.rejects(loadModel(gap), /the variables cover \d+ of the \d+ float32 in weights\.bin/);
  const twice = await entry('k-twice', (j) => j.variables.push({ ...j.variables[0] }), true);
  await assert.rejects(loadModel(twice), /is listed twice/);
  const badType = await entry('k-type', (j) => (j.variables[0].offset = '0'), true);
  await assert.rejects(loadModel(badType), /variables\[0\] \(.*\)\.offset is not a non-negative integer/);
  // the same check without TensorFlow.js, as checkpoint import uses it
  assert.equal(savedModelProblem(good, { spec: cnnBn, cacheKey: 'k-good' }), null);
  assert.match(savedModelProblem(shifted)!, /overlap/);
  x.dispose();
  m.dispose();
  fs.rmSync(root, { recursive: true });
});

test('clone is a deep copy', async () => {
  const m = Model.create(cnn, 1);
  const c = m.clone();
  const k = m.params.get('dense.bias')!;
  k.assign(tf.zerosLike(k));
  assert.notDeepEqual(await c.params.get('dense.bias')!.data(), await k.data());
  m.dispose();
  c.dispose();
});

test('creating, cloning and disposing models leaves no tensors behind', () => {
  const before = tf.memory().numTensors;
  const m = Model.create(cnnBn, 3);
  // exactly one tensor per variable while the model lives
  assert.equal(tf.memory().numTensors - before, m.params.size + m.state.size);
  const c = m.clone();
  m.dispose();
  c.dispose();
  assert.equal(tf.memory().numTensors, before);
});

test('inference-mode conv + batch norm folded into one convolution equals the two applied in turn', () => {
  // running statistics far from the initial 0 / 1, a conv bias, stride 2 with explicit padding, and each epilogue
  const store = new ParameterStore();
  const rng = new Rng(3);
  const convs: ConvSpec[] = [
    { name: 'a', inChannels: 3, outChannels: 8, kernel: 3, stride: 1, bias: true },
    { name: 'b', inChannels: 3, outChannels: 8, kernel: 3, stride: 2, bias: false },
    { name: 'c', inChannels: 3, outChannels: 8, kernel: 1, stride: 2, bias: false },
  ];
  const norm = (conv: ConvSpec): BatchNormSpec => ({ name: `${conv.name}.bn`, channels: conv.outChannels, momentum: 0.1, epsilon: 1e-5 });
  for (const conv of convs) {
    createConv(store, rng, conv);
    createBatchNorm(store, norm(conv));
    const values = (offset: number, spread: number) => tf.tensor1d(Array.from({ length: conv.outChannels }, (_, i) => offset + spread * Math.sin(i + 1)));
    store.param(`${conv.name}.bn.gamma`).assign(values(1, 0.5));
    store.param(`${conv.name}.bn.beta`).assign(values(0, 0.3));
    store.stateVar(`${conv.name}.bn.movingMean`).assign(values(0.2, 0.4));
    store.stateVar(`${conv.name}.bn.movingVariance`).assign(values(1.5, 1));
  }
  const x = tf.randomUniform([2, 8, 8, 3], 0, 1, 'float32', 5) as tf.Tensor4D;
  for (const conv of convs) {
    const out = conv.stride === 1 ? 8 : 4;
    const residual = tf.randomNormal([2, out, out, 8], 0, 1, 'float32', 6) as tf.Tensor4D;
    for (const epilogue of [{}, { relu: true }, { residual }, { residual, relu: true }]) {
      const folded = applyConvBatchNormInference(store, conv, norm(conv), x, epilogue).dataSync();
      const twoSteps = applyBatchNorm(store, norm(conv), applyConv(store, conv, x), false, epilogue).dataSync();
      assert.equal(folded.length, twoSteps.length);
      let worst = 0;
      folded.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - twoSteps[i]!))));
      assert.ok(worst < 1e-5, `${conv.name} ${JSON.stringify(Object.keys(epilogue))}: largest difference ${worst}`);
    }
    residual.dispose();
  }
  x.dispose();
  store.dispose();
});
