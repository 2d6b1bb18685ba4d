#!/usr/bin/env node
import path from 'node:path';
import { Command, Option } from 'commander';
import { BACKEND_NAMES, parseBackendName, type BackendName } from '@lethe/runtime';
import { getDataset, defaultDataDir } from '@lethe/datasets';
import { listUnlearners } from '@lethe/core';
import { execSync } from 'node:child_process';
import { initBackend } from '@lethe/runtime';
import {
  readBenchmarkConfig,
  runBenchmark,
  tuneBenchmark,
  formatResultsTable,
  planBenchmark,
  jobGraph,
  jobStates,
  formatPlan,
  measureThroughput,
  defaultCacheDir,
  parseDuration,
  parseShard,
  readTuningRecord,
  tuningFileFor,
  loadResults,
  reproductionTable,
  compareRanks,
  rankComparisonMarkdown,
  PAPER_TABLES,
  type Shard,
} from '@lethe/harness';
import { buildLeaderboard } from '@lethe/leaderboard';

/**
 * `lethe`: the command line. It only parses arguments and calls the packages; every behaviour lives in a
 * package so that notebooks and scripts get the same thing.
 */

// `pnpm lethe ...` runs in the repository root; resolve user paths against the directory the user typed in.
const userCwd = process.env.INIT_CWD ?? process.cwd();
const fromUser = (p: string): string => path.resolve(userCwd, p);
const log = (line: string): void => console.error(line);

function backendOption(): Option {
  return new Option('--backend <name>', `compute backend (default: $LETHE_BACKEND, else the first that loads of ${BACKEND_NAMES.join(', ')})`).argParser(
    (value: string): BackendName => parseBackendName(value),
  );
}

const program = new Command()
  .name('lethe')
  .description('Lethe: machine unlearning benchmarks on TensorFlow.js')
  .showHelpAfterError()
  .configureOutput({ outputError: (text, write) => write(text) });

function shardOption(): Option {
  return new Option('--shard <i/n>', 'run only the i-th of n shares of the jobs; run the other shares in other processes (or machines) sharing the cache and results directories').argParser(parseShard);
}

function timeLimitOption(): Option {
  return new Option('--time-limit <duration>', 'stop starting new jobs after this long (e.g. 2.5h, 90m); run the same command again to continue').argParser(parseDuration);
}

program
  .command('run')
  .description('run a benchmark config: data -> original model -> gold model -> unlearners -> evaluation -> results')
  .argument('<config>', 'benchmark config JSON, e.g. benchmarks/smoke.json')
  .addOption(backendOption())
  .option('--results-dir <dir>', 'where result files go (one JSON per cell, under <dir>/<benchmark name>/)', 'results')
  .option('--cache-dir <dir>', 'trained-model cache (default: $LETHE_CACHE, else <user cache>/lethe/models)')
  .option('--data-dir <dir>', 'data directory (default: $LETHE_DATA, else <user cache>/lethe)')
  .option('--tuning <file>', "the search record of `lethe tune` (default: beside the config, <config>.tuning.json)")
  .addOption(timeLimitOption())
  .addOption(shardOption())
  .option('--on-result <command>', 'a shell command run after each result file is written ($LETHE_RESULT_FILE names it), e.g. to commit it')
  .option('--force', 'recompute cells that already have a result file', false)
  .action(async (configPath: string, opts: { backend?: BackendName; resultsDir: string; cacheDir?: string; dataDir?: string; tuning?: string; timeLimit?: number; shard?: Shard; onResult?: string; force: boolean }) => {
    const file = fromUser(configPath);
    const config = readBenchmarkConfig(file);
    const tuningFile = opts.tuning ? fromUser(opts.tuning) : tuningFileFor(file);
    const tuning = config.tuning ? readTuningRecord(tuningFile) : null;
    const started = performance.now();
    const summary = await runBenchmark(config, {
      resultsDir: fromUser(opts.resultsDir),
      ...(opts.cacheDir ? { cacheDir: fromUser(opts.cacheDir) } : {}),
      ...(opts.dataDir ? { dataDir: fromUser(opts.dataDir) } : {}),
      ...(opts.backend ? { backend: opts.backend } : {}),
      ...(opts.timeLimit ? { timeLimitSeconds: opts.timeLimit } : {}),
      ...(opts.shard ? { shard: opts.shard } : {}),
      tuning,
      ...(opts.onResult
        ? {
            onResult: (resultFile: string) => {
              // the user's own command (e.g. git add + commit); its failure is reported, the run goes on
              try {
                execSync(opts.onResult!, { stdio: 'inherit', env: { ...process.env, LETHE_RESULT_FILE: resultFile }, cwd: userCwd });
              } catch (err) {
                log(`--on-result command failed for ${resultFile}: ${(err as Error).message}`);
              }
            },
          }
        : {}),
      force: opts.force,
      log,
    });
    console.log(`\n${config.name} on ${summary.backend.name} (${summary.backend.packageName} ${summary.backend.version}); accuracies in %, Avg Gap in points vs retrain`);
    console.log(formatResultsTable(summary.results));
    console.log(`\nresults: ${path.join(summary.resultsDir, config.name)}  (${summary.results.length} cells, ${summary.reused} reused; ${((performance.now() - started) / 1000).toFixed(0)} s)`);
    if (summary.remaining > 0) {
      const why = [
        ...(summary.stoppedByTimeLimit ? ['the time limit stopped the run: run the same command again to continue'] : []),
        ...(summary.awaitingSearch > 0 ? [`${summary.awaitingSearch} wait for \`lethe tune ${configPath}\``] : []),
      ];
      console.log(`${summary.remaining} cell(s) not done yet${why.length ? ` (${why.join('; ')})` : ''}; \`lethe plan ${configPath}\` shows what remains`);
    }
    if (summary.failures.length > 0) {
      console.log(`\n${summary.failures.length} cell(s) FAILED (no result written; they run again next time):`);
      for (const f of summary.failures) console.log(`  ${f.label} (${f.forgetSet}, seed ${f.seed}): ${f.message}`);
      process.exitCode = 1;
    }
  });

