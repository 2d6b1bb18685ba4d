import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'node:test';
import { syntheticImageDataset } from '@lethe/datasets';
import { executeJobs, fileClaims, ownedJobs, parseShard, TimeBudget, parseBenchmarkConfig, runBenchmark, tuneBenchmark, readTuningRecord, loadResults, type Job, type JobKind, type BenchmarkData } from '../index.js';

const job = (id: string, kind: JobKind, deps: string[] = []): Job => ({ id, kind, title: id, deps, workload: { trainImages: 0, inferenceImages: 0 }, timeClass: kind });

test('shards: i/n parsed with errors that name the form; every n-th job of each kind, every job owned once', () => {
  assert.deepEqual(parseShard('2/3'), { index: 1, count: 3 });
  assert.throws(() => parseShard('3/2'), /i must be between 1 and n/);
  assert.throws(() => parseShard('half'), /'half' is not a shard; write i\/n/);
  const jobs = [job('r0', 'reference'), job('r1', 'reference'), job('r2', 'reference'), job('o0', 'original'), job('o1', 'original'), job('c0', 'cell')];
  const a = ownedJobs(jobs, { index: 0, count: 2 });
  const b = ownedJobs(jobs, { index: 1, count: 2 });
  assert.deepEqual([...a], ['r0', 'r2', 'o0', 'c0']);
  assert.deepEqual([...b], ['r1', 'o1']);
  assert.equal(ownedJobs(jobs, null).size, 6);
});

test('the executor: dependencies first, results before models, waits for other shards, stops at blocked jobs', async () => {
  const done = new Set<string>();
  const order: string[] = [];
  const jobs = [job('r0', 'reference'), job('r1', 'reference'), job('o0', 'original'), job('g0', 'gold'), job('c0', 'cell', ['r0', 'r1', 'o0', 'g0']), job('c1', 'cell', ['o0', 'search']), job('search', 'search')];
  const common = { isDone: (j: Job) => done.has(j.id), log: () => {}, budget: new TimeBudget(null) };
  // one process, search jobs not its own: c1 stays blocked, everything else runs, c0 as soon as it is ready
  const run = async (j: Job) => {
    order.push(j.id);
    done.add(j.id);
    return 'done' as const;
  };
  const result = await executeJobs({ ...common, jobs, runs: (j) => j.kind !== 'search', run, shard: null });
  assert.deepEqual(order, ['r0', 'r1', 'o0', 'g0', 'c0']);
  assert.deepEqual(result.blocked.map((j) => j.id), ['c1']);

  // two shards: shard 2 owns r1 and waits for shard 1's models; it polls until they are done
  done.clear();
  order.length = 0;
  let polls = 0;
  const sleep = async () => {
    polls++;
    // "shard 1" finishes its jobs while shard 2 waits
    for (const id of ['r0', 'o0', 'g0']) done.add(id);
  };
  const jobs2 = jobs.filter((j) => j.id !== 'c1' && j.id !== 'search');
  const second = await executeJobs({ ...common, jobs: jobs2, runs: () => true, run, shard: { index: 1, count: 2 }, sleep, pollSeconds: 0 });
  assert.deepEqual(order, ['r1']);
  assert.equal(polls, 0, 'shard 2 owns no cell, so it has nothing to wait for');
  const third = await executeJobs({ ...common, jobs: [...jobs2, job('c9', 'cell', ['r0'])], runs: () => true, run, shard: { index: 1, count: 2 }, sleep, pollSeconds: 0 });
  assert.ok(polls >= 0 && third.ran.map((j) => j.id).includes('c9'));
  assert.equal(second.stopped, false);
});

