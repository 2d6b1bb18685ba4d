import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'node:test';
import { z } from 'zod';
import { registerUnlearner, heldOutSet, type UnlearningTask } from '@lethe/core';
import { syntheticImageDataset } from '@lethe/datasets';
import {
  parseBenchmarkConfig,
  planBenchmark,
  runBenchmark,
  tuneBenchmark,
  searchCandidates,
  choose,
  jobGraph,
  formatPlan,
  jobStates,
  readTuningRecord,
  prepareData,
  drawForgetSet,
  referencePool,
  referenceHalf,
  halfMembership,
  TimeBudget,
  parseDuration,
  seedsOf,
  formatResultsTable,
  type BenchmarkData,
} from '../index.js';

/** The harness's stages: seeds, holdout, reference data, time limits, the job graph, and the search. */

const base = {
  name: 'stages',
  dataset: { name: 'cifar10' },
  model: { arch: 'small-cnn' },
  training: { epochs: 1, batchSize: 32, lr: 0.05, augment: false },
  forgetSets: [{ kind: 'random', fraction: 0.2 }],
  methods: [{ name: 'retrain' }, { name: 'finetune', hyperParameters: { epochs: 1, batchSize: 32 } }],
  evaluation: { mia: { attacks: [] } },
};

function syntheticData(train = 100, testCount = 40): BenchmarkData {
  return {
    train: syntheticImageDataset({ count: train, numClasses: 10, height: 32, width: 32, channels: 3, seed: 1 }),
    test: syntheticImageDataset({ count: testCount, numClasses: 10, height: 32, width: 32, channels: 3, seed: 2 }),
    checksum: 'synthetic',
  };
}

// a test double that records the task it was given and returns a copy of the original
const seenTasks: UnlearningTask[] = [];
registerUnlearner({
  name: 'test-records-task',
  description: 'test double: records its task, returns the original unchanged',
  paper: 'none',
  settings: ['retain', 'forget-only'],
  hyperParameters: z.object({ lr: z.number().positive().default(0.01) }).strict(),
  unlearn: async (task) => {
    seenTasks.push(task);
    return task.original.clone();
  },
});

test('seeds: originals shared across forget-set draws, one gold per (original, forget set), unlearning seeds only add cells', () => {
  const plan = planBenchmark(parseBenchmarkConfig({ ...base, seeds: { original: [0, 1], forgetSet: [5, 6], unlearning: [0, 1, 2] } }));
  assert.equal(plan.originals.length, 2);
  assert.equal(plan.groups.length, 4);
  assert.deepEqual(plan.groups.map((g) => [g.seeds.original, g.seeds.forgetSet]), [[0, 5], [0, 6], [1, 5], [1, 6]]);
  // the two forget-set draws of one original share its model; every group has its own gold model
  assert.equal(plan.groups[0]!.originalKey, plan.groups[1]!.originalKey);
  assert.notEqual(plan.groups[0]!.originalKey, plan.groups[2]!.originalKey);
  assert.equal(new Set(plan.groups.map((g) => g.goldKey)).size, 4);
  // 3 unlearning runs x 2 methods per group, each cell its own hash
  assert.equal(plan.groups[0]!.cells.length, 6);
  assert.equal(new Set(plan.groups.flatMap((g) => g.cells.map((c) => c.cellHash))).size, 24);
  // more unlearning runs change no model
  const fewer = planBenchmark(parseBenchmarkConfig({ ...base, seeds: { original: [0, 1], forgetSet: [5, 6], unlearning: [0] } }));
  assert.deepEqual(fewer.groups.map((g) => g.goldKey), plan.groups.map((g) => g.goldKey));
  assert.deepEqual(fewer.groups[0]!.cells.map((c) => c.cellHash), plan.groups[0]!.cells.filter((c) => c.seeds.unlearning === 0).map((c) => c.cellHash));
  // the array form zips: seed s is original s, forget-set draw s and unlearning run s
  const zipped = planBenchmark(parseBenchmarkConfig({ ...base, seeds: [3, 4] }));
  assert.deepEqual(zipped.groups.map((g) => [g.seeds.original, g.seeds.forgetSet, g.cells[0]!.seeds.unlearning]), [[3, 3, 3], [4, 4, 4]]);
  assert.throws(() => parseBenchmarkConfig({ ...base, seeds: { original: [0, 0], forgetSet: [1], unlearning: [0] } }), /seeds\.original lists 0 twice/);
});

