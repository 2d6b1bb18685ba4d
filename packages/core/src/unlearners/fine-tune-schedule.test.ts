// The learning-rate schedule hyper-parameters every fine-tuning unlearner shares (common.ts), read back from the
// learning rate the training loop reports for each epoch of each training phase.
import assert from 'node:assert/strict';
import test from 'node:test';
import { initBackend } from '@lethe/runtime';
import { getUnlearner, resolveHyperParameters } from '../registry.js';
import { builtInUnlearners } from './index.js';
import { makeTask, trainOriginal } from './memorised.test-util.js';

await initBackend('wasm');

const original = await trainOriginal();

/** Cheap settings per method: 3 epochs of its own fine-tuning (tmu also fine-tunes its twin for 3). */
const quick: Record<string, Record<string, unknown>> = {
  finetune: { epochs: 3, batchSize: 32 },
  'gradient-ascent': { epochs: 3, batchSize: 8 },
  'neggrad-plus': { epochs: 3, batchSize: 32, forgetBatchSize: 8 },
  'random-label': { epochs: 3, batchSize: 32 },
  'boundary-shrink': { epochs: 3, batchSize: 32 },
  'l1-sparse': { epochs: 3, batchSize: 32 },
  salun: { epochs: 3, batchSize: 32 },
  scrub: { epochs: 3, maxEpochs: 1, batchSize: 32, forgetBatchSize: 8 },
  amun: { epochs: 3, batchSize: 32, attackSteps: 3, maxDoublings: 2 },
  'amun-salun': { epochs: 3, batchSize: 32, attackSteps: 3, maxDoublings: 2, maskFraction: 0.3 },
  tmu: { epochs: 3, twinEpochs: 3, twinLr: 0.02, batchSize: 32, heldOutFraction: 0.5, referenceSamples: 20, predictorEpochs: 5, features: ['DF'] },
  'topk-perturbation': { finetuneEpochs: 3, batchSize: 32 },
  'randomk-perturbation': { finetuneEpochs: 3, batchSize: 32 },
};

/** The learning rate the loop reported for each (phase, epoch), from every progress event (they must agree). */
async function learningRates(name: string, raw: Record<string, unknown>): Promise<Map<string, number[]>> {
  const rates = new Map<string, number[]>();
  const task = makeTask(original, 'retain', 2, {
    onProgress: (p) => {
      const list = rates.get(p.phase) ?? [];
      if (list[p.epoch] === undefined) list[p.epoch] = p.learningRate;
      else assert.equal(p.learningRate, list[p.epoch], `${name}/${p.phase}: one learning rate per epoch`);
      rates.set(p.phase, list);
    },
  });
  const model = await getUnlearner(name).unlearn(task, resolveHyperParameters(name, 'retain', raw));
  model.dispose();
  return rates;
}

const close = (got: number[], expected: number[], what: string): void => {
  assert.equal(got.length, expected.length, `${what}: ${got.length} epochs, expected ${expected.length}`);
  got.forEach((v, e) => assert.ok(Math.abs(v - expected[e]!) <= 1e-12 * expected[e]!, `${what}: epoch ${e} lr ${v}, expected ${expected[e]} (all: ${got.join(', ')})`));
};

test("every fine-tuning method takes schedule 'step': the lr of epoch e is base * 0.1^e", async () => {
  assert.deepEqual(Object.keys(quick).sort(), builtInUnlearners.filter((n) => n !== 'retrain').sort(), 'every method except retrain fine-tunes');
  for (const [name, settings] of Object.entries(quick)) {
    const rates = await learningRates(name, { ...settings, lr: 0.01, schedule: 'step' });
    // tmu's early model is trained from scratch with the original recipe (its own schedule), not fine-tuned
    const phases = [...rates.keys()].filter((phase) => phase !== 'tmu-early-model');
    assert.ok(phases.length > 0, `${name}: no training phase reported`);
    for (const phase of phases) {
      const base = phase === 'tmu-twin' ? 0.02 : 0.01;
      close(rates.get(phase)!, [base, base * 0.1, base * 0.01], `${name}/${phase}`);
    }
  }
});

test('stepEpochs and stepGamma reach the loop: x0.5 every 2 epochs', async () => {
  const rates = await learningRates('finetune', { epochs: 5, batchSize: 32, lr: 0.01, schedule: 'step', stepEpochs: 2, stepGamma: 0.5 });
  close(rates.get('finetune')!, [0.01, 0.01, 0.005, 0.005, 0.0025], 'finetune');
});

test("defaults: AMUN and AMUN+SalUn decay x0.1 after every epoch (AMUN's public code), the others keep a constant lr", async () => {
  for (const name of Object.keys(quick)) {
    const d = resolveHyperParameters(name, 'retain', {});
    const amunFamily = name === 'amun' || name === 'amun-salun';
    assert.deepEqual([d['schedule'], d['stepEpochs'], d['stepGamma']], [amunFamily ? 'step' : 'constant', 1, 0.1], name);
  }
  // and the default reaches the loop: amun with no schedule given
  const rates = await learningRates('amun', quick['amun']!);
  close(rates.get('amun')!, [0.01, 0.001, 0.0001], 'amun (default schedule)');
  assert.throws(() => resolveHyperParameters('finetune', 'retain', { schedule: 'exponential' }), /invalid hyper-parameters for unlearner 'finetune'[\s\S]*schedule/);
  assert.throws(() => resolveHyperParameters('amun', 'retain', { stepEpochs: 0 }), /invalid hyper-parameters for unlearner 'amun'[\s\S]*stepEpochs/);
  assert.throws(() => resolveHyperParameters('scrub', 'retain', { stepGamma: -0.1 }), /invalid hyper-parameters for unlearner 'scrub'[\s\S]*stepGamma/);
});
