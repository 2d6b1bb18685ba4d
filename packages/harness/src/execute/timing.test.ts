import assert from 'node:assert/strict';
import test from 'node:test';
import { trainedOn } from '../prepare/cache.js';
import { retrainRatio, retrainRatioSkippedLine } from './timing.js';

test('x retrain: not computed when the gold model was trained on another backend; the gold backend is named', () => {
  const ratio = retrainRatio({ unlearnSeconds: 3.5, unlearnBackend: 'native' }, { trainSeconds: 70, backend: 'wasm' });
  assert.deepEqual(ratio.timing, { unlearnSeconds: 3.5, retrainSeconds: 70, retrainBackend: 'wasm', relativeToRetrain: null });
  assert.equal(ratio.skipped, 'backend-mismatch');
  assert.equal(
    retrainRatioSkippedLine('finetune', ratio, 'native', '/cache/gold-abc'),
    'x retrain: not computed for finetune: the gold model was trained on wasm, this run uses native (to compare, delete the cached gold model /cache/gold-abc and run again with --force to retrain it on native, or run with --backend wasm --force)',
  );
});

test('x retrain: unlearn time / retrain time when both were measured on the same backend', () => {
  const unlearnSeconds = 3.5;
  const trainSeconds = 70;
  const ratio = retrainRatio({ unlearnSeconds, unlearnBackend: 'native' }, { trainSeconds, backend: 'native' });
  assert.equal(ratio.skipped, null);
  assert.equal(ratio.timing.retrainBackend, 'native');
  assert.equal(ratio.timing.retrainSeconds, 70);
  assert.ok(Math.abs(ratio.timing.relativeToRetrain! - 0.05) < 1e-12);
  assert.equal(retrainRatioSkippedLine('finetune', ratio, 'native', '/cache/gold-abc'), null);
  // no usable retrain time: nothing to compare, and nothing to say about backends
  for (const bad of [Number.NaN, 0]) {
    const none = retrainRatio({ unlearnSeconds, unlearnBackend: 'native' }, { trainSeconds: bad, backend: 'native' });
    assert.deepEqual([none.timing.retrainSeconds, none.timing.relativeToRetrain, none.skipped], [null, null, 'no-retrain-time']);
    assert.equal(retrainRatioSkippedLine('finetune', none, 'native', '/cache/gold-abc'), null);
  }
});

test('x retrain: a cache entry without a recorded backend loads as unknown and gives null', () => {
  // metadata as written before the backend was recorded
  const old = trainedOn({ role: 'gold model', trainSeconds: 42, createdAt: '2025-01-01T00:00:00.000Z' });
  assert.deepEqual(old, { backend: null, threads: null });
  const ratio = retrainRatio({ unlearnSeconds: 2, unlearnBackend: 'wasm' }, { trainSeconds: 42, ...old });
  assert.deepEqual(ratio.timing, { unlearnSeconds: 2, retrainSeconds: 42, retrainBackend: null, relativeToRetrain: null });
  assert.equal(ratio.skipped, 'gold-backend-unknown');
  assert.match(retrainRatioSkippedLine('l1-sparse', ratio, 'wasm', '/cache/gold-abc')!, /^x retrain: not computed for l1-sparse: the gold model's training backend was not recorded .*this run uses wasm \(to compare, delete the cached gold model \/cache\/gold-abc and run again with --force/);
  // current metadata
  assert.deepEqual(trainedOn({ trainSeconds: 42, backend: 'native', backendThreads: 8 }), { backend: 'native', threads: 8 });
  assert.deepEqual(trainedOn({ trainSeconds: 42, backend: 'wasm', backendThreads: null }), { backend: 'wasm', threads: null });
});
