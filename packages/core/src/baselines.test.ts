// The baseline unlearners of AMUN's tables: GA, NegGrad+, RL, l1-sparse, SalUn, SCRUB.
import assert from 'node:assert/strict';
import test from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { Rng, initBackend } from '@lethe/runtime';
import { Model, type ModelSpec } from '@lethe/models';
import { batches, syntheticImageDataset, type ImageDataset } from '@lethe/datasets';
import {
  distillationKl,
  getUnlearner,
  gradientAscentLoss,
  l1WeightAt,
  randomLabelBatches,
  relabelledDataset,
  resolveHyperParameters,
  saliencyMask,
  topEntries,
  trainFromScratch,
  type Setting,
  type TrainingRecipe,
  type UnlearningTask,
} from './index.js';

// wasm: the cpu backend is far too slow to train; expected values are computed independently in plain JS.
await initBackend('wasm');

const range = (from: number, to: number): Int32Array => Int32Array.from({ length: to - from }, (_, i) => from + i);

// A small CNN that has memorised a tiny data set with random labels: its accuracy on the forget set (100% at the
// start) comes from memorisation alone, so a method that does not forget leaves it there, and one that forgets
// brings it towards chance (25%). (With learnable labels, i.i.d. forget samples stay classified correctly through
// generalisation, whatever the method.)
const cnnSpec: ModelSpec = { arch: 'small-cnn', numClasses: 4, inputShape: [8, 8, 3], batchNorm: true };
const recipe: TrainingRecipe = { epochs: 30, batchSize: 16, optimizer: { lr: 0.05, momentum: 0.9, weightDecay: 5e-4 }, schedule: { kind: 'cosine' }, augment: false };
const data = syntheticImageDataset({ count: 48, numClasses: 4, height: 8, width: 8, channels: 3, seed: 21 });
// which template (image class) each sample was drawn from, before its label is randomised
const imageClass = Uint8Array.from(data.labels);
const labelRng = new Rng(3);
for (let i = 0; i < data.count; i++) data.labels[i] = labelRng.int(data.numClasses);
const forget = range(0, 8);
const retain = range(8, 48);
const { model: trained } = await trainFromScratch(cnnSpec, recipe, data, range(0, 48), 7);

function taskFor(original: Model, overrides: Partial<UnlearningTask> = {}): UnlearningTask {
  return { original, train: data, test: data, forget, retain, setting: 'retain', seed: 1, recipe, log: () => {}, ...overrides };
}

async function unlearn(name: string, task: UnlearningTask, raw: Record<string, unknown>): Promise<Model> {
  return getUnlearner(name).unlearn(task, resolveHyperParameters(name, task.setting, raw));
}

async function snapshot(model: Model): Promise<Map<string, Float32Array>> {
  const out = new Map<string, Float32Array>();
  for (const [name, v] of model.params) out.set(name, (await v.data()) as Float32Array);
  return out;
}

async function logitsOf(model: Model, ds: ImageDataset, indices: Int32Array): Promise<Float32Array[]> {
  const rows: Float32Array[] = [];
  for (const b of batches(ds, { indices, batchSize: 64, normalize: false })) {
    const logits = model.logits(b.x, { training: false });
    const values = (await logits.data()) as Float32Array;
    const k = logits.shape[1];
    for (let i = 0; i < logits.shape[0]; i++) rows.push(values.slice(i * k, (i + 1) * k));
    tf.dispose([logits, b.x, b.y]);
  }
  return rows;
}

async function accuracy(model: Model, indices: Int32Array): Promise<number> {
  const rows = await logitsOf(model, data, indices);
  let correct = 0;
  rows.forEach((row, i) => {
    const predicted = row.indexOf(Math.max(...row));
    if (predicted === data.labels[indices[i]!]) correct++;
  });
  return correct / indices.length;
}

const sumAbs = (weights: Map<string, Float32Array>): number => {
  let s = 0;
  for (const w of weights.values()) for (const v of w) s += Math.abs(v);
  return s;
};

const maxAbsDiff = (a: Map<string, Float32Array>, b: Map<string, Float32Array>): number => {
  let m = 0;
  for (const [name, w] of a) {
    const o = b.get(name)!;
    for (let i = 0; i < w.length; i++) m = Math.max(m, Math.abs(w[i]! - o[i]!));
  }
  return m;
};

