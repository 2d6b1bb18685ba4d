import fs from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { Model, getArchitecture, type ModelSpec } from '@lethe/models';
import { trainLoop, type Batch } from '@lethe/core';
import { Rng } from '@lethe/runtime';
import type { Plan } from '../plan/plan.js';
import { modelCached } from '../prepare/cache.js';
import { referenceOutputsFile } from '../prepare/references.js';
import { spdGanKeys } from '../prepare/spd-gan.js';
import { artefactDone } from '../prepare/artefacts.js';
import { readExistingResult, resultFilePath } from '../results/result-files.js';
import { formatDuration } from './budget.js';
import type { Job, JobKind } from '../plan/jobs.js';
import type { TuningRecord } from '../plan/tuning-record.js';

/** Images per second of one training step (forward + backward + SGD update) and of one inference pass. */
export interface Throughput {
  backend: string;
  trainImagesPerSecond: number;
  inferenceImagesPerSecond: number;
  /** how it was measured, for the printed estimate */
  method: string;
}

/**
 * Measure the model's training and inference speed on the current backend: `steps` timed steps on random images
 * after `warmup` untimed ones (the first steps compile kernels and fill the allocator's pool), one batch of the
 * recipe's size each. Random images cost the same as real ones: nothing in a step depends on the pixel values.
 */
export async function measureThroughput(spec: ModelSpec, batchSize: number, evalBatchSize: number, backend: string, options: { warmup?: number; steps?: number } = {}): Promise<Throughput> {
  const warmup = options.warmup ?? 2;
  const steps = options.steps ?? 5;
  const model = Model.create(spec, 0);
  const [h, w, c] = spec.inputShape;
  const rng = new Rng(1);
  const images = (n: number): tf.Tensor4D => tf.tensor4d(Float32Array.from({ length: n * h * w * c }, () => rng.next()), [n, h, w, c]);
  const labels = (n: number): tf.Tensor1D => tf.tensor1d(Int32Array.from({ length: n }, () => rng.int(spec.numClasses)), 'int32');
  try {
    let started = 0;
    const batchesOf = function* (): Iterable<Batch> {
      for (let i = 0; i < warmup + steps; i++) {
        if (i === warmup) started = performance.now();
        yield { x: images(batchSize), y: labels(batchSize) };
      }
    };
    await trainLoop({ model, epochs: 1, batches: () => batchesOf(), optimizer: { lr: 1e-3, momentum: 0.9, weightDecay: 5e-4 }, schedule: { kind: 'constant' } });
    const trainSeconds = (performance.now() - started) / 1000;
    const x = images(evalBatchSize);
    let inferSeconds = 0;
    try {
      for (let i = 0; i < warmup + steps; i++) {
        const t = performance.now();
        const out = model.logits(x, { training: false });
        await out.data();
        out.dispose();
        if (i >= warmup) inferSeconds += (performance.now() - t) / 1000;
      }
    } finally {
      x.dispose();
    }
    return {
      backend,
      trainImagesPerSecond: (steps * batchSize) / trainSeconds,
      inferenceImagesPerSecond: (steps * evalBatchSize) / inferSeconds,
      method: `${steps} training steps of batch ${batchSize} and ${steps} inference passes of batch ${evalBatchSize} on random images after ${warmup} warm-up steps each`,
    };
  } finally {
    model.dispose();
  }
}

export type JobState = 'done' | 'to do';

export interface JobPlaces {
  cacheDir: string;
  resultsDir: string;
  tuning: TuningRecord | null;
}

/** Whether a job is done: its model is cached, its artefact marked, its search finished, its result file exists. */
export function jobDone(plan: Plan, job: Job, where: JobPlaces): boolean {
  const key = job.id.slice(job.id.indexOf(':') + 1);
  switch (job.kind) {
    case 'reference':
      return fs.existsSync(referenceOutputsFile(where.cacheDir, key));
    case 'search': {
      const search = plan.searches.find((s) => s.searchKey === key);
      const entry = search ? where.tuning?.searches[search.entryId] : undefined;
      return !!entry && entry.searchKey === key && entry.candidates.length >= entry.planned;
    }
    case 'spd-original': {
      const group = plan.groups.find((g) => g.goldKey === key)!;
      return modelCached(where.cacheDir, spdGanKeys(plan, group, plan.config.evaluation.spdGan!).spdOriginalKey);
    }
    case 'artefact':
      return artefactDone(where.cacheDir, key);
    case 'cell': {
      const cell = plan.groups.flatMap((g) => g.cells).find((c) => c.cellHash === key)!;
      return readExistingResult(resultFilePath(where.resultsDir, plan.config.name, cell), key) !== null;
    }
    default:
      return modelCached(where.cacheDir, key);
  }
}

