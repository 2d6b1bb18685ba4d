/**
 * What makes a result file publishable: it passes the schema, and its provenance ties it to code and data anyone can
 * get back. Its config is one of the repository's benchmark configs (the config hash matches, the cell is one of that
 * config's cells with its search record), its commit is a clean commit the repository holds, its data checksum is the
 * data set's. `lethe submit` checks these before it copies a file into the leaderboard; `lethe verify` uses the same
 * lookup to find the config a cell came from and re-run it.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '@lethe/runtime/files';
import { getDataset } from '@lethe/datasets';
import { readBenchmarkConfig, type BenchmarkConfig } from '../config/config.js';
import { contentHash } from '../config/hash.js';
import { planBenchmark, type Plan, type PlannedCell } from '../plan/plan.js';
import { readTuningRecord, tuningFileFor, type TuningRecord } from '../plan/tuning-record.js';
import { formatResultProblem, readResultFile, type CellResult } from './results.js';

/** The benchmark config a result was computed from, with its search record and plan. */
export interface ConfigOfResult {
  file: string;
  config: BenchmarkConfig;
  tuning: TuningRecord | null;
  plan: Plan;
  /** the result's cell in that plan */
  cell: PlannedCell;
}

export class SubmissionError extends Error {
  override name = 'SubmissionError';
}

/** A benchmark config file with its hash (`contentHash` of the parsed config: its results' `provenance.configHash`). */
export interface BenchmarkConfigFile {
  file: string;
  /** the config's `name` (the benchmark its results carry) */
  name: string;
  hash: string;
  config: BenchmarkConfig;
}

/**
 * The benchmark configs directly in a folder, each with its hash, sorted by file name; search records and other JSON
 * files are not configs and are left out; a missing folder gives none.
 */
export function benchmarkConfigsIn(dir: string): BenchmarkConfigFile[] {
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) return [];
  const out: BenchmarkConfigFile[] = [];
  for (const name of fs.readdirSync(dir).sort()) {
    if (!name.endsWith('.json') || name.endsWith('.tuning.json')) continue;
    const file = path.join(dir, name);
    let config: BenchmarkConfig;
    try {
      config = readBenchmarkConfig(file);
    } catch {
      continue; // not a benchmark config (or a broken one, which no result can come from)
    }
    out.push({ file, name: config.name, hash: contentHash(config), config });
  }
  return out;
}

/**
 * Find the config of `configDirs` whose hash is the result's `provenance.configHash` and name its benchmark, plan it
 * with its search record, and find the result's cell in the plan. Throws a SubmissionError that says what differs:
 * no config with that hash (the config was edited since, or is not in the repository), or a config whose plan has
 * no such cell (its search record chose other hyper-parameters since).
 */
export function configOfResult(result: CellResult, configDirs: readonly string[]): ConfigOfResult {
  const { configHash } = result.provenance;
  const candidates = configDirs.flatMap(benchmarkConfigsIn);
  const match = candidates.find((c) => c.hash === configHash && c.config.name === result.benchmark);
  if (!match) {
    const sameName = candidates.filter((c) => c.config.name === result.benchmark);
    const where = configDirs.join(', ');
    throw new SubmissionError(
      sameName.length > 0
        ? `its config hash ${configHash} matches no config in ${where}: ${sameName.map((c) => `${c.file} has hash ${c.hash}`).join('; ')}, so the config changed since the result was computed; run the cell again with the current config`
        : `no config of benchmark '${result.benchmark}' in ${where} (config hash ${configHash}); add the config to benchmarks/ in the same pull request`,
    );
  }
  const tuning = match.config.tuning ? readTuningRecord(tuningFileFor(match.file)) : null;
  const plan = planBenchmark(match.config, { tuning });
  const cell = plan.groups.flatMap((g) => g.cells).find((c) => c.cellHash === result.cellHash);
  if (!cell) {
    throw new SubmissionError(
      `cell ${result.cellHash} (${result.cell.label ?? result.cell.method}) is not a cell of ${match.file}${tuning ? ` with the search record ${tuningFileFor(match.file)}` : ''}: its method, hyper-parameters or seeds are not the config's (hyper-parameters ${JSON.stringify(result.cell.hyperParameters)})`,
    );
  }
  return { file: match.file, config: match.config, tuning, plan, cell };
}

/**
 * Why a recorded commit does not identify code anyone can check out, or null when it does: the result must come from
 * a git checkout, with no uncommitted change ('+dirty'), at a commit the repository at `repoDir` holds.
 */