test('the forget-set seed alone decides the draw; the unlearning seed reaches the unlearner; cacheDir reaches the task', async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'lethe-stages-'));
  const config = parseBenchmarkConfig({ ...base, methods: [{ name: 'test-records-task' }], seeds: { original: [0], forgetSet: [7, 8], unlearning: [11] } });
  seenTasks.length = 0;
  const options = { resultsDir: path.join(root, 'results'), cacheDir: path.join(root, 'cache'), backend: 'wasm' as const, log: () => {}, interactive: false, data: syntheticData() };
  const summary = await runBenchmark(config, options);
  assert.equal(summary.results.length, 2);
  assert.deepEqual(summary.trained, ['original', 'gold', 'gold']);
  assert.deepEqual(seenTasks.map((t) => t.seed), [11, 11]);
  assert.deepEqual(seenTasks.map((t) => t.cacheDir), [options.cacheDir, options.cacheDir]);
  const draws = [7, 8].map((f) => drawForgetSet(100, { seeds: { forgetSet: f }, forgetSetId: 'random-20pct', forgetFraction: 0.2 }).forget);
  assert.deepEqual(seenTasks.map((t) => [...t.forget]), draws.map((d) => [...d]));
  assert.deepEqual(summary.results.map((r) => seedsOf(r)), [{ original: 0, forgetSet: 7, unlearning: 11 }, { original: 0, forgetSet: 8, unlearning: 11 }]);
  assert.ok(summary.results.every((r) => /\.o0-f[78]-u11\./.test(fs.readdirSync(path.join(options.resultsDir, 'stages')).find((f) => f.includes(r.cellHash))!)));
  fs.rmSync(root, { recursive: true });
});

test('dataset.holdout: no model sees the held-out images, and TMU\'s train-holdout finds exactly them', async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'lethe-holdout-'));
  const config = parseBenchmarkConfig({ ...base, dataset: { name: 'cifar10', holdout: { count: 30, seed: 2 } }, methods: [{ name: 'test-records-task' }] });
  const data = prepareData(config, syntheticData());
  assert.equal(data.holdout.length, 30);
  assert.equal(data.available.length, 70);
  assert.equal(new Set([...data.holdout, ...data.available]).size, 100);
  seenTasks.length = 0;
  const summary = await runBenchmark(config, { resultsDir: path.join(root, 'results'), cacheDir: path.join(root, 'cache'), backend: 'wasm', log: () => {}, interactive: false, data: syntheticData() });
  const task = seenTasks[0]!;
  const held = new Set(data.holdout);
  assert.ok([...task.forget, ...task.retain].every((i) => !held.has(i)), 'forget and retain sets exclude the holdout');
  assert.equal(task.forget.length + task.retain.length, 70);
  assert.equal(task.forget.length, 14); // 20% of the 70 available images
  assert.deepEqual([...heldOutSet(task, { heldOut: 'train-holdout', heldOutFraction: 0.5 }).indices].sort((a, b) => a - b), [...data.holdout]);
  assert.deepEqual(summary.results[0]!.sizes, { train: 70, forget: 14, retain: 56, test: 40, holdout: 30 });
  // sizes are checked when planning, before any model trains
  assert.throws(() => planBenchmark(parseBenchmarkConfig({ ...base, dataset: { name: 'cifar10', trainSubset: 20, holdout: { count: 10 } }, forgetSets: [{ kind: 'random', fraction: 0.04 }] })), /forget set random-4pct of 10 training images would hold 0/);
  assert.throws(() => planBenchmark(parseBenchmarkConfig({ ...base, dataset: { name: 'cifar10', trainSubset: 10, holdout: { count: 9 } } })), /leaving 1; lower holdout\.count/);
  fs.rmSync(root, { recursive: true });
});

test('reference data: online references split training and test images into complementary halves', () => {
  const available = Int32Array.from([0, 1, 2, 4, 5, 6, 7, 9]); // 3 and 8 held out
  const pool = referencePool(available, 6, 'train-test-halves');
  assert.equal(pool.count, 14);
  const a = halfMembership(pool, referenceHalf(pool.count, 0, 0, 0), 10, 6);
  const b = halfMembership(pool, referenceHalf(pool.count, 0, 0, 1), 10, 6);
  for (let i = 0; i < 10; i++) assert.equal(a.trainIn[i]! + b.trainIn[i]!, available.includes(i) ? 1 : 0, `training image ${i}`);
  for (let j = 0; j < 6; j++) assert.equal(a.testIn[j]! + b.testIn[j]!, 1, `test image ${j}`);
  assert.equal([...a.trainIn, ...a.testIn].reduce((s, v) => s + v, 0), 7);
  // offline references never include a test image
  const offline = referencePool(available, 6, 'train-halves');
  assert.equal(offline.count, 8);
  assert.deepEqual([...halfMembership(offline, referenceHalf(offline.count, 0, 0, 0), 10, 6).testIn], [0, 0, 0, 0, 0, 0]);
});

