/**
 * `pnpm bench:perf`: training and inference throughput of Lethe's models against the same models trained by
 * PyTorch on the same machine, side by side in one run, then the peak memory of a ResNet-18 training run.
 * See PERF_USAGE (args.ts) for the options and benchmarks/RESULTS.md for the latest output.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { initBackend, type BackendName } from '@lethe/runtime';
import { PERF_USAGE, parsePerfArgs, stepsPerRep, type PerfOptions } from './args.js';
import { expandWasmThreads, selectBackends, type BackendChoice } from './backends.js';
import { defaultReps, type ModelName } from './cases.js';
import { LetheWorker, lastErrorLine } from './lethe.js';
import { commandLine, loadAverage, machineInfo, type MachineInfo } from './machine.js';
import { formatNumber, jsonReport, mebibytes, medianThroughput, modelReport, textTable, type ModelThroughput } from './stats.js';
import { STEADY_MALLOC_ENV, TorchServer, torchTrainingPeakRss, withSteadyMalloc } from './torch.js';

interface Rep {
  images: number;
  seconds: number;
}

interface ModelResult {
  model: ModelName;
  reps: number;
  throughput: ModelThroughput;
  runs: { letheTrain: Rep[]; letheInfer: Rep[]; torchTrain: Rep[]; torchInfer: Rep[] };
  notes: string[];
}

interface BackendResult {
  backend: BackendChoice;
  torchThreads: number;
  models: ModelResult[];
}

/** Peak RSS of one training run in a fresh process; null with an error when it failed. */
interface MemoryRun {
  side: 'Lethe' | 'PyTorch';
  batch: number;
  maxRssBytes: number | null;
  /** Lethe only: max RSS once the model and batch exist, before the first step */
  beforeTrainingBytes?: number;
  error?: string;
}

interface MemoryResult {
  model: ModelName;
  steps: number;
  backend: string;
  runs: MemoryRun[];
}

const log = (line: string): void => console.log(line);

/** One side's operation: returns the wall time of `steps` steps. */
type Timed = (steps: number) => Promise<number>;

/** One side of a comparison; the first error is noted and the side drops out, leaving the other one measured. */
class Side {
  constructor(
    private readonly label: string,
    private run: Timed | null,
    private readonly notes: string[],
  ) {}

  get alive(): boolean {
    return this.run !== null;
  }

  async time(steps: number): Promise<number | null> {
    if (!this.run) return null;
    try {
      return await this.run(steps);
    } catch (e) {
      this.notes.push(`${this.label} failed: ${e instanceof Error ? e.message : String(e)}`);
      this.run = null;
      return null;
    }
  }
}

/**
 * Warm up both sides, choose each side's steps per repetition from a further timed step, then alternate the two
 * sides' repetitions (Lethe first on even repetitions, PyTorch first on odd ones).
 */
async function sideBySide(lethe: Side, torch: Side, batch: number, reps: number, opts: PerfOptions): Promise<{ lethe: Rep[]; torch: Rep[] }> {
  for (let w = 0; w < opts.warmup; w++) {
    await lethe.time(1);
    await torch.time(1);
  }
  const letheSteps = stepsPerRep((await lethe.time(1)) ?? 0, opts.minRepSeconds);
  const torchSteps = stepsPerRep((await torch.time(1)) ?? 0, opts.minRepSeconds);
  const out = { lethe: [] as Rep[], torch: [] as Rep[] };
  const runLethe = async (): Promise<void> => {
    const seconds = await lethe.time(letheSteps);
    if (seconds !== null) out.lethe.push({ images: letheSteps * batch, seconds });
  };
  const runTorch = async (): Promise<void> => {
    const seconds = await torch.time(torchSteps);
    if (seconds !== null) out.torch.push({ images: torchSteps * batch, seconds });
  };
  for (let r = 0; r < reps && (lethe.alive || torch.alive); r++) {
    if (r % 2 === 0) {
      await runLethe();
      await runTorch();
    } else {
      await runTorch();
      await runLethe();
    }
  }
  return out;
}

/**
 * Both phases of one model on one backend. Lethe's side runs in a fresh worker process per phase (see
 * lethe-worker.ts); PyTorch's in the shared torch_bench.py server.
 */
