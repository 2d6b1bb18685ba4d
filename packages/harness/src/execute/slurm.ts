import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { Plan } from '../plan/plan.js';
import type { Job } from '../plan/jobs.js';

/**
 * The Slurm executor: a benchmark's pending jobs as one job array per stage (models, then searches or cells), each
 * stage waiting for the one before it (`--dependency=afterok`), each array task running one job with
 * `lethe job <config> --list <file> --index $SLURM_ARRAY_TASK_ID`. Results and caches live in directories every node
 * sees; nothing else is shared (no database: `lethe status` reads the files and squeue). A stage's job list is written
 * when it is submitted, so a task runs the job it was submitted for even if the plan's pending set has changed since.
 */
export interface SlurmOptions {
  /** the benchmark config file, as the tasks will read it */
  configPath: string;
  /** where the stage scripts, job lists and task logs go (shared) */
  workDir: string;
  /** the command that starts the lethe CLI on the nodes, e.g. [process.execPath, '/repo/packages/cli/dist/main.js'] */
  command: string[];
  /** the working directory of the tasks (the checkout) */
  cwd: string;
  /** lethe options every task passes on (--results-dir, --cache-dir, --data-dir, --backend, --tuning) */
  letheArgs: string[];
  partition?: string;
  gres?: string;
  time?: string;
  cpusPerTask?: number;
  /** extra environment for the tasks, e.g. { LETHE_NATIVE_THREADS: '1' } */
  env?: Record<string, string>;
}

export interface SlurmStage {
  name: string;
  jobs: Job[];
  listFile: string;
  scriptFile: string;
  script: string;
}

/** Quote a word for a POSIX shell. */
function sh(word: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/**
 * Pending jobs in dependency levels: a job's level is one more than the highest level of its pending dependencies
 * (dependencies already done do not count), so every stage can start once the stage before it succeeded.
 */
export function dependencyLevels(pending: readonly Job[]): Job[][] {
  const byId = new Map(pending.map((j) => [j.id, j]));
  const level = new Map<string, number>();
  const levelOf = (job: Job, seen: Set<string>): number => {
    const known = level.get(job.id);
    if (known !== undefined) return known;
    if (seen.has(job.id)) throw new Error(`the job graph has a cycle through ${job.id}`);
    seen.add(job.id);
    const deps = job.deps.map((d) => byId.get(d)).filter((d): d is Job => d !== undefined);
    const l = deps.length === 0 ? 0 : 1 + Math.max(...deps.map((d) => levelOf(d, seen)));
    level.set(job.id, l);
    return l;
  };
  const levels: Job[][] = [];
  for (const job of pending) (levels[levelOf(job, new Set())] ??= []).push(job);
  return levels.filter((l) => l && l.length > 0);
}

/** The stages of a set of pending jobs, one job array per dependency level, named by the kinds they hold. */
export function slurmStages(plan: Plan, pending: readonly Job[], options: SlurmOptions): SlurmStage[] {
  return dependencyLevels(pending).map((jobs, k) => {
    const name = `${k + 1}-${[...new Set(jobs.map((j) => j.kind))].join('+')}`;
    const base = path.join(options.workDir, `${plan.config.name}-${name}`);
    const listFile = `${base}.jobs`;
    const scriptFile = `${base}.sbatch`;
    const header = [
      '#!/bin/bash',
      `#SBATCH --job-name=lethe-${plan.config.name}-${name}`,
      `#SBATCH --array=0-${jobs.length - 1}`,
      `#SBATCH --output=${path.join(options.workDir, 'logs', `${name}-%A_%a.out`)}`,
      ...(options.partition ? [`#SBATCH --partition=${options.partition}`] : []),
      ...(options.gres ? [`#SBATCH --gres=${options.gres}`] : []),
      ...(options.time ? [`#SBATCH --time=${options.time}`] : []),
      ...(options.cpusPerTask ? [`#SBATCH --cpus-per-task=${options.cpusPerTask}`] : []),
    ];
    const env = Object.entries(options.env ?? {}).map(([key, value]) => `export ${key}=${sh(value)}`);
    const command = [...options.command, 'job', options.configPath, '--list', listFile, '--index'].map(sh).concat('"$SLURM_ARRAY_TASK_ID"', options.letheArgs.map(sh));
    const script = [...header, 'set -euo pipefail', `cd ${sh(options.cwd)}`, ...env, `exec ${command.join(' ')}`, ''].join('\n');
    return { name, jobs: [...jobs], listFile, scriptFile, script };
  });
}

export interface SubmittedStage {
  name: string;
  slurmJobId: string;
  tasks: number;
}

/**
 * Write each stage's job list and script, and submit them in order with `sbatch --parsable`, each stage after the one
 * before it succeeds (`--dependency=afterok`). Returns Slurm's job ids.
 */
export function submitSlurm(stages: readonly SlurmStage[], options: Pick<SlurmOptions, 'workDir'> & { sbatch?: string }): SubmittedStage[] {
  fs.mkdirSync(path.join(options.workDir, 'logs'), { recursive: true });
  const submitted: SubmittedStage[] = [];
  let previous: string | null = null;
  for (const stage of stages) {
    fs.writeFileSync(stage.listFile, stage.jobs.map((j) => j.id).join('\n') + '\n');
    fs.writeFileSync(stage.scriptFile, stage.script, { mode: 0o755 });
    // a stage whose dependency can never be met (a task failed or was cancelled) is removed, not left pending
    const args = ['--parsable', ...(previous ? [`--dependency=afterok:${previous}`, '--kill-on-invalid-dep=yes'] : []), stage.scriptFile];
    let out: string;
    try {
      out = execFileSync(options.sbatch ?? 'sbatch', args, { encoding: 'utf8' });
    } catch (err) {
      throw new Error(`sbatch failed for stage '${stage.name}' (${stage.scriptFile}): ${(err as Error).message.trim()}${submitted.length ? `; stages submitted before it: ${submitted.map((s) => `${s.name} ${s.slurmJobId}`).join(', ')}` : ''}`);
    }
    const id = out.trim().split(';')[0]!;
    if (!/^\d+$/.test(id)) throw new Error(`sbatch answered '${out.trim()}' for stage '${stage.name}', not a job id`);
    submitted.push({ name: stage.name, slurmJobId: id, tasks: stage.jobs.length });
    previous = id;
  }
  return submitted;
}

/** The job id at line `index` of a stage's job list (what an array task runs). */
export function jobFromList(listFile: string, index: number): string {
  if (!fs.existsSync(listFile)) throw new Error(`job list '${listFile}' does not exist; submit the stage again`);
  const ids = fs.readFileSync(listFile, 'utf8').split('\n').filter(Boolean);
  const id = ids[index];
  if (id === undefined) throw new Error(`job list '${listFile}' has ${ids.length} jobs; index ${index} is out of range`);
  return id;
}

/** Lethe's jobs in Slurm's queue (squeue), by stage name; null when squeue is not there. */
export function queuedStages(benchmark: string, squeue = 'squeue'): Array<{ stage: string; state: string; count: number }> | null {
  let out: string;
  try {
    out = execFileSync(squeue, ['-h', '-r', '-o', '%j %T'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    return null;
  }
  const counts = new Map<string, number>();
  for (const line of out.split('\n')) {
    const [name, state] = line.trim().split(/\s+/);
    if (!name || !state || !name.startsWith(`lethe-${benchmark}-`)) continue;
    const key = `${name.slice(`lethe-${benchmark}-`.length)} ${state}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return [...counts].map(([key, count]) => {
    const [stage, state] = key.split(' ');
    return { stage: stage!, state: state!, count };
  });
}