test('time limit: a run stops before a job that would overrun, loses nothing, and the next run finishes it', async () => {
  let clock = 0;
  const lines: string[] = [];
  const budget = new TimeBudget(10, (l) => lines.push(l), () => clock);
  assert.ok(budget.allows('cell', 'a', 4));
  budget.record('cell', 6);
  clock = 5000;
  assert.equal(budget.allows('cell', 'b'), false, '5 s used + 6 s expected > 10 s');
  assert.equal(budget.allows('cell', 'c', 0), false, 'once stopped, stays stopped');
  assert.match(lines.join('\n'), /not starting b \(expected to take 6 s\)/);
  assert.deepEqual([parseDuration('2.5h'), parseDuration('90m'), parseDuration('600')], [9000, 5400, 600]);
  assert.throws(() => parseDuration('soon'), /not a duration; write e\.g\. 2\.5h/);

  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'lethe-limit-'));
  const config = parseBenchmarkConfig(base);
  const options = { resultsDir: path.join(root, 'results'), cacheDir: path.join(root, 'cache'), backend: 'wasm' as const, log: () => {}, interactive: false, data: syntheticData() };
  // a temporary file of a writer that is gone (killed between write and rename) is cleaned up on start
  fs.mkdirSync(options.cacheDir, { recursive: true });
  const leftover = path.join(options.cacheDir, `abc.outputs.bin.tmp-${2 ** 22 + 99}`);
  fs.writeFileSync(leftover, 'half');
  const elevenMinutesAgo = Date.now() / 1000 - 11 * 60; // younger leftovers may be another machine's writer at work
  fs.utimesSync(leftover, elevenMinutesAgo, elevenMinutesAgo);
  const stopped = await runBenchmark(config, { ...options, timeLimitSeconds: 1e-6 });
  assert.equal(fs.existsSync(leftover), false);
  assert.equal(stopped.stoppedByTimeLimit, true);
  assert.equal(stopped.remaining, 2);
  assert.deepEqual(stopped.trained, []);
  const finished = await runBenchmark(config, options);
  assert.equal(finished.stoppedByTimeLimit, false);
  assert.equal(finished.remaining, 0);
  assert.deepEqual(finished.trained, ['original', 'gold']);
  fs.rmSync(root, { recursive: true });
});

test('search candidates: grids give every combination, ranges one draw per stratum, the same for the same seed', () => {
  assert.deepEqual(searchCandidates({ lr: { grid: [0.1, 0.01] }, epochs: { grid: [1, 2] } }, 99, 0), [
    { epochs: 1, lr: 0.1 },
    { epochs: 1, lr: 0.01 },
    { epochs: 2, lr: 0.1 },
    { epochs: 2, lr: 0.01 },
  ]);
  const drawn = searchCandidates({ lr: { logUniform: [1e-6, 1e-1] } }, 5, 3);
  assert.deepEqual(drawn, searchCandidates({ lr: { logUniform: [1e-6, 1e-1] } }, 5, 3));
  // five strata of one decade each: exactly one candidate per decade
  const decades = drawn.map((c) => Math.floor(Math.log10(c.lr as number) + 1e-9)).sort((a, b) => a - b);
  assert.deepEqual(decades, [-6, -5, -4, -3, -2]);
  const mixed = searchCandidates({ lr: { logUniform: [1e-3, 1e-1] }, epochs: { grid: [1, 2] } }, 4, 0);
  assert.deepEqual(mixed.map((c) => c.epochs).sort(), [1, 1, 2, 2]);
  assert.deepEqual(choose({ candidates: [{ hyperParameters: { lr: 1 }, avgGap: null, seconds: 1 }, { hyperParameters: { lr: 2 }, avgGap: 3, seconds: 1 }, { hyperParameters: { lr: 3 }, avgGap: 2, seconds: 1 }] }), { index: 2, hyperParameters: { lr: 3 }, avgGap: 2 });
});