async function measureModel(model: ModelName, backend: BackendChoice, opts: PerfOptions, torch: TorchServer | null, torchThreads: number): Promise<ModelResult> {
  const reps = opts.reps ?? defaultReps(model);
  const notes: string[] = [];
  const phase = async (kind: 'train' | 'infer'): Promise<{ lethe: Rep[]; torch: Rep[] }> => {
    const what = kind === 'train' ? 'training' : 'inference';
    let worker: LetheWorker | null = null;
    try {
      worker = await LetheWorker.start(backend.info.name, model, opts.batch, backend.env);
      if (worker.backendThreads !== undefined && worker.backendThreads !== backend.threads) {
        notes.push(`Lethe ${what} ran on ${worker.backendThreads} thread(s), not the ${backend.threads} this table assumes`);
      }
    } catch (e) {
      notes.push(`Lethe ${what} could not start: ${e instanceof Error ? e.message : String(e)}`);
    }
    try {
      const w = worker;
      const lethe = new Side(`Lethe ${what}`, w ? (steps) => (kind === 'train' ? w.train(steps) : w.infer(steps)) : null, notes);
      const side = new Side(`PyTorch ${what}`, torch ? (steps) => torch[kind](model, opts.batch, steps, torchThreads) : null, notes);
      return await sideBySide(lethe, side, opts.batch, reps, opts);
    } finally {
      worker?.close();
    }
  };
  const train = await phase('train');
  const infer = await phase('infer');
  return {
    model,
    reps,
    throughput: {
      letheTrain: medianThroughput(train.lethe),
      letheInfer: medianThroughput(infer.lethe),
      torchTrain: medianThroughput(train.torch),
      torchInfer: medianThroughput(infer.torch),
    },
    runs: { letheTrain: train.lethe, letheInfer: infer.lethe, torchTrain: train.torch, torchInfer: infer.torch },
    notes,
  };
}

function backendTable(result: BackendResult, torchAvailable: boolean): string {
  const rows = result.models.map((m) => {
    const r = modelReport(m.throughput);
    const x = (v: number | null): string => (v === null ? '-' : `${formatNumber(v)}x`);
    return [m.model, String(m.reps), formatNumber(r.lethe_train), formatNumber(r.torch_train), x(r.train_ratio), formatNumber(r.lethe_infer), formatNumber(r.torch_infer), x(r.infer_ratio)];
  });
  const header = ['model', 'reps', 'Lethe train', 'PyTorch train', 'train ratio', 'Lethe infer', 'PyTorch infer', 'infer ratio'];
  const table = textTable(header, rows);
  return torchAvailable ? table : `${table}\n(PyTorch side not measured)`;
}

function backendTitle(result: BackendResult, opts: PerfOptions, torchVersion: string | null): string {
  const { info, threads, label } = result.backend;
  const torchPart = torchVersion ? `; PyTorch ${torchVersion} at ${result.torchThreads} thread(s)` : '';
  return (
    `backend ${label} (${info.packageName} ${info.version}${info.detail ? `, ${info.detail}` : ''}; ${threads} thread(s)${torchPart}), ` +
    `batch ${opts.batch}, images/s, median of the reps after ${opts.warmup} warm-up step(s); ratio = Lethe / PyTorch`
  );
}

const here = dirname(fileURLToPath(import.meta.url));

function letheMemoryRun(backend: string, model: ModelName, batch: number, steps: number): MemoryRun {
  const child = spawnSync(
    process.execPath,
    [join(here, 'memory-child.js'), '--backend', backend, '--model', model, '--batch', String(batch), '--steps', String(steps)],
    { encoding: 'utf8', timeout: 3_600_000, maxBuffer: 16 * 2 ** 20 },
  );
  const line = (child.stdout ?? '').trim().split('\n').pop() ?? '';
  try {
    const out = JSON.parse(line) as { maxRssBytes: number; rssBeforeTrainingBytes: number };
    return { side: 'Lethe', batch, maxRssBytes: out.maxRssBytes, beforeTrainingBytes: out.rssBeforeTrainingBytes };
  } catch {
    return { side: 'Lethe', batch, maxRssBytes: null, error: `${child.signal ?? `exit ${child.status}`}: ${lastErrorLine(child.stderr ?? '')}` };
  }
}

/**
 * Peak RSS of a ResNet-18 (width 1) training run of a few steps, each side in a fresh process. When Lethe's run
 * fails at the requested batch (the wasm heap cannot grow past 4 GiB), it is repeated at half the batch, with
 * PyTorch measured at both.
 */
