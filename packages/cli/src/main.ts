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
  formatResultProblem,
  reproductionTable,
  compareRanks,
  rankComparisonMarkdown,
  PAPER_TABLES,
  cellStatus,
  runJobFilter,
  runJobById,
  jobFromList,
  slurmStages,
  submitSlurm,
  queuedStages,
  exportCheckpoints,
  importCheckpoints,
  submitResults,
  verifyResult,
  formatVerifyOutcome,
  formatJobTimes,
  type CheckpointCopy,
  type Shard,
  type Plan,
  type Job,
  type SlurmOptions,
} from '@lethe/harness';
import { fileURLToPath } from 'node:url';
import fs from 'node:fs';
import { buildLeaderboard } from '@lethe/leaderboard';

/**
 * `lethe`: the command line. It only parses arguments and calls the packages; every behaviour lives in a
 * package so that notebooks and scripts get the same thing.
 */

// `pnpm lethe ...` runs in the repository root; resolve user paths against the directory the user typed in.
const userCwd = process.env.INIT_CWD ?? process.cwd();
// the repository this CLI belongs to (packages/cli/dist/main.js -> the root): its benchmarks/ and its git history
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
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

interface SlurmCliOptions {
  executor: 'local' | 'slurm';
  partition?: string;
  gres?: string;
  time?: string;
  cpusPerTask?: number;
  dryRun: boolean;
}

/** Options of the Slurm executor, added to run and tune. */
function withSlurmOptions(command: Command): Command {
  return command
    .addOption(new Option('--executor <name>', 'local: run here (default); slurm: submit one job array per stage to Slurm').choices(['local', 'slurm']).default('local'))
    .option('--partition <name>', 'slurm: the partition (sbatch --partition)')
    .option('--gres <spec>', 'slurm: generic resources per task, e.g. gpu:1 (sbatch --gres)')
    .option('--time <limit>', 'slurm: time limit per task, e.g. 04:00:00 (sbatch --time)')
    .option('--cpus-per-task <n>', 'slurm: CPUs per task (sbatch --cpus-per-task)', (v: string) => Number.parseInt(v, 10))
    .option('--dry-run', 'slurm: print the sbatch scripts instead of submitting them', false);
}

/** Submit a command's pending jobs to Slurm (or print the scripts). */
function submitToSlurm(plan: Plan, pending: Job[], configFile: string, opts: SlurmCliOptions, letheArgs: string[], cacheDir: string): void {
  if (pending.length === 0) {
    console.log(`${plan.config.name}: nothing to submit (every job is done)`);
    return;
  }
  const options: SlurmOptions = {
    configPath: configFile,
    workDir: path.join(cacheDir, 'slurm', plan.config.name),
    command: [process.execPath, '--enable-source-maps', fileURLToPath(import.meta.url)],
    cwd: userCwd,
    letheArgs,
    ...(opts.partition ? { partition: opts.partition } : {}),
    ...(opts.gres ? { gres: opts.gres } : {}),
    ...(opts.time ? { time: opts.time } : {}),
    ...(opts.cpusPerTask ? { cpusPerTask: opts.cpusPerTask } : {}),
  };
  const stages = slurmStages(plan, pending, options);
  if (opts.dryRun) {
    for (const stage of stages) console.log(`# stage ${stage.name}: ${stage.jobs.length} task(s); job list ${stage.listFile}\n${stage.script}`);
    return;
  }
  for (const s of submitSlurm(stages, options)) console.log(`submitted stage ${s.name}: Slurm job ${s.slurmJobId} (${s.tasks} array task(s))`);
  console.log(`\`lethe status ${configFile}\` shows the progress; the task logs are in ${path.join(options.workDir, 'logs')}`);
}

function timeLimitOption(): Option {
  return new Option('--time-limit <duration>', 'stop starting new jobs after this long (e.g. 2.5h, 90m); run the same command again to continue').argParser(parseDuration);
}

