import { ROC_FPR_GRID } from '@lethe/attacks';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'node:test';
import { z } from 'zod';
import { registerUnlearner } from '@lethe/core';
import { syntheticImageDataset } from '@lethe/datasets';
import { parseBenchmarkConfig, runBenchmark, drawForgetSet, formatResultsTable, formatJobTimes, loadResults, resultFilePath, seedsOf, type BenchmarkData } from '../index.js';

const config = parseBenchmarkConfig({
  name: 'e2e',
  dataset: { name: 'cifar10' },
  model: { arch: 'small-cnn', batchNorm: true },
  training: { epochs: 2, batchSize: 32, lr: 0.05, augment: false },
  forgetSets: [{ kind: 'random', fraction: 0.2 }],
  methods: [{ name: 'retrain' }, { name: 'finetune', hyperParameters: { epochs: 1, batchSize: 32 } }],
});

function syntheticData(): BenchmarkData {
  return {
    train: syntheticImageDataset({ count: 120, numClasses: 10, height: 32, width: 32, channels: 3, seed: 1 }),
    test: syntheticImageDataset({ count: 60, numClasses: 10, height: 32, width: 32, channels: 3, seed: 2 }),
    checksum: 'synthetic',
  };
}

test('forget sets: the requested size, disjoint from the retain set, covering the training set, seeded', () => {
  const group = { seeds: { forgetSet: 3 }, forgetSetId: 'random-10pct', forgetFraction: 0.1 };
  const { forget, retain } = drawForgetSet(1000, group);
  assert.equal(forget.length, 100);
  assert.equal(retain.length, 900);
  const all = new Set([...forget, ...retain]);
  assert.equal(all.size, 1000);
  assert.deepEqual(drawForgetSet(1000, group).forget, forget);
  assert.notDeepEqual(drawForgetSet(1000, { ...group, seeds: { forgetSet: 4 } }).forget, forget);
  assert.throws(() => drawForgetSet(5, { ...group, forgetFraction: 0.01 }), /would hold 0/);
});