function measureMemory(opts: PerfOptions, backend: BackendChoice, torchVersion: string | null, torchThreads: number): MemoryResult {
  const model: ModelName = 'resnet18-w1';
  const result: MemoryResult = { model, steps: opts.memorySteps, backend: backend.info.name, runs: [] };
  const batches = [opts.batch];
  const first = letheMemoryRun(backend.info.name, model, opts.batch, opts.memorySteps);
  result.runs.push(first);
  if (first.maxRssBytes === null && opts.batch >= 2) {
    const half = Math.floor(opts.batch / 2);
    batches.push(half);
    result.runs.push(letheMemoryRun(backend.info.name, model, half, opts.memorySteps));
  }
  if (torchVersion !== null) {
    for (const batch of batches) {
      const t = torchTrainingPeakRss(model, batch, opts.memorySteps, torchThreads);
      result.runs.push('bytes' in t ? { side: 'PyTorch', batch, maxRssBytes: t.bytes } : { side: 'PyTorch', batch, maxRssBytes: null, error: t.message });
    }
  }
  return result;
}

function memoryTable(m: MemoryResult): string {
  const rows = m.runs.map((r) => [
    r.side === 'Lethe' ? `Lethe (${m.backend})` : 'PyTorch',
    String(r.batch),
    r.maxRssBytes === null ? 'failed' : mebibytes(r.maxRssBytes),
    r.beforeTrainingBytes === undefined ? '' : mebibytes(r.beforeTrainingBytes),
    r.error ?? '',
  ]);
  return textTable(['side', 'batch', 'max RSS', 'before 1st step', 'error'], rows);
}

function memoryTitle(m: MemoryResult): string {
  return `peak memory: max RSS of a fresh process training ${m.model} for ${m.steps} step(s)`;
}

function markdownReport(args: {
  opts: PerfOptions;
  machine: MachineInfo;
  command: string;
  started: Date;
  seconds: number;
  results: BackendResult[];
  skipped: { name: string; reason: string }[];
  torchVersion: string | null;
  torchNote: string | null;
  memory: MemoryResult | null;
  loadAtStart: number;
}): string {
  const { opts, machine, results } = args;
  const out: string[] = [];
  out.push('## Throughput: Lethe vs PyTorch', '');
  out.push(`- date: ${args.started.toISOString()} (${Math.round(args.seconds)} s)`);
  out.push(`- command: \`${args.command}\``);
  out.push(`- machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGiB} GiB, ${machine.platform}`);
  out.push(`- software: Node ${machine.node}, @tensorflow/tfjs-core ${machine.tfjsCore}, PyTorch ${args.torchVersion ?? 'not available'}`);
  const malloc = Object.keys(STEADY_MALLOC_ENV).map((k) => `${k}=${withSteadyMalloc(process.env)[k]}`).join(' ');
  out.push(`- glibc malloc, both sides' throughput processes: ${malloc} (freed buffers stay in the process: see STEADY_MALLOC_ENV in torch.ts)`);
  out.push(`- 1-minute load average at start / end: ${args.loadAtStart} / ${loadAverage()} (${machine.cores} cores; the benchmark itself adds up to its thread count)`);
  for (const s of args.skipped) out.push(`- backend ${s.name} skipped: ${s.reason}`);
  if (args.torchNote) out.push(`- ${args.torchNote}`);
  out.push('');
  for (const r of results) {
    out.push(`### ${backendTitle(r, opts, args.torchVersion)}`, '', '```', backendTable(r, args.torchVersion !== null), '```', '');
    const notes = r.models.flatMap((m) => m.notes.map((n) => `- ${m.model}: ${n}`));
    if (notes.length > 0) out.push(...notes, '');
  }
  if (args.memory) {
    out.push(`### ${memoryTitle(args.memory)}`, '', '```', memoryTable(args.memory), '```', '');
  }
  return `${out.join('\n')}\n`;
}

