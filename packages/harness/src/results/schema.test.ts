import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'node:test';
import { ResultFileError, checkCellResult, loadResults, readResultFile, type ResultProblem } from './results.js';
import { validResult } from './fixtures.test-util.js';
import { cellStatus, readExistingResult, resultFilePath, retireSupersededResults } from './result-files.js';
import { parseBenchmarkConfig } from '../config/config.js';
import { planBenchmark } from '../plan/plan.js';

type Json = Record<string, unknown>;
const edit = (patch: (r: Json) => void): Json => {
  const r = structuredClone(validResult()) as unknown as Json;
  patch(r);
  return r;
};
const at = (r: Json, keys: string[]): Json => keys.reduce((o, k) => o[k] as Json, r);

/** Each defect of issue 13 as a file, and the field its problem must name. */
const BAD: Array<{ what: string; json: string; field: string; message: RegExp }> = [
  { what: 'a missing metric', json: JSON.stringify(edit((r) => delete at(r, ['metrics']).UA)), field: 'metrics.UA', message: /expected a finite number/ },
  { what: 'a null accuracy', json: JSON.stringify(edit((r) => (at(r, ['metrics']).TA = null))), field: 'metrics.TA', message: /expected a finite number/ },
  { what: 'an accuracy above 100', json: JSON.stringify(edit((r) => (at(r, ['metrics']).UA = 250))), field: 'metrics.UA', message: /<=100/ },
  { what: 'a negative Avg Gap', json: JSON.stringify(edit((r) => (at(r, ['metrics']).avgGap = -3))), field: 'metrics.avgGap', message: />=0/ },
  { what: 'an AUC above 100', json: JSON.stringify(edit((r) => (at(r, ['mia']).ftAuc = 130))), field: 'mia.ftAuc', message: /<=100/ },
  { what: 'an infinite number (1e999)', json: JSON.stringify(validResult()).replace('"RA":99', '"RA":1e999'), field: 'metrics.RA', message: /finite/ },
  { what: 'a string for a number', json: JSON.stringify(edit((r) => (at(r, ['timing']).unlearnSeconds = '10'))), field: 'timing.unlearnSeconds', message: /finite/ },
  { what: 'a fractional seed', json: JSON.stringify(edit((r) => (at(r, ['cell', 'seeds']).original = 0.5))), field: 'cell.seeds.original', message: /expected int/ },
  { what: 'sizes that do not add up', json: JSON.stringify(edit((r) => (at(r, ['sizes']).forget = 5))), field: 'sizes.train', message: /forget \+ retain/ },
  { what: 'another schema version', json: JSON.stringify(edit((r) => (r.schema = 'lethe.result/v2'))), field: 'schema', message: /"lethe\.result\/v2" is not the result schema this Lethe reads \(lethe\.result\/v1\)/ },
  { what: 'no schema', json: JSON.stringify(edit((r) => delete r.schema)), field: 'schema', message: /missing/ },
  { what: 'a control character in the method', json: JSON.stringify(edit((r) => (at(r, ['cell']).method = 'fine\u001b[2Jtune'))), field: 'cell.method', message: /control character U\+001B/ },
  { what: 'a bidi override in the benchmark', json: JSON.stringify(edit((r) => (r.benchmark = 'unit\u202etxt.exe'))), field: 'benchmark', message: /bidirectional-control character U\+202E/ },
  { what: 'a line separator in the forget set', json: JSON.stringify(edit((r) => (at(r, ['cell']).forgetSet = 'a\u2028b'))), field: 'cell.forgetSet', message: /line break/ },
  { what: 'a huge string', json: JSON.stringify(edit((r) => (at(r, ['provenance']).cpus = 'x'.repeat(100_000)))), field: 'provenance.cpus', message: /at most 500/ },
  { what: 'an unknown setting', json: JSON.stringify(edit((r) => (at(r, ['cell']).setting = 'both'))), field: 'cell.setting', message: /retain/ },
  { what: 'an array', json: '[1, 2]', field: '(file)', message: /expected a JSON object, found an array/ },
  { what: 'not JSON', json: '{"schema": "lethe.result/v1", ', field: '(file)', message: /is not valid JSON/ },
];

