import assert from 'node:assert/strict';
import test from 'node:test';
import { getUnlearner, listUnlearners, resolveHyperParameters } from './index.js';

test('the built-in unlearners are registered', () => {
  const names = listUnlearners().map((u) => u.name);
  assert.ok(names.includes('retrain') && names.includes('finetune'));
});

test('an unknown name lists the known ones', () => {
  assert.throws(() => getUnlearner('finetuen'), /unknown unlearner 'finetuen'; known: .*retrain.*finetune/);
});

test('hyper-parameters get their documented defaults and bad ones are refused by field', () => {
  const hp = resolveHyperParameters('finetune', 'retain', { epochs: 3 });
  assert.deepEqual(hp, { epochs: 3, lr: 0.01, momentum: 0.9, weightDecay: 5e-4, batchSize: 128, schedule: 'constant', stepEpochs: 1, stepGamma: 0.1 });
  assert.throws(() => resolveHyperParameters('finetune', 'retain', { lr: -1 }), /invalid hyper-parameters for unlearner 'finetune':[\s\S]*lr/);
  assert.throws(() => resolveHyperParameters('finetune', 'retain', { learningRate: 0.1 }), /invalid hyper-parameters[\s\S]*learningRate/);
  assert.throws(() => resolveHyperParameters('retrain', 'forget-only', {}), /does not support the 'forget-only' setting/);
});
