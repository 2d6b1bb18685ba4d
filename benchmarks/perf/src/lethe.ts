import { fork, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { trainLoop, type Batch } from '@lethe/core';
import { Model, type ModelSpec } from '@lethe/models';
import { Rng } from '@lethe/runtime';
import { withSteadyMalloc } from './torch.js';

/** The optimiser of every benchmark training step, as in torch_bench.py: SGD, momentum 0.9, weight decay 5e-4. */
export const BENCH_SGD = { lr: 0.01, momentum: 0.9, weightDecay: 5e-4 };

/** A fixed random batch: images uniform in [0, 1] (NHWC), labels uniform over the classes. */
export function randomBatch(spec: ModelSpec, batch: number, seed: number): { x: tf.Tensor4D; y: tf.Tensor1D } {
  const [h, w, c] = spec.inputShape;
  const rng = new Rng(seed);
  const pixels = new Float32Array(batch * h * w * c);
  for (let i = 0; i < pixels.length; i++) pixels[i] = rng.next();
  const labels = Int32Array.from({ length: batch }, () => rng.int(spec.numClasses));
  return { x: tf.tensor4d(pixels, [batch, h, w, c]), y: tf.tensor1d(labels, 'int32') };
}

/**
 * Lethe's side of the throughput benchmark: one model on the active backend and one fixed batch. A training
 * step is what users run: @lethe/core's trainLoop (forward in training mode, cross-entropy, tf.variableGrads,
 * Sgd update) over batches the loop disposes. Each timed call is one trainLoop run of `steps` steps; a run makes
 * a new Sgd, so its first step creates the momentum buffers instead of updating them (a few elementwise ops per
 * parameter, noise next to the convolutions).
 */
export class LetheRunner {
  readonly model: Model;
  private readonly x: tf.Tensor4D;
  private readonly y: tf.Tensor1D;

  constructor(
    spec: ModelSpec,
    readonly batch: number,
    seed = 0,
  ) {
    this.model = Model.create(spec, seed);
    const data = randomBatch(spec, batch, seed + 1);
    this.x = data.x;
    this.y = data.y;
  }

  /** Wall time (s) of `steps` training steps through trainLoop. */
  async train(steps: number): Promise<number> {
    const { x, y } = this;
    function* batches(): Generator<Batch> {
      // clones: the loop disposes each batch after its step
      for (let s = 0; s < steps; s++) yield { x: tf.clone(x), y: tf.clone(y) };
    }
    const start = performance.now();
    await trainLoop({ model: this.model, epochs: 1, batches, optimizer: BENCH_SGD, schedule: { kind: 'constant' } });
    return (performance.now() - start) / 1000;
  }

  /** Wall time (s) of `steps` inference passes (batch norm in inference mode), each read back to the CPU. */
  infer(steps: number): number {
    const start = performance.now();
    for (let s = 0; s < steps; s++) {
      const logits = this.model.logits(this.x, { training: false });
      logits.dataSync();
      logits.dispose();
    }
    return (performance.now() - start) / 1000;
  }

  dispose(): void {
    this.model.dispose();
    this.x.dispose();
    this.y.dispose();
  }
}

/**
 * The parent's handle on a lethe-worker.js process (one backend, one model). Requests reject with the worker's
 * error, or with the tail of its stderr when it dies (a wasm abort on running out of memory kills the process).
 */
export class LetheWorker {
  private stderr = '';
  private pending: { resolve: (m: Record<string, unknown>) => void; reject: (e: Error) => void } | undefined;
  private exited: string | undefined;
  /** the thread count the worker's backend reported when it started, when it reports one */
  backendThreads: number | undefined;
  /** max RSS of the worker process at its last answer */
  maxRssBytes = 0;

  private constructor(private readonly child: ChildProcess) {
    child.stderr?.on('data', (d: Buffer) => {
      this.stderr = (this.stderr + d.toString()).slice(-8000);
    });
    child.on('message', (m: Record<string, unknown>) => {
      const p = this.pending;
      this.pending = undefined;
      if (typeof m['maxRssBytes'] === 'number') this.maxRssBytes = m['maxRssBytes'];
      if (m['ok'] === true) p?.resolve(m);
      else p?.reject(new Error(explainError(String(m['error']))));
    });
    child.on('exit', (code, signal) => {
      this.exited = `the Lethe worker died (${signal ?? `exit ${code}`}): ${lastErrorLine(this.stderr)}`;
      this.pending?.reject(new Error(this.exited));
      this.pending = undefined;
    });
  }

  static async start(backend: string, model: string, batch: number, env: Record<string, string> = {}): Promise<LetheWorker> {
    const script = join(dirname(fileURLToPath(import.meta.url)), 'lethe-worker.js');
    const child = fork(script, [], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'], env: withSteadyMalloc({ ...process.env, ...env }) });
    const worker = new LetheWorker(child);
    try {
      const answer = await worker.request({ cmd: 'init', backend, model, batch });
      if (typeof answer['threads'] === 'number') worker.backendThreads = answer['threads'];
    } catch (e) {
      worker.close();
      throw e;
    }
    return worker;
  }

  private request(command: Record<string, unknown>): Promise<Record<string, unknown>> {
    if (this.exited) return Promise.reject(new Error(this.exited));
    return new Promise((resolve, reject) => {
      this.pending = { resolve, reject };
      this.child.send(command);
    });
  }

  async train(steps: number): Promise<number> {
    return (await this.request({ cmd: 'train', steps }))['seconds'] as number;
  }

  async infer(steps: number): Promise<number> {
    return (await this.request({ cmd: 'infer', steps }))['seconds'] as number;
  }

  close(): void {
    if (this.exited === undefined && this.child.connected) this.child.disconnect();
  }
}

/** The most telling line of a crashed worker's stderr: its error message rather than a stack frame. */
export function lastErrorLine(stderr: string): string {
  const lines = stderr.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('at '));
  const error = [...lines].reverse().find((l) => /error|abort|out of bounds|memory/i.test(l));
  return explainError((error ?? lines[lines.length - 1] ?? 'no output').slice(0, 300));
}

/** An error message, with the likely cause appended when it is a wasm abort (which says nothing itself). */
export function explainError(message: string): string {
  return /Aborted\(\)|memory access out of bounds|Cannot enlarge memory|out of memory/i.test(message) ? `${message} ${OUT_OF_MEMORY_HINT}` : message;
}

/** What a wasm abort during training almost always means. */
export const OUT_OF_MEMORY_HINT = '(most likely out of memory: the wasm heap cannot grow past 4 GiB; try a smaller --batch)';
