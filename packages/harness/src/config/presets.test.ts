import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import test from 'node:test';
import { fileURLToPath } from 'node:url';
import { readBenchmarkConfig, planBenchmark, seedTriples, searchPlan, type BenchmarkConfig } from '../index.js';

/**
 * The paper presets against the papers' values, field by field. Every expected value below is a fact recorded in
 * ../shared/REFERENCE.md (quoted beside it); a preset that drifts from its paper fails here.
 */
const benchmarks = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../../benchmarks');
const preset = (name: string): BenchmarkConfig => readBenchmarkConfig(path.join(benchmarks, `${name}.json`));

const AMUN = {
  // "Original and retrained models: ResNet-18, 200 epochs, lr 0.1 decayed x0.1 every 40 epochs."
  model: { arch: 'resnet18', width: 1 },
  training: { epochs: 200, lr: 0.1, schedule: { kind: 'step', everyEpochs: 40, gamma: 0.1 } },
  // "inputs not normalised" (the PGD radius is in [0, 1] pixel space)
  normalize: false,
  // "SGD, momentum 0.9, weight decay 5e-4, batch 128, 10 epochs"; "lr 0.01 with step decay x0.1 after every epoch (StepLR step 1)"
  unlearning: { epochs: 10, batchSize: 128, momentum: 0.9, weightDecay: 5e-4, lr: 0.01, schedule: 'step', stepEpochs: 1, stepGamma: 0.1 },
  // "learning rate searched in [1e-6, 1e-1]"
  lrRange: [1e-6, 1e-1],
  // "Each reported number is a mean of 27 runs: 3 original models x 3 forget sets x 3 unlearning runs."
  runs: { original: 3, forgetSet: 3, unlearning: 3 },
  // "Random 10%" = 5,000 of CIFAR-10's 50,000 training images; Table 1 has random 10% and random 50%
  forgetFractions: [0.1, 0.5],
  // "online, 128 reference models"; "reference models trained 160 epochs on random halves of train+test (60k images)";
  // "the prior Pr(x) averages over all reference models (IN and OUT); gamma 2; signal taylor-soft-margin with temperature 2"
  rmia: { referenceModels: 128, referenceEpochs: 160, referenceData: 'train-test-halves', mode: 'online', gamma: 2, signal: 'taylor-soft-margin', temperature: 2 },
  // GA and BS: "each epoch, a cross-entropy descent pass over D_r first ... BS re-copies its labelling model each epoch"
  // l1-sparse: "alpha 5e-4, multiplied by (2 - 2e/E) at each epoch e of E"
  table1Methods: ['retrain', 'finetune', 'random-label', 'gradient-ascent', 'boundary-shrink', 'l1-sparse', 'salun', 'amun', 'amun-salun'],
  // Table 2: "SalUn/RL/BS ... GA ... AMUN, AMUN+SalUn" with only the forget set
  table2Methods: ['random-label', 'gradient-ascent', 'boundary-shrink', 'salun', 'amun', 'amun-salun'],
};

function checkAmunProtocol(config: BenchmarkConfig): void {
  assert.equal(config.dataset.trainSubset, undefined, 'all 50,000 training images');
  assert.equal(config.dataset.testSubset, undefined, 'all 10,000 test images');
  assert.deepEqual({ arch: config.model.arch, width: config.model.width }, AMUN.model);
  assert.equal(config.model.normalize, AMUN.normalize);
  assert.equal(config.training.epochs, AMUN.training.epochs);
  assert.equal(config.training.lr, AMUN.training.lr);
  assert.deepEqual(config.training.schedule, AMUN.training.schedule);
  assert.deepEqual(config.forgetSets.map((f) => f.fraction), AMUN.forgetFractions);
  assert.ok(!Array.isArray(config.seeds));
  const seeds = config.seeds as { original: number[]; forgetSet: number[]; unlearning: number[] };
  assert.deepEqual({ original: seeds.original.length, forgetSet: seeds.forgetSet.length, unlearning: seeds.unlearning.length }, AMUN.runs);
  assert.equal(seedTriples(config).length, 27);
  const mia = config.evaluation.mia;
  assert.equal(mia.primary, 'rmia');
  assert.ok(mia.attacks.includes('svc-mia'), 'the SVC MIA beside RMIA');
  assert.equal(mia.referenceModels, AMUN.rmia.referenceModels);
  assert.equal(mia.referenceEpochs, AMUN.rmia.referenceEpochs);
  assert.equal(mia.referenceData, AMUN.rmia.referenceData);
  const rmia = mia.options.rmia as Record<string, unknown>;
  assert.deepEqual([rmia.mode, rmia.gamma, rmia.signal, rmia.temperature], [AMUN.rmia.mode, AMUN.rmia.gamma, AMUN.rmia.signal, AMUN.rmia.temperature]);
  assert.deepEqual(config.tuning?.space, { lr: { logUniform: AMUN.lrRange } });
  for (const method of config.methods) {
    if (method.name === 'retrain') continue;
    for (const [field, value] of Object.entries(AMUN.unlearning)) assert.equal(method.hyperParameters[field], value, `${method.name}.${field}`);
    if (method.name === 'boundary-shrink') assert.equal(method.hyperParameters.relabelFrom, 'current-each-epoch');
    if (method.name === 'l1-sparse') assert.deepEqual([method.hyperParameters.gamma, method.hyperParameters.gammaSchedule], [5e-4, 'amun']);
  }
  // the plan: 3 originals shared by the forget sets, a gold model per original x forget set x draw
  const plan = planBenchmark(config);
  assert.equal(new Set(plan.groups.map((g) => g.originalKey)).size, 3);
  assert.equal(new Set(plan.groups.map((g) => g.goldKey)).size, 3 * 3 * AMUN.forgetFractions.length);
  assert.equal(plan.modelSpec.normalization, null, 'the model sees raw [0, 1] pixels');
}

