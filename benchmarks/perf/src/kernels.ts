/**
 * `pnpm bench:kernels`: tinybench micro-benchmarks of the kernels that dominate training (convolution forward,
 * input gradient and filter gradient at the reference CNN's and ResNet-18's layer shapes, matrix products,
 * max-pool gradient, batch norm forward + gradient) and of one step of each registered unlearner's core
 * computation, on each installed backend. Tasks of the same case on different backends run one after the other
 * in one run, and backends are compared by ratios of those neighbouring measurements.
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { Bench } from 'tinybench';
import { fgsm, l2Step, linfStep } from '@lethe/attacks';
import {
  crossEntropy,
  distanceFeature,
  distillationKl,
  forgetLossGradient,
  listUnlearners,
  negGradPlusLoss,
  perturbationCount,
  perturbEntries,
  saliencyMask,
  selectTopK,
  trainLoop,
  type Batch,
  type LossFunction,
} from '@lethe/core';
import { syntheticImageDataset } from '@lethe/datasets';
import { Model } from '@lethe/models';
import { initBackend, type BackendName } from '@lethe/runtime';
import { parseFlags } from './args.js';
import { selectBackends } from './backends.js';
import { modelSpec, parseModelName, type ModelName } from './cases.js';
import { BENCH_SGD, randomBatch } from './lethe.js';
import { commandLine, loadAverage, machineInfo } from './machine.js';
import { formatNumber, textTable } from './stats.js';

export const KERNELS_USAGE = `Usage: pnpm bench:kernels [options]

Micro-benchmarks (tinybench) of Lethe's hot kernels and of one step of each unlearner's core computation, on
each installed backend; backends are compared by the ratio of neighbouring measurements in the same run.

Options:
  --backends a,b        backends (default: the default backend and every other one installed, except cpu)
  --batch N             batch of the reference-CNN layer shapes and of the unlearner steps (default: 128)
  --resnet-batch N      batch of the ResNet-18 (width 1) layer shapes (default: 32)
  --unlearn-models a,b  models of the unlearner steps (default: small-cnn,resnet18-w0.25)
  --time MS             time budget per task (default: 300)
  --iterations N        minimum timed iterations per task (default: 3)
  --only kernels|unlearners
  --markdown FILE       write the tables as Markdown
  --help
`;

interface KernelOptions {
  backends: string[] | undefined;
  batch: number;
  resnetBatch: number;
  unlearnModels: ModelName[];
  time: number;
  iterations: number;
  only: 'kernels' | 'unlearners' | undefined;
  markdown: string | undefined;
  help: boolean;
}

function parseKernelArgs(argv: readonly string[]): KernelOptions {
  const opts: KernelOptions = {
    backends: undefined,
    batch: 128,
    resnetBatch: 32,
    unlearnModels: ['small-cnn', 'resnet18-w0.25'],
    time: 300,
    iterations: 3,
    only: undefined,
    markdown: undefined,
    help: false,
  };
  const int = (flag: string, v: string | undefined): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new Error(`${flag} needs a positive integer, got '${v}'`);
    return n;
  };
  opts.help = parseFlags(argv, KERNELS_USAGE, false, {
    '--backends': (value) => {
      opts.backends = (value() ?? '').split(',').map((s) => s.trim().toLowerCase()).filter(Boolean);
    },
    '--batch': (value, flag) => {
      opts.batch = int(flag, value());
    },
    '--resnet-batch': (value, flag) => {
      opts.resnetBatch = int(flag, value());
    },
    '--unlearn-models': (value) => {
      opts.unlearnModels = (value() ?? '').split(',').filter(Boolean).map(parseModelName);
    },
    '--time': (value, flag) => {
      opts.time = int(flag, value());
    },
    '--iterations': (value, flag) => {
      opts.iterations = int(flag, value());
    },
    '--only': (value) => {
      const v = value();
      if (v !== 'kernels' && v !== 'unlearners') throw new Error(`--only takes kernels or unlearners, got '${v}'`);
      opts.only = v;
    },
    '--markdown': (value) => {
      opts.markdown = value();
    },
  });
  return opts;
}

/** A benchmark case: made on the active backend, run many times, then disposed. */
interface Case {
  group: string;
  name: string;
  shape: string;
  /** registered unlearners whose core computation this is (unlearner cases only) */
  usedBy?: string[];
  /** its run returns a promise (tinybench then awaits it inside the timed window) */
  async?: boolean;
  setup(): Promise<{ run: () => unknown; dispose: () => void }>;
}