export function commitProblem(commit: string | null, repoDir: string): string | null {
  if (commit === null) return 'provenance.gitCommit is null: the run was not made in a git checkout of Lethe; run it again in one';
  if (commit.endsWith('+dirty')) {
    return `provenance.gitCommit is ${commit}: the run had uncommitted changes, code that no commit holds; commit them and run the cell again`;
  }
  if (!/^[0-9a-f]{40}$/.test(commit)) return `provenance.gitCommit '${commit}' is not a 40-hex-digit commit id`;
  try {
    execFileSync('git', ['cat-file', '-e', `${commit}^{commit}`], { cwd: repoDir, stdio: 'ignore' });
  } catch {
    return `provenance.gitCommit ${commit} is not a commit of the repository at ${repoDir}; push the commit the result was computed at (or fetch it) first`;
  }
  return null;
}

export interface SubmissionCheck {
  file: string;
  result: CellResult | null;
  /** each reason the file cannot be published; empty when it can */
  problems: string[];
  config?: ConfigOfResult;
}

export interface SubmissionOptions {
  /** folders of benchmark configs (the repository's benchmarks/) */
  configDirs: readonly string[];
  /** the git repository whose commits results must name */
  repoDir: string;
}

/** Check one result file for publication: schema, config and cell, clean commit, data checksum, versions. */
export function checkSubmission(file: string, options: SubmissionOptions): SubmissionCheck {
  const read = readResultFile(file);
  if (read.kind === 'other') return { file, result: null, problems: [`is a ${read.schema} file, not a result`] };
  if (read.kind === 'problem') return { file, result: null, problems: read.problems.map(formatResultProblem) };
  const result = read.result;
  const problems: string[] = [];
  let config: ConfigOfResult | undefined;
  try {
    config = configOfResult(result, options.configDirs);
  } catch (err) {
    if (!(err instanceof SubmissionError)) throw err;
    problems.push(err.message);
  }
  const commit = commitProblem(result.provenance.gitCommit, options.repoDir);
  if (commit) problems.push(commit);
  if (config) {
    const expected = getDataset(config.config.dataset.name).checksum;
    if (result.provenance.dataChecksum !== expected) {
      problems.push(`provenance.dataChecksum ${result.provenance.dataChecksum} is not ${config.config.dataset.name}'s checksum ${expected}: the run did not use the verified data`);
    }
  }
  if (!result.provenance.lethe['@lethe/harness']) problems.push("provenance.lethe names no '@lethe/harness' version");
  return { file, result, problems, ...(config ? { config } : {}) };
}

/** The `.json` files under a path (a file, or a folder searched recursively, `superseded/` folders excepted). */
export function resultFilesUnder(target: string): string[] {
  if (!fs.existsSync(target)) throw new SubmissionError(`'${target}' does not exist`);
  if (fs.statSync(target).isFile()) return [target];
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) {
        if (entry.name !== 'superseded') walk(full);
      } else if (entry.name.endsWith('.json')) out.push(full);
    }
  };
  walk(target);
  return out;
}

export interface SubmitOutcome {
  checks: SubmissionCheck[];
  /** where each accepted file was copied (empty when any file was refused: nothing is copied then) */
  copied: string[];
  /** accepted files whose identical copy was already in the leaderboard */
  unchanged: string[];
}

/**
 * Check every result file under `target` and, when all pass, copy each to `<leaderboardDir>/<benchmark>/<name>`
 * (atomically). All or nothing: one refused file copies none, so a submission never lands half. A file already
 * published with other content is refused too (publish a new cell instead of rewriting a published one).
 */
export function submitResults(target: string, leaderboardDir: string, options: SubmissionOptions): SubmitOutcome {
  const files = resultFilesUnder(target);
  if (files.length === 0) throw new SubmissionError(`no .json result files under '${target}'; \`lethe run <config> --results-dir <dir>\` writes them to <dir>/<benchmark>/`);
  const checks = files.map((f) => checkSubmission(f, options));
  const plans: Array<{ from: string; to: string; text: string }> = [];
  for (const check of checks) {
    if (!check.result) continue;
    const to = path.join(leaderboardDir, check.result.benchmark, path.basename(check.file));
    const text = fs.readFileSync(check.file, 'utf8');
    if (path.resolve(to) !== path.resolve(check.file) && fs.existsSync(to) && fs.readFileSync(to, 'utf8') !== text) {
      check.problems.push(`${to} is already published with other content; a published result is not rewritten`);
    }
    plans.push({ from: check.file, to, text });
  }
  if (checks.some((c) => c.problems.length > 0)) return { checks, copied: [], unchanged: [] };
  const copied: string[] = [];
  const unchanged: string[] = [];
  for (const { to, text } of plans) {
    if (fs.existsSync(to) && fs.readFileSync(to, 'utf8') === text) {
      unchanged.push(to);
      continue;
    }
    fs.mkdirSync(path.dirname(to), { recursive: true });
    writeFileAtomic(to, text);
    copied.push(to);
  }
  return { checks, copied, unchanged };
}