test('lethe tune: scores candidates on the validation forget set, resumes, and lethe run uses and records the choice', async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'lethe-tune-'));
  const config = parseBenchmarkConfig({
    ...base,
    seeds: { original: [0], forgetSet: [0], unlearning: [0] },
    tuning: { forgetSetSeed: 9, space: { lr: { grid: [0.001, 0.1] } }, required: true },
  });
  assert.throws(() => parseBenchmarkConfig({ ...base, tuning: { forgetSetSeed: 0 } }), /tuning\.forgetSetSeed is 0, which is also a reported forget-set seed/);
  const recordFile = path.join(root, 'stages.tuning.json');
  const common = { cacheDir: path.join(root, 'cache'), backend: 'wasm' as const, log: () => {}, interactive: false, data: syntheticData() };
  const resultsDir = path.join(root, 'results');

  // before the search: the finetune cell waits for it; retrain runs
  const before = await runBenchmark(config, { ...common, resultsDir });
  assert.equal(before.awaitingSearch, 1);
  assert.deepEqual(before.results.map((r) => r.cell.method), ['retrain']);
  // while cells wait for their search, run trains the models the search needs too (shards share that work)
  assert.deepEqual(before.trained, ['original', 'validation-gold', 'gold']);

  // the search: stopped by the time limit before its first job, then resumed
  const first = await tuneBenchmark(config, { ...common, recordFile, timeLimitSeconds: 1e-6 });
  assert.equal(first.stoppedByTimeLimit, true);
  assert.deepEqual(first.trained, []);
  assert.deepEqual(first.pending, ['finetune@random-20pct']);
  const done = await tuneBenchmark(config, { ...common, recordFile });
  assert.deepEqual(done.pending, []);
  assert.deepEqual(done.trained, [], 'every model the search needs was trained by the run before it');
  const record = readTuningRecord(recordFile)!;
  const search = record.searches['finetune@random-20pct']!;
  assert.equal(search.candidates.length, 2);
  assert.deepEqual(search.candidates.map((c) => c.hyperParameters.lr), [0.001, 0.1]);
  // each candidate's Avg Gap from its stored metrics and the validation gold model's
  for (const c of search.candidates) {
    const hand = ['UA', 'RA', 'TA'].reduce((s, k) => s + Math.abs(c.metrics![k]! - c.gold![k]!), 0) / 3;
    assert.ok(Math.abs(c.avgGap! - hand) < 1e-9);
  }
  const best = search.candidates[0]!.avgGap! <= search.candidates[1]!.avgGap! ? 0 : 1;
  assert.equal(search.chosen!.index, best);
  // the validation group is not a reported one: its gold model is not any reported group's
  const plan = planBenchmark(config, { tuning: record });
  assert.notEqual(plan.validationGroups[0]!.goldKey, plan.groups[0]!.goldKey);
  assert.equal(plan.validationGroups[0]!.originalKey, plan.groups[0]!.originalKey, 'the search reuses the reported original model');

  // a second tune trains nothing and runs nothing
  const again = await tuneBenchmark(config, { ...common, recordFile });
  assert.equal(again.candidatesRun, 0);
  assert.deepEqual(again.trained, []);

  // lethe run now runs finetune with the chosen lr and says where it came from
  const after = await runBenchmark(config, { ...common, resultsDir, tuning: record });
  assert.deepEqual(after.trained, []);
  const finetune = after.results.find((r) => r.cell.method === 'finetune')!;
  assert.equal(finetune.cell.hyperParameters.lr, search.chosen!.hyperParameters.lr);
  assert.equal(finetune.cell.hyperParameterSource!.kind, 'search');
  assert.equal((finetune.cell.hyperParameterSource as { candidates: number }).candidates, 2);

  // the plan lists every job and knows which are done
  const jobs = jobGraph(plan);
  assert.deepEqual(
    ['original', 'validation-gold', 'search', 'gold', 'cell'].map((k) => jobs.filter((j) => j.kind === k).length),
    [1, 1, 1, 1, 2],
  );
  const states = jobStates(plan, jobs, { cacheDir: common.cacheDir, resultsDir, tuning: record });
  assert.ok([...states.values()].every((s) => s === 'done'));
  const text = formatPlan(plan, jobs, states, { backend: 'test', trainImagesPerSecond: 100, inferenceImagesPerSecond: 1000, method: 'given' });
  assert.match(text, /1 original\(s\) x 1 forget-set draw\(s\) x 1 unlearning run\(s\) = 1 run\(s\) per method/);
  assert.match(text, /hyper-parameter searches\s+1\s+1\s+0\s+0\s+0 s/);
  fs.rmSync(root, { recursive: true });
});

test('the plan\'s work: each model trains epochs x its images; a search runs each candidate once', () => {
  const config = parseBenchmarkConfig({
    ...base,
    training: { epochs: 3, batchSize: 32, lr: 0.05 },
    seeds: { original: [0, 1], forgetSet: [0], unlearning: [0] },
    evaluation: { mia: { attacks: ['rmia'], referenceModels: 2, referenceData: 'train-test-halves' } },
    tuning: { forgetSetSeed: 4, budget: 3 },
  });
  const plan = planBenchmark(config);
  const jobs = jobGraph(plan);
  const of = (kind: string) => jobs.filter((j) => j.kind === kind);
  // CIFAR-10: 50,000 training images, 10,000 test images; 20% forget set = 10,000
  assert.deepEqual(of('original').map((j) => j.workload.trainImages), [150_000, 150_000]);
  assert.deepEqual(of('gold').map((j) => j.workload.trainImages), [120_000, 120_000]);
  assert.deepEqual(of('reference').map((j) => j.workload.trainImages), [90_000, 90_000]); // 3 x half of 60,000
  // finetune's own workload (1 epoch over D_r: 40,000 images) x 3 candidates
  assert.equal(of('search')[0]!.workload.trainImages, 3 * 40_000);
  assert.equal(of('cell').length, 4);
});