interface ConvLayer {
  name: string;
  batch: number;
  size: number;
  inChannels: number;
  outChannels: number;
  kernel: number;
  stride: number;
}

function convLayers(batch: number, resnetBatch: number): ConvLayer[] {
  const cnn = (name: string, size: number, inChannels: number, outChannels: number): ConvLayer => ({ name: `small-cnn ${name}`, batch, size, inChannels, outChannels, kernel: 3, stride: 1 });
  const res = (name: string, size: number, inChannels: number, outChannels: number, kernel = 3, stride = 1): ConvLayer => ({
    name: `resnet18 ${name}`,
    batch: resnetBatch,
    size,
    inChannels,
    outChannels,
    kernel,
    stride,
  });
  return [
    cnn('conv1', 32, 3, 32),
    cnn('conv2', 32, 32, 32),
    cnn('conv3', 16, 32, 64),
    res('stem', 32, 3, 64),
    res('layer1', 32, 64, 64),
    res('layer2.0.conv1 (stride 2)', 32, 64, 128, 3, 2),
    res('layer2.0.shortcut (1x1, stride 2)', 32, 64, 128, 1, 2),
    res('layer2', 16, 128, 128),
    res('layer3', 8, 256, 256),
    res('layer4', 4, 512, 512),
  ];
}

function uniform(shape: number[]): tf.Tensor {
  return tf.randomUniform(shape, -1, 1, 'float32', 1);
}

function convCases(layers: ConvLayer[]): Case[] {
  const out: Case[] = [];
  for (const l of layers) {
    // 'same' for 3x3 and 'valid' for 1x1, as @lethe/models' applyConv
    const pad = l.kernel === 1 ? 'valid' : 'same';
    const outSize = Math.ceil(l.size / l.stride);
    const xShape: [number, number, number, number] = [l.batch, l.size, l.size, l.inChannels];
    const fShape: [number, number, number, number] = [l.kernel, l.kernel, l.inChannels, l.outChannels];
    const dyShape = [l.batch, outSize, outSize, l.outChannels];
    const shape = `x ${xShape.join('x')}, filter ${fShape.join('x')}${l.stride > 1 ? `, stride ${l.stride}` : ''}`;
    const attrs = { strides: [l.stride, l.stride], pad, dataFormat: 'NHWC', dilations: [1, 1] };
    out.push({
      group: 'conv2d forward',
      name: `conv2d ${l.name}`,
      shape,
      async setup() {
        const x = uniform(xShape) as tf.Tensor4D;
        const f = uniform(fShape) as tf.Tensor4D;
        return { run: () => tf.conv2d(x, f, l.stride, pad).dispose(), dispose: () => tf.dispose([x, f]) };
      },
    });
    out.push({
      group: 'conv2d input gradient',
      name: `Conv2DBackpropInput ${l.name}`,
      shape,
      async setup() {
        const dy = uniform(dyShape);
        const filter = uniform(fShape);
        return {
          run: () => (tf.engine().runKernel('Conv2DBackpropInput', { dy, filter }, { ...attrs, inputShape: xShape }) as tf.Tensor).dispose(),
          dispose: () => tf.dispose([dy, filter]),
        };
      },
    });
    out.push({
      group: 'conv2d filter gradient',
      name: `Conv2DBackpropFilter ${l.name}`,
      shape,
      async setup() {
        const x = uniform(xShape);
        const dy = uniform(dyShape);
        return {
          run: () => (tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, { ...attrs, filterShape: fShape }) as tf.Tensor).dispose(),
          dispose: () => tf.dispose([x, dy]),
        };
      },
    });
  }
  return out;
}