// ---------------------------------------------------------------------------------------------------------
// Every method: both architectures, tensor accounting, untouched original, determinism, supported settings.

/** Fast settings per method for the tiny runs: a few steps of each kind. */
const quick: Record<string, Record<string, unknown>> = {
  'gradient-ascent': { epochs: 2, batchSize: 2, lr: 0.01 },
  'neggrad-plus': { epochs: 2, batchSize: 4, forgetBatchSize: 2, lr: 0.01, momentum: 0.9, alpha: 0.9 },
  'random-label': { epochs: 2, batchSize: 4, lr: 0.01 },
  'l1-sparse': { epochs: 2, batchSize: 4, lr: 0.01, gamma: 1e-4 },
  salun: { epochs: 2, batchSize: 4, lr: 0.01, maskFraction: 0.5 },
  scrub: { epochs: 2, maxEpochs: 1, batchSize: 4, forgetBatchSize: 2, lr: 0.01 },
};
const forgetOnlyMethods = new Set(['gradient-ascent', 'random-label', 'salun']);

/**
 * Run `name` on `original` over 16 samples (4 forget) and check: live tensors grow by exactly one model's
 * variables, are flat across steps, the original is untouched, and the result moved. Returns its weights.
 */
async function checkedRun(name: string, original: Model, setting: Setting, settings: Record<string, unknown> = quick[name]!): Promise<Map<string, Float32Array>> {
  const before = await snapshot(original);
  const probeStart = tf.memory().numTensors;
  const probe = original.clone();
  const perModel = tf.memory().numTensors - probeStart;
  probe.dispose();

  const start = tf.memory().numTensors;
  const counts: number[] = [];
  const task = taskFor(original, {
    forget: range(0, 4),
    retain: setting === 'retain' ? range(4, 16) : new Int32Array(0),
    setting,
    onProgress: (p) => {
      if (p.epochLoss === undefined) counts.push(tf.memory().numTensors);
    },
  });
  // forget-only: smaller batches, for a few steps from the 4 forget samples alone
  const result = await unlearn(name, task, setting === 'forget-only' ? { ...settings, batchSize: 2 } : settings);
  assert.equal(tf.memory().numTensors - start, perModel, `${name}: live tensors after the call = before + one model's variables`);
  assert.ok(counts.length >= 3, `${name}: ${counts.length} steps`);
  assert.ok(
    counts.every((c) => c === counts[0]),
    `${name}: live tensors across steps ${counts.join(',')}`,
  );
  assert.notEqual(result, original);
  assert.deepEqual(await snapshot(original), before, `${name} modified the original model`);
  const after = await snapshot(result);
  result.dispose();
  let moved = false;
  for (const [param, w] of after) {
    assert.ok(w.every(Number.isFinite), `${name}: ${param} has non-finite weights`);
    if (w.some((v, i) => v !== before.get(param)![i])) moved = true;
  }
  assert.ok(moved, `${name} returned the original weights unchanged`);
  return after;
}

const resnetSpec: ModelSpec = { arch: 'resnet18', numClasses: 4, inputShape: [8, 8, 3], width: 0.25 };

for (const name of Object.keys(quick)) {
  test(`${name}: runs on small-cnn and resnet18 (width 0.25), tensor-flat, deterministic`, async () => {
    const first = await checkedRun(name, trained, 'retain');
    const again = await checkedRun(name, trained, 'retain');
    for (const [param, w] of first) assert.deepEqual(again.get(param), w, `${name}: ${param} differs between two runs with the same seed`);
    const resnet = Model.create(resnetSpec, 3);
    await checkedRun(name, resnet, 'retain');
    resnet.dispose();
    if (forgetOnlyMethods.has(name)) await checkedRun(name, trained, 'forget-only');
    else assert.throws(() => resolveHyperParameters(name, 'forget-only', {}), new RegExp(`unlearner '${name}' does not support the 'forget-only' setting`));
  });
}

test("AMUN-protocol options stay tensor-flat: l1-sparse gammaSchedule 'amun', scrub augment, schedule 'step'", async () => {
  await checkedRun('l1-sparse', trained, 'retain', { ...quick['l1-sparse']!, gammaSchedule: 'amun', schedule: 'step' });
  await checkedRun('scrub', trained, 'retain', { ...quick['scrub']!, augment: true, schedule: 'step' });
  await checkedRun('gradient-ascent', trained, 'retain', { ...quick['gradient-ascent']!, retainPass: true, schedule: 'step' });
});

