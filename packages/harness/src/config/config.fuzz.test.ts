import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'node:test';
import fc from 'fast-check';
import { ConfigError, parseBenchmarkConfig, readBenchmarkConfig } from './config.js';
import { PlanError, planBenchmark } from '../plan/plan.js';
import { resultFilePath } from '../results/result-files.js';
import { FUZZ, UNSAFE_CHARACTERS, adversarialValue, jsonPaths, withValueAt } from '../results/fuzz.test-util.js';

/**
 * Fuzz (issue 13): random and adversarial configs through parsing and planning. Properties: nothing but a ConfigError
 * or a PlanError is ever thrown; a rejection names the file and the field; an accepted config's names are safe in a
 * path and in a terminal, and every result file it plans stays inside the results directory.
 */

const base = {
  name: 'fuzz-bench',
  description: 'A config for fuzzing',
  dataset: { name: 'cifar10', trainSubset: 1000, testSubset: 200, holdout: { count: 100, seed: 1 } },
  model: { arch: 'small-cnn', width: 0.5 },
  training: { epochs: 2, lr: 0.05, batchSize: 64, schedule: { kind: 'step', everyEpochs: 1, gamma: 0.5 } },
  forgetSets: [{ kind: 'random', fraction: 0.1 }],
  seeds: { original: [0], forgetSet: [0, 1], unlearning: [0] },
  methods: [{ name: 'retrain' }, { name: 'finetune', label: 'finetune-fast', hyperParameters: { epochs: 1, lr: 0.01 } }],
  evaluation: { batchSize: 128, mia: { attacks: ['svc-mia'] } },
};
const paths = jsonPaths(base).filter((p) => p.length > 0);
const source = "config file '/configs/fuzz.json'";
const resultsDir = path.resolve('/results');

function checkAccepted(raw: unknown): void {
  let config;
  try {
    config = parseBenchmarkConfig(raw, source);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `not a ConfigError: ${(err as Error).name}: ${(err as Error).message}`);
    assert.ok(err.message.startsWith(source), `the rejection names the file: ${err.message.slice(0, 200)}`);
    assert.ok(!UNSAFE_CHARACTERS.test(err.message.replaceAll('\n', ' ')), `the message is printable: ${JSON.stringify(err.message.slice(0, 300))}`);
    return;
  }
  for (const name of [config.name, ...config.methods.flatMap((m) => [m.name, m.label ?? m.name])]) {
    assert.ok(!UNSAFE_CHARACTERS.test(name) && !name.includes('/') && !name.includes('\\') && !name.includes('..') && name.length <= 80, JSON.stringify(name));
  }
  // eslint-disable-next-line no-control-regex -- matching control characters is the point
  if (config.description !== undefined) assert.ok(!/[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/.test(config.description));
  let plan;
  try {
    plan = planBenchmark(config);
  } catch (err) {
    assert.ok(err instanceof PlanError, `not a PlanError: ${(err as Error).name}: ${(err as Error).message}`);
    return;
  }
  for (const cell of plan.groups.flatMap((g) => g.cells)) {
    const file = resultFilePath(resultsDir, config.name, cell);
    assert.equal(path.dirname(file), path.join(resultsDir, config.name), file);
    assert.ok(!UNSAFE_CHARACTERS.test(path.basename(file)), file);
  }
}

test('fuzz: one field of a valid config replaced by a wrong value', () => {
  fc.assert(
    fc.property(fc.constantFrom(...paths), fc.oneof(adversarialValue, fc.constant(undefined)), (at, value) => {
      const raw = withValueAt(base, at, value);
      try {
        parseBenchmarkConfig(raw, source);
      } catch (err) {
        // the rejection names the field: at least the top-level key the wrong value sits under
        assert.ok((err as Error).message.includes(String(at[0])), `${at.join('.')}: ${(err as Error).message.slice(0, 300)}`);
      }
      checkAccepted(raw);
    }),
    { numRuns: FUZZ.runs(400), seed: FUZZ.seed },
  );
});

test('fuzz: random JSON as a config, and random bytes as a config file', () => {
  fc.assert(fc.property(fc.jsonValue({ maxDepth: 3 }), (raw) => checkAccepted(raw)), { numRuns: FUZZ.runs(200), seed: FUZZ.seed });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lethe-fuzz-config-'));
  const file = path.join(dir, 'config.json');
  fc.assert(
    fc.property(fc.oneof(fc.uint8Array({ maxLength: 200 }), fc.string({ unit: 'binary', maxLength: 200 }).map((s) => Buffer.from(s))), (bytes) => {
      fs.writeFileSync(file, bytes);
      try {
        readBenchmarkConfig(file);
      } catch (err) {
        assert.ok(err instanceof ConfigError && err.message.includes(`'${file}'`), (err as Error).message);
      }
    }),
    { numRuns: FUZZ.runs(200), seed: FUZZ.seed },
  );
  assert.deepEqual(fs.readdirSync(dir), ['config.json'], 'nothing else written');
  fs.rmSync(dir, { recursive: true });
});