/** Which jobs are done (see jobDone). */
export function jobStates(plan: Plan, jobs: readonly Job[], where: JobPlaces): Map<string, JobState> {
  return new Map(jobs.map((job) => [job.id, jobDone(plan, job, where) ? 'done' : 'to do']));
}

const KIND_NAMES: Record<JobKind, string> = {
  reference: 'reference models',
  original: 'original models',
  gold: 'gold models',
  'validation-gold': 'validation gold models',
  'spd-original': 'SPD-GAN originals',
  artefact: 'artefacts (AMUN sets)',
  search: 'hyper-parameter searches',
  cell: 'cells (method runs)',
};

const fmtInt = (n: number): string => Math.round(n).toLocaleString('en-US');

/** The plan table of `lethe plan`: per kind of job, how many, how many done, the work left and its time estimate. */
export function formatPlan(plan: Plan, jobs: readonly Job[], states: ReadonlyMap<string, JobState>, throughput: Throughput | null): string {
  const seconds = (job: Job): number | null =>
    throughput ? job.workload.trainImages / throughput.trainImagesPerSecond + job.workload.inferenceImages / throughput.inferenceImagesPerSecond : null;
  const header = ['jobs', 'count', 'done', 'training images left', 'inference images left', ...(throughput ? ['time left (est.)'] : [])];
  const rows: string[][] = [];
  let totalSeconds = 0;
  const totals = { count: 0, done: 0, train: 0, infer: 0 };
  for (const kind of Object.keys(KIND_NAMES) as JobKind[]) {
    const ofKind = jobs.filter((j) => j.kind === kind);
    if (ofKind.length === 0) continue;
    const left = ofKind.filter((j) => states.get(j.id) !== 'done');
    const train = left.reduce((n, j) => n + j.workload.trainImages, 0);
    const infer = left.reduce((n, j) => n + j.workload.inferenceImages, 0);
    const secs = left.reduce((n, j) => n + (seconds(j) ?? 0), 0);
    totalSeconds += secs;
    totals.count += ofKind.length;
    totals.done += ofKind.length - left.length;
    totals.train += train;
    totals.infer += infer;
    rows.push([KIND_NAMES[kind], String(ofKind.length), String(ofKind.length - left.length), fmtInt(train), fmtInt(infer), ...(throughput ? [formatDuration(secs)] : [])]);
  }
  rows.push(['total', String(totals.count), String(totals.done), fmtInt(totals.train), fmtInt(totals.infer), ...(throughput ? [formatDuration(totalSeconds)] : [])]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  const s = plan.sizes;
  const seedsLine = describeSeeds(plan);
  const out = [
    `${plan.config.name}: ${describeModel(plan)}; ${fmtInt(s.available)} training images${s.holdout > 0 ? ` (+${fmtInt(s.holdout)} held out of every model)` : ''}, ${fmtInt(s.test)} test images; recipe ${plan.recipe.epochs} epochs, batch ${plan.recipe.batchSize}`,
    `forget sets: ${plan.config.forgetSets.map((f) => `random ${Number((f.fraction * 100).toFixed(4))}%`).join(', ')}; ${seedsLine}; setting '${plan.config.setting}'`,
    `methods: ${plan.config.methods.map((m) => m.label ?? m.name).join(', ')}`,
    '',
    line(header),
    widths.map((w) => '-'.repeat(w)).join('  '),
    ...rows.map(line),
  ];
  if (throughput) {
    out.push(
      '',
      `estimate on ${throughput.backend}: training ${fmtInt(throughput.trainImagesPerSecond)} images/s, inference ${fmtInt(throughput.inferenceImagesPerSecond)} images/s, measured just now (${throughput.method}).`,
      'Membership attacks, AMUN\'s adversarial search and data loading add to it; a shared or busy machine is slower.',
    );
  }
  return out.join('\n');
}

function describeModel(plan: Plan): string {
  const spec = plan.modelSpec;
  return getArchitecture(spec.arch).describe(spec);
}

function describeSeeds(plan: Plan): string {
  const seeds = plan.config.seeds;
  if (Array.isArray(seeds)) return `${seeds.length} run(s), one seed each for original, forget set and unlearning (${seeds.join(', ')})`;
  const n = seeds.original.length * seeds.forgetSet.length * seeds.unlearning.length;
  return `${seeds.original.length} original(s) x ${seeds.forgetSet.length} forget-set draw(s) x ${seeds.unlearning.length} unlearning run(s) = ${n} run(s) per method`;
}