test('defaults follow the cited sources and unknown fields are refused', () => {
  assert.deepEqual(resolveHyperParameters('gradient-ascent', 'forget-only', {}), {
    epochs: 5, lr: 1e-4, momentum: 0.9, weightDecay: 5e-4, batchSize: 256, schedule: 'constant', stepEpochs: 1, stepGamma: 0.1, maxForgetLoss: null, retainPass: false,
  });
  const salun = resolveHyperParameters('salun', 'retain', {});
  assert.equal(salun['maskFraction'], 0.5);
  assert.equal(salun['lr'], 0.013);
  const scrub = resolveHyperParameters('scrub', 'retain', {});
  assert.deepEqual([scrub['epochs'], scrub['maxEpochs'], scrub['temperature'], scrub['alpha'], scrub['gamma'], scrub['lr']], [3, 2, 4, 0.001, 0.99, 5e-4]);
  assert.equal(resolveHyperParameters('neggrad-plus', 'retain', {})['alpha'], 0.9999);
  assert.equal(resolveHyperParameters('l1-sparse', 'retain', {})['gammaSchedule'], 'linear-decay');
  assert.throws(() => resolveHyperParameters('salun', 'retain', { maskFraction: 1.5 }), /invalid hyper-parameters for unlearner 'salun'[\s\S]*maskFraction/);
  assert.throws(() => resolveHyperParameters('scrub', 'retain', { kdT: 4 }), /invalid hyper-parameters for unlearner 'scrub'[\s\S]*kdT/);
});

// ---------------------------------------------------------------------------------------------------------
// GA

test('GA: the clamped ascent loss is -mean(min(CE_i, cap)), by hand', () => {
  const logits = [
    [2, 0, 0],
    [0, 0, 5],
  ];
  const labels = [0, 0];
  const ce = logits.map((row, i) => Math.log(row.reduce((s, v) => s + Math.exp(v), 0)) - row[labels[i]!]!);
  const fake = { logits: () => tf.tensor2d(logits) } as unknown as Model;
  const batch = { x: tf.zeros([2, 1, 1, 1]) as tf.Tensor4D, y: tf.tensor1d(labels, 'int32') };
  const plain = gradientAscentLoss(null)(fake, batch);
  const capped = gradientAscentLoss(1)(fake, batch);
  assert.ok(Math.abs(plain.dataSync()[0]! + (ce[0]! + ce[1]!) / 2) < 1e-5);
  // CE_0 = 0.24 < 1 is kept, CE_1 = 5.01 is clamped to 1
  assert.ok(Math.abs(capped.dataSync()[0]! + (ce[0]! + 1) / 2) < 1e-5, `${capped.dataSync()[0]} vs ${-(ce[0]! + 1) / 2}`);
  tf.dispose([plain, capped, batch.x, batch.y]);
});

test('GA lowers the forget accuracy of a model that fitted the forget set', async () => {
  const before = await accuracy(trained, forget);
  assert.ok(before >= 0.875, `original forget accuracy ${before}`);
  const model = await unlearn('gradient-ascent', taskFor(trained, { setting: 'forget-only', retain: new Int32Array(0) }), { epochs: 5, batchSize: 4, lr: 0.02 });
  const after = await accuracy(model, forget);
  model.dispose();
  assert.ok(after <= 0.5, `forget accuracy ${before} -> ${after}`);
});

// ---------------------------------------------------------------------------------------------------------
// RL