function otherKernelCases(batch: number, resnetBatch: number): Case[] {
  const matmul = (name: string, a: [number, number], b: [number, number], transposeA = false): Case => ({
    group: 'matmul',
    name: `matMul ${name}`,
    shape: `${a.join('x')}${transposeA ? 'ᵀ' : ''} · ${b.join('x')}`,
    async setup() {
      const x = uniform(a) as tf.Tensor2D;
      const y = uniform(b) as tf.Tensor2D;
      return { run: () => tf.matMul(x, y, transposeA).dispose(), dispose: () => tf.dispose([x, y]) };
    },
  });
  const maxPoolGrad = (name: string, shape: [number, number, number, number]): Case => ({
    group: 'max-pool gradient',
    name: `MaxPoolGrad ${name}`,
    shape: `x ${shape.join('x')}, 2x2 stride 2`,
    async setup() {
      const input = uniform(shape) as tf.Tensor4D;
      const output = tf.maxPool(input, 2, 2, 'valid');
      const dy = uniform(output.shape);
      const attrs = { filterSize: [2, 2], strides: [2, 2], pad: 'valid' };
      return {
        run: () => (tf.engine().runKernel('MaxPoolGrad', { dy, input, output }, attrs) as tf.Tensor).dispose(),
        dispose: () => tf.dispose([input, output, dy]),
      };
    },
  });
  // The same arithmetic as @lethe/models' applyBatchNorm in training mode (broadcasting ops, not tf.batchNorm),
  // forward and gradient with respect to the input, gamma and beta. (The running-statistics update is left out.)
  const batchNorm = (name: string, shape: [number, number, number, number]): Case => ({
    group: 'batch norm forward + gradient',
    name: `batch norm ${name}`,
    shape: `x ${shape.join('x')}`,
    async setup() {
      const x = uniform(shape) as tf.Tensor4D;
      const dy = uniform(shape) as tf.Tensor4D;
      const gamma = tf.ones([shape[3]]);
      const beta = tf.zeros([shape[3]]);
      const f = (xx: tf.Tensor, g: tf.Tensor, b: tf.Tensor): tf.Tensor => {
        const mean = tf.mean(xx, [0, 1, 2]);
        const centered = tf.sub(xx, mean);
        const variance = tf.mean(tf.square(centered), [0, 1, 2]);
        return tf.add(tf.mul(centered, tf.mul(g, tf.rsqrt(tf.add(variance, 1e-5)))), b);
      };
      const grads = tf.grads(f as (...args: tf.Tensor[]) => tf.Tensor);
      return { run: () => tf.dispose(grads([x, gamma, beta], dy)), dispose: () => tf.dispose([x, dy, gamma, beta]) };
    },
  });
  return [
    matmul('small-cnn dense forward', [batch, 4096], [4096, 10]),
    matmul('small-cnn dense filter gradient', [batch, 4096], [batch, 10], true),
    matmul('resnet18 dense forward', [batch, 512], [512, 10]),
    matmul('square 512', [512, 512], [512, 512]),
    maxPoolGrad('small-cnn pool1', [batch, 32, 32, 32]),
    maxPoolGrad('small-cnn pool2', [batch, 16, 16, 64]),
    batchNorm('small-cnn-bn conv1/conv2', [batch, 32, 32, 32]),
    batchNorm('resnet18 layer1', [resnetBatch, 32, 32, 64]),
  ];
}

/** SCRUB's min-step loss (its module keeps it private): gamma * CE + alpha * KL(teacher || student). */
function scrubMinLoss(temperature: number, gamma: number, alpha: number): LossFunction {
  return (model, batch) =>
    tf.tidy(() => {
      const student = model.logits(batch.x, { training: true });
      const kl = distillationKl(student, batch.extra!['teacherLogits'] as tf.Tensor2D, temperature);
      return tf.add(tf.mul(crossEntropy(student, batch.y), gamma), tf.mul(kl, alpha)) as tf.Scalar;
    });
}

