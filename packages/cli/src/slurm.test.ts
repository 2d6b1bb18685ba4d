/**
 * The Slurm executor against a real one-node Slurm cluster (Debian's slurm-wlm and munge, started here the way
 * ../shared/recipes/slurm-single-node.md describes, with the configuration in a temporary SLURM_CONF so nothing of the
 * machine's is touched): a grid submitted as job arrays finishes with the local executor's numbers; a cancelled task
 * loses nothing and the same command finishes the grid without training a model twice; two --shard processes on one
 * cache split a grid. Skipped without slurm-wlm and root (and failed when CI is set: .ci/run installs them).
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'node:test';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const cli = path.join(here, 'main.js');
const has = (bin: string): boolean => spawnSync('sh', ['-c', `command -v ${bin}`]).status === 0;
const available = has('slurmctld') && has('slurmd') && has('munged') && has('sbatch') && process.getuid?.() === 0;
const skip = available ? false : 'needs slurm-wlm and munge (apt-get install slurm-wlm munge) and root';
if (!available && process.env.CI) throw new Error(`the Slurm test cannot run in CI: ${skip}`);

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

interface Cluster {
  env: NodeJS.ProcessEnv;
  dir: string;
  pids: number[];
}

/** Start munged (unless one runs), slurmctld and slurmd on this host, configured in a temporary directory. */
async function startCluster(): Promise<Cluster> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lethe-slurm-'));
  for (const d of ['state', 'spool', 'log']) fs.mkdirSync(path.join(dir, d));
  const pids: number[] = [];
  const mungePid = '/run/munge/munged.pid';
  const mungeRunning = fs.existsSync(mungePid) && spawnSync('kill', ['-0', fs.readFileSync(mungePid, 'utf8').trim()]).status === 0;
  if (!mungeRunning) {
    fs.mkdirSync('/run/munge', { recursive: true });
    execFileSync('chown', ['munge:munge', '/run/munge', '/etc/munge/munge.key']);
    execFileSync('su', ['-s', '/bin/sh', 'munge', '-c', '/usr/sbin/munged']);
    pids.push(Number(fs.readFileSync(mungePid, 'utf8').trim()));
  }
  const host = os.hostname().split('.')[0]!;
  const conf = path.join(dir, 'slurm.conf');
  fs.writeFileSync(
    conf,
    [
      'ClusterName=lethetest',
      `SlurmctldHost=${host}`,
      'SlurmUser=root',
      `StateSaveLocation=${dir}/state`,
      `SlurmdSpoolDir=${dir}/spool`,
      `SlurmctldLogFile=${dir}/log/ctld.log`,
      `SlurmdLogFile=${dir}/log/d.log`,
      `SlurmctldPidFile=${dir}/ctld.pid`,
      `SlurmdPidFile=${dir}/d.pid`,
      'ProctrackType=proctrack/linuxproc',
      'TaskPlugin=task/none',
      'SelectType=select/cons_tres',
      'SelectTypeParameters=CR_Core',
      'MpiDefault=none',
      'ReturnToService=2',
      `NodeName=${host} CPUs=${os.cpus().length} RealMemory=4000 State=UNKNOWN`,
      `PartitionName=debug Nodes=${host} Default=YES MaxTime=INFINITE State=UP`,
      '',
    ].join('\n'),
  );
  const env = { ...process.env, SLURM_CONF: conf };
  execFileSync('/usr/sbin/slurmctld', ['-i'], { env });
  execFileSync('/usr/sbin/slurmd', [], { env });
  for (const f of ['ctld.pid', 'd.pid']) {
    for (let i = 0; i < 50 && !fs.existsSync(path.join(dir, f)); i++) await sleep(100);
    pids.push(Number(fs.readFileSync(path.join(dir, f), 'utf8').trim()));
  }
  // the node comes up idle within seconds
  for (let i = 0; i < 100; i++) {
    const out = spawnSync('sinfo', ['-h', '-o', '%t'], { env, encoding: 'utf8' }).stdout ?? '';
    if (/idle|mix|alloc/.test(out)) return { env, dir, pids };
    await sleep(200);
  }
  throw new Error(`the Slurm node did not come up: ${fs.readFileSync(path.join(dir, 'log', 'ctld.log'), 'utf8').slice(-2000)}`);
}

