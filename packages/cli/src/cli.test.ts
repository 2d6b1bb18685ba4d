import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'node:test';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const main = path.join(here, 'main.js');
const repo = path.resolve(here, '../../..');
const smoke = path.join(repo, 'benchmarks', 'smoke.json');

function lethe(args: string[], env: Record<string, string> = {}): { status: number | null; stdout: string; stderr: string } {
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'lethe-cli-'));
  const { LETHE_BACKEND: _ignored, ...base } = process.env;
  const r = spawnSync(process.execPath, [main, ...args], {
    env: { ...base, LETHE_CACHE: path.join(scratch, 'cache'), INIT_CWD: scratch, ...env },
    encoding: 'utf8',
    timeout: 120_000,
  });
  fs.rmSync(scratch, { recursive: true, force: true });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('forcing a native backend that is not installed fails with how to install it', () => {
  for (const [name, pkg] of [['tensorflow', '@tensorflow/tfjs-node'], ['tensorflow-gpu', '@tensorflow/tfjs-node-gpu']] as const) {
    const r = lethe(['run', smoke], { LETHE_BACKEND: name });
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`'${name}' backend needs ${pkg.replace('/', '\\/')}`));
    assert.match(r.stderr, /not installed or failed to build/);
    assert.match(r.stderr, /pnpm --filter @lethe\/runtime add/);
  }
});

test('an unknown backend name lists the known ones', () => {
  const r = lethe(['run', smoke, '--backend', 'tpu']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /unknown backend 'tpu'; known: tensorflow-gpu, tensorflow, native, wasm, cpu/);
});

test('an invalid config is refused before any work, naming the field', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lethe-cli-config-'));
  const bad = JSON.parse(fs.readFileSync(smoke, 'utf8'));
  bad.training.lr = -1;
  fs.writeFileSync(path.join(dir, 'bad.json'), JSON.stringify(bad));
  const r = lethe(['run', path.join(dir, 'bad.json')]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /not a valid benchmark config[\s\S]*training\.lr/);
  fs.rmSync(dir, { recursive: true });
});

test('methods lists every registered unlearner with its paper', () => {
  const r = lethe(['methods']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^retrain\s+Train from scratch/m);
  assert.match(r.stdout, /^finetune\s+Fine-tune/m);
  assert.match(r.stdout, /paper: /);
});

test('report and leaderboard build: a bad result file is named with its field, the rest is used, and the exit code says so', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lethe-cli-results-'));
  const shipped = path.join(repo, 'leaderboard', 'results', 'cifar10-cpu');
  fs.cpSync(shipped, path.join(dir, 'cifar10-cpu'), { recursive: true });
  const one = fs.readdirSync(shipped).find((f) => f.endsWith('.json'))!;
  const bad = JSON.parse(fs.readFileSync(path.join(shipped, one), 'utf8'));
  bad.metrics.UA = null; // before issue 13: read as 0
  bad.cellHash = 'bad';
  fs.writeFileSync(path.join(dir, 'cifar10-cpu', 'bad.json'), JSON.stringify(bad));
  const report = lethe(['report', dir, '--benchmark', 'cifar10-cpu']);
  assert.equal(report.status, 1, report.stderr);
  assert.match(report.stderr, /skipped: result file '.*cifar10-cpu\/bad\.json': metrics\.UA: expected a finite number, found null/);
  assert.match(report.stdout, /retrain/);
  const out = path.join(dir, 'site');
  const built = lethe(['leaderboard', 'build', dir, '--out', out]);
  assert.equal(built.status, 1, built.stderr);
  assert.match(built.stderr, /skipped: result file '.*bad\.json': metrics\.UA: /);
  assert.match(built.stdout, /1 result file\(s\) left out, listed on the page/);
  assert.match(fs.readFileSync(path.join(out, 'index.html'), 'utf8'), /cifar10-cpu\/bad\.json<\/code>: <code>metrics\.UA<\/code>/);
  fs.rmSync(dir, { recursive: true });
});