test('the result schema: every defect of issue 13 is a problem naming the file and the field', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lethe-schema-'));
  assert.deepEqual(checkCellResult(JSON.parse(JSON.stringify(validResult())), 'x.json'), { ok: true, result: JSON.parse(JSON.stringify(validResult())) });
  for (const bad of BAD) {
    const file = path.join(dir, 'bad.json');
    fs.writeFileSync(file, bad.json);
    const read = readResultFile(file);
    assert.equal(read.kind, 'problem', bad.what);
    const problems = (read as { problems: ResultProblem[] }).problems;
    assert.ok(problems.some((p) => p.file === file && p.field === bad.field && bad.message.test(p.message)), `${bad.what}: ${JSON.stringify(problems)}`);
  }
  // another kind of Lethe file is not a result and not a problem
  fs.writeFileSync(path.join(dir, 'record.json'), JSON.stringify({ schema: 'lethe.tuning/v1' }));
  assert.deepEqual(readResultFile(path.join(dir, 'record.json')), { kind: 'other', schema: 'lethe.tuning/v1' });
  fs.rmSync(dir, { recursive: true });
});

test('loadResults: a bad file is reported with its path and field and the rest load; without onProblem it throws naming every file', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lethe-load-'));
  fs.mkdirSync(path.join(dir, 'unit'));
  fs.writeFileSync(path.join(dir, 'unit', 'good.json'), JSON.stringify(validResult()));
  fs.writeFileSync(path.join(dir, 'unit', 'null-ta.json'), BAD[1]!.json);
  fs.writeFileSync(path.join(dir, 'unit', 'v2.json'), BAD.find((b) => b.what === 'another schema version')!.json);
  const problems: ResultProblem[] = [];
  const results = loadResults(dir, { onProblem: (p) => problems.push(p) });
  assert.equal(results.length, 1);
  assert.deepEqual(problems.map((p) => [path.basename(p.file), p.field]), [['null-ta.json', 'metrics.TA'], ['v2.json', 'schema']]);
  assert.throws(
    () => loadResults(dir),
    (err: Error) => err instanceof ResultFileError && err.problems.length === 2 && /null-ta\.json': metrics\.TA: /.test(err.message) && /v2\.json': schema: /.test(err.message),
  );
  fs.rmSync(dir, { recursive: true });
});

test('lethe run reuses a result file only when it passes the schema: an edited one is reported and its cell runs again', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lethe-reuse-'));
  const config = parseBenchmarkConfig({
    name: 'unit',
    dataset: { name: 'cifar10', trainSubset: 1000, testSubset: 200 },
    model: { arch: 'small-cnn' },
    training: { epochs: 1, lr: 0.05 },
    forgetSets: [{ kind: 'random', fraction: 0.1 }],
    methods: [{ name: 'retrain' }, { name: 'finetune' }],
  });
  const plan = planBenchmark(config);
  const [retrain, finetune] = plan.groups[0]!.cells;
  const fileOf = (cell: typeof retrain) => resultFilePath(dir, 'unit', cell!);
  fs.mkdirSync(path.join(dir, 'unit'), { recursive: true });
  fs.writeFileSync(fileOf(retrain), JSON.stringify(validResult({ cellHash: retrain!.cellHash, method: 'retrain' })));
  // the finetune file was edited: an accuracy out of range (before issue 13 it was reused and ranked)
  const edited = validResult({ cellHash: finetune!.cellHash }) as unknown as Json;
  at(edited, ['metrics']).UA = 250;
  fs.writeFileSync(fileOf(finetune), JSON.stringify(edited));
  const problems: ResultProblem[] = [];
  const status = cellStatus(plan, dir, false, (p) => problems.push(p));
  assert.deepEqual([...status.done.keys()], [retrain!.cellHash]);
  assert.deepEqual(status.pending.map((c) => c.cellHash), [finetune!.cellHash]);
  assert.deepEqual(problems.map((p) => [p.file, p.field]), [[fileOf(finetune), 'metrics.UA']]);
  // a valid file of another cell under this cell's name is not reused either
  fs.writeFileSync(fileOf(finetune), JSON.stringify(validResult({ cellHash: 'ffffffffffffffff' })));
  assert.equal(readExistingResult(fileOf(finetune), finetune!.cellHash, (p) => problems.push(p)), null);
  assert.equal(problems.at(-1)!.field, 'cellHash');
  // superseded results: a bad file is left where it is (and reported by whoever reads it), never moved as if valid
  fs.writeFileSync(path.join(dir, 'unit', 'old.json'), JSON.stringify(validResult({ cellHash: 'eeeeeeeeeeeeeeee' })));
  fs.writeFileSync(path.join(dir, 'unit', 'broken.json'), '{');
  retireSupersededResults(dir, plan, () => {});
  assert.ok(fs.existsSync(path.join(dir, 'unit', 'superseded', 'old.json')));
  assert.ok(fs.existsSync(path.join(dir, 'unit', 'broken.json')));
  fs.rmSync(dir, { recursive: true });
});