test('a run writes one result per cell, reuses them on a re-run, and caches its models', async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'lethe-run-'));
  const options = { resultsDir: path.join(root, 'results'), cacheDir: path.join(root, 'cache'), backend: 'wasm' as const, log: () => {}, interactive: false, data: syntheticData() };
  const first = await runBenchmark(config, options);
  assert.deepEqual(first.trained, ['original', 'gold']);
  assert.equal(first.results.length, 2);
  const [retrain, finetune] = first.results;
  assert.equal(retrain!.cell.method, 'retrain');
  // retrain is the gold model: zero gap, by construction
  assert.equal(retrain!.metrics.avgGap, 0);
  assert.deepEqual([retrain!.gold.UA, retrain!.gold.RA, retrain!.gold.TA, retrain!.gold.MIA], [retrain!.metrics.UA, retrain!.metrics.RA, retrain!.metrics.TA, retrain!.metrics.MIA]);
  assert.deepEqual([retrain!.metrics.alignmentGap, retrain!.metrics.activationDistance, retrain!.metrics.klForget, retrain!.metrics.klTest], [0, 0, 0, 0]);
  // the default membership inference: the SVC only, no reference models; MIA joins Avg Gap
  assert.deepEqual(finetune!.metrics.avgGapOver, ['UA', 'RA', 'TA', 'MIA']);
  assert.equal(finetune!.mia!.attack, 'svc-mia');
  assert.equal(finetune!.mia!.referenceModels, 0);
  assert.equal(finetune!.mia!.ftAuc, null);
  assert.equal(finetune!.metrics.MIA, finetune!.mia!.efficacy);
  assert.ok(finetune!.mia!.efficacy! >= 0 && finetune!.mia!.efficacy! <= 100);
  assert.equal(typeof finetune!.original.MIA, 'number');
  // Avg Gap recomputed by hand from the stored numbers
  const hand = (['UA', 'RA', 'TA', 'MIA'] as const).reduce((sum, k) => sum + Math.abs(finetune!.metrics[k]! - finetune!.gold[k]!), 0) / 4;
  assert.ok(Math.abs(finetune!.metrics.avgGap - hand) < 1e-9);
  // the rates and the alignment gap from the stored accuracies
  const { UA, RA } = finetune!.metrics;
  assert.ok(Math.abs(finetune!.metrics.FR! - (finetune!.original.UA - UA) / finetune!.original.UA) < 1e-9);
  assert.ok(Math.abs(finetune!.metrics.MRR! - RA / finetune!.original.RA) < 1e-9);
  assert.ok(Math.abs(finetune!.metrics.alignmentGap! - Math.abs(UA - finetune!.gold.UA)) < 1e-9);
  assert.ok(Math.abs(finetune!.gold.FR! - (finetune!.original.UA - finetune!.gold.UA) / finetune!.original.UA) < 1e-9);
  assert.ok(finetune!.metrics.klTest! > 0 && finetune!.metrics.activationDistance! > 0);
  assert.deepEqual(finetune!.sizes, { train: 120, forget: 24, retain: 96, test: 60 });
  assert.equal(finetune!.provenance.backend.name, 'wasm');
  assert.equal(finetune!.provenance.dataChecksum, 'synthetic');
  // accuracies are percentages of whole samples: UA is k/24 for an integer k
  const forgetHits = (finetune!.metrics.UA * 24) / 100;
  assert.ok(Math.abs(forgetHits - Math.round(forgetHits)) < 1e-9, `UA ${finetune!.metrics.UA} is not k/24`);
  assert.equal(loadResults(options.resultsDir).length, 2);
  assert.equal(fs.readdirSync(path.join(options.resultsDir, 'e2e')).filter((f) => f.includes('.tmp-')).length, 0);
  // the run's time by job kind: one original, one gold, two cells whose unlearning is part of their time
  assert.deepEqual(first.jobTimes.map((t) => [t.kind, t.jobs]), [['original', 1], ['gold', 1], ['cell', 2]]);
  const cells = first.jobTimes.find((t) => t.kind === 'cell')!;
  // retrain's cell reuses the gold model (its recorded time is the gold training's): only finetune unlearns here
  assert.ok(Math.abs(cells.unlearnSeconds! - finetune!.timing.unlearnSeconds) < 1e-9);
  assert.ok(cells.seconds >= cells.unlearnSeconds!);
  assert.match(formatJobTimes(first.jobTimes), /^time by job kind: original 1 job [\d.]+ s; gold 1 job [\d.]+ s; cell 2 jobs [\d.]+ s \(unlearning [\d.]+ s\); total [\d.]+ s$/);

  // re-run: nothing trained, nothing recomputed
  const second = await runBenchmark(config, options);
  assert.equal(second.reused, 2);
  assert.deepEqual(second.trained, []);
  assert.deepEqual(second.jobTimes, []);
  assert.equal(formatJobTimes(second.jobTimes), 'time by job kind: no job ran');
  assert.deepEqual(second.results.map((r) => r.provenance.createdAt), first.results.map((r) => r.provenance.createdAt));

  // one more method on a finished run: the cached original and gold models are loaded, none trained
  const more = parseBenchmarkConfig({ ...structuredClone(config), methods: [...config.methods, { name: 'finetune', label: 'finetune-lr0.05', hyperParameters: { epochs: 1, lr: 0.05, batchSize: 32 } }] });
  const third = await runBenchmark(more, options);
  assert.equal(third.reused, 2);
  assert.deepEqual(third.trained, []);
  assert.equal(third.results.length, 3);

  const table = formatResultsTable(third.results);
  assert.match(table, /\(original\)/);
  assert.match(table, /finetune-lr0\.05/);
  assert.match(table.split('\n')[0]!, /MIA-eff\s+FT AUC/);

  // x retrain: the gold model's cache records the backend it was trained on; same backend, so the ratio is computed
  const goldDir = path.join(options.cacheDir, first.plan.groups[0]!.goldKey);
  const goldJson = path.join(goldDir, 'model.json');
  const saved = JSON.parse(fs.readFileSync(goldJson, 'utf8')) as { metadata: Record<string, unknown> };
  assert.equal(saved.metadata.backend, 'wasm');
  assert.equal(finetune!.timing.retrainBackend, 'wasm');
  assert.equal(finetune!.timing.retrainSeconds, saved.metadata.trainSeconds);
  assert.ok(Math.abs(finetune!.timing.relativeToRetrain! - finetune!.timing.unlearnSeconds / (saved.metadata.trainSeconds as number)) < 1e-12);
  assert.equal(retrain!.timing.relativeToRetrain, 1);
  // the gold model as if cached by a run on another backend: no ratio for the methods run now, one line each
  const rewriteGold = (patch: (metadata: Record<string, unknown>) => void): void => {
    const json = JSON.parse(fs.readFileSync(goldJson, 'utf8')) as { metadata: Record<string, unknown> };
    patch(json.metadata);
    fs.writeFileSync(goldJson, JSON.stringify(json, null, 2));
  };
  rewriteGold((m) => void (m.backend = 'native'));
  const lines: string[] = [];
  const mismatch = await runBenchmark(config, { ...options, force: true, log: (l: string) => void lines.push(l) });
  assert.deepEqual(mismatch.trained, []);
  const [retrainM, finetuneM] = mismatch.results;
  assert.deepEqual([finetuneM!.timing.retrainBackend, finetuneM!.timing.relativeToRetrain], ['native', null]);
  assert.equal(finetuneM!.timing.retrainSeconds, saved.metadata.trainSeconds);
  assert.deepEqual(lines.filter((l) => l.startsWith('x retrain:')), [
    `x retrain: not computed for finetune: the gold model was trained on native, this run uses wasm (to compare, delete the cached gold model ${goldDir} and run again with --force to retrain it on wasm, or run with --backend native --force)`,
  ]);
  // retrain's time is the gold model's own: one backend on both sides
  assert.deepEqual([retrainM!.timing.retrainBackend, retrainM!.timing.relativeToRetrain], ['native', 1]);
  const finetuneRow = formatResultsTable(mismatch.results).split('\n').find((l) => l.startsWith('finetune '))!;
  assert.equal(finetuneRow.trim().split(/\s+/).at(-1), '-');
  // a gold model cached before the backend was recorded: loads, backend unknown, no ratio
  rewriteGold((m) => void delete m.backend);
  lines.length = 0;
  const old = await runBenchmark(config, { ...options, force: true, log: (l: string) => void lines.push(l) });
  assert.deepEqual(old.trained, []);
  for (const r of old.results) assert.deepEqual([r.timing.retrainBackend, r.timing.relativeToRetrain], [null, null]);
  assert.deepEqual(lines.filter((l) => l.startsWith('x retrain:')).map((l) => l.split(':')[1]), [' not computed for retrain', ' not computed for finetune']);
  assert.ok(lines.some((l) => /^x retrain: not computed for finetune: the gold model's training backend was not recorded/.test(l)));
  fs.rmSync(root, { recursive: true });
});

