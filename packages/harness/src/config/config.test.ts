import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'node:test';
import { parseBenchmarkConfig, readBenchmarkConfig, planBenchmark } from '../index.js';
import { readTuningRecord } from '../plan/tuning-record.js';

const valid = {
  name: 'unit',
  dataset: { name: 'cifar10', trainSubset: 1000, testSubset: 200 },
  model: { arch: 'small-cnn' },
  training: { epochs: 2, lr: 0.05 },
  forgetSets: [{ kind: 'random', fraction: 0.1 }],
  methods: [{ name: 'retrain' }, { name: 'finetune', hyperParameters: { epochs: 1 } }],
};

const withChange = (patch: (c: Record<string, unknown>) => void): Record<string, unknown> => {
  const c = structuredClone(valid) as Record<string, unknown>;
  patch(c);
  return c;
};

test('a valid config gets its documented defaults', () => {
  const config = parseBenchmarkConfig(valid);
  assert.equal(config.training.batchSize, 128);
  assert.equal(config.training.momentum, 0.9);
  assert.equal(config.training.weightDecay, 5e-4);
  assert.deepEqual(config.seeds, [0]);
  assert.equal(config.setting, 'retain');
  assert.deepEqual(config.methods[1]!.hyperParameters, { epochs: 1, lr: 0.01, momentum: 0.9, weightDecay: 5e-4, batchSize: 128, schedule: 'constant', stepEpochs: 1, stepGamma: 0.1 });
});

test('errors name the field and the reason', () => {
  assert.throws(() => parseBenchmarkConfig(withChange((c) => delete c.training)), /not a valid benchmark config[\s\S]*training/);
  assert.throws(() => parseBenchmarkConfig(withChange((c) => ((c.training as Record<string, unknown>).epochs = 'ten'))), /expected number[\s\S]*training\.epochs/);
  assert.throws(() => parseBenchmarkConfig(withChange((c) => ((c.training as Record<string, unknown>).epoch = 3))), /Unrecognized key[\s\S]*"epoch"[\s\S]*training/);
  assert.throws(() => parseBenchmarkConfig(withChange((c) => ((c.forgetSets as Array<Record<string, unknown>>)[0]!.fraction = 1.5))), /forgetSets\[0\]\.fraction/);
  assert.throws(() => parseBenchmarkConfig(withChange((c) => (c.name = 'Has Spaces'))), /lower-case letters[\s\S]*name/);
  assert.throws(() => parseBenchmarkConfig(withChange((c) => (c.model = { arch: 'vgg' }))), /model\.arch/);
  assert.throws(() => parseBenchmarkConfig(withChange((c) => ((c.dataset as Record<string, unknown>).trainSubset = 60000))), /trainSubset is 60000, but CIFAR-10 has 50000/);
});

test('strings that become paths are checked: a label cannot leave the results directory', () => {
  for (const label of ['../../etc/evil', 'a/b', 'x..y', '', 'a\\b', 'é']) {
    assert.throws(() => parseBenchmarkConfig(withChange((c) => (c.methods = [{ name: 'finetune', label }]))), /methods\[0\]\.label/, JSON.stringify(label));
  }
  assert.equal(parseBenchmarkConfig(withChange((c) => (c.methods = [{ name: 'finetune', label: 'finetune-lr0.05+x' }]))).methods[0]!.label, 'finetune-lr0.05+x');
});

