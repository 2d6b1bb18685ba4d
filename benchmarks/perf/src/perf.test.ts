import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { Model } from '@lethe/models';
import { initBackend } from '@lethe/runtime';
import { parsePerfArgs, stepsPerRep } from './args.js';
import { MODEL_NAMES, defaultReps, modelSpec } from './cases.js';
import { expandWasmThreads } from './backends.js';
import { LetheRunner, LetheWorker, OUT_OF_MEMORY_HINT, explainError, lastErrorLine } from './lethe.js';
import { imagesPerSecond, jsonReport, median, medianThroughput, ratio, textTable } from './stats.js';
import { STEADY_MALLOC_ENV, TorchServer, torchParameterCounts, withSteadyMalloc } from './torch.js';

test('median of odd and even counts, in any order', () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([10, 1, 4, 7]), 5.5);
  assert.equal(median([42]), 42);
  assert.throws(() => median([]), /median of an empty list/);
  assert.throws(() => median([1, Number.NaN]), /not a finite number/);
});

test('throughput is the median of the repetitions images/s, and ratio is Lethe over PyTorch', () => {
  assert.equal(imagesPerSecond(256, 2), 128);
  assert.throws(() => imagesPerSecond(128, 0), /positive time/);
  // 128/1 = 128, 256/4 = 64, 128/0.5 = 256 -> median 128
  assert.equal(medianThroughput([{ images: 128, seconds: 1 }, { images: 256, seconds: 4 }, { images: 128, seconds: 0.5 }]), 128);
  assert.equal(medianThroughput([]), null);
  assert.equal(ratio(50, 200), 0.25);
  assert.equal(ratio(50, null), null);
  assert.equal(ratio(null, 200), null);
  assert.equal(ratio(50, 0), null);
});

test('the JSON report has the shape the issue specifies', () => {
  const models = new Map([
    ['small-cnn', { letheTrain: 100, letheInfer: 1000, torchTrain: 400, torchInfer: 500 }],
    ['resnet18-w1', { letheTrain: 8, letheInfer: 30, torchTrain: null, torchInfer: null }],
  ]);
  const report = jsonReport('wasm', 1, models, { date: 'd' });
  assert.deepEqual(report, {
    date: 'd',
    models: {
      'small-cnn': { train_ratio: 0.25, infer_ratio: 2, lethe_train: 100, lethe_infer: 1000, torch_train: 400, torch_infer: 500 },
      'resnet18-w1': { train_ratio: null, infer_ratio: null, lethe_train: 8, lethe_infer: 30, torch_train: null, torch_infer: null },
    },
    backend: 'wasm',
    threads: 1,
  });
  // extra fields cannot override the specified ones
  assert.equal(jsonReport('wasm', 1, models, { backend: 'x', threads: 9 }).backend, 'wasm');
  assert.deepEqual(JSON.parse(JSON.stringify(report)), report);
});

test('options: defaults, lists, and errors that name the option', () => {
  const d = parsePerfArgs([]);
  assert.deepEqual(d.models, [...MODEL_NAMES]);
  assert.equal(d.reps, undefined);
  assert.equal(d.batch, 128);
  assert.equal(d.torch, true);
  assert.equal(defaultReps('resnet18-w1'), 2);
  assert.equal(defaultReps('small-cnn'), 5);
  const o = parsePerfArgs(['--models', 'small-cnn,resnet18-w0.25', '--reps=3', '--backends', 'WASM,native', '--json', 'out.json', '--no-torch']);
  assert.deepEqual(o.models, ['small-cnn', 'resnet18-w0.25']);
  assert.equal(o.reps, 3);
  assert.deepEqual(o.backends, ['wasm', 'native']);
  assert.equal(o.json, 'out.json');
  assert.equal(o.torch, false);
  assert.throws(() => parsePerfArgs(['--models', 'vgg']), /unknown benchmark model 'vgg'; known: small-cnn/);
  assert.throws(() => parsePerfArgs(['--reps', '0']), /--reps needs a positive integer, got '0'/);
  assert.throws(() => parsePerfArgs(['--frobnicate']), /unknown option '--frobnicate'/);
});

test('steps per repetition fill the minimum time, within 1..max', () => {
  assert.equal(stepsPerRep(0.3, 1), 4);
  assert.equal(stepsPerRep(2, 1), 1);
  assert.equal(stepsPerRep(0.001, 1, 50), 50);
  assert.equal(stepsPerRep(0, 1), 1);
});

test('text table right-aligns numbers', () => {
  assert.equal(textTable(['model', 'img/s'], [['a', '5'], ['bb', '10.5x']]), 'model  img/s\n-----  -----\na          5\nbb     10.5x');
});

test('Lethe and PyTorch models have the same parameter counts', async (t) => {
  await initBackend('wasm');
  const lethe: Record<string, number> = {};
  for (const name of MODEL_NAMES) {
    const model = Model.create(modelSpec(name), 0);
    lethe[name] = model.parameterCount();
    model.dispose();
  }
  // closed form for the reference CNN: 3x3 convolutions 3->32->32->64 with biases, dense 8*8*64 -> 10
  assert.equal(lethe['small-cnn'], 27 * 32 + 32 + 288 * 32 + 32 + 288 * 64 + 64 + 4096 * 10 + 10);
  // ... and with batch norm: no convolution biases, a scale and a shift per channel
  assert.equal(lethe['small-cnn-bn'], lethe['small-cnn']! - (32 + 32 + 64) + 2 * (32 + 32 + 64));
  const torch = torchParameterCounts();
  if ('message' in torch) {
    // CI does not install PyTorch (it is only the benchmark's reference); the comparison needs it
    t.skip(`PyTorch comparison skipped: ${torch.message}`);
    return;
  }
  assert.deepEqual(torch.counts, lethe);
});