test('amun-table1.json is AMUN\'s Table 1 protocol', () => {
  const config = preset('amun-table1');
  checkAmunProtocol(config);
  assert.equal(config.setting, 'retain');
  assert.deepEqual(config.methods.map((m) => m.name), AMUN.table1Methods);
  assert.equal(config.methods.find((m) => m.name === 'gradient-ascent')!.hyperParameters.retainPass, true);
});

test('amun-table2.json is AMUN\'s Table 2 protocol (forget set only)', () => {
  const config = preset('amun-table2');
  checkAmunProtocol(config);
  assert.equal(config.setting, 'forget-only');
  assert.deepEqual(config.methods.map((m) => m.name), AMUN.table2Methods);
});

test('tmu-cifar10.json: held-out training data kept from every model, TMU as its public code', () => {
  const config = preset('tmu-cifar10');
  // "take held-out data D_h from the same distribution (never seen by the original model)"
  assert.ok(config.dataset.holdout && config.dataset.holdout.count > 0);
  const tmu = config.methods.find((m) => m.name === 'tmu')!;
  assert.equal(tmu.hyperParameters.heldOut, 'train-holdout');
  // "public code: SGD lr 0.01, momentum 0.9, wd 5e-4, batch 64, 5 epochs"
  assert.deepEqual([tmu.hyperParameters.lr, tmu.hyperParameters.momentum, tmu.hyperParameters.weightDecay, tmu.hyperParameters.batchSize, tmu.hyperParameters.epochs], [0.01, 0.9, 5e-4, 64, 5]);
  // "Clip each at 1.5 x IQR ... the public code feeds DF and CF only"; "Adam lr 0.01, 200 epochs"
  assert.deepEqual(tmu.hyperParameters.features, ['DF', 'CF']);
  assert.deepEqual([tmu.hyperParameters.predictorLr, tmu.hyperParameters.predictorEpochs], [0.01, 200]);
  const plan = planBenchmark(config);
  assert.equal(plan.sizes.available, 50_000 - config.dataset.holdout!.count);
});

test('perturbation-cifar10.json: Top-K against Random-k at the same k, with the SPD-GAN degree', () => {
  const config = preset('perturbation-cifar10');
  const ks = (name: string): number[] => config.methods.filter((m) => m.name === name).map((m) => m.hyperParameters.k as number);
  assert.deepEqual(ks('topk-perturbation'), [0.001, 0.01, 0.05, 0.1]);
  assert.deepEqual(ks('randomk-perturbation'), ks('topk-perturbation'));
  assert.ok(config.evaluation.spdGan, 'the SPD-GAN unlearning degree');
  assert.ok(config.methods.some((m) => m.name === 'retrain'));
});

test('every preset plans, and every search candidate is valid for its method (what lethe plan and lethe tune do first)', () => {
  for (const f of fs.readdirSync(benchmarks).filter((f) => f.endsWith('.json') && !f.endsWith('.tuning.json'))) {
    const config = readBenchmarkConfig(path.join(benchmarks, f));
    planBenchmark(config);
    for (const { search, candidates } of searchPlan(config)) assert.ok(candidates.length > 0, `${f}: ${search.entryId}`);
  }
  for (const name of ['amun-table1', 'amun-table2', 'tmu-cifar10', 'perturbation-cifar10', 'cifar10-cpu']) {
    const searches = searchPlan(preset(name));
    assert.ok(searches.length > 0, `${name} searches its methods' hyper-parameters`);
  }
});

test('the CPU reproduction stays within what the issue asks', () => {
  const cpu = preset('cifar10-cpu');
  assert.equal(cpu.dataset.trainSubset, undefined);
  assert.deepEqual(cpu.forgetSets.map((f) => f.fraction), [0.1]);
  assert.ok((cpu.seeds as { original: number[] }).original.length >= 3, 'at least 3 original models');
  assert.ok(cpu.evaluation.mia.referenceModels >= 8);
  assert.equal((cpu.evaluation.mia.options.rmia as Record<string, unknown>).mode, 'online');
  assert.equal(cpu.methods.length, 14, 'all fourteen methods');
  assert.equal(cpu.tuning?.required, true, 'learning rates from lethe tune');
});