test('untrusted strings: benchmark name, method name and description are checked, each error at its field', () => {
  // the benchmark name is the results folder: length, character set and ".." (issue 13)
  for (const name of ['a'.repeat(81), '..', 'a..b', 'a/b', '../x', 'x\u0000', '']) {
    assert.throws(() => parseBenchmarkConfig(withChange((c) => (c.name = name))), (err: Error) => err.name === 'ConfigError' && /→ at name/.test(err.message), JSON.stringify(name));
  }
  assert.equal(parseBenchmarkConfig(withChange((c) => (c.name = 'a'.repeat(80)))).name, 'a'.repeat(80));
  assert.throws(() => parseBenchmarkConfig(withChange((c) => (c.name = 'a'.repeat(81)))), /at most 80 characters[\s\S]*→ at name/);
  // a method name is the default label, so it is path-safe before the registry is even asked
  for (const name of ['../finetune', 'fine tune', 'finetune\n', 'x'.repeat(81)]) {
    assert.throws(() => parseBenchmarkConfig(withChange((c) => (c.methods = [{ name }]))), /→ at methods\[0\]\.name/, JSON.stringify(name));
  }
  // free text: no control characters, no bidirectional overrides (it is printed in terminals and pages)
  for (const [description, why] of [['ok\u001b[31mred', /control character U\+001B/], ['a\u202eb', /bidirectional-control character U\+202E/], ['\u2066x\u2069', /U\+2066/], ['x'.repeat(2001), /at most 2000/]] as const) {
    assert.throws(() => parseBenchmarkConfig(withChange((c) => (c.description = description))), (err: Error) => why.test(err.message) && /→ at description/.test(err.message), JSON.stringify(description).slice(0, 40));
  }
  assert.equal(parseBenchmarkConfig(withChange((c) => (c.description = 'Table 1 <b>&amp;</b>\n\tsecond line, “quotes”, 日本語'))).description, 'Table 1 <b>&amp;</b>\n\tsecond line, “quotes”, 日本語');
});

test('method errors name the entry, the method and the bad hyper-parameter', () => {
  assert.throws(() => parseBenchmarkConfig(withChange((c) => (c.methods = [{ name: 'amn' }]))), /methods\[0\] \(amn\): unknown unlearner 'amn'; known: .*finetune/);
  assert.throws(
    () => parseBenchmarkConfig(withChange((c) => (c.methods = [{ name: 'finetune', hyperParameters: { lr: 'fast' } }]))),
    /methods\[0\] \(finetune\): invalid hyper-parameters for unlearner 'finetune':[\s\S]*lr/,
  );
  assert.throws(() => parseBenchmarkConfig(withChange((c) => (c.methods = [{ name: 'finetune' }, { name: 'finetune' }]))), /'finetune' appears twice; give one of them a distinct "label"/);
  assert.throws(() => parseBenchmarkConfig(withChange((c) => (c.setting = 'forget-only'))), /retrain.*does not support the 'forget-only' setting/);
});

test('config files: missing file and broken JSON are clear errors', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lethe-config-'));
  assert.throws(() => readBenchmarkConfig(path.join(dir, 'nope.json')), /config file '.*nope\.json' does not exist/);
  fs.writeFileSync(path.join(dir, 'bad.json'), '{"name": ');
  assert.throws(() => readBenchmarkConfig(path.join(dir, 'bad.json')), /config file '.*bad\.json' is not valid JSON/);
  fs.rmSync(dir, { recursive: true });
});

test('the plan: model cache keys depend only on what determines each model', () => {
  const a = planBenchmark(parseBenchmarkConfig(valid));
  const b = planBenchmark(parseBenchmarkConfig(withChange((c) => ((c.methods as Array<Record<string, unknown>>)[1]!.hyperParameters = { epochs: 2 }))));
  const c = planBenchmark(parseBenchmarkConfig(withChange((c) => ((c.training as Record<string, unknown>).lr = 0.1))));
  const d = planBenchmark(parseBenchmarkConfig(withChange((c) => (c.forgetSets = [{ kind: 'random', fraction: 0.5 }]))));
  // another fine-tuning setting: same original and gold models, same retrain cell, different finetune cell
  assert.equal(a.groups[0]!.originalKey, b.groups[0]!.originalKey);
  assert.equal(a.groups[0]!.goldKey, b.groups[0]!.goldKey);
  assert.equal(a.groups[0]!.cells[0]!.cellHash, b.groups[0]!.cells[0]!.cellHash);
  assert.notEqual(a.groups[0]!.cells[1]!.cellHash, b.groups[0]!.cells[1]!.cellHash);
  // another recipe: another original model
  assert.notEqual(a.groups[0]!.originalKey, c.groups[0]!.originalKey);
  // another forget set: same original, another gold
  assert.equal(a.groups[0]!.originalKey, d.groups[0]!.originalKey);
  assert.notEqual(a.groups[0]!.goldKey, d.groups[0]!.goldKey);
  assert.equal(d.groups[0]!.forgetSetId, 'random-50pct');
});