program
  .command('plan')
  .description('print what a config will do before it does it: models to train, searches, cells, the work left and an estimate of its time')
  .argument('<config>', 'benchmark config JSON')
  .addOption(backendOption())
  .option('--results-dir <dir>', 'where the result files are (to count done cells)', 'results')
  .option('--cache-dir <dir>', 'trained-model cache (default: $LETHE_CACHE, else <user cache>/lethe/models)')
  .option('--tuning <file>', 'the search record (default: beside the config, <config>.tuning.json)')
  .option('--no-measure', 'do not measure the step time (no time estimate)')
  .option('--jobs', 'list every job with its id and state', false)
  .action(async (configPath: string, opts: { backend?: BackendName; resultsDir: string; cacheDir?: string; tuning?: string; measure: boolean; jobs: boolean }) => {
    const file = fromUser(configPath);
    const config = readBenchmarkConfig(file);
    const tuningFile = opts.tuning ? fromUser(opts.tuning) : tuningFileFor(file);
    const tuning = config.tuning ? readTuningRecord(tuningFile) : null;
    const plan = planBenchmark(config, { tuning });
    const jobs = jobGraph(plan);
    const states = jobStates(plan, jobs, { cacheDir: opts.cacheDir ? fromUser(opts.cacheDir) : defaultCacheDir(), resultsDir: fromUser(opts.resultsDir), tuning });
    let throughput = null;
    if (opts.measure) {
      const backend = await initBackend(opts.backend, { log });
      log(`measuring the step time of ${plan.modelSpec.arch} on ${backend.name}...`);
      throughput = await measureThroughput(plan.modelSpec, plan.recipe.batchSize, config.evaluation.batchSize, backend.name);
    }
    console.log(formatPlan(plan, jobs, states, throughput));
    if (opts.jobs) {
      console.log('');
      for (const job of jobs) console.log(`${(states.get(job.id) ?? '').padEnd(6)} ${job.id}  ${job.title}${job.deps.length ? `  <- ${job.deps.length} dependencies` : ''}`);
    }
  });