test('RL relabelling: never the true label, every wrong class drawn, retain labels and images untouched', () => {
  const all = range(0, data.count);
  const seen = Array.from({ length: data.count }, () => new Set<number>());
  for (let draw = 0; draw < 40; draw++) {
    const relabelled = relabelledDataset(data, forget, new Rng(draw), true);
    assert.equal(relabelled.images, data.images, 'images are shared, not copied');
    for (const i of all) {
      if (i < forget.length) {
        assert.notEqual(relabelled.labels[i], data.labels[i], `draw ${draw}: sample ${i} kept its true label`);
        seen[i]!.add(relabelled.labels[i]!);
      } else {
        assert.equal(relabelled.labels[i], data.labels[i]);
      }
    }
  }
  // 40 uniform draws over 3 wrong classes: each appears (a miss has probability 3 * (2/3)^40 < 1e-6)
  for (const i of forget) assert.equal(seen[i]!.size, data.numClasses - 1);
  // with the true label allowed (SalUn's code), it does come up
  let kept = 0;
  for (let draw = 0; draw < 40; draw++) {
    const relabelled = relabelledDataset(data, forget, new Rng(draw), false);
    for (const i of forget) if (relabelled.labels[i] === data.labels[i]) kept++;
  }
  assert.ok(kept > 0 && kept < 40 * forget.length * 0.5, `true label kept ${kept} times of ${40 * forget.length}`);
  assert.throws(() => relabelledDataset({ ...data, numClasses: 1 }, forget, new Rng(0), true), /cannot draw a wrong label with 1 class/);
});

test("RL batches: forget labels are redrawn per epoch (or fixed), retain labels are the true ones", () => {
  const labelsIn = (relabel: 'per-epoch' | 'fixed', epoch: number): Map<number, number> => {
    const out = new Map<number, number>();
    const stream = randomLabelBatches({ train: data, forget, retain, recipe }, { batchSize: 16, relabel, excludeTrueLabel: true, order: 'forget-first' }, 5);
    let position = 0;
    for (const b of stream(epoch)) {
      const indices = (b as unknown as { indices: Int32Array }).indices;
      const y = b.y.dataSync();
      indices.forEach((i, k) => out.set(i, y[k]!));
      // forget-first: the first forget.length samples are exactly the forget set
      for (const i of indices) assert.equal(position++ < forget.length, i < forget.length);
      tf.dispose([b.x, b.y]);
    }
    return out;
  };
  const e0 = labelsIn('per-epoch', 0);
  const e1 = labelsIn('per-epoch', 1);
  assert.equal(e0.size, data.count);
  for (const i of retain) assert.equal(e0.get(i), data.labels[i]);
  for (const i of forget) assert.notEqual(e0.get(i), data.labels[i]);
  assert.ok([...forget].some((i) => e0.get(i) !== e1.get(i)), 'per-epoch labels should change between epochs');
  assert.deepEqual(labelsIn('fixed', 0), labelsIn('fixed', 1));
});

test('RL lowers forget accuracy while the retain set keeps the rest', async () => {
  const model = await unlearn('random-label', taskFor(trained), { epochs: 4, batchSize: 8, lr: 0.05, order: 'shuffled' });
  const forgetAccuracy = await accuracy(model, forget);
  const retainAccuracy = await accuracy(model, retain);
  model.dispose();
  assert.ok(forgetAccuracy <= 0.5, `forget accuracy after RL ${forgetAccuracy}`);
  assert.ok(retainAccuracy >= 0.8, `retain accuracy after RL ${retainAccuracy}`);
});

// ---------------------------------------------------------------------------------------------------------
// SalUn

test('topEntries selects exactly `count` largest, ties broken by position', () => {
  const values = Float32Array.from([0.5, 0, 2, 0, 0.5, 1]);
  assert.deepEqual([...topEntries(values, 3)], [1, 0, 1, 0, 0, 1]);
  assert.deepEqual([...topEntries(values, 4)], [1, 0, 1, 0, 1, 1]);
  assert.deepEqual([...topEntries(values, 5)], [1, 1, 1, 0, 1, 1]);
  assert.deepEqual([...topEntries(values, 0)], [0, 0, 0, 0, 0, 0]);
  assert.deepEqual([...topEntries(values, 6)], [1, 1, 1, 1, 1, 1]);
  assert.throws(() => topEntries(values, 7), /cannot select 7 of 6 entries/);
});