test('every benchmark config shipped in benchmarks/ is valid', async () => {
  const { fileURLToPath } = await import('node:url');
  const dir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../../benchmarks');
  const json = fs.readdirSync(dir).filter((f) => f.endsWith('.json'));
  // <config>.tuning.json beside a config is its hyper-parameter search record, not a config: it is checked against
  // the record schema (readTuningRecord throws on an invalid one) and must belong to a shipped config
  const records = json.filter((f) => f.endsWith('.tuning.json'));
  const files = json.filter((f) => !f.endsWith('.tuning.json'));
  assert.ok(files.includes('smoke.json'));
  for (const f of files) readBenchmarkConfig(path.join(dir, f));
  for (const r of records) {
    assert.ok(files.includes(r.replace(/\.tuning\.json$/, '.json')), `${r} has no config beside it`);
    assert.ok(readTuningRecord(path.join(dir, r)), r);
  }
});

test('membership inference settings: SVC only by default, attacks validated, options resolved, reference models planned', () => {
  const config = parseBenchmarkConfig(valid);
  assert.deepEqual(config.evaluation, { batchSize: 256, mia: { attacks: ['svc-mia'], referenceModels: 4, referenceSeed: 0, referenceData: 'train-halves', options: {} } });
  assert.deepEqual(planBenchmark(config).references, []);
  const withRmia = parseBenchmarkConfig(withChange((c) => (c.evaluation = { mia: { attacks: ['svc-mia', 'rmia'], referenceModels: 4, options: { rmia: { gamma: 2 } } } })));
  assert.deepEqual(withRmia.evaluation.mia.options, { rmia: { offlineA: 0.3, gamma: 2 } });
  const mia = (patch: Record<string, unknown>) => withChange((c) => (c.evaluation = { mia: patch }));
  assert.throws(() => parseBenchmarkConfig(mia({ attacks: ['rmai'] })), /evaluation\.mia\.attacks\[0\]: unknown membership attack 'rmai'; known: .*rmia/);
  assert.throws(() => parseBenchmarkConfig(mia({ attacks: ['rmia', 'rmia'] })), /attacks\[1\]: 'rmia' appears twice/);
  assert.throws(() => parseBenchmarkConfig(mia({ attacks: ['svc-mia'], options: { rmia: {} } })), /options for 'rmia', which is not in evaluation\.mia\.attacks \(svc-mia\)/);
  assert.throws(() => parseBenchmarkConfig(mia({ attacks: ['rmia'], options: { rmia: { offlineA: 2 } } })), /evaluation\.mia\.options\.rmia: invalid options for membership attack 'rmia'[\s\S]*offlineA/);
  assert.throws(() => parseBenchmarkConfig(mia({ attacks: ['svc-mia'], primary: 'lira' })), /primary is 'lira', which is not in evaluation\.mia\.attacks/);
  assert.throws(() => parseBenchmarkConfig(mia({ attacks: ['lira'], referenceModels: 3 })), /referenceModels is 3; use an even number/);
  assert.throws(() => parseBenchmarkConfig(mia({ attack: ['lira'] })), /Unrecognized key[\s\S]*"attack"/);

  // reference models: K keys in pairs, shared by seeds, forget sets and methods; another recipe, other models
  const a = planBenchmark(withRmia);
  assert.deepEqual(a.references.map((r) => [r.index, r.pair, r.side]), [[0, 0, 0], [1, 0, 1], [2, 1, 0], [3, 1, 1]]);
  assert.equal(new Set(a.references.map((r) => r.key)).size, 4);
  const otherSeedsAndSets = planBenchmark(parseBenchmarkConfig({ ...structuredClone(withRmia), seeds: [5, 6], forgetSets: [{ kind: 'random', fraction: 0.5 }], methods: [{ name: 'retrain' }] }));
  assert.deepEqual(otherSeedsAndSets.references.map((r) => r.key), a.references.map((r) => r.key));
  const two = planBenchmark(parseBenchmarkConfig({ ...structuredClone(withRmia), evaluation: { mia: { attacks: ['rmia'], referenceModels: 2 } } }));
  assert.deepEqual(two.references.map((r) => r.key), a.references.slice(0, 2).map((r) => r.key));
  const otherRecipe = planBenchmark(parseBenchmarkConfig({ ...structuredClone(withRmia), training: { epochs: 3, lr: 0.05 } }));
  assert.notEqual(otherRecipe.references[0]!.key, a.references[0]!.key);
  // the attacks are part of what a cell's result depends on
  assert.notEqual(a.groups[0]!.cells[0]!.cellHash, planBenchmark(config).groups[0]!.cells[0]!.cellHash);
});
