import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'node:test';
import fc from 'fast-check';
import { Model, saveModel, loadModel, savedModelProblem, type ModelSpec } from '@lethe/models';
import { initBackend } from '@lethe/runtime';
import { readHeaderFile, writeHeaderFile } from '@lethe/runtime/files';
import * as tf from '@tensorflow/tfjs-core';
import { parseBenchmarkConfig } from '../config/config.js';
import { planBenchmark } from '../plan/plan.js';
import { loadResults, readResultFile, type CellResult, type ResultProblem } from './results.js';
import { cellStatus, resultFilePath, retireSupersededResults } from './result-files.js';
import { validResult } from './fixtures.test-util.js';
import { FUZZ, UNSAFE_CHARACTERS, adversarialValue, jsonPaths, withValueAt } from './fuzz.test-util.js';

/**
 * Fuzz (issue 13): random and adversarial result files through the reader and `lethe run`'s reuse, and cache entries
 * (model.json, header files) through their checks. Properties: no uncaught exception; nothing written outside the
 * target directory; every rejection names the file and a field; nothing accepted is out of range or unsafe to print;
 * a model that loads computes what was saved.
 */

await initBackend('cpu', { log: () => {} });

/** Every file under `root`, relative to it. */
function filesUnder(root: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const full = path.join(d, e.name);
      if (e.isDirectory()) walk(full);
      else out.push(path.relative(root, full));
    }
  };
  walk(root);
  return out.sort();
}

const config = parseBenchmarkConfig({
  name: 'unit',
  dataset: { name: 'cifar10', trainSubset: 1000, testSubset: 200 },
  model: { arch: 'small-cnn' },
  training: { epochs: 1, lr: 0.05 },
  forgetSets: [{ kind: 'random', fraction: 0.1 }],
  methods: [{ name: 'retrain' }, { name: 'finetune' }],
});
const plan = planBenchmark(config);
const cell = plan.groups[0]!.cells[1]!;
const good = JSON.parse(JSON.stringify(validResult({ cellHash: cell.cellHash }))) as unknown;
const leaves = jsonPaths(good).filter((p) => p.length > 0);

/** A result file's text: one field of a valid result made wrong, raw-number tricks JSON.stringify cannot make, or noise. */
const resultText: fc.Arbitrary<string> = fc.oneof(
  { weight: 6, arbitrary: fc.tuple(fc.constantFrom(...leaves), fc.oneof(adversarialValue, fc.constant(undefined))).map(([at, value]) => JSON.stringify(withValueAt(good, at, value))) },
  { weight: 1, arbitrary: fc.constantFrom('"UA":91', '"RA":99', '"avgGap":2.5', '"unlearnSeconds":10').chain((field) => fc.constantFrom('1e999', '-1e999', '1e-999', '0.0000', '-0').map((raw) => JSON.stringify(good).replace(field, `${field.split(':')[0]}:${raw}`))) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 300 }) },
);

function checkAccepted(r: CellResult): void {
  for (const name of [r.benchmark, r.cell.method, r.cell.label ?? '', r.cell.forgetSet, r.cellHash]) assert.ok(!UNSAFE_CHARACTERS.test(name) && name.length <= 80, JSON.stringify(name).slice(0, 100));
  for (const m of ['UA', 'RA', 'TA'] as const) for (const model of [r.metrics, r.gold, r.original]) assert.ok(Number.isFinite(model[m]) && model[m] >= 0 && model[m] <= 100, `${m}: ${model[m]}`);
  assert.ok(Number.isFinite(r.metrics.avgGap) && r.metrics.avgGap >= 0 && r.metrics.avgGap <= 100);
  assert.ok(r.sizes.forget + r.sizes.retain === r.sizes.train);
}

test('fuzz: result files through readResultFile, loadResults and lethe run\'s reuse (cellStatus, superseded results)', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'lethe-fuzz-results-'));
  const resultsDir = path.join(root, 'results');
  const file = resultFilePath(resultsDir, 'unit', cell);
  fc.assert(
    fc.property(resultText, (text) => {
      fs.rmSync(resultsDir, { recursive: true, force: true });
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.writeFileSync(file, text);
      const read = readResultFile(file);
      if (read.kind === 'problem') {
        assert.ok(read.problems.length > 0);
        for (const p of read.problems) {
          assert.ok(p.file === file && p.field.length > 0 && p.message.length > 0, JSON.stringify(p).slice(0, 300));
          assert.ok(!UNSAFE_CHARACTERS.test(p.field + p.message), `printable: ${JSON.stringify(p).slice(0, 300)}`);
        }
      } else if (read.kind === 'result') checkAccepted(read.result);
      // reuse: done only for a valid result of this very cell; anything else is reported with the file and run again
      const problems: ResultProblem[] = [];
      const status = cellStatus(plan, resultsDir, false, (p) => problems.push(p));
      const reusable = read.kind === 'result' && read.result.cellHash === cell.cellHash;
      assert.equal(status.done.has(cell.cellHash), reusable);
      if (!reusable && read.kind !== 'other') assert.ok(problems.length > 0 && problems.every((p) => p.file === file && p.field.length > 0));
      const loaded: ResultProblem[] = [];
      assert.equal(loadResults(resultsDir, { onProblem: (p) => loaded.push(p) }).length, read.kind === 'result' ? 1 : 0);
      retireSupersededResults(resultsDir, plan, () => {});
      // nothing written outside the results directory; only the file itself (possibly moved to superseded/)
      const files = filesUnder(root);
      assert.ok(files.length === 1 && files[0]!.startsWith(`results${path.sep}unit${path.sep}`), files.join(', '));
    }),
    { numRuns: FUZZ.runs(300), seed: FUZZ.seed },
  );
  fs.rmSync(root, { recursive: true });
});