test('reference-model attacks: reference models trained once, cached with their signals, shared, and stated in results', async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'lethe-mia-'));
  const lines: string[] = [];
  const options = { resultsDir: path.join(root, 'results'), cacheDir: path.join(root, 'cache'), backend: 'wasm' as const, log: (l: string) => void lines.push(l), interactive: false, data: syntheticData() };
  const withRmia = parseBenchmarkConfig({
    ...structuredClone(config),
    name: 'e2e-mia',
    training: { epochs: 1, batchSize: 32, lr: 0.05, augment: false },
    methods: [{ name: 'retrain' }, { name: 'finetune', hyperParameters: { epochs: 1, batchSize: 32 } }],
    evaluation: { mia: { attacks: ['svc-mia', 'rmia', 'lira'], referenceModels: 2 } },
  });
  const first = await runBenchmark(withRmia, options);
  assert.deepEqual(first.trained, ['reference-0', 'reference-1', 'original', 'gold']);
  const [retrain, finetune] = first.results;
  for (const r of [retrain!, finetune!]) {
    assert.equal(r.mia!.attack, 'rmia');
    assert.equal(r.mia!.referenceModels, 2);
    assert.equal(r.metrics.MIA, r.mia!.ftAuc);
    assert.ok(r.mia!.ftAuc! >= 0 && r.mia!.ftAuc! <= 100);
    assert.equal(typeof r.mia!.efficacy, 'number');
    assert.deepEqual(Object.keys(r.mia!.byAttack!).sort(), ['lira', 'rmia', 'svc-mia']);
    assert.equal(r.mia!.byAttack!.lira!.outReferences, 1);
    // each ROC attack keeps its curve at the FPR grid; at 1% FPR it is the recorded TPR at 1% FPR, at 100% it is 100
    for (const attack of ['rmia', 'lira']) {
      const { roc, tprAt1Fpr } = r.mia!.byAttack![attack]!;
      assert.deepEqual(roc!.fpr, [...ROC_FPR_GRID]);
      assert.equal(roc!.tpr[roc!.fpr.indexOf(1)], tprAt1Fpr);
      assert.equal(roc!.tpr.at(-1), 100);
      assert.ok(roc!.tpr.every((t, i) => i === 0 || t >= roc!.tpr[i - 1]!), 'TPR never falls as FPR grows');
    }
    assert.equal(r.gold.mia!.byAttack!.rmia!.roc!.fpr.length, ROC_FPR_GRID.length, 'the gold model has its curve too');
  }
  assert.ok(lines.some((l) => /reference model 1\/2: training/.test(l)));

  // another method on the finished run: nothing trained, the reference signals come from the cache
  lines.length = 0;
  const more = parseBenchmarkConfig({ ...structuredClone(withRmia), methods: [...withRmia.methods, { name: 'finetune', label: 'finetune-2', hyperParameters: { epochs: 2, batchSize: 32 } }] });
  const second = await runBenchmark(more, options);
  assert.deepEqual(second.trained, []);
  assert.equal(second.reused, 2);
  assert.ok(lines.some((l) => /reference models: 2 loaded \(1 pair of complementary halves of the 120 training images\)/.test(l)));
  assert.ok(!lines.some((l) => /reference model \d\/2: training/.test(l)));
  // four reference models: the first pair is reused, only the second pair is trained
  const four = parseBenchmarkConfig({ ...structuredClone(withRmia), evaluation: { mia: { attacks: ['rmia'], referenceModels: 4 } } });
  const third = await runBenchmark(four, options);
  assert.deepEqual(third.trained, ['reference-2', 'reference-3']);
  assert.equal(third.results[1]!.mia!.referenceModels, 4);
  assert.equal(third.results[1]!.mia!.efficacy, null);
  fs.rmSync(root, { recursive: true });
});