test('online RMIA: references on halves of train + test; results and the table name the mode and K', async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'lethe-online-'));
  const online = { mode: 'online', signal: 'taylor-soft-margin', gamma: 2, population: 'all' };
  assert.throws(
    () => parseBenchmarkConfig({ ...base, evaluation: { mia: { attacks: ['rmia'], referenceModels: 2, options: { rmia: online } } } }),
    /options\.rmia\.mode is 'online'[\s\S]*set evaluation\.mia\.referenceData to 'train-test-halves'/,
  );
  const config = parseBenchmarkConfig({ ...base, evaluation: { mia: { attacks: ['svc-mia', 'rmia'], referenceModels: 2, referenceData: 'train-test-halves', options: { rmia: online } } } });
  const summary = await runBenchmark(config, { resultsDir: path.join(root, 'results'), cacheDir: path.join(root, 'cache'), backend: 'wasm', log: () => {}, interactive: false, data: syntheticData() });
  assert.deepEqual(summary.trained, ['reference-0', 'reference-1', 'original', 'gold']);
  for (const r of summary.results) {
    assert.equal(r.mia!.attack, 'rmia');
    assert.equal(r.mia!.mode, 'online');
    assert.equal(r.mia!.byAttack!.rmia!.signal, 'taylor-soft-margin');
    assert.equal(r.mia!.referenceModels, 2);
    assert.ok(r.mia!.ftAuc! >= 0 && r.mia!.ftAuc! <= 100);
  }
  assert.match(formatResultsTable(summary.results).split('\n')[0]!, /FT AUC \(rmia online, K=2\)/);
  fs.rmSync(root, { recursive: true });
});

test('normalize: false: the model sees raw [0, 1] pixels, so AMUN\'s L2 radius is a radius in pixel space', async () => {
  const tf = await import('@tensorflow/tfjs-core');
  const { Model } = await import('@lethe/models');
  const { amunAdversarialSet } = await import('@lethe/core');
  const { initBackend } = await import('@lethe/runtime');
  await initBackend('wasm', { log: () => {} });
  const raw = planBenchmark(parseBenchmarkConfig({ ...base, model: { arch: 'small-cnn', normalize: false } })).modelSpec;
  const normalised = planBenchmark(parseBenchmarkConfig(base)).modelSpec;
  assert.equal(raw.normalization, null);
  assert.ok(normalised.normalization);
  // same weights (same seed); the normalising model equals the raw one applied to (x - mean) / std
  const a = Model.create(raw, 3);
  const b = Model.create(normalised, 3);
  const data = syntheticData(8, 4);
  const x = tf.div(tf.tensor4d(Float32Array.from(data.train.images.subarray(0, 4 * 32 * 32 * 3)), [4, 32, 32, 3]), 255) as import('@tensorflow/tfjs-core').Tensor4D;
  const { mean, std } = normalised.normalization!;
  const standardised = tf.div(tf.sub(x, tf.tensor1d(mean)), tf.tensor1d(std)) as import('@tensorflow/tfjs-core').Tensor4D;
  const [la, lb, lraw] = [a.logits(standardised), b.logits(x), a.logits(x)];
  assert.ok(tf.max(tf.abs(tf.sub(la, lb))).dataSync()[0]! < 1e-4);
  assert.ok(tf.max(tf.abs(tf.sub(lraw, lb))).dataSync()[0]! > 1e-3, 'without normalisation the raw model computes another function');
  // AMUN's adversarial examples on the raw model: perturbations within the radius, in [0, 1] pixel units
  const set = await amunAdversarialSet(a, data.train, Int32Array.from([0, 1, 2, 3]), { steps: 5, maxDoublings: 6 });
  for (let i = 0; i < 4; i++) {
    let squared = 0;
    for (let p = 0; p < 32 * 32 * 3; p++) {
      const adv = set.images[i * 3072 + p]!;
      assert.ok(adv >= 0 && adv <= 1, 'pixels stay in [0, 1]');
      squared += (adv - data.train.images[i * 3072 + p]! / 255) ** 2;
    }
    assert.ok(Math.sqrt(squared) <= set.eps[i]! * (1 + 1e-5), `sample ${i}: ||delta||_2 = ${Math.sqrt(squared)} > eps ${set.eps[i]}`);
  }
  tf.dispose([x, standardised, la, lb, lraw]);
  a.dispose();
  b.dispose();
});

