import assert from 'node:assert/strict';
import test from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { FUSED_BATCH_NORM_ENV, fusedBatchNormActive, initBackend } from '@lethe/runtime';
import { Model, type ModelSpec } from '@lethe/models';
import { syntheticImageDataset } from '@lethe/datasets';
import { Sgd, learningRateAt, crossEntropy, trainLoop, epochBatches, trainFromScratch, TrainingStopped, variableGradsReleasing, type TrainingRecipe, type TrainCheckpointer, type TrainCheckpointState } from './index.js';

// wasm: the cpu backend trains even 8x8 images at a few images per second. Expected values here are
// computed by hand, not by a backend. initBackend also registers tfjs's gradient functions.
await initBackend('wasm');

test('SGD follows torch.optim.SGD: momentum buffer seeded with the first gradient, coupled weight decay', () => {
  const w = tf.variable(tf.tensor1d([1, -2]));
  const params = new Map([['w', w]]);
  const sgd = new Sgd({ lr: 0.1, momentum: 0.9, weightDecay: 0.01 });
  const grads = [tf.tensor1d([0.5, 0.25]), tf.tensor1d([-1, 2])];
  // by hand: step 1: g = grad + 0.01 w; buf = g; w -= 0.1 buf. step 2: g = grad + 0.01 w; buf = 0.9 buf + g
  let ref = [1, -2];
  let buf: number[] = [];
  const gradValues = [[0.5, 0.25], [-1, 2]];
  for (let s = 0; s < 2; s++) {
    const g = ref.map((x, i) => gradValues[s]![i]! + 0.01 * x);
    buf = s === 0 ? g : buf.map((b, i) => 0.9 * b + g[i]!);
    ref = ref.map((x, i) => x - 0.1 * buf[i]!);
    sgd.step(params, new Map([['w', grads[s]!]]), 0.1);
  }
  const got = w.dataSync();
  ref.forEach((x, i) => assert.ok(Math.abs(got[i]! - x) < 1e-6, `w[${i}] = ${got[i]}, expected ${x}`));
  sgd.dispose();
  tf.dispose([w, ...grads]);
});

test('a zero mask leaves those entries bit-identical, even with weight decay and momentum', () => {
  const w = tf.variable(tf.tensor1d([0.3, 0.7, -0.1]));
  const before = w.dataSync().slice();
  const sgd = new Sgd({ lr: 0.5, momentum: 0.9, weightDecay: 0.1 });
  const mask = tf.tensor1d([1, 0, 1]);
  for (let s = 0; s < 3; s++) {
    const g = tf.tensor1d([1, 1, 1]);
    sgd.step(new Map([['w', w]]), new Map([['w', g]]), 0.5, new Map([['w', mask]]));
    g.dispose();
  }
  const after = w.dataSync();
  assert.equal(after[1], before[1]);
  assert.notEqual(after[0], before[0]);
  sgd.dispose();
  tf.dispose([w, mask]);
});

test('learning-rate schedules match their closed forms', () => {
  assert.equal(learningRateAt(0.1, { kind: 'constant' }, 7, 10), 0.1);
  // AMUN's originals: x0.1 every 40 epochs of 200
  assert.ok(Math.abs(learningRateAt(0.1, { kind: 'step', everyEpochs: 40, gamma: 0.1 }, 85, 200) - 0.001) < 1e-12);
  assert.equal(learningRateAt(0.2, { kind: 'cosine' }, 0, 10), 0.2);
  assert.ok(Math.abs(learningRateAt(0.2, { kind: 'cosine' }, 5, 10) - 0.1) < 1e-12);
  assert.ok(Math.abs(learningRateAt(0.2, { kind: 'cosine', minLr: 0.02 }, 10, 10) - 0.02) < 1e-12);
});

test('cross-entropy equals -log softmax of the true class, by hand', () => {
  const logits = tf.tensor2d([[1, 2, 3], [0, 0, 0]]);
  const labels = tf.tensor1d([2, 0], 'int32');
  const l0 = -Math.log(Math.exp(3) / (Math.exp(1) + Math.exp(2) + Math.exp(3)));
  const l1 = Math.log(3);
  assert.ok(Math.abs(crossEntropy(logits, labels).dataSync()[0]! - (l0 + l1) / 2) < 1e-6);
  tf.dispose([logits, labels]);
});

const tinySpec: ModelSpec = { arch: 'small-cnn', numClasses: 4, inputShape: [8, 8, 3], batchNorm: true };
const recipe: TrainingRecipe = { epochs: 6, batchSize: 16, optimizer: { lr: 0.05, momentum: 0.9, weightDecay: 5e-4 }, schedule: { kind: 'cosine' }, augment: false };