test('saliency mask: exactly floor(N * fraction) entries, those above a hand-computed global threshold', async () => {
  const fraction = 0.3;
  const mask = await saliencyMask(trained, data, forget, { fraction, batchSize: 3 });
  // independent: per-batch gradients (batches of 3, 3, 2 in index order, eval mode), summed in float64
  const names = [...trained.params.keys()];
  const sums = new Map(names.map((n) => [n, new Float64Array(trained.params.get(n)!.size)]));
  for (const part of [range(0, 3), range(3, 6), range(6, 8)]) {
    const [b] = [...batches(data, { indices: part, batchSize: 8, normalize: false })];
    const f = (): tf.Scalar =>
      tf.tidy(() => {
        const logits = trained.logits(b!.x, { training: false });
        return tf.mean(tf.sub(tf.logSumExp(logits, 1), tf.sum(tf.mul(logits, tf.oneHot(b!.y, 4)), 1))) as tf.Scalar;
      });
    const { value, grads } = tf.variableGrads(f, [...trained.params.values()]);
    for (const [n, v] of trained.params) {
      const g = grads[v.name]?.dataSync() ?? new Float32Array(v.size);
      const s = sums.get(n)!;
      for (let i = 0; i < g.length; i++) s[i] = s[i]! + g[i]!;
    }
    tf.dispose([value, ...Object.values(grads), b!.x, b!.y]);
  }
  const magnitudes: number[] = [];
  for (const n of names) for (const v of sums.get(n)!) magnitudes.push(Math.abs(v));
  const total = magnitudes.length;
  const k = Math.floor(total * fraction);
  const threshold = [...magnitudes].sort((a, b) => b - a)[k - 1]!;
  let selected = 0;
  let offset = 0;
  let compared = 0;
  for (const n of names) {
    const m = mask.get(n)!.dataSync();
    assert.deepEqual(mask.get(n)!.shape, trained.params.get(n)!.shape);
    for (let i = 0; i < m.length; i++) {
      assert.ok(m[i] === 0 || m[i] === 1);
      selected += m[i]!;
      const g = magnitudes[offset + i]!;
      // float32 vs float64 summation can only reorder entries within a hair of the threshold
      if (Math.abs(g - threshold) > 1e-3 * threshold) {
        assert.equal(m[i], g > threshold ? 1 : 0, `${n}[${i}]: |g| = ${g}, threshold ${threshold}`);
        compared++;
      }
    }
    offset += m.length;
  }
  assert.equal(selected, k, `mask holds ${selected} of ${total} entries, expected ${k}`);
  assert.ok(compared > 0.99 * total, `compared ${compared} of ${total}`);
  tf.dispose([...mask.values()]);
});

test('SalUn changes only masked entries: every entry outside the mask stays bit-identical', async () => {
  const hp = { epochs: 2, batchSize: 8, lr: 0.05, maskFraction: 0.2 };
  const before = await snapshot(trained);
  const lines: string[] = [];
  const model = await unlearn('salun', taskFor(trained, { log: (line) => lines.push(line) }), hp);
  const total = trained.parameterCount();
  assert.ok(lines.some((l) => l.includes(`holds ${Math.floor(0.2 * total)} of ${total} weights`)), lines.join('\n'));
  const after = await snapshot(model);
  const forgetAccuracy = await accuracy(model, forget);
  model.dispose();
  const mask = await saliencyMask(trained, data, forget, { fraction: 0.2, batchSize: 8 });
  let maskedChanged = 0;
  let inMask = 0;
  for (const [name, w] of after) {
    const m = mask.get(name)!.dataSync();
    const old = before.get(name)!;
    for (let i = 0; i < w.length; i++) {
      if (m[i] === 0) assert.ok(Object.is(w[i], old[i]), `${name}[${i}] is outside the mask but moved ${old[i]} -> ${w[i]}`);
      else {
        inMask++;
        if (w[i] !== old[i]) maskedChanged++;
      }
    }
  }
  tf.dispose([...mask.values()]);
  assert.ok(maskedChanged > 0.5 * inMask, `${maskedChanged} of ${inMask} masked entries changed`);
  assert.ok(forgetAccuracy <= 0.75, `forget accuracy after SalUn ${forgetAccuracy}`);
});

// ---------------------------------------------------------------------------------------------------------
// l1-sparse