function unlearnerCases(models: ModelName[], batch: number): Case[] {
  const out: Case[] = [];
  for (const modelName of models) {
    const spec = modelSpec(modelName);
    const shape = `${modelName}, batch ${batch}`;
    // Each case gets its own model and data on the active backend.
    const prepare = () => {
      const model = Model.create(spec, 0);
      const data = randomBatch(spec, batch, 1);
      const forget = randomBatch(spec, batch, 2);
      return { model, ...data, forget, dispose: () => tf.dispose([data.x, data.y, forget.x, forget.y]) };
    };
    const oneStep = (m: Model, loss: LossFunction | undefined, batchOf: () => Batch) =>
      trainLoop({ model: m, epochs: 1, batches: () => [batchOf()], optimizer: BENCH_SGD, schedule: { kind: 'constant' }, ...(loss ? { loss } : {}) });
    const dataset = () => syntheticImageDataset({ count: batch * 5, numClasses: spec.numClasses, height: spec.inputShape[0], width: spec.inputShape[1], channels: spec.inputShape[2], seed: 3 });
    const firstIndices = (n: number, from = 0) => Int32Array.from({ length: n }, (_, i) => from + i);
    out.push({
      group: 'unlearner steps',
      name: 'trainLoop step (cross-entropy)',
      shape,
      async: true,
      usedBy: ['retrain', 'finetune', 'random-label', 'l1-sparse', 'gradient-ascent', 'salun', 'amun', 'amun-salun', 'boundary-shrink'],
      async setup() {
        const p = prepare();
        return {
          run: () => oneStep(p.model, undefined, () => ({ x: tf.clone(p.x), y: tf.clone(p.y) })),
          dispose: () => {
            p.model.dispose();
            p.dispose();
          },
        };
      },
    });
    out.push({
      group: 'unlearner steps',
      name: 'NegGrad+ step (retain + forget batch)',
      shape,
      async: true,
      usedBy: ['neggrad-plus'],
      async setup() {
        const p = prepare();
        const loss = negGradPlusLoss(0.999);
        return {
          run: () => oneStep(p.model, loss, () => ({ x: tf.clone(p.x), y: tf.clone(p.y), extra: { xForget: tf.clone(p.forget.x), yForget: tf.clone(p.forget.y) } })),
          dispose: () => {
            p.model.dispose();
            p.dispose();
          },
        };
      },
    });
    out.push({
      group: 'unlearner steps',
      name: 'SCRUB min step (teacher logits + CE + KL)',
      shape,
      async: true,
      usedBy: ['scrub'],
      async setup() {
        const p = prepare();
        const teacher = Model.create(spec, 5);
        const loss = scrubMinLoss(4, 0.99, 0.001);
        return {
          run: () => oneStep(p.model, loss, () => ({ x: tf.clone(p.x), y: tf.clone(p.y), extra: { teacherLogits: teacher.logits(p.x, { training: false }) } })),
          dispose: () => {
            p.model.dispose();
            teacher.dispose();
            p.dispose();
          },
        };
      },
    });
    out.push({
      group: 'unlearner steps',
      name: 'SalUn saliency mask (one forget batch)',
      shape,
      async: true,
      usedBy: ['salun', 'amun-salun'],
      async setup() {
        const model = Model.create(spec, 0);
        const ds = dataset();
        return {
          run: async () => tf.dispose([...(await saliencyMask(model, ds, firstIndices(batch), { fraction: 0.5, batchSize: batch })).values()]),
          dispose: () => model.dispose(),
        };
      },
    });
    out.push({
      group: 'unlearner steps',
      name: 'Top-K: forget-loss gradient + selectTopK + perturbEntries',
      shape,
      async: true,
      usedBy: ['topk-perturbation', 'randomk-perturbation'],
      async setup() {
        const model = Model.create(spec, 0);
        const ds = dataset();
        return {
          run: async () => {
            const grad = await forgetLossGradient(model, ds, firstIndices(batch), batch);
            for (let i = 0; i < grad.length; i++) grad[i] = Math.abs(grad[i]!);
            const chosen = selectTopK(grad, perturbationCount(0.01, grad.length)).sort();
            await perturbEntries(model, chosen, { mode: 'noise', noiseScale: 1, seed: 0 });
          },
          dispose: () => model.dispose(),
        };
      },
    });
    const attackCase = (name: string, usedBy: string[], step: (model: Model, x: tf.Tensor4D, y: tf.Tensor1D) => tf.Tensor): Case => ({
      group: 'unlearner steps',
      name,
      shape,
      usedBy,
      async setup() {
        const p = prepare();
        return {
          run: () => step(p.model, p.x, p.y).dispose(),
          dispose: () => {
            p.model.dispose();
            p.dispose();
          },
        };
      },
    });
    out.push(attackCase('PGD-L2 step (one batch)', ['amun', 'amun-salun'], (m, x, y) => l2Step(m, x, x, y, { eps: 0.04, stepSize: 0.04 })));
    out.push(attackCase('PGD-Linf step (one batch)', ['tmu'], (m, x, y) => linfStep(m, x, x, y, { eps: 8 / 255, stepSize: 2 / 255 })));
    out.push(attackCase('FGSM (one batch)', ['boundary-shrink'], (m, x, y) => fgsm(m, x, y, { eps: 0.1 })));
    out.push({
      group: 'unlearner steps',
      name: `TMU distance feature (${batch} queries, ${batch * 4} references)`,
      shape,
      async: true,
      usedBy: ['tmu'],
      async setup() {
        const model = Model.create(spec, 0);
        const ds = dataset();
        return {
          run: () => distanceFeature(model, { dataset: ds, indices: firstIndices(batch) }, { dataset: ds, indices: firstIndices(batch * 4, batch) }, 5, batch),
          dispose: () => model.dispose(),
        };
      },
    });
  }
  return out;
}