test('training on a learnable synthetic problem lowers the loss and fits the data', async () => {
  const ds = syntheticImageDataset({ count: 96, numClasses: 4, height: 8, width: 8, channels: 3, seed: 1 });
  const all = Int32Array.from({ length: ds.count }, (_, i) => i);
  const { model, report } = await trainFromScratch(tinySpec, recipe, ds, all, 3);
  assert.equal(report.epochLosses.length, 6);
  assert.ok(report.epochLosses[5]! < 0.5 * report.epochLosses[0]!, `losses ${report.epochLosses.map((l) => l.toFixed(3)).join(' ')}`);
  model.dispose();
});

test('same seed gives bit-identical weights after training', async () => {
  const ds = syntheticImageDataset({ count: 48, numClasses: 4, height: 8, width: 8, channels: 3, seed: 2 });
  const all = Int32Array.from({ length: ds.count }, (_, i) => i);
  const short = { ...recipe, epochs: 2, augment: true };
  const a = await trainFromScratch(tinySpec, short, ds, all, 11);
  const b = await trainFromScratch(tinySpec, short, ds, all, 11);
  const c = await trainFromScratch(tinySpec, short, ds, all, 12);
  for (const [name, v] of a.model.params) assert.deepEqual(await v.data(), await b.model.params.get(name)!.data(), name);
  assert.notDeepEqual(await a.model.params.get('dense.kernel')!.data(), await c.model.params.get('dense.kernel')!.data());
  [a, b, c].forEach((r) => r.model.dispose());
});

test('a checkpointed training stopped after an epoch and resumed ends bit-identical to an uninterrupted one', async () => {
  const ds = syntheticImageDataset({ count: 48, numClasses: 4, height: 8, width: 8, channels: 3, seed: 5 });
  const all = Int32Array.from({ length: ds.count }, (_, i) => i);
  const three = { ...recipe, epochs: 3, augment: true, schedule: { kind: 'step' as const, everyEpochs: 1, gamma: 0.5 } };
  const whole = await trainFromScratch(tinySpec, three, ds, all, 21);
  // a checkpointer in memory: weights, momentum and progress copied out at each epoch end
  let saved: { weights: Map<string, Float32Array>; state: TrainCheckpointState } | null = null;
  const saves: number[] = [];
  const checkpointer = (stopAfter: number | null): TrainCheckpointer => ({
    restore: async (model) => {
      if (!saved) return null;
      for (const [name, values] of saved.weights) (model.params.get(name) ?? model.state.get(name))!.assign(tf.tensor(values, (model.params.get(name) ?? model.state.get(name))!.shape));
      return saved.state;
    },
    save: async (model, state) => {
      saves.push(state.epochsDone);
      const weights = new Map<string, Float32Array>();
      for (const [name, v] of [...model.params, ...model.state]) weights.set(name, (await v.data()) as Float32Array);
      saved = { weights, state: { ...state, momentum: new Map(state.momentum) } };
    },
    shouldStop: () => stopAfter !== null && saved!.state.epochsDone >= stopAfter,
  });
  await assert.rejects(trainFromScratch(tinySpec, three, ds, all, 21, undefined, { checkpoint: checkpointer(1) }), (err: unknown) => err instanceof TrainingStopped && /stopped after epoch 1\/3/.test((err as Error).message));
  assert.deepEqual(saves, [1]);
  assert.ok(saved!.state.momentum.size > 0, 'momentum is part of the checkpoint');
  const resumed = await trainFromScratch(tinySpec, three, ds, all, 21, undefined, { checkpoint: checkpointer(null) });
  assert.deepEqual(saves, [1, 2], 'the resumed run starts at epoch 2 and saves after it (not after the last)');
  assert.equal(resumed.report.epochLosses.length, 3);
  assert.deepEqual(resumed.report.epochLosses, whole.report.epochLosses);
  assert.equal(resumed.report.steps, whole.report.steps);
  for (const [name, v] of [...whole.model.params, ...whole.model.state]) {
    const other = resumed.model.params.get(name) ?? resumed.model.state.get(name)!;
    assert.deepEqual(await other.data(), await v.data(), name);
  }
  // without the momentum the resumed run would differ: the checkpoint must carry it
  saved = null;
  saves.length = 0;
  await assert.rejects(trainFromScratch(tinySpec, three, ds, all, 21, undefined, { checkpoint: checkpointer(1) }), TrainingStopped);
  saved!.state.momentum = new Map();
  const noMomentum = await trainFromScratch(tinySpec, three, ds, all, 21, undefined, { checkpoint: checkpointer(null) });
  assert.notDeepEqual(await noMomentum.model.params.get('dense.kernel')!.data(), await whole.model.params.get('dense.kernel')!.data());
  [whole, resumed, noMomentum].forEach((r) => r.model.dispose());
});

