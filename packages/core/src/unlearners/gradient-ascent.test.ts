// GA's optional descent pass over D_r before each ascent pass over D_f (AMUN's code, adversarial_unlearn.py).
import assert from 'node:assert/strict';
import test from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@lethe/runtime';
import { batches } from '@lethe/datasets';
import type { Model } from '@lethe/models';
import { resolveHyperParameters } from '../registry.js';
import './index.js';
import { gradientAscent } from './gradient-ascent.js';
import { makeTask, problem, runChecked, trainOriginal, weightsOf } from './memorised.test-util.js';

await initBackend('wasm');

const { train, forget, retain } = problem;
const original = await trainOriginal();

type GaHyperParameters = Parameters<typeof gradientAscent.unlearn>[1];
const hp = (setting: 'retain' | 'forget-only', raw: Record<string, unknown>): GaHyperParameters => resolveHyperParameters('gradient-ascent', setting, raw) as GaHyperParameters;

/**
 * One plain SGD step (no momentum, no weight decay) on `model`: w <- w - lr * d/dw (sign * mean CE over `indices`),
 * the whole set as one batch in training mode, with the cross-entropy written out here as logSumExp - logit of the label.
 */
function sgdStep(model: Model, indices: Int32Array, sign: 1 | -1, lr: number): void {
  const [b] = [...batches(train, { indices, batchSize: indices.length, normalize: false })];
  const variables = [...model.params.values()];
  const { value, grads } = tf.variableGrads(
    () =>
      tf.tidy(() => {
        const logits = model.logits(b!.x, { training: true });
        const ce = tf.mean(tf.sub(tf.logSumExp(logits, 1), tf.sum(tf.mul(logits, tf.oneHot(b!.y, train.numClasses)), 1)));
        return tf.mul(ce, sign) as tf.Scalar;
      }),
    variables,
  );
  for (const v of variables) tf.tidy(() => v.assign(tf.sub(v, tf.mul(grads[v.name]!, lr))));
  tf.dispose([value, ...Object.values(grads), b!.x, b!.y]);
}

const maxDifference = (a: Float32Array[], b: Float32Array[]): number => {
  let m = 0;
  a.forEach((x, k) => x.forEach((v, i) => (m = Math.max(m, Math.abs(v - b[k]![i]!)))));
  return m;
};

test('retainPass: each epoch is one descent step on CE(D_r) then one ascent step on CE(D_f), checked step by step', async () => {
  const lr = 0.05;
  const epochs = 2;
  // one batch per pass (64 >= |D_r| = 56 and |D_f| = 8) and memoryless SGD, so the steps can be replayed by hand
  const settings = { epochs, batchSize: 64, lr, momentum: 0, weightDecay: 0, retainPass: true };
  const model = await gradientAscent.unlearn(makeTask(original, 'retain', 1), hp('retain', settings));
  const got = weightsOf(model);
  model.dispose();

  const replay = (order: 'retain-first' | 'forget-first'): Float32Array[] => {
    const copy = original.clone();
    for (let e = 0; e < epochs; e++) {
      if (order === 'retain-first') {
        sgdStep(copy, retain, 1, lr);
        sgdStep(copy, forget, -1, lr);
      } else {
        sgdStep(copy, forget, -1, lr);
        sgdStep(copy, retain, 1, lr);
      }
    }
    const weights = weightsOf(copy);
    copy.dispose();
    return weights;
  };
  const expected = replay('retain-first');
  // the same steps in the other order land elsewhere: the comparison below can tell the order apart
  const otherOrder = maxDifference(replay('forget-first'), expected);
  const difference = maxDifference(got, expected);
  assert.ok(otherOrder > 1e-3, `the two orders differ by ${otherOrder} only`);
  // float32 sums in a different sample order are the only difference (params and batch-norm statistics alike)
  assert.ok(difference < 1e-5, `GA with retainPass differs from the hand-replayed steps by ${difference} (the other order by ${otherOrder})`);

  // without retainPass, GA is the ascent steps alone (today's behaviour and SalUn's GA)
  const plain = await gradientAscent.unlearn(makeTask(original, 'retain', 1), hp('retain', { ...settings, retainPass: false }));
  const ascentOnly = original.clone();
  for (let e = 0; e < epochs; e++) sgdStep(ascentOnly, forget, -1, lr);
  assert.ok(maxDifference(weightsOf(plain), weightsOf(ascentOnly)) < 1e-5, 'retainPass false: ascent on D_f only');
  plain.dispose();
  ascentOnly.dispose();
});

test("retainPass in the 'forget-only' setting is an error naming the setting", async () => {
  assert.equal(hp('retain', {}).retainPass, false, 'default: off (SalUn\'s GA)');
  assert.throws(() => resolveHyperParameters('gradient-ascent', 'forget-only', { retainPass: true }), /gradient-ascent: retainPass needs the retain set, which the 'forget-only' setting does not give/);
  // also when the unlearner is called directly with hyper-parameters resolved for another setting
  await assert.rejects(gradientAscent.unlearn(makeTask(original, 'forget-only', 1), hp('retain', { retainPass: true })), /'forget-only' setting/);
});

test('retainPass: tensor-flat across both passes, deterministic, D_r batches then D_f batches each epoch', async () => {
  const params = hp('retain', { epochs: 2, batchSize: 16, lr: 0.01, retainPass: true });
  const a = await runChecked((task) => gradientAscent.unlearn(task, params), original, 'retain', 4);
  const b = await runChecked((task) => gradientAscent.unlearn(task, params), original, 'retain', 4);
  assert.equal(maxDifference(weightsOf(a.model), weightsOf(b.model)), 0, 'same seed, same weights');
  // per epoch: D_r (56 samples: 4 batches of 16) then D_f (8: 1 batch)
  assert.equal(a.stepCounts.length, 2 * (Math.ceil(retain.length / 16) + 1));
  a.model.dispose();
  b.model.dispose();
});
