import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'node:test';
import { syntheticImageDataset } from '@lethe/datasets';
import { parseBenchmarkConfig, planBenchmark, runBenchmark, formatResultsTable, type BenchmarkData } from '../index.js';

const base = {
  name: 'spd-e2e',
  dataset: { name: 'cifar10' },
  model: { arch: 'small-cnn', batchNorm: false },
  training: { epochs: 2, batchSize: 32, lr: 0.05, augment: false },
  forgetSets: [{ kind: 'random', fraction: 0.2 }],
  methods: [{ name: 'retrain' }, { name: 'finetune', hyperParameters: { epochs: 1, batchSize: 32 } }],
};

function syntheticData(): BenchmarkData {
  return {
    train: syntheticImageDataset({ count: 100, numClasses: 10, height: 32, width: 32, channels: 3, seed: 1 }),
    test: syntheticImageDataset({ count: 40, numClasses: 10, height: 32, width: 32, channels: 3, seed: 2 }),
    checksum: 'synthetic',
  };
}

test('evaluation.spdGan: off by default (cell hashes unchanged), defaults when on, validated', () => {
  const off = parseBenchmarkConfig(structuredClone(base));
  assert.equal(off.evaluation.spdGan, undefined);
  const on = parseBenchmarkConfig({ ...structuredClone(base), evaluation: { spdGan: {} } });
  assert.deepEqual(on.evaluation.spdGan, { eps: 8 / 255, ganEpochs: 10, ganBatchSize: 64, ganLr: 5e-3, signatureWeight: 1, hidden: 16 });
  // a config that does not ask for it hashes as before the option existed (no key in its evaluation)
  assert.equal(planBenchmark(off).groups[0]!.cells[0]!.cellHash, planBenchmark(parseBenchmarkConfig({ ...structuredClone(base), evaluation: { batchSize: 256 } })).groups[0]!.cells[0]!.cellHash);
  assert.notEqual(planBenchmark(off).groups[0]!.cells[1]!.cellHash, planBenchmark(on).groups[0]!.cells[1]!.cellHash);
  assert.throws(() => parseBenchmarkConfig({ ...structuredClone(base), evaluation: { spdGan: { eps: 0 } } }), /eps/);
  assert.throws(() => parseBenchmarkConfig({ ...structuredClone(base), evaluation: { spdGan: { epsilon: 0.1 } } }), /epsilon/);
});

test('a run with spdGan trains and caches the generator and the SPD original, and reports the degree per cell', async () => {
  const config = parseBenchmarkConfig({ ...structuredClone(base), evaluation: { mia: { attacks: [] }, spdGan: { ganEpochs: 1, ganBatchSize: 20, hidden: 4 } } });
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'lethe-spd-run-'));
  const lines: string[] = [];
  const options = { resultsDir: path.join(root, 'results'), cacheDir: path.join(root, 'cache'), backend: 'wasm' as const, log: (l: string) => lines.push(l), interactive: false, data: syntheticData() };
  const first = await runBenchmark(config, options);
  assert.deepEqual(first.failures, []);
  assert.deepEqual(first.trained, ['original', 'gold', 'spd-generator', 'spd-original']);
  const [retrain, finetune] = first.results;
  for (const r of [retrain!, finetune!]) {
    const s = r.spdGan!;
    assert.equal(s.eps, 8 / 255);
    for (const v of [s.degreeAccuracy, s.degreeConfidence, s.retrainDegreeAccuracy, s.retrainDegreeConfidence]) assert.ok(Number.isFinite(v) && Math.abs(v) <= 100);
    // both share the SPD original and the retrained model: one target per group
    assert.equal(s.retrainDegreeAccuracy, retrain!.spdGan!.retrainDegreeAccuracy);
  }
  // both gaps of the SPD original over the retrained model: on G(D_f) (the target degree) and on the clean D_f, whose
  // gold accuracy is the UA the evaluation computed on its own
  for (const r of [retrain!, finetune!]) {
    assert.equal(r.spdGan!.perturbedGap, r.spdGan!.retrainDegreeAccuracy);
    assert.ok(Math.abs(r.spdGan!.cleanGap! - (r.spdGan!.cleanOriginalAccuracy! - r.gold.UA)) < 1e-9);
  }
  assert.match(formatResultsTable(first.results), new RegExp(`${retrain!.spdGan!.perturbedGap!.toFixed(2)} / ${retrain!.spdGan!.cleanGap!.toFixed(2)}`));
  // retrain's degree is the target by construction
  assert.equal(retrain!.spdGan!.degreeAccuracy, retrain!.spdGan!.retrainDegreeAccuracy);
  assert.equal(retrain!.spdGan!.degreeConfidence, retrain!.spdGan!.retrainDegreeConfidence);
  const table = formatResultsTable(first.results);
  assert.match(table.split('\n')[0]!, /Avg Gap\s+SPD deg acc \(retrain\)\s+SPD deg conf \(retrain\)\s+SPD gap G\(Df\) \/ clean Df\s+time/);
  assert.ok(table.includes(`${finetune!.spdGan!.degreeAccuracy.toFixed(2)} (${finetune!.spdGan!.retrainDegreeAccuracy.toFixed(2)})`));
  // a forced re-run loads generator and SPD original from the cache and reproduces the numbers
  const second = await runBenchmark(config, { ...options, force: true });
  assert.deepEqual(second.trained, []);
  assert.ok(lines.some((l) => /SPD-GAN generator: loaded from cache/.test(l)));
  assert.deepEqual(second.results.map((r) => r.spdGan), first.results.map((r) => r.spdGan));
  // without the option, no spdGan field and no column
  const plain = await runBenchmark(parseBenchmarkConfig({ ...structuredClone(base), evaluation: { mia: { attacks: [] } } }), { ...options, resultsDir: path.join(root, 'plain') });
  assert.ok(plain.results.every((r) => r.spdGan === undefined));
  assert.doesNotMatch(formatResultsTable(plain.results), /SPD/);
});