test('claims: held by one process at a time, a dead process\'s claim taken over; shards steal each other\'s unclaimed jobs', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lethe-claims-'));
  const claims = fileClaims(dir);
  assert.equal(claims.claim('cell:a'), true);
  assert.equal(claims.claim('cell:a'), false, 'held by a live process (this one)');
  claims.release('cell:a');
  assert.equal(claims.claim('cell:a'), true);
  claims.release('cell:a');
  // a claim left by a process that is gone, on this host
  assert.equal(claims.claim('cell:b'), true);
  const file = fs.readdirSync(dir).find((f) => f.endsWith('.claim'))!;
  const held = JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8')) as { pid: number };
  fs.writeFileSync(path.join(dir, file), JSON.stringify({ ...held, pid: 2 ** 22 + 12345 }));
  assert.equal(claims.claim('cell:b'), true, 'a dead process\'s claim is taken over');
  claims.release('cell:b');

  // two shards, all the slow jobs owned by shard 1: shard 2 steals, every job runs once
  const jobs = Array.from({ length: 8 }, (_, i) => job(`c${i}`, 'cell'));
  const done = new Set<string>();
  const ranBy = new Map<string, number>();
  const shardRun = (index: number) =>
    executeJobs({
      jobs,
      runs: () => true,
      isDone: (j) => done.has(j.id),
      run: async (j) => {
        ranBy.set(j.id, (ranBy.get(j.id) ?? 0) + 1);
        await new Promise((resolve) => setTimeout(resolve, Number(j.id.slice(1)) % 2 === 0 ? 30 : 1));
        done.add(j.id);
        return 'done';
      },
      budget: new TimeBudget(null),
      shard: { index, count: 2 },
      claims,
      log: () => {},
      pollSeconds: 0.005,
    });
  const [first, second] = await Promise.all([shardRun(0), shardRun(1)]);
  assert.deepEqual([...ranBy.values()], new Array(8).fill(1), 'no job ran twice');
  assert.equal(first.ran.length + second.ran.length, 8);
  assert.ok(second.ran.some((j) => Number(j.id.slice(1)) % 2 === 0), 'shard 2 took some of shard 1\'s (slow, even) jobs');
  assert.deepEqual(fs.readdirSync(dir), [], 'every claim released');
  fs.rmSync(dir, { recursive: true });
});

function syntheticData(): BenchmarkData {
  return {
    train: syntheticImageDataset({ count: 100, numClasses: 10, height: 32, width: 32, channels: 3, seed: 1 }),
    test: syntheticImageDataset({ count: 40, numClasses: 10, height: 32, width: 32, channels: 3, seed: 2 }),
    checksum: 'synthetic',
  };
}

test('two shards running at once split a benchmark: every model trained once, every cell written once, same results as one process', async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'lethe-shards-'));
  const config = parseBenchmarkConfig({
    name: 'shards',
    dataset: { name: 'cifar10' },
    model: { arch: 'small-cnn' },
    training: { epochs: 1, batchSize: 32, lr: 0.05, augment: false },
    forgetSets: [{ kind: 'random', fraction: 0.2 }],
    seeds: { original: [0, 1], forgetSet: [0], unlearning: [0] },
    methods: [{ name: 'retrain' }, { name: 'finetune', hyperParameters: { epochs: 1, batchSize: 32 } }],
    evaluation: { mia: { attacks: ['rmia'], referenceModels: 2 } },
    tuning: { forgetSetSeed: 5, space: { lr: { grid: [0.001, 0.01] } }, required: false },
  });
  const shared = { cacheDir: path.join(root, 'cache'), backend: 'wasm' as const, interactive: false, data: syntheticData() };
  const lines: string[][] = [[], []];
  const [a, b] = await Promise.all(
    [0, 1].map((index) => runBenchmark(config, { ...shared, resultsDir: path.join(root, 'results'), shard: { index, count: 2 }, pollSeconds: 0.05, log: (l) => lines[index]!.push(l) })),
  );
  const trained = [...a!.trained, ...b!.trained].sort();
  assert.deepEqual(trained, ['gold', 'gold', 'original', 'original', 'reference-0', 'reference-1']);
  // the shard that finishes last sees every result; the other may have returned before the last was written
  assert.equal(Math.min(a!.remaining, b!.remaining), 0);
  assert.ok(lines.some((l) => l.some((line) => /wait for \d+ job\(s\) of other shards/.test(line))), 'a shard waited for the other');
  const files = fs.readdirSync(path.join(root, 'results', 'shards')).filter((f) => f.endsWith('.json'));
  assert.equal(files.length, 4);
  // the same cells computed by one process from the same caches give the same numbers
  const single = await runBenchmark(config, { ...shared, resultsDir: path.join(root, 'single'), log: () => {} });
  assert.deepEqual(single.trained, []);
  const key = (r: { cellHash: string }) => r.cellHash;
  const byHash = new Map(loadResults(path.join(root, 'results')).map((r) => [key(r), r]));
  for (const r of single.results) assert.deepEqual(r.metrics, byHash.get(key(r))!.metrics, r.cell.label);

  // two shards of the search write one record holding both searches' candidates
  const recordFile = path.join(root, 'shards.tuning.json');
  await Promise.all([0, 1].map((index) => tuneBenchmark(config, { ...shared, recordFile, shard: { index, count: 2 }, log: () => {} })));
  const record = readTuningRecord(recordFile)!;
  assert.deepEqual(Object.keys(record.searches), ['finetune@random-20pct']);
  assert.equal(record.searches['finetune@random-20pct']!.candidates.length, 2);
  fs.rmSync(root, { recursive: true });
});