withSlurmOptions(program
  .command('run'))
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
  .action(async (configPath: string, opts: SlurmCliOptions & { backend?: BackendName; resultsDir: string; cacheDir?: string; dataDir?: string; tuning?: string; timeLimit?: number; shard?: Shard; onResult?: string; force: boolean }) => {
    const file = fromUser(configPath);
    const config = readBenchmarkConfig(file);
    const tuningFile = opts.tuning ? fromUser(opts.tuning) : tuningFileFor(file);
    const tuning = config.tuning ? readTuningRecord(tuningFile) : null;
    if (opts.executor === 'slurm') {
      const plan = planBenchmark(config, { tuning });
      const cacheDir = opts.cacheDir ? fromUser(opts.cacheDir) : defaultCacheDir();
      const resultsDir = fromUser(opts.resultsDir);
      const runs = runJobFilter(plan, cellStatus(plan, resultsDir, false, (p) => log(`${formatResultProblem(p)}; its cell runs again`)));
      const places = { cacheDir, resultsDir, tuning };
      const jobs = jobGraph(plan);
      const states = jobStates(plan, jobs, places);
      const pending = jobs.filter((j) => runs(j) && states.get(j.id) !== 'done');
      submitToSlurm(plan, pending, file, opts, passOn(opts, { resultsDir, cacheDir, tuningFile: config.tuning ? tuningFile : undefined }), cacheDir);
      return;
    }
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
    console.log(formatJobTimes(summary.jobTimes));
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

withSlurmOptions(program
  .command('tune'))
  .description("search each method's hyper-parameters on a validation forget set (config \"tuning\"), scored by Avg Gap; `lethe run` then uses the chosen values")
  .argument('<config>', 'benchmark config JSON with a "tuning" section')
  .addOption(backendOption())
  .option('--cache-dir <dir>', 'trained-model cache (default: $LETHE_CACHE, else <user cache>/lethe/models)')
  .option('--data-dir <dir>', 'data directory (default: $LETHE_DATA, else <user cache>/lethe)')
  .option('--record <file>', 'the search record to write (default: beside the config, <config>.tuning.json)')
  .option('--methods <labels>', 'search only these method labels (comma-separated)')
  .addOption(timeLimitOption())
  .addOption(shardOption())
  .action(async (configPath: string, opts: SlurmCliOptions & { backend?: BackendName; cacheDir?: string; dataDir?: string; record?: string; methods?: string; timeLimit?: number; shard?: Shard }) => {
    const file = fromUser(configPath);
    const config = readBenchmarkConfig(file);
    const recordFile = opts.record ? fromUser(opts.record) : tuningFileFor(file);
    if (opts.executor === 'slurm') {
      const plan = planBenchmark(config);
      const cacheDir = opts.cacheDir ? fromUser(opts.cacheDir) : defaultCacheDir();
      const tuning = readTuningRecord(recordFile);
      const jobs = jobGraph(plan);
      const states = jobStates(plan, jobs, { cacheDir, resultsDir: '', tuning });
      const searches = jobs.filter((j) => j.kind === 'search' && states.get(j.id) !== 'done');
      const needed = new Set(searches.flatMap((j) => j.deps));
      const pending = jobs.filter((j) => (j.kind === 'search' ? searches.includes(j) : needed.has(j.id)) && states.get(j.id) !== 'done');
      submitToSlurm(plan, pending, file, opts, passOn(opts, { cacheDir, tuningFile: recordFile }), cacheDir);
      return;
    }
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

/** The options a submitted task passes on to `lethe job`, as absolute paths. */
function passOn(opts: { backend?: BackendName; dataDir?: string }, where: { resultsDir?: string; cacheDir: string; tuningFile?: string | undefined }): string[] {
  return [
    ...(where.resultsDir ? ['--results-dir', where.resultsDir] : []),
    '--cache-dir',
    where.cacheDir,
    ...(opts.dataDir ? ['--data-dir', fromUser(opts.dataDir)] : []),
    ...(opts.backend ? ['--backend', opts.backend] : []),
    ...(where.tuningFile ? ['--tuning', where.tuningFile] : []),
  ];
}

program
  .command('job')
  .description('run one job of a config by its id (what a scheduler task runs; `lethe plan --jobs` lists the ids)')
  .argument('<config>', 'benchmark config JSON')
  .argument('[job-id]', 'the job, e.g. cell:0123abcd...; or give --list and --index')
  .option('--list <file>', 'a job list written at submission (one id a line)')
  .option('--index <n>', 'the line of --list to run (0-based; e.g. $SLURM_ARRAY_TASK_ID)', (v: string) => Number.parseInt(v, 10))
  .addOption(backendOption())
  .option('--results-dir <dir>', 'where result files go', 'results')
  .option('--cache-dir <dir>', 'trained-model cache (default: $LETHE_CACHE, else <user cache>/lethe/models)')
  .option('--data-dir <dir>', 'data directory (default: $LETHE_DATA, else <user cache>/lethe)')
  .option('--tuning <file>', 'the search record (default: beside the config, <config>.tuning.json)')
  .action(async (configPath: string, jobId: string | undefined, opts: { list?: string; index?: number; backend?: BackendName; resultsDir: string; cacheDir?: string; dataDir?: string; tuning?: string }) => {
    const file = fromUser(configPath);
    const config = readBenchmarkConfig(file);
    if (!jobId && !(opts.list && opts.index !== undefined)) throw new Error('give a job id, or --list <file> and --index <n>');
    const id = jobId ?? jobFromList(fromUser(opts.list!), opts.index!);
    const tuningFile = opts.tuning ? fromUser(opts.tuning) : tuningFileFor(file);
    const tuning = config.tuning ? readTuningRecord(tuningFile) : null;
    const cacheDir = opts.cacheDir ? fromUser(opts.cacheDir) : defaultCacheDir();
    const backend = await initBackend(opts.backend, { log });
    if (id.startsWith('search:')) {
      await tuneBenchmark(config, { recordFile: tuningFile, cacheDir, ...(opts.dataDir ? { dataDir: fromUser(opts.dataDir) } : {}), ...(opts.backend ? { backend: opts.backend } : {}), searchKeys: [id.slice('search:'.length)], log });
      return;
    }
    const outcome = await runJobById(planBenchmark(config, { tuning }), id, {
      resultsDir: fromUser(opts.resultsDir),
      cacheDir,
      log,
      interactive: Boolean(process.stderr.isTTY),
      backend,
      ...(opts.dataDir ? { dataDir: fromUser(opts.dataDir) } : {}),
      tuning,
    });
    console.log(`${id}: ${outcome}`);
  });

program
  .command('status')
  .description("what is done, running and pending of a config's jobs, from the model cache, the result files, the search record (and Slurm's queue)")
  .argument('<config>', 'benchmark config JSON')
  .option('--results-dir <dir>', 'where the result files are', 'results')
  .option('--cache-dir <dir>', 'trained-model cache (default: $LETHE_CACHE, else <user cache>/lethe/models)')
  .option('--tuning <file>', 'the search record (default: beside the config, <config>.tuning.json)')
  .action((configPath: string, opts: { resultsDir: string; cacheDir?: string; tuning?: string }) => {
    const file = fromUser(configPath);
    const config = readBenchmarkConfig(file);
    const tuning = config.tuning ? readTuningRecord(opts.tuning ? fromUser(opts.tuning) : tuningFileFor(file)) : null;
    const plan = planBenchmark(config, { tuning });
    const cacheDir = opts.cacheDir ? fromUser(opts.cacheDir) : defaultCacheDir();
    const jobs = jobGraph(plan);
    const states = jobStates(plan, jobs, { cacheDir, resultsDir: fromUser(opts.resultsDir), tuning });
    // a claim file names a job some process is running now
    const claimsDir = path.join(cacheDir, 'claims');
    const running = new Set<string>();
    if (fs.existsSync(claimsDir)) {
      for (const f of fs.readdirSync(claimsDir)) {
        try {
          running.add((JSON.parse(fs.readFileSync(path.join(claimsDir, f), 'utf8')) as { job: string }).job);
        } catch {
          // a claim being written or removed right now
        }
      }
    }
    const kinds = [...new Set(jobs.map((j) => j.kind))];
    console.log(`${config.name}: job kind, done / running / pending`);
    for (const kind of kinds) {
      const ofKind = jobs.filter((j) => j.kind === kind);
      const done = ofKind.filter((j) => states.get(j.id) === 'done').length;
      const now = ofKind.filter((j) => states.get(j.id) !== 'done' && running.has(j.id)).length;
      console.log(`  ${kind.padEnd(16)} ${String(done).padStart(5)} / ${String(now).padStart(3)} / ${String(ofKind.length - done - now).padStart(5)}`);
    }
    for (const j of jobs.filter((j) => running.has(j.id) && states.get(j.id) !== 'done')) console.log(`  running: ${j.title}`);
    const queued = queuedStages(config.name);
    if (queued && queued.length > 0) for (const q of queued) console.log(`  slurm: ${q.count} task(s) of stage ${q.stage} ${q.state}`);
  });

program
  .command('report')
  .description("a benchmark's results as markdown: each metric's mean and 95% interval over the runs, Avg Gap, time vs retraining, and the ranking beside a paper's")
  .argument('<results-dir>', 'directory of result JSON files (searched recursively)')
  .requiredOption('--benchmark <name>', 'the benchmark to report')
  .option('--paper <table>', `compare the ranking by Avg Gap with a paper's table (${Object.keys(PAPER_TABLES).join(', ')})`)
  .action((resultsDir: string, opts: { benchmark: string; paper?: string }) => {
    // a bad result file is reported (path, field) and left out; the report is made of the rest, and the exit code says so
    const results = loadResults(fromUser(resultsDir), { onProblem: (p) => { log(`skipped: ${formatResultProblem(p)}`); process.exitCode = 1; } });
    const { markdown, summary } = reproductionTable(results, opts.benchmark);
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

const cache = program.command('cache').description("the trained-model cache: checkpoints to carry a benchmark's models to another machine");
function cacheCommand(verb: 'export' | 'import', description: string): void {
  cache
    .command(verb)
    .description(description)
    .argument('<config>', 'benchmark config JSON (its plan names the models)')
    .argument('<dir>', 'checkpoint directory (one <key>/ folder per model, as in the cache)')
    .option('--cache-dir <dir>', 'trained-model cache (default: $LETHE_CACHE, else <user cache>/lethe/models)')
    .option('--tuning <file>', 'the search record (default: beside the config, <config>.tuning.json)')
    .option('--with-training', 'export: also the trainings in progress (their last finished epoch); import always takes them', false)
    .action((configPath: string, dir: string, opts: { cacheDir?: string; tuning?: string; withTraining: boolean }) => {
      const file = fromUser(configPath);
      const config = readBenchmarkConfig(file);
      const tuning = config.tuning ? readTuningRecord(opts.tuning ? fromUser(opts.tuning) : tuningFileFor(file)) : null;
      const plan = planBenchmark(config, { tuning });
      const cacheDir = opts.cacheDir ? fromUser(opts.cacheDir) : defaultCacheDir();
      const checkpoints = fromUser(dir);
      const result: CheckpointCopy = verb === 'export' ? exportCheckpoints(plan, cacheDir, checkpoints, { withTraining: opts.withTraining }) : importCheckpoints(plan, checkpoints, cacheDir);
      for (const { key, reason } of result.refused) log(`refused ${key}: ${reason}`);
      const where = verb === 'export' ? `into ${checkpoints}` : `into ${cacheDir}`;
      console.log(`${config.name}: ${result.copied.length} model(s) copied ${where}, ${result.present.length} already there, ${result.missing.length} not trained yet, ${result.refused.length} refused`);
      for (const key of result.copied) console.log(`  ${key}`);
      for (const { key, epochsDone } of result.trainings) console.log(`  ${key} (training in progress: ${epochsDone} epoch(s) done)`);
      if (result.refused.length > 0) process.exitCode = 1;
    });
}
cacheCommand('export', "copy the config's trained models from the cache into a checkpoint directory (only those missing there)");
cacheCommand('import', "copy a checkpoint directory's models of the config into the cache (only those missing there), each checked: the config's model spec and weights matching their SHA-256");

const leaderboard = program.command('leaderboard').description('the static leaderboard site');
leaderboard
  .command('build')
  .description('build a static, offline leaderboard page from a results directory')
  .argument('<results-dir>', 'directory of result JSON files (searched recursively)')
  .option('--out <dir>', 'output directory', 'leaderboard/dist')
  .option('--configs-dir <dir>', "benchmark configs, linked from each benchmark's section by config hash (default: the repository's benchmarks/)")
  .option('--config-base-url <url>', 'where the page links config files: this base plus the file name, e.g. https://github.com/<owner>/<repo>/blob/<commit>/benchmarks/ (default: a relative path from --out to the configs)')
  .action(async (resultsDir: string, opts: { out: string; configsDir?: string; configBaseUrl?: string }) => {
    // a bad result file is reported (path, field) and left out; the page is built from the rest, and the exit code says so
    const built = await buildLeaderboard({
      resultsDir: fromUser(resultsDir),
      outDir: fromUser(opts.out),
      ...(opts.configsDir ? { configsDir: fromUser(opts.configsDir) } : {}),
      ...(opts.configBaseUrl ? { configBaseUrl: opts.configBaseUrl } : {}),
      onProblem: (p) => log(`skipped: ${formatResultProblem(p)}`),
    });
    for (const e of built.chartErrors) log(`chart not drawn: ${e}`);
    console.log(`leaderboard: ${built.indexPath} (${built.rows} rows${built.problems.length > 0 ? `; ${new Set(built.problems.map((p) => p.file)).size} result file(s) left out, listed on the page` : ''})`);
    if (built.problems.length > 0 || built.chartErrors.length > 0) process.exitCode = 1;
  });

program
  .command('submit')
  .description('check result files for the leaderboard (schema; provenance: a config of benchmarks/ by its hash, a clean commit of this repository, the data checksum, versions) and copy them to leaderboard/results/<benchmark>/')
  .argument('<results>', 'a result file, or a directory of them (searched recursively)')
  .option('--configs <dir>', 'where the benchmark configs are', path.join(repoRoot, 'benchmarks'))
  .option('--repo <dir>', 'the git repository whose commits results must name', repoRoot)
  .option('--to <dir>', 'the leaderboard results directory', path.join(repoRoot, 'leaderboard', 'results'))
  .action((target: string, opts: { configs: string; repo: string; to: string }) => {
    const outcome = submitResults(fromUser(target), fromUser(opts.to), { configDirs: [fromUser(opts.configs)], repoDir: fromUser(opts.repo) });
    const refused = outcome.checks.filter((c) => c.problems.length > 0);
    for (const c of outcome.checks) {
      if (c.problems.length === 0) console.log(`ok       ${c.file}${c.config ? ` (${path.relative(repoRoot, c.config.file)}, ${c.config.cell.label})` : ''}`);
      else for (const p of c.problems) console.log(`REFUSED  ${c.file}: ${p}`);
    }
    if (refused.length > 0) {
      console.log(`${refused.length} of ${outcome.checks.length} file(s) refused; nothing copied (fix them, or leave them out, and submit again)`);
      process.exitCode = 1;
      return;
    }
    for (const f of outcome.copied) console.log(`copied   ${path.relative(userCwd, f)}`);
    console.log(`${outcome.copied.length} file(s) copied, ${outcome.unchanged.length} already published; add them to your pull request (git add ${path.relative(userCwd, fromUser(opts.to))})`);
  });

program
  .command('verify')
  .description('run a published cell again from its provenance (same config, seeds, backend, threads) and compare every metric side by side; exits 1 on a mismatch')
  .argument('<result-file>', 'a result JSON file, e.g. leaderboard/results/smoke/finetune....json')
  .option('--configs <dir>', 'where the benchmark configs are', path.join(repoRoot, 'benchmarks'))
  .addOption(backendOption())
  .option('--tolerance <points>', 'headline metrics may differ by this many percentage points when a bit-identical re-run is not possible (another backend, instruction set, thread count, version or commit)', (v: string) => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) throw new Error(`--tolerance must be a number of percentage points >= 0, got '${v}'`);
    return n;
  })
  .option('--cache-dir <dir>', 'trained-model cache (default: $LETHE_CACHE, else <user cache>/lethe/models)')
  .option('--data-dir <dir>', 'data directory (default: $LETHE_DATA, else <user cache>/lethe)')
  .option('--all', 'show every compared field, not only those that decide the verdict', false)
  .action(async (file: string, opts: { configs: string; backend?: BackendName; tolerance?: number; cacheDir?: string; dataDir?: string; all: boolean }) => {
    const outcome = await verifyResult(fromUser(file), {
      configDirs: [fromUser(opts.configs)],
      log,
      interactive: Boolean(process.stderr.isTTY),
      ...(opts.backend ? { backend: opts.backend } : {}),
      ...(opts.tolerance !== undefined ? { tolerance: opts.tolerance } : {}),
      ...(opts.cacheDir ? { cacheDir: fromUser(opts.cacheDir) } : {}),
      ...(opts.dataDir ? { dataDir: fromUser(opts.dataDir) } : {}),
    });
    console.log(formatVerifyOutcome(outcome, { all: opts.all }));
    if (!outcome.ok) process.exitCode = 1;
  });

try {
  await program.parseAsync(process.argv);
} catch (err) {
  const e = err as Error;
  console.error(`lethe: ${e.message}`);
  if (process.env.LETHE_DEBUG) console.error(e.stack);
  process.exitCode = 1;
}