test('verify re-runs a published smoke cell and matches it; submit and verify catch a hand-edited copy', () => {
  const dir = path.join(repo, 'leaderboard', 'results', 'smoke');
  const published = fs.readdirSync(dir).filter((f) => f.startsWith('finetune.') && f.endsWith('.json'));
  assert.equal(published.length, 1, `one published finetune cell of the smoke benchmark in ${dir}`);
  const file = path.join(dir, published[0]!);
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'lethe-cli-verify-'));
  const { LETHE_BACKEND: _ignored, LETHE_NATIVE_THREADS: _threads, ...base } = process.env;
  // one model cache for both runs: the first trains the smoke original and gold models, the second reuses them
  const run = (args: string[]) =>
    spawnSync(process.execPath, [main, ...args], { env: { ...base, LETHE_CACHE: path.join(scratch, 'cache'), INIT_CWD: scratch }, encoding: 'utf8', timeout: 900_000 });
  try {
    const ok = run(['verify', file]);
    assert.equal(ok.status, 0, `${ok.stdout}\n${ok.stderr}`);
    // on a machine like the one that published it (same backend, instruction set, threads) every number is identical
    const exact = /expected: identical numbers/.test(ok.stdout);
    assert.match(ok.stdout, exact ? /verified: \d+ field\(s\) identical/ : /verified: \d+ field\(s\) within 2 points/);
    assert.match(ok.stdout, /^\s+metrics\.UA\s+[\d.]+\s+[\d.]+\s+[-\d.e]+\s+(same|within)$/m);

    // the same file with forget accuracy raised by 10 points (its hashes and provenance untouched)
    const edited = JSON.parse(fs.readFileSync(file, 'utf8'));
    edited.metrics.UA += 10;
    const copy = path.join(scratch, 'smoke', published[0]!);
    fs.mkdirSync(path.dirname(copy), { recursive: true });
    fs.writeFileSync(copy, JSON.stringify(edited, null, 2));
    const caught = run(['verify', copy]);
    assert.equal(caught.status, 1, `${caught.stdout}\n${caught.stderr}`);
    assert.match(caught.stdout, /^\s+metrics\.UA\s+[\d.]+\s+[\d.]+\s+-10(\.\d+)?\s+MISMATCH$/m);
    assert.match(caught.stdout, /NOT verified: 1 field\(s\) differ \(metrics\.UA\)/);
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
});

test('submit refuses a result computed with uncommitted changes, naming the file and the reason, and copies nothing', () => {
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'lethe-cli-submit-'));
  try {
    const dir = path.join(repo, 'leaderboard', 'results', 'smoke');
    const name = fs.readdirSync(dir).find((f) => f.startsWith('finetune.'))!;
    const result = JSON.parse(fs.readFileSync(path.join(dir, name), 'utf8'));
    result.provenance.gitCommit = `${result.provenance.gitCommit}+dirty`;
    fs.mkdirSync(path.join(scratch, 'in'));
    fs.writeFileSync(path.join(scratch, 'in', name), JSON.stringify(result));
    const r = lethe(['submit', path.join(scratch, 'in'), '--to', path.join(scratch, 'board')]);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stdout, new RegExp(`REFUSED  .*${name.replace(/\./g, '\\.')}: provenance\\.gitCommit is [0-9a-f]{40}\\+dirty: the run had uncommitted changes`));
    assert.match(r.stdout, /1 of 1 file\(s\) refused; nothing copied/);
    assert.equal(fs.existsSync(path.join(scratch, 'board')), false);
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
});

test('leaderboard build links each benchmark section to its config under --config-base-url', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lethe-cli-site-'));
  const out = path.join(dir, 'site');
  const base = 'https://github.com/someone/lethe/blob/0123abc/benchmarks/';
  const built = lethe(['leaderboard', 'build', path.join(repo, 'leaderboard', 'results'), '--out', out, '--configs-dir', path.join(repo, 'benchmarks'), '--config-base-url', base]);
  assert.equal(built.status, 0, built.stderr);
  const html = fs.readFileSync(path.join(out, 'index.html'), 'utf8');
  assert.ok(html.includes(`<a href="${base}cifar10-cpu.json"><code>benchmarks/cifar10-cpu.json</code></a>`));
  assert.match(html, /<section class="benchmark" id="benchmark-\d" data-benchmark="methods-small">/);
  const refused = lethe(['leaderboard', 'build', path.join(repo, 'leaderboard', 'results'), '--out', out, '--config-base-url', 'data:text/html,x']);
  assert.equal(refused.status, 1);
  assert.match(refused.stderr, /configBaseUrl 'data:text\/html,x' is neither an http\(s\) URL nor a relative path/);
  fs.rmSync(dir, { recursive: true });
});