interface Measured {
  c: Case;
  /** median ms per backend name; null when the task failed there */
  ms: Map<string, number | null>;
  errors: Map<string, string>;
}

async function measure(cases: Case[], backends: string[], opts: KernelOptions, log: (line: string) => void): Promise<Measured[]> {
  const bench = new Bench({ time: opts.time, iterations: opts.iterations, warmupTime: 0, warmupIterations: 1 });
  const byTask = new Map<string, { measured: Measured; backend: string }>();
  const results: Measured[] = [];
  for (const c of cases) {
    const measured: Measured = { c, ms: new Map(), errors: new Map() };
    results.push(measured);
    for (const backend of backends) {
      let live: { run: () => unknown; dispose: () => void } | undefined;
      const taskName = `${c.group} | ${c.name} | ${c.shape} | ${backend}`;
      byTask.set(taskName, { measured, backend });
      bench.add(taskName, c.async ? async () => live!.run() : () => live!.run(), {
        async: c.async ?? false,
        beforeAll: async () => {
          await initBackend(backend as BackendName);
          live = await c.setup();
        },
        afterAll: () => {
          live?.dispose();
          live = undefined;
        },
      });
    }
  }
  bench.addEventListener('cycle', (e) => {
    const task = (e as unknown as { task?: { name: string; result: { state: string; latency?: { p50: number } } } }).task;
    if (!task) return;
    const p50 = task.result.latency?.p50;
    log(`  ${task.name}: ${p50 === undefined ? task.result.state : `${p50.toFixed(2)} ms`}`);
  });
  await bench.run();
  for (const task of bench.tasks) {
    const entry = byTask.get(task.name)!;
    const result = task.result as { state: string; latency?: { p50: number }; error?: Error };
    if (result.latency) entry.measured.ms.set(entry.backend, result.latency.p50);
    else {
      entry.measured.ms.set(entry.backend, null);
      entry.measured.errors.set(entry.backend, result.error?.message ?? result.state);
    }
  }
  return results;
}