test('fuzz: edited model.json of a cache entry is refused naming the file, or loads to exactly the saved model', async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'lethe-fuzz-cache-'));
  const spec: ModelSpec = { arch: 'small-cnn', numClasses: 4, inputShape: [8, 8, 3], batchNorm: true, width: 0.25, normalization: { mean: [0.5, 0.5, 0.5], std: [0.2, 0.2, 0.2] } };
  const model = Model.create(spec, 3);
  const x = tf.randomUniform([2, 8, 8, 3], 0, 1, 'float32', 5) as tf.Tensor4D;
  const expected = Array.from(await model.logits(x).data());
  const saved = path.join(root, 'saved');
  await saveModel(model, saved, { role: 'original' }, { cacheKey: 'key' });
  const json = JSON.parse(fs.readFileSync(path.join(saved, 'model.json'), 'utf8')) as unknown;
  const paths = jsonPaths(json).filter((p) => p.length > 0);
  const dir = path.join(root, 'key');
  await fc.assert(
    fc.asyncProperty(fc.constantFrom(...paths), fc.oneof(adversarialValue, fc.constant(undefined), fc.integer({ min: -3, max: 3 })), async (at, value) => {
      fs.rmSync(dir, { recursive: true, force: true });
      fs.cpSync(saved, dir, { recursive: true });
      // an integer nudges a number (an offset, a shape, a mean) rather than replacing it
      const current = at.reduce<unknown>((o, k) => (o as Record<string | number, unknown>)[k], json);
      const replacement = typeof value === 'number' && Number.isInteger(value) && typeof current === 'number' && Math.abs(value) <= 3 ? current + value : value;
      fs.writeFileSync(path.join(dir, 'model.json'), JSON.stringify(withValueAt(json, at, replacement)));
      const problem = savedModelProblem(dir, { spec, cacheKey: 'key' });
      let loaded;
      try {
        loaded = await loadModel(dir, { spec, cacheKey: 'key' });
      } catch (err) {
        assert.ok((err as Error).message.includes(dir), `the error names the entry: ${(err as Error).message.slice(0, 300)}`);
        return;
      }
      assert.equal(problem, null);
      // accepted: the same function as saved, never silently another one
      assert.deepEqual(Array.from(await loaded.model.logits(x).data()), expected, `accepted an edit at ${at.join('.')}`);
      loaded.model.dispose();
    }),
    { numRuns: FUZZ.runs(120), seed: FUZZ.seed },
  );
  assert.deepEqual(fs.readdirSync(root).sort(), ['key', 'saved']);
  x.dispose();
  model.dispose();
  fs.rmSync(root, { recursive: true });
});

test('fuzz: header-plus-body cache files: damaged bytes are an error naming the file or a refusal, never data', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lethe-fuzz-header-'));
  const file = path.join(dir, 'entry.outputs.bin');
  const body = Uint8Array.from({ length: 64 }, (_, i) => i);
  writeHeaderFile(file, { format: 'lethe.reference-outputs/v2', trainCount: 8, testCount: 8 }, body);
  const original = fs.readFileSync(file);
  fc.assert(
    fc.property(fc.nat({ max: original.length - 1 }), fc.integer({ min: 1, max: 255 }), fc.option(fc.nat({ max: original.length }), { nil: undefined }), (at, xor, cut) => {
      const bytes = Buffer.from(original);
      bytes[at] = bytes[at]! ^ xor;
      fs.writeFileSync(file, cut === undefined ? bytes : bytes.subarray(0, cut));
      let read;
      try {
        read = readHeaderFile<{ format: string; trainCount: number }>(file, (h) => h.format === 'lethe.reference-outputs/v2' && h.trainCount === 8);
      } catch (err) {
        assert.ok((err as Error).message.includes(`'${file}'`), (err as Error).message);
        return;
      }
      // refused as another format, or unchanged data (a flipped byte in a JSON string the reader does not use)
      if (read) assert.deepEqual([...read.body], [...body]);
    }),
    { numRuns: FUZZ.runs(300), seed: FUZZ.seed },
  );
  fs.rmSync(dir, { recursive: true });
});
