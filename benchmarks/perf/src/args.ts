import { MODEL_NAMES, parseModelName, type ModelName } from './cases.js';

/** Options of `pnpm bench:perf`. */
export interface PerfOptions {
  models: ModelName[];
  /** timed repetitions per model and side; undefined: 5, or 2 for resnet18-w1 */
  reps: number | undefined;
  /** untimed training steps and inference passes before the timed ones */
  warmup: number;
  batch: number;
  /** backend names; undefined: the default backend and every other one that loads (cpu only by name) */
  backends: string[] | undefined;
  /** thread counts to measure the wasm backend with, each in its own worker processes (LETHE_WASM_THREADS) */
  wasmThreads: number[] | undefined;
  json: string | undefined;
  /** write a Markdown report (RESULTS.md) to this file */
  markdown: string | undefined;
  torch: boolean;
  /** PyTorch's thread count; undefined: the same as the Lethe backend's */
  torchThreads: number | undefined;
  /** training steps of the peak-memory run; 0 skips it */
  memorySteps: number;
  /** a timed repetition runs enough steps to take at least this long (estimated from the warm-up) */
  minRepSeconds: number;
  /** also run the kernel micro-benchmarks */
  micro: boolean;
  help: boolean;
}

export const PERF_USAGE = `Usage: pnpm bench:perf [options]

Training and inference throughput (images/s) of Lethe's models against the same models in PyTorch
(benchmarks/perf/torch_bench.py, run by /usr/bin/python3 or LETHE_TORCH_PYTHON), measured side by side:
repetitions of the two sides alternate, so both share the machine's noise. Then the peak memory (max RSS) of a
ResNet-18 (width 1) training run.

Options:
  --models a,b          models (default: all): ${MODEL_NAMES.join(', ')}
  --reps N              timed repetitions per side (default: 5; 2 for resnet18-w1); the median is reported
  --warmup N            untimed steps before timing (default: 1)
  --batch N             batch size (default: 128)
  --backends a,b        Lethe backends (default: the default backend and every other one installed, except cpu)
  --wasm-threads 1,2    measure the wasm backend at each of these thread counts, side by side (default: one
                        run at LETHE_WASM_THREADS, else one thread per core)
  --json FILE           write the default backend's results as JSON
  --markdown FILE       write the report as Markdown (date, machine, versions, command, tables)
  --no-torch            measure Lethe only
  --torch-threads N     PyTorch's threads (default: the Lethe backend's thread count)
  --memory-steps N      training steps of the peak-memory run (default: 2; 0 skips it)
  --min-rep-seconds S   run enough steps per repetition to take about S seconds (default: 1)
  --micro               also run the kernel micro-benchmarks (as pnpm bench:kernels)
  --help
`;

function positiveInt(flag: string, value: string | undefined, allowZero = false): number {
  const n = Number(value);
  if (value === undefined || !Number.isInteger(n) || n < (allowZero ? 0 : 1)) {
    throw new Error(`${flag} needs ${allowZero ? 'a non-negative' : 'a positive'} integer, got ${value === undefined ? 'nothing' : `'${value}'`}`);
  }
  return n;
}

function list(flag: string, value: string | undefined): string[] {
  if (value === undefined || value.trim() === '') throw new Error(`${flag} needs a comma-separated list`);
  return value.split(',').map((s) => s.trim()).filter((s) => s !== '');
}

/** What one flag does; `value()` takes the flag's value (see parseFlags), so a flag without one never calls it. */
export type FlagHandler = (value: () => string | undefined, flag: string) => void;

/**
 * The argument loop of both benchmark commands (bench:perf here, bench:kernels in kernels.ts): each argument is
 * looked up in `handlers`; `--` is skipped, `--help` and `-h` ask for help, and anything else is an error that
 * shows `usage`. Returns whether help was asked for. With `inlineValues`, `--flag=value` works as well as
 * `--flag value`; bench:kernels has never accepted that form, and keeps it that way.
 */
export function parseFlags(argv: readonly string[], usage: string, inlineValues: boolean, handlers: Readonly<Record<string, FlagHandler>>): boolean {
  let help = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const eq = arg.indexOf('=');
    const flag = inlineValues && arg.startsWith('--') && eq > 0 ? arg.slice(0, eq) : arg;
    const value = (): string | undefined => (flag !== arg ? arg.slice(eq + 1) : argv[++i]);
    if (flag === '--') continue;
    if (flag === '--help' || flag === '-h') help = true;
    // own properties only: a flag such as 'constructor' must not find Object.prototype's
    else if (Object.hasOwn(handlers, flag)) handlers[flag]!(value, flag);
    else throw new Error(`unknown option '${arg}'\n\n${usage}`);
  }
  return help;
}

export function parsePerfArgs(argv: readonly string[]): PerfOptions {
  const opts: PerfOptions = {
    models: [...MODEL_NAMES],
    reps: undefined,
    warmup: 1,
    batch: 128,
    backends: undefined,
    wasmThreads: undefined,
    json: undefined,
    markdown: undefined,
    torch: true,
    torchThreads: undefined,
    memorySteps: 2,
    minRepSeconds: 1,
    micro: false,
    help: false,
  };
  opts.help = parseFlags(argv, PERF_USAGE, true, {
    '--models': (value, flag) => {
      opts.models = list(flag, value()).map(parseModelName);
    },
    '--reps': (value, flag) => {
      opts.reps = positiveInt(flag, value());
    },
    '--warmup': (value, flag) => {
      opts.warmup = positiveInt(flag, value(), true);
    },
    '--batch': (value, flag) => {
      opts.batch = positiveInt(flag, value());
    },
    '--backends': (value, flag) => {
      opts.backends = list(flag, value()).map((s) => s.toLowerCase());
    },
    '--json': (value) => {
      opts.json = value();
      if (!opts.json) throw new Error('--json needs a file name');
    },
    '--markdown': (value) => {
      opts.markdown = value();
      if (!opts.markdown) throw new Error('--markdown needs a file name');
    },
    '--wasm-threads': (value, flag) => {
      opts.wasmThreads = [...new Set(list(flag, value()).map((v) => positiveInt(flag, v)))];
      if (opts.wasmThreads.some((t) => t > 8)) throw new Error(`${flag}: the wasm backend runs at most 8 threads`);
    },
    '--no-torch': () => {
      opts.torch = false;
    },
    '--torch-threads': (value, flag) => {
      opts.torchThreads = positiveInt(flag, value());
    },
    '--memory-steps': (value, flag) => {
      opts.memorySteps = positiveInt(flag, value(), true);
    },
    '--min-rep-seconds': (value) => {
      const v = value();
      const s = Number(v);
      if (!(s >= 0)) throw new Error(`--min-rep-seconds needs a number >= 0, got '${v}'`);
      opts.minRepSeconds = s;
    },
    '--micro': () => {
      opts.micro = true;
    },
  });
  return opts;
}

/** Steps per timed repetition so that one takes about `minSeconds`, from one step's time; 1 to `max`. */
export function stepsPerRep(secondsPerStep: number, minSeconds: number, max = 50): number {
  if (!(secondsPerStep > 0)) return 1;
  return Math.max(1, Math.min(max, Math.ceil(minSeconds / secondsPerStep)));
}