test('restoring momentum keeps one tensor per buffer and leaks none', () => {
  const params = new Map([['w', tf.variable(tf.zeros([3]))]]);
  const sgd = new Sgd({ lr: 0.1, momentum: 0.9, weightDecay: 0 });
  const before = tf.memory().numTensors;
  sgd.restoreMomentum(params, new Map([['w', new Float32Array([1, 2, 3])]]));
  assert.deepEqual([...sgd.momentumState().get('w')!], [1, 2, 3]);
  assert.equal(tf.memory().numTensors - before, 1, 'the buffer alone');
  sgd.dispose();
  assert.equal(tf.memory().numTensors, before);
  params.get('w')!.dispose();
});

test('live tensor count is flat across 20 training steps', async () => {
  const ds = syntheticImageDataset({ count: 40, numClasses: 4, height: 8, width: 8, channels: 3, seed: 3 });
  const all = Int32Array.from({ length: ds.count }, (_, i) => i);
  const model = Model.create(tinySpec, 0);
  const counts: number[] = [];
  await trainLoop({
    model,
    epochs: 7, // 3 batches per epoch (16, 16, 8): 21 steps
    batches: epochBatches(ds, all, { batchSize: 16, seed: 0, augment: true }),
    optimizer: recipe.optimizer,
    schedule: { kind: 'constant' },
    afterStep: () => counts.push(tf.memory().numTensors),
  });
  assert.ok(counts.length >= 20);
  // after the first step (which creates the momentum buffers) the count must not move
  assert.ok(counts.slice(1).every((c) => c === counts[1]), `counts ${counts.join(',')}`);
  model.dispose();
});

test('variableGradsReleasing: the same loss and gradients as tf.variableGrads, no tensor left behind, a lower backward peak', async () => {
  // a residual network with batch norm (tfjs gradients that save inputs, outputs and several tensors per node)
  const model = Model.create({ arch: 'resnet18', width: 0.125, numClasses: 10, inputShape: [16, 16, 3] }, 4);
  const variables = [...model.params.values()];
  const ds = syntheticImageDataset({ count: 8, numClasses: 10, height: 16, width: 16, channels: 3, seed: 9 });
  const [batch] = [...epochBatches(ds, Int32Array.from({ length: 8 }, (_, i) => i), { batchSize: 8, seed: 1, augment: false })(0)];
  const loss = (): tf.Scalar => crossEntropy(model.logits(batch!.x, { training: true }), batch!.y);

  /** the loss, the gradients, and the most bytes held at the start of any backward node */
  const run = (release: boolean | 'tfjs') => {
    const before = tf.memory().numTensors;
    let peak = 0;
    const onBackwardNode = (): void => void (peak = Math.max(peak, tf.memory().numBytes));
    const { value, grads } = release === 'tfjs' ? tf.variableGrads(loss, variables) : variableGradsReleasing(loss, variables, { release, onBackwardNode });
    const out = { value: value.dataSync()[0]!, grads: Object.fromEntries(Object.entries(grads).map(([k, g]) => [k, g.dataSync().slice()])), peak };
    const made = 1 + Object.keys(grads).length;
    tf.dispose([value, ...Object.values(grads)]);
    return { ...out, leaked: tf.memory().numTensors - before, made };
  };
  const reference = run('tfjs');
  const kept = run(false);
  const released = run(true);
  assert.equal(reference.leaked, 0);
  for (const r of [kept, released]) {
    assert.equal(r.leaked, 0, 'every tensor the step made is disposed with its result');
    assert.equal(r.value, reference.value);
    assert.deepEqual(Object.keys(r.grads).sort(), Object.keys(reference.grads).sort());
    for (const [name, g] of Object.entries(reference.grads)) assert.deepEqual(r.grads[name], g, `gradient of ${name}: bit-identical`);
  }
  assert.ok(released.peak < 0.75 * kept.peak, `backward peak ${released.peak} B released vs ${kept.peak} B kept`);
  batch!.x.dispose();
  batch!.y.dispose();
  model.dispose();
});