test('a metric registered with reported: true lands in every result file and summary by name, with no other edit', async () => {
  const { registerMetric } = await import('@lethe/metrics');
  // a throwaway metric: the share of the forget set the model gets right, in [0, 1] (UA / 100, computed on its own)
  registerMetric({
    name: 'test-forget-hit-rate',
    description: 'test double: UA as a fraction',
    unit: 'ratio',
    reported: true,
    compute: async (c) => {
      const { correctness } = await import('@lethe/metrics');
      const hits = await correctness(c.model, c.train, c.forget);
      return hits.reduce((s, v) => s + v, 0) / hits.length;
    },
  });
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'lethe-metric-'));
  const summary = await runBenchmark(parseBenchmarkConfig(base), { resultsDir: path.join(root, 'results'), cacheDir: path.join(root, 'cache'), backend: 'wasm', log: () => {}, interactive: false, data: syntheticData() });
  for (const r of summary.results) assert.ok(Math.abs((r.metrics['test-forget-hit-rate'] as number) - r.metrics.UA / 100) < 1e-12, r.cell.method);
  const { summarizeAcrossSeeds } = await import('../index.js');
  const row = summarizeAcrossSeeds(summary.results).find((s) => s.label === 'finetune')!;
  assert.ok(Math.abs(row.metrics['test-forget-hit-rate']!.mean - summary.results.find((r) => r.cell.method === 'finetune')!.metrics.UA / 100) < 1e-12);
  fs.rmSync(root, { recursive: true });
});

test("artefacts: AMUN's adversarial set is one job per group, shared by amun and amun-salun, computed before their cells and found by them", async () => {
  const config = parseBenchmarkConfig({
    ...base,
    methods: [
      { name: 'retrain' },
      { name: 'amun', hyperParameters: { epochs: 1, batchSize: 32, attackSteps: 3, maxDoublings: 4 } },
      { name: 'amun-salun', hyperParameters: { epochs: 1, batchSize: 32, attackSteps: 3, maxDoublings: 4, lr: 0.02 } },
      { name: 'amun', label: 'amun-wider', hyperParameters: { epochs: 1, batchSize: 32, attackSteps: 3, maxDoublings: 4, initialEps: 0.5 } },
    ],
    seeds: { original: [0], forgetSet: [0, 1], unlearning: [0] },
  });
  const plan = planBenchmark(config);
  const jobs = jobGraph(plan);
  const artefacts = jobs.filter((j) => j.kind === 'artefact');
  // per group (2 forget-set draws): one set for amun and amun-salun (same attack options), one for amun-wider
  assert.equal(artefacts.length, 2 * 2);
  for (const a of artefacts) assert.deepEqual(a.deps, [`original:${plan.groups[0]!.originalKey}`]);
  for (const group of plan.groups) {
    const cellJob = (label: string) => jobs.find((j) => j.id === `cell:${group.cells.find((c) => c.label === label)!.cellHash}`)!;
    const own = (label: string) => cellJob(label).deps.filter((d) => d.startsWith('artefact:'));
    assert.equal(own('amun').length, 1);
    assert.deepEqual(own('amun-salun'), own('amun'));
    assert.notDeepEqual(own('amun-wider'), own('amun'));
    assert.deepEqual(own('retrain'), []);
    // an amun cell's work no longer counts the search; its artefact job does: the plan's 10,000 forget images (20% of
    // CIFAR-10's 50,000) x 3 PGD steps
    assert.equal(jobs.find((j) => j.id === own('amun')[0])!.workload.trainImages, 10_000 * 3);
  }
  assert.match(formatPlan(plan, jobs, new Map(), null), /artefacts \(AMUN sets\)\s+4\s+0/);

  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'lethe-artefacts-'));
  const cacheDir = path.join(root, 'cache');
  const lines: string[] = [];
  const summary = await runBenchmark(config, { resultsDir: path.join(root, 'results'), cacheDir, backend: 'wasm', log: (l) => lines.push(l), interactive: false, data: syntheticData() });
  assert.equal(summary.results.length, 2 * 4);
  // each set computed once (by its job), then found by every cell that uses it
  assert.equal(lines.filter((l) => /amun-adversarial-set: [0-9a-f]{12} computed/.test(l)).length, 4, lines.filter((l) => l.includes('adversarial')).join('\n'));
  assert.equal(lines.filter((l) => /^amun(-salun)?: adversarial set [0-9a-f]{12} \((disk|memory)\)/.test(l)).length, 2 * 3);
  assert.equal(lines.filter((l) => /adversarial set [0-9a-f]{12} \(computed/.test(l)).length, 0, 'no cell computes a set itself');
  const states = jobStates(plan, jobs, { cacheDir, resultsDir: path.join(root, 'results'), tuning: null });
  for (const a of artefacts) assert.equal(states.get(a.id), 'done', a.title);
  fs.rmSync(root, { recursive: true });
});

