import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/**
 * The PyTorch side: benchmarks/perf/torch_bench.py run by Debian's interpreter, where `apt-get install
 * python3-torch` puts torch (the default python3 on PATH may be another one). LETHE_TORCH_PYTHON overrides it.
 */
export const TORCH_SCRIPT = join(dirname(fileURLToPath(import.meta.url)), '..', 'torch_bench.py');
export const INSTALL_TORCH = 'apt-get update && apt-get install -y python3-torch';

export function torchPython(): string {
  return process.env['LETHE_TORCH_PYTHON'] || '/usr/bin/python3';
}

/** Why PyTorch cannot run here, with the command that fixes it. */
export function torchMissingMessage(python: string, detail: string): string {
  return `PyTorch is not available to ${python} (${detail}); install it with \`${INSTALL_TORCH}\` (Debian's python3-torch) to measure the PyTorch side`;
}

export type TorchAvailability = { ok: true; python: string } | { ok: false; python: string; message: string };

/** The parameter count of each benchmark model as torch_bench.py builds it, or why it could not run. */
export function torchParameterCounts(): { counts: Record<string, number> } | { message: string } {
  const python = torchPython();
  if (!existsSync(python)) return { message: torchMissingMessage(python, 'no such interpreter') };
  const run = spawnSync(python, [TORCH_SCRIPT, '--count-params'], { encoding: 'utf8', timeout: 120_000 });
  const out = parseLastJsonLine(run.stdout ?? '');
  if (out && typeof out['error'] === 'string') return { message: torchMissingMessage(python, out['error']) };
  if (run.status !== 0 || !out) return { message: `torch_bench.py --count-params failed (exit ${run.status}): ${(run.stderr ?? '').trim().slice(-500)}` };
  return { counts: out as Record<string, number> };
}

function parseLastJsonLine(text: string): Record<string, unknown> | undefined {
  const lines = text.trim().split('\n').filter((l) => l.trim().startsWith('{'));
  if (lines.length === 0) return undefined;
  try {
    return JSON.parse(lines[lines.length - 1]!) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

/** Peak RSS of a PyTorch training run of a few steps, in its own process. */
export function torchTrainingPeakRss(model: string, batch: number, steps: number, threads: number): { bytes: number } | { message: string } {
  const python = torchPython();
  const run = spawnSync(python, [TORCH_SCRIPT, '--memory', model, '--batch', String(batch), '--steps', String(steps), '--threads', String(threads)], {
    encoding: 'utf8',
    timeout: 1_800_000,
  });
  const out = parseLastJsonLine(run.stdout ?? '');
  if (out && typeof out['max_rss_bytes'] === 'number') return { bytes: out['max_rss_bytes'] };
  if (out && typeof out['error'] === 'string') return { message: torchMissingMessage(python, out['error']) };
  return { message: `torch_bench.py --memory failed (exit ${run.status}): ${(run.stderr ?? '').trim().slice(-500)}` };
}

/**
 * glibc malloc settings for both sides of the throughput measurement (the Lethe worker gets them too). By default
 * glibc hands buffers above its mmap threshold back to the OS when they are freed and maps fresh, zeroed pages for
 * the next ones; how high that threshold is depends on what the process freed before. Measured on 2026-12-07: a
 * fresh torch_bench.py process trained the reference CNN at about 700 images/s for a minute on end, and at about
 * 1600 once one ResNet-18 width 1 step had run in it (or with these settings from the start), so PyTorch's speed
 * depended on the order of the models. A raised mmap threshold keeps freed buffers in the process for reuse, as a
 * long-running training process ends up doing, and makes each side's rate independent of what ran before it.
 * Values set by the user in the environment are kept.
 */
export const STEADY_MALLOC_ENV: Readonly<Record<string, string>> = {
  MALLOC_MMAP_THRESHOLD_: String(512 * 2 ** 20),
  MALLOC_TRIM_THRESHOLD_: String(2 * 2 ** 30),
};

/** STEADY_MALLOC_ENV under the variables `env` already sets. */
export function withSteadyMalloc(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return { ...STEADY_MALLOC_ENV, ...env };
}

/**
 * A long-lived torch_bench.py --serve process: one JSON command per line, one JSON answer per line. Keeping it
 * alive lets the benchmark interleave PyTorch's repetitions with Lethe's in one run (so both share the machine's
 * noise) without paying Python's and torch's start-up for every repetition. While it computes, this process only
 * waits, and the other way round.
 */
export class TorchServer {
  private stderr: string;

  private constructor(
    private readonly child: ChildProcessWithoutNullStreams,
    private readonly lines: AsyncIterator<string>,
    readonly version: string,
    readonly python: string,
    stderrSoFar: { text: string },
  ) {
    this.stderr = stderrSoFar.text;
    child.stderr.removeAllListeners('data');
    child.stderr.on('data', (d: Buffer) => {
      this.stderr = (this.stderr + d.toString()).slice(-4000);
    });
  }

  /** Start the server; resolves to a message (how to install torch) instead when torch cannot be imported. */
  static async start(): Promise<TorchServer | { message: string }> {
    const python = torchPython();
    if (!existsSync(python)) return { message: torchMissingMessage(python, 'no such interpreter') };
    const child = spawn(python, [TORCH_SCRIPT, '--serve'], { stdio: ['pipe', 'pipe', 'pipe'], env: withSteadyMalloc(process.env) });
    const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
    const stderr = { text: '' };
    child.stderr.on('data', (d: Buffer) => {
      stderr.text += d.toString();
    });
    child.stdin.write(`${JSON.stringify({ cmd: 'info' })}\n`);
    const first = await lines.next();
    if (first.done) {
      if (child.exitCode === null) await new Promise((resolve) => child.once('close', resolve));
      return { message: `torch_bench.py --serve ended before answering: ${stderr.text.trim().slice(-500)}` };
    }
    const info = JSON.parse(first.value) as Record<string, unknown>;
    if (typeof info['error'] === 'string') {
      child.stdin.end();
      return { message: torchMissingMessage(python, info['error']) };
    }
    return new TorchServer(child, lines, String(info['torch']), python, stderr);
  }

  private async request(command: Record<string, unknown>): Promise<Record<string, unknown>> {
    this.child.stdin.write(`${JSON.stringify(command)}\n`);
    const next = await this.lines.next();
    if (next.done) throw new Error(`torch_bench.py ended unexpectedly: ${this.stderr.trim().slice(-1000)}`);
    const reply = JSON.parse(next.value) as Record<string, unknown>;
    if (typeof reply['error'] === 'string') throw new Error(`torch_bench.py: ${reply['error']}`);
    return reply;
  }

  /** Wall time (s) of `steps` training steps (forward, backward, SGD step) of `model` at `batch`, on `threads` threads. */
  async train(model: string, batch: number, steps: number, threads: number): Promise<number> {
    return (await this.request({ cmd: 'train', model, batch, steps, threads }))['seconds'] as number;
  }

  /** Wall time (s) of `steps` inference passes (eval mode, no_grad). */
  async infer(model: string, batch: number, steps: number, threads: number): Promise<number> {
    return (await this.request({ cmd: 'infer', model, batch, steps, threads }))['seconds'] as number;
  }

  async close(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const closed = new Promise((resolve) => this.child.once('close', resolve));
    this.child.stdin.write(`${JSON.stringify({ cmd: 'quit' })}\n`);
    this.child.stdin.end();
    await closed;
  }
}