test('l1-sparse: the penalty weight decays linearly to 0, by hand', () => {
  const close = (a: number[], b: number[]): void => a.forEach((v, i) => assert.ok(Math.abs(v - b[i]!) < 1e-15, `${a} vs ${b}`));
  close([0, 1, 2, 3].map((e) => l1WeightAt(1e-3, 'linear-decay', e, 4, 0)), [1e-3, 7.5e-4, 5e-4, 2.5e-4]);
  close([0, 1, 2, 3].map((e) => l1WeightAt(1e-3, 'linear-decay', e, 4, 2)), [1e-3, 5e-4, 0, 0]);
  close([0, 1, 2, 3].map((e) => l1WeightAt(1e-3, 'constant', e, 4, 1)), [1e-3, 1e-3, 1e-3, 0]);
});

test("l1-sparse gammaSchedule 'amun': AMUN's code multiplies alpha by (2 - 2e/E) after each epoch e, compounding; by hand", () => {
  const close = (a: number[], b: number[]): void => a.forEach((v, i) => assert.ok(Math.abs(v - b[i]!) < 1e-12 * Math.max(1, Math.abs(b[i]!)), `${a} vs ${b}`));
  // E = 4: epoch 0 alpha; then x2, x1.5, x1
  close([0, 1, 2, 3].map((e) => l1WeightAt(1, 'amun', e, 4, 0)), [1, 2, 3, 3]);
  // E = 10 (AMUN's 10 epochs): 1, 2, 2*1.8, 3.6*1.6, 5.76*1.4, 8.064*1.2, *1.0, *0.8, *0.6, *0.4
  close(
    Array.from({ length: 10 }, (_, e) => l1WeightAt(5e-4, 'amun', e, 10, 0)),
    [1, 2, 3.6, 5.76, 8.064, 9.6768, 9.6768, 7.74144, 4.644864, 1.8579456].map((m) => 5e-4 * m),
  );
  // noL1Epochs still switches the penalty off at the end
  close([0, 1, 2, 3].map((e) => l1WeightAt(1, 'amun', e, 4, 1)), [1, 2, 3, 0]);
});

test("l1-sparse gammaSchedule 'amun' reaches the loss: epoch losses differ from 'constant' by gamma (m_e - 1) sum|w|", async () => {
  // a learning rate too small to move the weights, so each epoch's mean loss is the same CE plus gamma_e * sum|w|
  const settings = { epochs: 3, batchSize: 16, lr: 1e-9, momentum: 0, weightDecay: 0, gamma: 0.01 };
  const epochLosses = async (gammaSchedule: string): Promise<number[]> => {
    const losses: number[] = [];
    const task = taskFor(trained, { onProgress: (p) => p.epochLoss !== undefined && losses.push(p.epochLoss) });
    (await unlearn('l1-sparse', task, { ...settings, gammaSchedule })).dispose();
    return losses;
  };
  const amun = await epochLosses('amun');
  const constant = await epochLosses('constant');
  const l1 = sumAbs(await snapshot(trained));
  // multipliers for E = 3: 1, 2, 2 * (2 - 2/3)
  [1, 2, 8 / 3].forEach((m, e) => {
    const expected = 0.01 * (m - 1) * l1;
    const got = amun[e]! - constant[e]!;
    assert.ok(Math.abs(got - expected) <= 1e-4 * Math.max(1, expected), `epoch ${e}: loss difference ${got}, expected ${expected} (sum|w| = ${l1})`);
  });
});

test('l1-sparse lowers sum|w| compared with plain finetune under the same seed; gamma 0 is finetune exactly', async () => {
  const common = { epochs: 2, batchSize: 8, lr: 0.02 };
  const ft = await unlearn('finetune', taskFor(trained), common);
  const ftWeights = await snapshot(ft);
  ft.dispose();
  const sparse = await unlearn('l1-sparse', taskFor(trained), { ...common, gamma: 5e-3 });
  const sparseWeights = await snapshot(sparse);
  sparse.dispose();
  const zero = await unlearn('l1-sparse', taskFor(trained), { ...common, gamma: 0 });
  const zeroWeights = await snapshot(zero);
  zero.dispose();
  assert.ok(sumAbs(sparseWeights) < 0.99 * sumAbs(ftWeights), `sum|w|: l1-sparse ${sumAbs(sparseWeights)}, finetune ${sumAbs(ftWeights)}`);
  assert.equal(maxAbsDiff(zeroWeights, ftWeights), 0);
});

// ---------------------------------------------------------------------------------------------------------
// NegGrad+