test('a model architecture registered by a plug-in is validated, planned, trained and cached with no edit in the harness', async () => {
  const tf = await import('@tensorflow/tfjs-core');
  const { registerArchitecture, unregisterArchitecture, createDense, loadModel } = await import('@lethe/models');
  // a throwaway architecture: average-pool the image to (32 / pool)^2 x 3 features, then one dense layer
  registerArchitecture({
    name: 'test-pooled-linear',
    description: 'test double: average pooling, then a dense layer',
    paper: 'none',
    options: z.object({ pool: z.number().int().positive().default(4) }).strict(),
    spec: (o, data) => ({ arch: 'test-pooled-linear', pool: o.pool as number, ...data }),
    network: (spec) => {
      const pool = spec.pool as number;
      const [h, w, c] = spec.inputShape;
      const head = { name: 'dense', inUnits: (h / pool) * (w / pool) * c, outUnits: spec.numClasses };
      return {
        head,
        build: (store, rng) => createDense(store, rng, head),
        features: (_store, x) => tf.reshape(tf.avgPool(x, pool, pool, 'valid'), [x.shape[0], head.inUnits]) as import('@tensorflow/tfjs-core').Tensor2D,
      };
    },
    describe: (spec) => `pooled linear (pool ${String(spec.pool)})`,
    sameFunctionSince: 1,
  });
  try {
    const config = parseBenchmarkConfig({ ...base, model: { arch: 'test-pooled-linear', pool: 8 } });
    assert.deepEqual(config.model, { arch: 'test-pooled-linear', normalize: true, pool: 8 });
    assert.equal(parseBenchmarkConfig({ ...base, model: { arch: 'test-pooled-linear' } }).model.pool, 4, 'the default comes from the architecture');
    const plan = planBenchmark(config);
    assert.equal(plan.modelSpec.arch, 'test-pooled-linear');
    assert.equal(plan.modelSpec.pool, 8);
    assert.match(formatPlan(plan, jobGraph(plan), new Map(), null), /pooled linear \(pool 8\)/);
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'lethe-arch-'));
    const cacheDir = path.join(root, 'cache');
    const summary = await runBenchmark(config, { resultsDir: path.join(root, 'results'), cacheDir, backend: 'wasm', log: () => {}, interactive: false, data: syntheticData() });
    assert.deepEqual(summary.results.map((r) => r.cell.method), ['retrain', 'finetune']);
    const { model, metadata } = await loadModel(path.join(cacheDir, plan.originals[0]!.key));
    assert.equal(model.spec.pool, 8);
    assert.deepEqual(model.params.get('dense.kernel')!.shape, [4 * 4 * 3, 10], '(32 / 8)^2 pixels x 3 channels -> 10 classes');
    assert.deepEqual([...model.params.keys()], ['dense.kernel', 'dense.bias']);
    assert.equal(typeof metadata.trainSeconds, 'number');
    model.dispose();
    fs.rmSync(root, { recursive: true });
  } finally {
    unregisterArchitecture('test-pooled-linear');
  }
  // errors name the field and the choices
  assert.throws(() => parseBenchmarkConfig({ ...base, model: { arch: 'resnet-18' } }), /model\.arch: unknown model architecture 'resnet-18'; known: small-cnn, resnet18/);
  assert.throws(() => parseBenchmarkConfig({ ...base, model: { arch: 'resnet18', width: -1 } }), /config: model\.width: .*(>0|positive|greater)/i);
  assert.throws(() => parseBenchmarkConfig({ ...base, model: { arch: 'resnet18', widht: 2 } }), /config: model: .*widht/);
});

