import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'node:test';
import { parseBenchmarkConfig } from '../config/config.js';
import { contentHash } from '../config/hash.js';
import { planBenchmark } from '../plan/plan.js';
import { validResult } from './fixtures.test-util.js';
import { checkSubmission, commitProblem, configOfResult, submitResults } from './submission.js';
import type { CellResult } from './results.js';

// a repository with one commit, a benchmarks/ folder holding one config, and a result of one of its cells
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'lethe-submit-'));
const git = (...args: string[]): string => execFileSync('git', args, { cwd: root, encoding: 'utf8' }).trim();
git('init', '-q');
git('-c', 'user.name=t', '-c', 'user.email=t@t', 'commit', '-q', '--allow-empty', '-m', 'first');
const commit = git('rev-parse', 'HEAD');
const configs = path.join(root, 'benchmarks');
fs.mkdirSync(configs);
const raw = {
  name: 'unit-submit',
  dataset: { name: 'synthetic' },
  model: { arch: 'small-cnn', batchNorm: false },
  training: { epochs: 1, batchSize: 32, lr: 0.05 },
  forgetSets: [{ kind: 'random', fraction: 0.1 }],
  seeds: [0],
  methods: [{ name: 'retrain' }, { name: 'finetune', hyperParameters: { epochs: 1, lr: 0.01 } }],
};
fs.writeFileSync(path.join(configs, 'unit-submit.json'), JSON.stringify(raw));
// a file that is not a config, and a search record: both are skipped when configs are looked up
fs.writeFileSync(path.join(configs, 'notes.json'), '{"hello": 1}');
const config = parseBenchmarkConfig(raw, 'test');
const plan = planBenchmark(config);
const cell = plan.groups[0]!.cells.find((c) => c.method === 'finetune')!;

function result(edit: (r: CellResult) => void = () => {}): CellResult {
  const r = validResult({ benchmark: 'unit-submit', cellHash: cell.cellHash, method: 'finetune' });
  r.provenance.configHash = contentHash(config);
  r.provenance.gitCommit = commit;
  r.provenance.dataChecksum = 'synthetic-v1';
  edit(r);
  return r;
}

function write(dir: string, name: string, r: CellResult): string {
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, name);
  fs.writeFileSync(file, JSON.stringify(r, null, 2));
  return file;
}

const options = { configDirs: [configs], repoDir: root };

test("a result is matched to the config whose hash it records, and to its cell in that config's plan", () => {
  const found = configOfResult(result(), [configs]);
  assert.equal(found.file, path.join(configs, 'unit-submit.json'));
  assert.equal(found.cell.cellHash, cell.cellHash);
  assert.equal(found.cell.method, 'finetune');
});

test('a clean result is accepted and copied to <leaderboard>/<benchmark>/, once', () => {
  const incoming = fs.mkdtempSync(path.join(root, 'in-'));
  const board = fs.mkdtempSync(path.join(root, 'board-'));
  const file = write(incoming, 'finetune.json', result());
  const first = submitResults(incoming, board, options);
  assert.deepEqual(first.checks.map((c) => c.problems), [[]]);
  const published = path.join(board, 'unit-submit', 'finetune.json');
  assert.deepEqual(first.copied, [published]);
  assert.equal(fs.readFileSync(published, 'utf8'), fs.readFileSync(file, 'utf8'));
  const again = submitResults(incoming, board, options);
  assert.deepEqual([again.copied, again.unchanged], [[], [published]]);
});

test('each kind of bad provenance is refused with what to do; one refused file copies nothing', () => {
  const cases: Array<{ what: string; edit: (r: CellResult) => void; message: RegExp }> = [
    { what: 'uncommitted changes', edit: (r) => (r.provenance.gitCommit = `${commit}+dirty`), message: /\+dirty: the run had uncommitted changes, code that no commit holds; commit them and run the cell again/ },
    { what: 'no checkout', edit: (r) => (r.provenance.gitCommit = null), message: /gitCommit is null: the run was not made in a git checkout/ },
    { what: 'a commit the repository lacks', edit: (r) => (r.provenance.gitCommit = 'f'.repeat(40)), message: /f{40} is not a commit of the repository at .*; push the commit/ },
    { what: 'an edited config', edit: (r) => (r.provenance.configHash = '0000000000000000'), message: /config hash 0000000000000000 matches no config in .*unit-submit\.json has hash [0-9a-f]{16}, so the config changed since/ },
    { what: 'an unknown benchmark', edit: (r) => (r.benchmark = 'elsewhere'), message: /no config of benchmark 'elsewhere' in .*; add the config to benchmarks\// },
    { what: 'a cell the config does not have', edit: (r) => (r.cellHash = 'aaaaaaaaaaaaaaaa'), message: /cell aaaaaaaaaaaaaaaa \(finetune\) is not a cell of .*unit-submit\.json: its method, hyper-parameters or seeds are not the config's/ },
    { what: 'other data', edit: (r) => (r.provenance.dataChecksum = 'abc'), message: /dataChecksum abc is not synthetic's checksum synthetic-v1: the run did not use the verified data/ },
  ];
  for (const c of cases) {
    const incoming = fs.mkdtempSync(path.join(root, 'in-'));
    const board = fs.mkdtempSync(path.join(root, 'board-'));
    write(incoming, 'a-good.json', result());
    write(incoming, 'b-bad.json', result(c.edit));
    const outcome = submitResults(incoming, board, options);
    assert.deepEqual(outcome.checks[0]!.problems, [], `${c.what}: the good file passes`);
    assert.ok(outcome.checks[1]!.problems.some((p) => c.message.test(p)), `${c.what}: ${outcome.checks[1]!.problems.join(' | ')}`);
    assert.deepEqual(outcome.copied, [], `${c.what}: nothing copied`);
    assert.deepEqual(fs.readdirSync(board), [], `${c.what}: the leaderboard is untouched`);
  }
});

test('a file outside the schema is refused naming its field; a published file is never rewritten', () => {
  const incoming = fs.mkdtempSync(path.join(root, 'in-'));
  write(incoming, 'bad.json', result((r) => ((r.metrics as { UA: unknown }).UA = 'high')));
  const check = checkSubmission(path.join(incoming, 'bad.json'), options);
  assert.equal(check.result, null);
  assert.match(check.problems.join('\n'), /bad\.json': metrics\.UA: expected a finite number, found string/);

  const board = fs.mkdtempSync(path.join(root, 'board-'));
  write(path.join(board, 'unit-submit'), 'finetune.json', result());
  const changed = fs.mkdtempSync(path.join(root, 'in-'));
  write(changed, 'finetune.json', result((r) => (r.metrics.UA = 12)));
  const outcome = submitResults(changed, board, options);
  assert.match(outcome.checks[0]!.problems.join('\n'), /finetune\.json is already published with other content; a published result is not rewritten/);
  assert.equal(JSON.parse(fs.readFileSync(path.join(board, 'unit-submit', 'finetune.json'), 'utf8')).metrics.UA, 91);
});

test('commitProblem accepts only a full commit id the repository holds', () => {
  assert.equal(commitProblem(commit, root), null);
  assert.match(commitProblem(commit.slice(0, 7), root)!, /is not a 40-hex-digit commit id/);
  assert.match(commitProblem('$(rm -rf /)', root)!, /is not a 40-hex-digit commit id/);
});
