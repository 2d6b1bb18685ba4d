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