test('cell evaluations come from a registry: membership inference is one, and a throwaway one that runs the method again lands in the result by name', async () => {
  const { registerCellEvaluation, unregisterCellEvaluation, listCellEvaluations, cellEvaluationsFor } = await import('../index.js');
  assert.deepEqual(listCellEvaluations().map((e) => e.name), ['membership', 'spd-gan']);
  assert.deepEqual(cellEvaluationsFor(parseBenchmarkConfig(base)).map((e) => e.name), []);
  assert.deepEqual(cellEvaluationsFor(parseBenchmarkConfig({ ...base, evaluation: { mia: { attacks: ['svc-mia'] } } })).map((e) => e.name), ['membership']);
  // a throwaway evaluation: the method once more with the next unlearning seed; the UA of that second run, by name
  registerCellEvaluation({
    name: 'test-second-run',
    description: 'test double: UA of the method run again with the next seed',
    enabled: () => true,
    async evaluate({ definition, cell, open, isGold, task }) {
      if (isGold) return { fields: {}, metrics: { 'test-second-run-UA': null } };
      const again = await definition.unlearn({ ...task(`${cell.label} (again)`), seed: cell.seeds.unlearning + 1 }, cell.hyperParameters);
      const ua = (await open.evaluate(again, [], { attacks: 'none' })).metrics.UA;
      open.release(again);
      again.dispose();
      return { fields: {}, metrics: { 'test-second-run-UA': ua }, describe: `again: UA ${ua.toFixed(2)}` };
    },
  });
  try {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'lethe-evaluations-'));
    const config = parseBenchmarkConfig({ ...base, evaluation: { mia: { attacks: ['svc-mia'] } } });
    const lines: string[] = [];
    const summary = await runBenchmark(config, { resultsDir: path.join(root, 'results'), cacheDir: path.join(root, 'cache'), backend: 'wasm', log: (l) => lines.push(l), interactive: false, data: syntheticData() });
    const finetune = summary.results.find((r) => r.cell.method === 'finetune')!;
    const retrain = summary.results.find((r) => r.cell.method === 'retrain')!;
    // membership inference still writes its field and its number still enters Avg Gap
    assert.equal(finetune.mia!.attack, 'svc-mia');
    assert.equal(finetune.metrics.MIA, finetune.mia!.efficacy);
    assert.deepEqual(finetune.metrics.avgGapOver, ['UA', 'RA', 'TA', 'MIA']);
    const gap = (['UA', 'RA', 'TA', 'MIA'] as const).reduce((s, k) => s + Math.abs(finetune.metrics[k]! - retrain.metrics[k]!), 0) / 4;
    assert.ok(Math.abs(finetune.metrics.avgGap - gap) < 1e-9);
    // the throwaway evaluation's number, by name: a real second run (seed + 1), within [0, 100]
    const again = finetune.metrics['test-second-run-UA'] as number;
    assert.ok(again >= 0 && again <= 100);
    assert.equal(retrain.metrics['test-second-run-UA'], null);
    assert.ok(lines.some((l) => l.startsWith('finetune: ') && l.includes(`again: UA ${again.toFixed(2)}`)));
    fs.rmSync(root, { recursive: true });
  } finally {
    unregisterCellEvaluation('test-second-run');
  }
});

test('a model training stopped by the time limit at an epoch end is checkpointed, and the next run resumes it to the same model', async () => {
  const { JobRunner, trainingCheckpointDir } = await import('../index.js');
  const { initBackend } = await import('@lethe/runtime');
  const { loadModel } = await import('@lethe/models');
  const backend = await initBackend('wasm', { log: () => {} });
  const config = parseBenchmarkConfig({ ...base, training: { ...base.training, epochs: 3 } });
  const plan = planBenchmark(config);
  const job = jobGraph(plan).find((j) => j.kind === 'original')!;
  const key = plan.originals[0]!.key;
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'lethe-resume-'));
  const data = syntheticData();
  const lines: string[] = [];
  const runner = (cacheDir: string, stopTraining?: () => boolean) => new JobRunner(plan, { cacheDir, log: (l) => lines.push(l), interactive: false, backend, data, ...(stopTraining ? { stopTraining } : {}) });
  // part 1: the limit is reached after the first epoch
  const cache = path.join(root, 'cache');
  assert.equal(await runner(cache, () => true).run(job), 'stopped');
  const state = JSON.parse(fs.readFileSync(path.join(trainingCheckpointDir(cache, key), 'state.json'), 'utf8'));
  assert.equal(state.epochsDone, 1);
  assert.ok(!fs.existsSync(path.join(cache, key, 'model.json')), 'no finished model yet');
  assert.ok(lines.some((l) => /training stopped after epoch 1\/3/.test(l)));
  // part 2: resumes at epoch 2 and finishes; the checkpoint is gone
  assert.equal(await runner(cache).run(job), 'done');
  assert.ok(lines.some((l) => l.includes('resuming from the checkpoint after epoch 1')));
  assert.ok(!fs.existsSync(trainingCheckpointDir(cache, key)));
  // the same model as one uninterrupted training
  const whole = path.join(root, 'whole');
  assert.equal(await runner(whole).run(job), 'done');
  const [a, b] = [await loadModel(path.join(cache, key)), await loadModel(path.join(whole, key))];
  for (const [name, v] of [...a.model.params, ...a.model.state]) assert.deepEqual(await v.data(), await (b.model.params.get(name) ?? b.model.state.get(name))!.data(), name);
  // a damaged checkpoint is not used: the training starts again, and says why
  const broken = path.join(root, 'broken');
  assert.equal(await runner(broken, () => true).run(job), 'stopped');
  fs.appendFileSync(path.join(trainingCheckpointDir(broken, key), 'momentum.bin'), Buffer.from([1, 2, 3, 4]));
  lines.length = 0;
  assert.equal(await runner(broken).run(job), 'done');
  assert.ok(lines.some((l) => /training checkpoint unusable \(.*momentum\.bin has SHA-256 [0-9a-f]{64}, its state\.json records/.test(l)), lines.join('\n'));
  a.model.dispose();
  b.model.dispose();
  fs.rmSync(root, { recursive: true });
});