test('a failing method is reported and skipped; the other cells still get their results', async () => {
  registerUnlearner({
    name: 'test-always-fails',
    description: 'test double that throws',
    paper: 'none',
    settings: ['retain'],
    hyperParameters: z.object({}).strict(),
    unlearn: async () => {
      throw new Error('deliberate failure for the test');
    },
  });
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'lethe-fail-'));
  const failing = parseBenchmarkConfig({ ...structuredClone(config), evaluation: { mia: { attacks: [] } }, methods: [{ name: 'test-always-fails' }, { name: 'finetune', hyperParameters: { epochs: 1, batchSize: 32 } }] });
  const summary = await runBenchmark(failing, { resultsDir: path.join(root, 'results'), cacheDir: path.join(root, 'cache'), backend: 'wasm', log: () => {}, interactive: false, data: syntheticData() });
  assert.deepEqual(summary.failures.map((f) => [f.method, f.message]), [['test-always-fails', 'deliberate failure for the test']]);
  assert.deepEqual(summary.results.map((r) => r.cell.method), ['finetune']);
  assert.equal(fs.readdirSync(path.join(root, 'results', 'e2e')).filter((f) => f.startsWith('test-always-fails')).length, 0);
  fs.rmSync(root, { recursive: true });
});

test('results of an earlier version of the config move to superseded/ and are no longer read', async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'lethe-superseded-'));
  const options = { resultsDir: path.join(root, 'results'), cacheDir: path.join(root, 'cache'), backend: 'wasm' as const, log: () => {}, interactive: false, data: syntheticData() };
  const base = { ...structuredClone(config), evaluation: { mia: { attacks: [] } } };
  const first = await runBenchmark(parseBenchmarkConfig(base), options);
  const oldFinetune = first.results.find((r) => r.cell.method === 'finetune')!;
  const changed = parseBenchmarkConfig({ ...base, methods: [{ name: 'retrain' }, { name: 'finetune', hyperParameters: { epochs: 1, batchSize: 32, lr: 0.02 } }] });
  const second = await runBenchmark(changed, options);
  assert.deepEqual(second.trained, []);
  const current = loadResults(options.resultsDir);
  assert.equal(current.length, 2);
  assert.ok(!current.some((r) => r.cellHash === oldFinetune.cellHash));
  const moved = fs.readdirSync(path.join(options.resultsDir, 'e2e', 'superseded'));
  assert.deepEqual(moved, [path.basename(resultFilePath(options.resultsDir, 'e2e', { label: 'finetune', forgetSetId: oldFinetune.cell.forgetSet, seeds: seedsOf(oldFinetune), cellHash: oldFinetune.cellHash }))]);
  fs.rmSync(root, { recursive: true });
});