function stopCluster(cluster: Cluster): void {
  // by the processes' ids, never by a name pattern
  for (const pid of cluster.pids.reverse()) spawnSync('kill', [String(pid)]);
}

function lethe(args: string[], env: NodeJS.ProcessEnv): string {
  const result = spawnSync(process.execPath, [cli, ...args], { env, encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`lethe ${args.join(' ')} exited ${result.status}:\n${result.stderr}\n${result.stdout}`);
  return result.stdout;
}

/** Wait until Slurm has no task of the benchmark queued or running. */
async function drain(env: NodeJS.ProcessEnv, benchmark: string, seconds = 300): Promise<void> {
  for (let i = 0; i < seconds * 2; i++) {
    const out = spawnSync('squeue', ['-h', '-r', '-o', '%j %T'], { env, encoding: 'utf8' }).stdout ?? '';
    if (!out.split('\n').some((l) => l.startsWith(`lethe-${benchmark}-`))) return;
    await sleep(500);
  }
  throw new Error(`Slurm tasks of ${benchmark} still queued after ${seconds} s`);
}

function writeConfig(dir: string, name: string): string {
  const file = path.join(dir, `${name}.json`);
  fs.writeFileSync(
    file,
    JSON.stringify({
      name,
      dataset: { name: 'synthetic', trainSubset: 200, testSubset: 100 },
      model: { arch: 'small-cnn' },
      training: { epochs: 1, batchSize: 50, lr: 0.05, augment: false },
      forgetSets: [{ kind: 'random', fraction: 0.1 }],
      seeds: { original: [0, 1], forgetSet: [0], unlearning: [0] },
      methods: [{ name: 'retrain' }, { name: 'finetune', hyperParameters: { epochs: 1, batchSize: 50 } }],
      evaluation: { mia: { attacks: ['svc-mia'] } },
    }),
  );
  return file;
}

const resultMetrics = (dir: string): Map<string, unknown> =>
  new Map(
    fs
      .readdirSync(dir)
      .filter((f) => f.endsWith('.json'))
      .map((f) => {
        const r = JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as { cellHash: string; metrics: unknown };
        return [r.cellHash, r.metrics];
      }),
  );

/** "training (cache miss: <key>)" lines over a directory of task logs, by key. */
function trainings(logDir: string): Map<string, number> {
  const counts = new Map<string, number>();
  if (!fs.existsSync(logDir)) return counts;
  for (const f of fs.readdirSync(logDir)) {
    for (const m of fs.readFileSync(path.join(logDir, f), 'utf8').matchAll(/training \(cache miss: ([0-9a-f]+)\)/g)) counts.set(m[1]!, (counts.get(m[1]!) ?? 0) + 1);
  }
  return counts;
}

test('Slurm: job arrays per stage give the local executor\'s results; a cancelled task loses nothing; shards split a grid', { skip, timeout: 900_000 }, async () => {
  const cluster = await startCluster();
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'lethe-slurm-grid-'));
  const env = { ...cluster.env, LETHE_BACKEND: process.env.LETHE_BACKEND ?? 'wasm', LETHE_NATIVE_THREADS: '1', LETHE_WASM_THREADS: '1' };
  try {
    // 1. the whole grid as job arrays: models (2 originals, 2 golds), then cells
    const config = writeConfig(work, 'slurmgrid');
    const cache = path.join(work, 'cache');
    const args = (results: string) => ['--results-dir', results, '--cache-dir', cache];
    const dry = lethe(['run', config, ...args(path.join(work, 'results')), '--executor', 'slurm', '--dry-run'], env);
    assert.match(dry, /#SBATCH --array=0-3[\s\S]*#SBATCH --array=0-3/);
    const submitted = lethe(['run', config, ...args(path.join(work, 'results')), '--executor', 'slurm'], env);
    assert.match(submitted, /submitted stage 1-original\+gold: Slurm job \d+ \(4 array task\(s\)\)[\s\S]*submitted stage 2-cell: Slurm job \d+ \(4 array task\(s\)\)/);
    await drain(env, 'slurmgrid');
    const slurmResults = resultMetrics(path.join(work, 'results', 'slurmgrid'));
    assert.equal(slurmResults.size, 4);
    // the local executor, from the same cached models, computes the same numbers
    lethe(['run', config, ...args(path.join(work, 'local'))], env);
    const local = resultMetrics(path.join(work, 'local', 'slurmgrid'));
    assert.deepEqual([...local.keys()].sort(), [...slurmResults.keys()].sort());
    for (const [hash, metrics] of local) assert.deepEqual(slurmResults.get(hash), metrics, `cell ${hash}`);
    assert.match(lethe(['status', config, ...args(path.join(work, 'results'))], env), /cell\s+4 \/\s+0 \/\s+0/);

    // 2. scancel one array task mid-run, then the same command again
    const config2 = writeConfig(work, 'slurmcancel');
    const cache2 = path.join(work, 'cache2');
    const args2 = ['--results-dir', path.join(work, 'results2'), '--cache-dir', cache2];
    const first = lethe(['run', config2, ...args2, '--executor', 'slurm'], env);
    const modelsJob = /submitted stage 1-original\+gold: Slurm job (\d+)/.exec(first)![1]!;
    for (let i = 0; i < 600; i++) {
      const state = spawnSync('squeue', ['-h', '-r', '-j', modelsJob, '-o', '%i %T'], { env, encoding: 'utf8' }).stdout ?? '';
      if (/_0 RUNNING/.test(state)) break;
      await sleep(100);
    }
    execFileSync('scancel', [`${modelsJob}_0`], { env });
    await drain(env, 'slurmcancel');
    // the cells stage never ran (its dependency failed); submitting again finishes the grid
    const again = lethe(['run', config2, ...args2, '--executor', 'slurm'], env);
    assert.match(again, /submitted stage/);
    await drain(env, 'slurmcancel');
    assert.equal(resultMetrics(path.join(work, 'results2', 'slurmcancel')).size, 4);
    const trained = trainings(path.join(cache2, 'slurm', 'slurmcancel', 'logs'));
    assert.equal(trained.size, 4, 'two originals and two gold models');
    // the cancelled task's model may have started once before the cancel and once after; none trained after finishing
    assert.ok([...trained.values()].every((n) => n <= 2));
    assert.equal([...trained.values()].filter((n) => n === 2).length <= 1, true, 'only the cancelled model was trained again');

    // 3. two --shard processes on one cache split a grid
    const config3 = writeConfig(work, 'slurmshards');
    const cache3 = path.join(work, 'cache3');
    const run = (i: number): Promise<string> =>
      new Promise((resolve, reject) => {
        const child = spawn(process.execPath, [cli, 'run', config3, '--results-dir', path.join(work, 'results3'), '--cache-dir', cache3, '--shard', `${i}/2`], { env });
        let err = '';
        child.stderr.on('data', (d) => (err += String(d)));
        child.on('exit', (code) => (code === 0 ? resolve(err) : reject(new Error(`shard ${i}/2 exited ${code}: ${err}`))));
      });
    const logs = await Promise.all([run(1), run(2)]);
    assert.equal(resultMetrics(path.join(work, 'results3', 'slurmshards')).size, 4);
    const keys = logs.flatMap((l) => [...l.matchAll(/training \(cache miss: ([0-9a-f]+)\)/g)].map((m) => m[1]));
    assert.equal(keys.length, 4);
    assert.equal(new Set(keys).size, 4, 'no model trained by both shards');
  } finally {
    stopCluster(cluster);
    fs.rmSync(work, { recursive: true, force: true });
  }
});