test('on native, ResNet-18 batch norm runs fused: gradients within rounding of the arithmetic form, released as the backward pass goes', async (t) => {
  try {
    await initBackend('native');
  } catch (e) {
    if (process.env['CI']) throw e;
    t.skip(`native backend not built: ${(e as Error).message}`);
    return;
  }
  const env = process.env[FUSED_BATCH_NORM_ENV];
  try {
    const model = Model.create({ arch: 'resnet18', width: 0.125, numClasses: 10, inputShape: [16, 16, 3] }, 4);
    const variables = [...model.params.values()];
    const ds = syntheticImageDataset({ count: 8, numClasses: 10, height: 16, width: 16, channels: 3, seed: 9 });
    const [batch] = [...epochBatches(ds, Int32Array.from({ length: 8 }, (_, i) => i), { batchSize: 8, seed: 1, augment: false })(0)];
    const loss = (): tf.Scalar => crossEntropy(model.logits(batch!.x, { training: true }), batch!.y);
    const state = (): Float32Array[] => [...model.state.values()].map((v) => v.dataSync().slice() as Float32Array);
    const run = (fused: boolean, release: boolean | 'tfjs') => {
      process.env[FUSED_BATCH_NORM_ENV] = fused ? '1' : '0';
      assert.equal(fusedBatchNormActive(), fused);
      const before = tf.memory().numTensors;
      let peak = 0;
      const onBackwardNode = (): void => void (peak = Math.max(peak, tf.memory().numBytes));
      const stateBefore = state();
      const { value, grads } = release === 'tfjs' ? tf.variableGrads(loss, variables) : variableGradsReleasing(loss, variables, { release, onBackwardNode });
      const out = { value: value.dataSync()[0]!, grads: Object.fromEntries(Object.entries(grads).map(([k, g]) => [k, g.dataSync().slice() as Float32Array])), peak, moved: state() };
      tf.dispose([value, ...Object.values(grads)]);
      // put the running statistics back, so that every run starts from the same model
      tf.tidy(() => [...model.state.values()].forEach((v, i) => v.assign(tf.tensor(stateBefore[i]!, v.shape))));
      return { ...out, leaked: tf.memory().numTensors - before };
    };
    const arithmetic = run(false, 'tfjs');
    const fused = run(true, 'tfjs');
    const kept = run(true, false);
    const released = run(true, true);
    for (const r of [arithmetic, fused, kept, released]) assert.equal(r.leaked, 0, 'every tensor the step made is disposed with its result');
    // the same function, rounded differently: close, and not bit-identical (so the fused kernel did run)
    assert.ok(Math.abs(fused.value - arithmetic.value) < 1e-5 * Math.abs(arithmetic.value), `loss ${fused.value} vs ${arithmetic.value}`);
    let identical = true;
    for (const [name, g] of Object.entries(arithmetic.grads)) {
      const f = fused.grads[name]!;
      const scale = g.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      const worst = g.reduce((m, v, i) => Math.max(m, Math.abs(v - f[i]!)), 0);
      assert.ok(worst <= 1e-3 * scale + 1e-7, `gradient of ${name}: largest difference ${worst}, largest value ${scale}`);
      identical &&= g.every((v, i) => v === f[i]);
    }
    assert.equal(identical, false, 'the fused and arithmetic gradients round differently');
    // running statistics: the same update
    arithmetic.moved.forEach((m, i) => m.forEach((v, j) => assert.ok(Math.abs(v - fused.moved[i]![j]!) <= 1e-5 * Math.max(1, Math.abs(v)), `running statistic ${i}[${j}]: ${fused.moved[i]![j]} vs ${v}`)));
    // releasing is exact with the fused kernel too, and lowers the backward peak
    for (const r of [kept, released]) {
      assert.equal(r.value, fused.value);
      for (const [name, g] of Object.entries(fused.grads)) assert.deepEqual(r.grads[name], g, `gradient of ${name}: bit-identical`);
    }
    assert.ok(released.peak < 0.75 * kept.peak, `backward peak ${released.peak} B released vs ${kept.peak} B kept`);
    batch!.x.dispose();
    batch!.y.dispose();
    model.dispose();
  } finally {
    if (env === undefined) delete process.env[FUSED_BATCH_NORM_ENV];
    else process.env[FUSED_BATCH_NORM_ENV] = env;
    await initBackend('wasm');
  }
});

test('variableGradsReleasing: a gradient that hands back its own output gradient is not freed under the next node', () => {
  // customGrad whose gradient returns dy itself (the very tensor object): releasing that node's output gradient
  // must not free the gradient the multiplication below it still needs
  const passThrough = tf.customGrad(((x: tf.Tensor, save: tf.GradSaveFunc) => {
    save([]);
    return { value: tf.relu(x), gradFunc: (dy: tf.Tensor) => [dy] };
  }) as unknown as Parameters<typeof tf.customGrad>[0]) as (x: tf.Tensor) => tf.Tensor;
  const v = tf.variable(tf.tensor1d([1, 2, 3]));
  const before = tf.memory().numTensors;
  const { value, grads } = variableGradsReleasing(() => tf.sum(passThrough(tf.mul(v, 3))) as tf.Scalar, [v]);
  assert.equal(value.dataSync()[0], 18);
  assert.deepEqual(Array.from(grads[v.name]!.dataSync()), [3, 3, 3]);
  tf.dispose([value, ...Object.values(grads)]);
  assert.equal(tf.memory().numTensors, before);
  v.dispose();
});