program
  .command('tune')
  .description("search each method's hyper-parameters on a validation forget set (config \"tuning\"), scored by Avg Gap; `lethe run` then uses the chosen values")
  .argument('<config>', 'benchmark config JSON with a "tuning" section')
  .addOption(backendOption())
  .option('--cache-dir <dir>', 'trained-model cache (default: $LETHE_CACHE, else <user cache>/lethe/models)')
  .option('--data-dir <dir>', 'data directory (default: $LETHE_DATA, else <user cache>/lethe)')
  .option('--record <file>', 'the search record to write (default: beside the config, <config>.tuning.json)')
  .option('--methods <labels>', 'search only these method labels (comma-separated)')
  .addOption(timeLimitOption())
  .addOption(shardOption())
  .action(async (configPath: string, opts: { backend?: BackendName; cacheDir?: string; dataDir?: string; record?: string; methods?: string; timeLimit?: number; shard?: Shard }) => {
    const file = fromUser(configPath);
    const config = readBenchmarkConfig(file);
    const recordFile = opts.record ? fromUser(opts.record) : tuningFileFor(file);
    const summary = await tuneBenchmark(config, {
      recordFile,
      ...(opts.cacheDir ? { cacheDir: fromUser(opts.cacheDir) } : {}),
      ...(opts.dataDir ? { dataDir: fromUser(opts.dataDir) } : {}),
      ...(opts.backend ? { backend: opts.backend } : {}),
      ...(opts.timeLimit ? { timeLimitSeconds: opts.timeLimit } : {}),
      ...(opts.shard ? { shard: opts.shard } : {}),
      ...(opts.methods ? { methods: opts.methods.split(',').map((m) => m.trim()).filter(Boolean) } : {}),
      log,
    });
    console.log(`\nsearch record: ${recordFile}`);
    for (const [id, search] of Object.entries(summary.record.searches)) {
      const chosen = search.chosen ? `${JSON.stringify(search.chosen.hyperParameters)}  validation Avg Gap ${search.chosen.avgGap.toFixed(2)}` : 'not chosen yet';
      console.log(`  ${id.padEnd(34)} ${String(search.candidates.length).padStart(3)}/${search.planned} candidates  ${chosen}`);
    }
    if (summary.pending.length > 0) console.log(`${summary.pending.length} search(es) not finished${summary.stoppedByTimeLimit ? ' (time limit): run the same command again to continue' : ''}`);
  });

program
  .command('report')
  .description("a benchmark's results as markdown: each metric's mean and 95% interval over the runs, Avg Gap, time vs retraining, and the ranking beside a paper's")
  .argument('<results-dir>', 'directory of result JSON files (searched recursively)')
  .requiredOption('--benchmark <name>', 'the benchmark to report')
  .option('--paper <table>', `compare the ranking by Avg Gap with a paper's table (${Object.keys(PAPER_TABLES).join(', ')})`)
  .action((resultsDir: string, opts: { benchmark: string; paper?: string }) => {
    const { markdown, summary } = reproductionTable(loadResults(fromUser(resultsDir)), opts.benchmark);
    console.log(markdown);
    if (opts.paper) {
      const paper = PAPER_TABLES[opts.paper];
      if (!paper) throw new Error(`unknown paper table '${opts.paper}'; known: ${Object.keys(PAPER_TABLES).join(', ')}`);
      console.log(`\n${rankComparisonMarkdown(compareRanks(summary, paper))}`);
    }
  });

const data = program.command('data').description('data sets');
data
  .command('fetch')
  .description('download and verify a data set into the data directory (no network work when it is already there)')
  .argument('<dataset>', 'data set name, e.g. cifar10')
  .option('--data-dir <dir>', 'data directory (default: $LETHE_DATA, else <user cache>/lethe)')
  .action(async (name: string, opts: { dataDir?: string }) => {
    const dataset = getDataset(name);
    const dataDir = opts.dataDir ? fromUser(opts.dataDir) : defaultDataDir();
    const result = await dataset.fetch({ dataDir, progress: Boolean(process.stderr.isTTY), log });
    console.log(`${name}: ${result.dir} (source: ${result.source}; verified against the published SHA-256 sums)`);
  });

program
  .command('methods')
  .description('list the registered unlearners')
  .action(() => {
    for (const u of listUnlearners()) {
      console.log(`${u.name.padEnd(22)} ${u.description}`);
      console.log(`${''.padEnd(22)} paper: ${u.paper}; settings: ${u.settings.join(', ')}`);
    }
  });

const leaderboard = program.command('leaderboard').description('the static leaderboard site');
leaderboard
  .command('build')
  .description('build a static, offline leaderboard page from a results directory')
  .argument('<results-dir>', 'directory of result JSON files (searched recursively)')
  .option('--out <dir>', 'output directory', 'leaderboard/dist')
  .action(async (resultsDir: string, opts: { out: string }) => {
    const built = await buildLeaderboard({ resultsDir: fromUser(resultsDir), outDir: fromUser(opts.out) });
    console.log(`leaderboard: ${built.indexPath} (${built.rows} rows)`);
  });

try {
  await program.parseAsync(process.argv);
} catch (err) {
  const e = err as Error;
  console.error(`lethe: ${e.message}`);
  if (process.env.LETHE_DEBUG) console.error(e.stack);
  process.exitCode = 1;
}