test('one Lethe training step and inference pass on a tiny batch leave no tensors behind', async () => {
  await initBackend('wasm');
  const runner = new LetheRunner({ ...modelSpec('small-cnn'), inputShape: [8, 8, 3] }, 4);
  const before = tf.memory().numTensors;
  const weights = await runner.model.params.get('conv1.kernel')!.data();
  assert.ok((await runner.train(2)) > 0);
  assert.ok(runner.infer(1) > 0);
  assert.equal(tf.memory().numTensors, before);
  // the training steps really updated the weights
  assert.notDeepEqual(await runner.model.params.get('conv1.kernel')!.data(), weights);
  runner.dispose();
});

test('the PyTorch server times training and inference steps', async (t) => {
  const server = await TorchServer.start();
  if (!(server instanceof TorchServer)) {
    t.skip(`PyTorch side skipped: ${server.message}`);
    return;
  }
  try {
    assert.ok((await server.train('small-cnn', 4, 1, 1)) > 0);
    assert.ok((await server.infer('small-cnn', 4, 1, 1)) > 0);
    await assert.rejects(server.train('vgg', 4, 1, 1), /unknown model 'vgg'/);
  } finally {
    await server.close();
  }
});

test('a Lethe worker process trains and infers, and reports why it cannot start', async () => {
  const worker = await LetheWorker.start('wasm', 'small-cnn', 2);
  try {
    assert.ok((await worker.train(1)) > 0);
    assert.ok((await worker.infer(1)) > 0);
    assert.ok(worker.maxRssBytes > 0);
  } finally {
    worker.close();
  }
  await assert.rejects(LetheWorker.start('no-such-backend', 'small-cnn', 2), /unknown backend 'no-such-backend'/);
});

test('a crashed worker is summarised by its error line, not a stack frame', () => {
  const stderr = 'wasm://wasm/foo\nRuntimeError: memory access out of bounds\n    at foo (x.js:1:1)\n    at bar (y.js:2:2)\n';
  assert.equal(lastErrorLine(stderr), `RuntimeError: memory access out of bounds ${OUT_OF_MEMORY_HINT}`);
  assert.equal(lastErrorLine('Error: unknown model\n    at x (y.js:1:1)'), 'Error: unknown model');
  assert.equal(lastErrorLine(''), 'no output');
  assert.equal(explainError('Aborted(). Build with -sASSERTIONS for more info.'), `Aborted(). Build with -sASSERTIONS for more info. ${OUT_OF_MEMORY_HINT}`);
  assert.equal(explainError('unknown model'), 'unknown model');
});

test('--wasm-threads measures wasm once per thread count, each in workers started with LETHE_WASM_THREADS', async () => {
  assert.deepEqual(parsePerfArgs(['--wasm-threads', '1,2,2']).wasmThreads, [1, 2]);
  assert.equal(parsePerfArgs([]).wasmThreads, undefined);
  assert.throws(() => parsePerfArgs(['--wasm-threads', '9']), { message: '--wasm-threads: the wasm backend runs at most 8 threads' });
  const wasm = { info: { name: 'wasm' as const, tfjsBackend: 'wasm', version: '4.22.0', packageName: 'p', threads: 2, detail: 'XNNPACK, 2 thread(s), Lethe training kernels' }, threads: 2, label: 'wasm', env: {} };
  const native = { info: { name: 'native' as const, tfjsBackend: 'native', version: '0.1.0', packageName: 'q' }, threads: 2, label: 'native', env: {} };
  assert.deepEqual(expandWasmThreads([native, wasm], undefined), [native, wasm]);
  const expanded = expandWasmThreads([native, wasm], [1, 2]);
  assert.deepEqual(expanded.map((c) => [c.label, c.threads, c.env, c.info.detail]), [
    ['native', 2, {}, undefined],
    ['wasm@1', 1, { LETHE_WASM_THREADS: '1' }, 'XNNPACK, 1 thread(s), Lethe training kernels'],
    ['wasm@2', 2, { LETHE_WASM_THREADS: '2' }, 'XNNPACK, 2 thread(s), Lethe training kernels'],
  ]);
  // and a worker started that way really runs that many threads
  const worker = await LetheWorker.start('wasm', 'small-cnn', 4, { LETHE_WASM_THREADS: '1' });
  try {
    assert.equal(worker.backendThreads, 1);
  } finally {
    worker.close();
  }
});

test('both sides of the throughput measurement get the steady malloc settings, under any the user set', () => {
  assert.deepEqual(withSteadyMalloc({ PATH: '/bin' }), { ...STEADY_MALLOC_ENV, PATH: '/bin' });
  assert.equal(withSteadyMalloc({ MALLOC_MMAP_THRESHOLD_: '1024' }).MALLOC_MMAP_THRESHOLD_, '1024');
  // far above an activation of the benchmark's largest model (ResNet-18 width 1 at batch 128: 32 MiB)
  assert.ok(Number(STEADY_MALLOC_ENV.MALLOC_MMAP_THRESHOLD_) >= 256 * 2 ** 20);
});
