import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'node:test';
import { syntheticImageDataset } from '@lethe/datasets';
import { initBackend } from '@lethe/runtime';
import { MIN_SET_IMAGES, PlanError, jobGraph, parseBenchmarkConfig, planBenchmark, plannedCacheBytes, preflight, PreflightError, runBenchmark } from '../index.js';

/** Issue 13: what can be checked is checked before the first model trains. */

await initBackend('cpu', { log: () => {} });

const base = {
  name: 'preflight',
  dataset: { name: 'cifar10', trainSubset: 200, testSubset: 50 },
  model: { arch: 'small-cnn', width: 0.25 },
  training: { epochs: 1, batchSize: 32, lr: 0.05, augment: false },
  forgetSets: [{ kind: 'random', fraction: 0.2 }],
  methods: [{ name: 'retrain' }, { name: 'finetune', hyperParameters: { epochs: 1 } }],
};
const withChange = (patch: Record<string, unknown>) => parseBenchmarkConfig({ ...structuredClone(base), ...patch });

test('degenerate sizes are refused when planning, naming the config field (before issue 13 a 1-image set ran)', () => {
  assert.equal(MIN_SET_IMAGES, 10);
  // 50 training images x 10%: a forget set of 5
  assert.throws(() => planBenchmark(withChange({ dataset: { name: 'cifar10', trainSubset: 50, testSubset: 50 }, forgetSets: [{ kind: 'random', fraction: 0.1 }] })), (err: Error) => err instanceof PlanError && /^forgetSets\[0\]\.fraction: forget set random-10pct of 50 training images would hold 5 image\(s\), fewer than the minimum of 10/.test(err.message));
  // one image: the case
  assert.throws(() => planBenchmark(withChange({ dataset: { name: 'cifar10', trainSubset: 100, testSubset: 50 }, forgetSets: [{ kind: 'random', fraction: 0.2 }, { kind: 'random', fraction: 0.01 }] })), /forgetSets\[1\]\.fraction: .* would hold 1 image\(s\)/);
  // a retain set of 8
  assert.throws(() => planBenchmark(withChange({ dataset: { name: 'cifar10', trainSubset: 20, testSubset: 50 }, forgetSets: [{ kind: 'random', fraction: 0.6 }] })), /forgetSets\[0\]\.fraction: forget set random-60pct leaves a retain set of 8 image\(s\), fewer than the minimum of 10/);
  // a test set of 1
  assert.throws(() => planBenchmark(withChange({ dataset: { name: 'cifar10', trainSubset: 200, testSubset: 1 } })), /dataset\.testSubset: the test set would hold 1 image\(s\), fewer than the minimum of 10/);
  // the minimum itself is fine
  planBenchmark(withChange({ dataset: { name: 'cifar10', trainSubset: 100, testSubset: 10 }, forgetSets: [{ kind: 'random', fraction: 0.1 }] }));
});

test('an unwritable results or cache directory stops lethe run before any model trains, naming the directory', async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'lethe-preflight-'));
  const blocker = path.join(root, 'a-file');
  fs.writeFileSync(blocker, 'not a directory');
  const data = {
    train: syntheticImageDataset({ count: 200, numClasses: 10, height: 32, width: 32, channels: 3, seed: 1 }),
    test: syntheticImageDataset({ count: 50, numClasses: 10, height: 32, width: 32, channels: 3, seed: 2 }),
    checksum: 'synthetic',
  };
  const lines: string[] = [];
  const common = { backend: 'cpu' as const, log: (l: string) => void lines.push(l), interactive: false, data };
  await assert.rejects(
    runBenchmark(withChange({}), { ...common, resultsDir: path.join(blocker, 'results'), cacheDir: path.join(root, 'cache') }),
    (err: Error) => err instanceof PreflightError && err.message.includes(`the results directory '${path.join(blocker, 'results', 'preflight')}' is not writable (ENOTDIR)`) && /--results-dir/.test(err.message),
  );
  await assert.rejects(
    runBenchmark(withChange({}), { ...common, resultsDir: path.join(root, 'results'), cacheDir: path.join(blocker, 'cache') }),
    (err: Error) => err instanceof PreflightError && err.message.includes(`the cache directory '${path.join(blocker, 'cache')}' is not writable`),
  );
  assert.ok(!lines.some((l) => /training/.test(l)), lines.join('\n'));
  assert.ok(!fs.existsSync(path.join(root, 'cache', 'claims')), 'no job was claimed');
  fs.rmSync(root, { recursive: true });
});

test('disk space: the planned cache entries are estimated from the model spec, and a disk without room is refused', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'lethe-preflight-disk-'));
  const plan = planBenchmark(withChange({}));
  const jobs = jobGraph(plan);
  const need = plannedCacheBytes(plan, jobs);
  // one original and one gold model of the width-0.25 small CNN (about 6,000 float32 each) plus model.json, two result files
  const models = jobs.filter((j) => j.kind === 'original' || j.kind === 'gold').length;
  assert.equal(models, 2);
  assert.ok(need.cache > models * 4 * 5000 && need.cache < models * (4 * 20000 + 100 * 1024), String(need.cache));
  assert.equal(need.results, 2 * 64 * 1024);
  const places = { cacheDir: path.join(root, 'cache'), resultsDir: path.join(root, 'results'), jobs };
  preflight(plan, { ...places, freeBytes: () => 1e12 });
  assert.throws(
    () => preflight(plan, { ...places, freeBytes: () => 5 * 1024 * 1024 }),
    (err: Error) => err instanceof PreflightError && err.message.startsWith(`not enough disk space for '${places.cacheDir}' and '${path.join(root, 'results', 'preflight')}': 5.0 MB free`),
  );
  // nothing left to do needs no room
  preflight(plan, { ...places, jobs: [], freeBytes: () => 0 });
  fs.rmSync(root, { recursive: true });
});