function resultTable(results: Measured[], backends: string[], withUsedBy: boolean): string {
  const reference = backends[0]!;
  const header = ['case', 'shape', ...backends.map((b) => `${b} ms`), ...backends.slice(1).map((b) => `${b} speed-up`)];
  if (withUsedBy) header.push('used by');
  const rows = results.map((m) => {
    const ms = backends.map((b) => m.ms.get(b) ?? null);
    const ref = ms[0];
    const speedups = ms.slice(1).map((v) => (ref != null && v != null && v > 0 ? `${formatNumber(ref / v)}x` : '-'));
    const row = [m.c.name, m.c.shape, ...ms.map((v) => formatNumber(v)), ...speedups];
    if (withUsedBy) row.push(m.c.usedBy?.join(', ') ?? '');
    return row;
  });
  const errors = results.flatMap((m) => [...m.errors].map(([b, e]) => `${m.c.name} on ${b}: ${e}`));
  return `${textTable(header, rows)}${errors.length > 0 ? `\nfailed: ${errors.join('; ')}` : ''}\n(median ms per call; speed-up = ${reference} time / that backend's time)`;
}

export async function runKernels(argv: readonly string[]): Promise<void> {
  const opts = parseKernelArgs(argv);
  if (opts.help) {
    console.log(KERNELS_USAGE);
    return;
  }
  const log = (line: string): void => console.log(line);
  const machine = machineInfo();
  const command = commandLine('pnpm bench:kernels');
  const started = new Date();
  const loadAtStart = loadAverage();
  log(`${command}  (${started.toISOString()}; ${machine.cpu}, ${machine.cores} cores; Node ${machine.node}, tfjs-core ${machine.tfjsCore})`);
  const selection = await selectBackends(opts.backends, log);
  const backends = selection.chosen.map((c) => c.info.name);
  if (backends.length === 0) throw new Error('no backend to benchmark');
  const describe = selection.chosen.map((c) => `${c.info.name} (${c.info.packageName} ${c.info.version}${c.info.detail ? `, ${c.info.detail}` : ''})`).join('; ');
  log(`backends: ${describe}`);

  const sections: string[] = [];
  if (opts.only !== 'unlearners') {
    const cases = [...convCases(convLayers(opts.batch, opts.resnetBatch)), ...otherKernelCases(opts.batch, opts.resnetBatch)];
    const results = await measure(cases, backends, opts, log);
    sections.push(`kernels\n${resultTable(results, backends, false)}`);
  }
  if (opts.only !== 'kernels') {
    const cases = unlearnerCases(opts.unlearnModels, opts.batch);
    const results = await measure(cases, backends, opts, log);
    const covered = new Set(cases.flatMap((c) => c.usedBy ?? []));
    const uncovered = listUnlearners()
      .map((u) => u.name)
      .filter((n) => !covered.has(n));
    const note = uncovered.length > 0 ? `\nregistered unlearners without a core step here: ${uncovered.join(', ')}` : '';
    sections.push(`unlearner core steps (one call each)\n${resultTable(results, backends, true)}${note}`);
  }
  await initBackend(selection.defaultBackend.info.name as BackendName);
  log('');
  for (const s of sections) log(`${s}\n`);
  if (opts.markdown) {
    const md = [
      '## Kernel and unlearner-step micro-benchmarks (tinybench)',
      '',
      `- date: ${started.toISOString()}`,
      `- command: \`${command}\``,
      `- machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGiB} GiB; Node ${machine.node}, @tensorflow/tfjs-core ${machine.tfjsCore}`,
      `- backends: ${describe}`,
      `- 1-minute load average at start / end: ${loadAtStart} / ${loadAverage()} (${machine.cores} cores)`,
      ...selection.skipped.map((s) => `- backend ${s.name} skipped: ${s.reason}`),
      '',
      ...sections.map((s) => {
        const [title, ...rest] = s.split('\n');
        return `### ${title}\n\n\`\`\`\n${rest.join('\n')}\n\`\`\`\n`;
      }),
    ].join('\n');
    writeFileSync(opts.markdown, md);
    log(`wrote ${opts.markdown}`);
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  runKernels(process.argv.slice(2)).catch((e: unknown) => {
    console.error(e instanceof Error ? e.message : String(e));
    process.exit(1);
  });
}