export async function runPerf(argv: readonly string[]): Promise<void> {
  const opts = parsePerfArgs(argv);
  if (opts.help) {
    console.log(PERF_USAGE);
    return;
  }
  const started = new Date();
  const startedAt = performance.now();
  const loadAtStart = loadAverage();
  const machine = machineInfo();
  const command = commandLine('pnpm bench:perf');
  log(`${command}  (${started.toISOString()}; ${machine.cpu}, ${machine.cores} cores; Node ${machine.node}, tfjs-core ${machine.tfjsCore})`);
  const selection = await selectBackends(opts.backends, log);
  selection.chosen = expandWasmThreads(selection.chosen, opts.wasmThreads);
  if (selection.chosen.length === 0) throw new Error(`none of the requested backends (${opts.backends?.join(', ')}) could be loaded`);

  let torch: TorchServer | null = null;
  let torchNote: string | null = null;
  if (opts.torch) {
    const server = await TorchServer.start();
    if (server instanceof TorchServer) torch = server;
    else torchNote = `${server.message}. Reporting Lethe's side only.`;
  } else {
    torchNote = 'PyTorch side skipped (--no-torch).';
  }
  if (torchNote) log(torchNote);
  const torchVersion = torch?.version ?? null;

  const results: BackendResult[] = [];
  try {
    for (const backend of selection.chosen) {
      const result: BackendResult = { backend, torchThreads: opts.torchThreads ?? backend.threads, models: [] };
      results.push(result);
      for (const model of opts.models) {
        const t0 = performance.now();
        const m = await measureModel(model, backend, opts, torch, result.torchThreads);
        for (const n of m.notes) log(`  ${backend.label} ${model}: ${n}`);
        result.models.push(m);
        const r = modelReport(m.throughput);
        log(
          `  ${backend.label} ${model}: train ${formatNumber(r.lethe_train)} vs ${formatNumber(r.torch_train)} img/s, ` +
            `infer ${formatNumber(r.lethe_infer)} vs ${formatNumber(r.torch_infer)} img/s (${((performance.now() - t0) / 1000).toFixed(0)} s)`,
        );
      }
    }
  } finally {
    await torch?.close();
  }
  await initBackend(selection.defaultBackend.info.name as BackendName);

  log('');
  for (const r of results) {
    log(backendTitle(r, opts, torchVersion));
    log(backendTable(r, torch !== null));
    for (const m of r.models) for (const n of m.notes) log(`${m.model}: ${n}`);
    log('');
  }

  const isDefault = (r: BackendResult) => r.backend.info.name === selection.defaultBackend.info.name;
  const primary = results.find((r) => isDefault(r) && r.backend.threads === selection.defaultBackend.threads) ?? results.find(isDefault) ?? results[0]!;
  let memory: MemoryResult | null = null;
  if (opts.memorySteps > 0) {
    log(`peak memory: training resnet18-w1 for ${opts.memorySteps} step(s) in a child process on ${primary.backend.info.name}...`);
    memory = measureMemory(opts, primary.backend, torchVersion, primary.torchThreads);
    log(memoryTitle(memory));
    log(memoryTable(memory));
  }

  if (opts.micro) {
    const { runKernels } = await import('./kernels.js');
    await runKernels(['--backends', [...new Set(results.map((r) => r.backend.info.name))].join(',')]);
  }

  const seconds = (performance.now() - startedAt) / 1000;
  if (opts.json) {
    const throughputOf = (r: BackendResult): Map<string, ModelThroughput> => new Map(r.models.map((m) => [m.model, m.throughput]));
    const others: Record<string, unknown> = {};
    for (const r of results) {
      others[r.backend.label] = {
        ...jsonReport(r.backend.info.name, r.backend.threads, throughputOf(r)),
        torch_threads: r.torchThreads,
        package: `${r.backend.info.packageName} ${r.backend.info.version}`,
        runs: Object.fromEntries(r.models.map((m) => [m.model, m.runs])),
      };
    }
    const report = jsonReport(primary.backend.info.name, primary.backend.threads, throughputOf(primary), {
      date: started.toISOString(),
      command,
      machine,
      batch: opts.batch,
      warmup: opts.warmup,
      torch_version: torchVersion,
      torch_threads: primary.torchThreads,
      torch_note: torchNote,
      load_average: { start: loadAtStart, end: loadAverage() },
      backends: others,
      skipped_backends: selection.skipped,
      memory,
    });
    writeFileSync(opts.json, `${JSON.stringify(report, null, 2)}\n`);
    log(`wrote ${opts.json}`);
  }
  if (opts.markdown) {
    writeFileSync(opts.markdown, markdownReport({ opts, machine, command, started, seconds, results, skipped: selection.skipped, torchVersion, torchNote, memory, loadAtStart }));
    log(`wrote ${opts.markdown}`);
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  runPerf(process.argv.slice(2)).catch((e: unknown) => {
    console.error(e instanceof Error ? e.message : String(e));
    process.exit(1);
  });
}