test('NegGrad+: alpha = 1 is finetune on the retain set; alpha < 1 lowers forget accuracy more', async () => {
  const common = { epochs: 3, batchSize: 8, lr: 0.02, momentum: 0.9, weightDecay: 5e-4 };
  const ft = await unlearn('finetune', taskFor(trained), common);
  const ftWeights = await snapshot(ft);
  const ftForget = await accuracy(ft, forget);
  ft.dispose();
  const same = await unlearn('neggrad-plus', taskFor(trained), { ...common, forgetBatchSize: 4, alpha: 1 });
  const diff = maxAbsDiff(await snapshot(same), ftWeights);
  same.dispose();
  assert.ok(diff < 1e-6, `alpha = 1 differs from finetune by ${diff}`);
  const mixed = await unlearn('neggrad-plus', taskFor(trained), { ...common, forgetBatchSize: 4, alpha: 0.7 });
  const mixedForget = await accuracy(mixed, forget);
  mixed.dispose();
  assert.ok(ftForget >= 0.875, `finetune kept the memorised forget set: ${ftForget}`);
  assert.ok(mixedForget <= ftForget - 0.25, `forget accuracy: finetune ${ftForget}, NegGrad+ (alpha 0.7) ${mixedForget}`);
});

// ---------------------------------------------------------------------------------------------------------
// SCRUB

/** mean over samples of KL(softmax(teacher) || softmax(student)), in float64 */
function meanKl(teacherRows: Float32Array[], studentRows: Float32Array[], temperature = 1): number {
  const logSoftmax = (row: Float32Array): number[] => {
    const z = [...row].map((v) => v / temperature);
    const max = Math.max(...z);
    const lse = max + Math.log(z.reduce((s, v) => s + Math.exp(v - max), 0));
    return z.map((v) => v - lse);
  };
  let total = 0;
  teacherRows.forEach((t, i) => {
    const lt = logSoftmax(t);
    const ls = logSoftmax(studentRows[i]!);
    total += lt.reduce((s, v, c) => s + Math.exp(v) * (v - ls[c]!), 0);
  });
  return total / teacherRows.length;
}

test('SCRUB distillation loss is T^2 * mean KL(teacher || student), by hand', () => {
  const student = [
    [1, 2, 0],
    [0.5, -1, 3],
  ];
  const teacher = [
    [0, 1, 3],
    [2, 2, -1],
  ];
  const expected = 4 * meanKl(teacher.map((r) => Float32Array.from(r)), student.map((r) => Float32Array.from(r)), 2);
  const s = tf.tensor2d(student);
  const t = tf.tensor2d(teacher);
  const kl = distillationKl(s, t, 2);
  assert.ok(Math.abs(kl.dataSync()[0]! - expected) < 1e-5, `${kl.dataSync()[0]} vs ${expected}`);
  const self = distillationKl(t, t, 2);
  assert.ok(Math.abs(self.dataSync()[0]!) < 1e-6);
  tf.dispose([s, t, kl, self]);
});

test('SCRUB: the student ends farther from the teacher on the forget set than on the retain set', async () => {
  // class-wise forgetting: D_f = every sample drawn from image class 0, so that it differs from D_r in input space
  const all = [...range(0, data.count)];
  const classForget = Int32Array.from(all.filter((i) => imageClass[i] === 0));
  const classRetain = Int32Array.from(all.filter((i) => imageClass[i] !== 0));
  const task = taskFor(trained, { forget: classForget, retain: classRetain });
  const student = await unlearn('scrub', task, { epochs: 3, maxEpochs: 2, batchSize: 8, forgetBatchSize: 4, lr: 0.002 });
  const forgetKl = meanKl(await logitsOf(trained, data, classForget), await logitsOf(student, data, classForget));
  const retainKl = meanKl(await logitsOf(trained, data, classRetain), await logitsOf(student, data, classRetain));
  const rows = await logitsOf(student, data, classRetain);
  const retainAccuracy = rows.filter((row, i) => row.indexOf(Math.max(...row)) === data.labels[classRetain[i]!]).length / rows.length;
  student.dispose();
  assert.ok(forgetKl > 0.5 && forgetKl > 10 * retainKl, `KL(teacher || student): forget ${forgetKl}, retain ${retainKl}`);
  assert.ok(retainAccuracy >= 0.9, `retain accuracy after SCRUB ${retainAccuracy}`);
});
