import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import { Rng, combineSeeds } from '@lethe/runtime';
import { Model } from '@lethe/models';
import { batches, type ImageDataset } from '@lethe/datasets';
import { crossEntropy } from '../../training/loss.js';
import { epochBatches, stepsPerEpoch } from '../../training/recipe.js';
import { trainLoop } from '../../training/loop.js';
import type { UnlearningTask } from '../../unlearner.js';
import { fineTuneFields, fineTuneSchedule } from '../common.js';
import { perturbationCount } from './select.js';

/**
 * The shared part of Top-K and Random-k perturbation (the project's interpretation of Zuo et al., arXiv
 * 2401.04385; REFERENCE.md): choose a share `k` of the individual parameter entries, perturb them, then
 * optionally fine-tune briefly on the retain set. The two methods differ only in how they choose.
 */

const { epochs: _epochs, ...fineTuneRest } = fineTuneFields;

/** Hyper-parameters common to both methods. */
export const perturbationFields = {
  /**
   * share of all parameter entries to perturb. The paper's values are not available to us (REFERENCE.md);
   * 0.01 (1%) is the project's default: enough to move a CIFAR ResNet-18 (110,000 entries) without wiping it.
   */
  k: z.number().min(0).max(1).default(0.01),
  /**
   * 'noise': add Gaussian noise of standard deviation `noiseScale` x (the std of that parameter tensor's values);
   * 'reset': overwrite the entries with a fresh draw from the architecture's own initialiser (a new
   * `Model.create` with a seed derived from the task seed): PyTorch-default uniform draws for convolution and
   * dense weights, 1 and 0 for batch-norm scales and shifts. Re-drawing rather than zeroing keeps a reset
   * weight at the scale a trainable weight starts from instead of pruning it (REFERENCE.md leaves it open).
   */
  mode: z.enum(['noise', 'reset']).default('noise'),
  /** noise std as a multiple of each tensor's std (project default 1: noise as large as the weights' spread) */
  noiseScale: z.number().min(0).default(1),
  /**
   * epochs of fine-tuning on D_r after the perturbation, 0 = none ("optionally a short fine-tune", REFERENCE.md;
   * project default 1). Only in the 'retain' setting: without D_r there is nothing to fine-tune on.
   */
  finetuneEpochs: z.number().int().min(0).default(1),
  // lr 0.01, momentum 0.9, weight decay 5e-4, batch 128, constant schedule: the fine-tuning family's defaults
  // (AMUN, arXiv 2503.00917, Sec. 5; see common.ts)
  ...fineTuneRest,
};

export type PerturbationHyperParameters = z.infer<z.ZodObject<typeof perturbationFields>>;

/** Where each parameter tensor sits in the global flat index (model.params order, row-major). */
export interface ParameterLayout {
  names: string[];
  offsets: number[];
  sizes: number[];
  total: number;
}

export function parameterLayout(model: Model): ParameterLayout {
  const names: string[] = [];
  const offsets: number[] = [];
  const sizes: number[] = [];
  let total = 0;
  for (const [name, v] of model.params) {
    names.push(name);
    offsets.push(total);
    sizes.push(v.size);
    total += v.size;
  }
  return { names, offsets, sizes, total };
}

/**
 * The gradient of the mean cross-entropy over the samples `indices` of `dataset`, with respect to every
 * parameter, as one flat array in the layout order. Forward passes are in inference mode: batch norm uses its
 * running statistics, so this is the gradient of the deployed model's loss and no state changes.
 */
export async function forgetLossGradient(model: Model, dataset: ImageDataset, indices: Int32Array, batchSize: number): Promise<Float32Array> {
  if (indices.length === 0) throw new Error('cannot rank parameters by the forget-set gradient: the forget set is empty');
  const layout = parameterLayout(model);
  const variables = layout.names.map((name) => model.params.get(name)!);
  const sums = new Float32Array(layout.total);
  for (const batch of batches(dataset, { indices, batchSize, normalize: false })) {
    const share = batch.indices.length / indices.length;
    const { value, grads } = tf.variableGrads(
      () => tf.tidy(() => tf.mul(crossEntropy(model.logits(batch.x, { training: false }), batch.y), share) as tf.Scalar),
      variables,
    );
    try {
      for (let p = 0; p < variables.length; p++) {
        const g = grads[variables[p]!.name];
        if (!g) continue;
        const data = await g.data();
        const offset = layout.offsets[p]!;
        for (let i = 0; i < data.length; i++) sums[offset + i] = sums[offset + i]! + data[i]!;
      }
    } finally {
      value.dispose();
      tf.dispose(Object.values(grads));
      batch.x.dispose();
      batch.y.dispose();
    }
  }
  return sums;
}

/** All parameter values as one flat array in the layout order. */
export async function flatParameters(model: Model): Promise<Float32Array> {
  const layout = parameterLayout(model);
  const out = new Float32Array(layout.total);
  for (let p = 0; p < layout.names.length; p++) out.set(await model.params.get(layout.names[p]!)!.data(), layout.offsets[p]!);
  return out;
}

function standardDeviation(values: ArrayLike<number>, from = 0, to = values.length): number {
  const n = to - from;
  if (n <= 0) return 0;
  let mean = 0;
  for (let i = from; i < to; i++) mean += values[i]!;
  mean /= n;
  let sq = 0;
  for (let i = from; i < to; i++) sq += (values[i]! - mean) ** 2;
  return Math.sqrt(sq / n);
}

export interface PerturbOptions {
  mode: 'noise' | 'reset';
  noiseScale: number;
  seed: number;
}

/**
 * Perturb the entries `chosen` (global flat indices, ascending) of `model` in place.
 * 'noise': w += noiseScale * sigma * N(0, 1), sigma = the population std of the entry's tensor before the
 * perturbation; a tensor whose entries are all equal (std 0, e.g. an untrained batch-norm scale) uses the
 * std of all the model's parameters pooled instead, so that every chosen entry really moves. Noise is drawn
 * per tensor from `seed` forked by the tensor's name, in ascending entry order.
 * 'reset': w = the same entry of `Model.create(model.spec, seed)`.
 */
export async function perturbEntries(model: Model, chosen: Int32Array, options: PerturbOptions): Promise<void> {
  const layout = parameterLayout(model);
  const fresh = options.mode === 'reset' ? Model.create(model.spec, options.seed) : undefined;
  // the fallback scale, from the values before any entry moved
  const pooledStd = options.mode === 'noise' ? standardDeviation(await flatParameters(model)) : 0;
  try {
    let c = 0;
    for (let p = 0; p < layout.names.length && c < chosen.length; p++) {
      const name = layout.names[p]!;
      const start = layout.offsets[p]!;
      const end = start + layout.sizes[p]!;
      if (chosen[c]! >= end) continue;
      const variable = model.params.get(name)!;
      const values = Float32Array.from(await variable.data());
      if (fresh) {
        const init = await fresh.params.get(name)!.data();
        for (; c < chosen.length && chosen[c]! < end; c++) values[chosen[c]! - start] = init[chosen[c]! - start]!;
      } else {
        let sigma = standardDeviation(values);
        if (sigma === 0) sigma = pooledStd;
        const rng = new Rng(combineSeeds(options.seed, 'noise', name));
        const scale = options.noiseScale * sigma;
        for (; c < chosen.length && chosen[c]! < end; c++) {
          const j = chosen[c]! - start;
          values[j] = values[j]! + scale * rng.normal();
        }
      }
      tf.tidy(() => variable.assign(tf.tensor(values, variable.shape, 'float32')));
    }
  } finally {
    fresh?.dispose();
  }
}

/**
 * The whole method given a way to choose entries: clone, choose `perturbationCount(k, total)` entries, perturb,
 * then fine-tune on D_r for `finetuneEpochs` when the setting gives a retain set.
 */
export async function perturbationUnlearn(
  task: UnlearningTask,
  hp: PerturbationHyperParameters,
  method: string,
  choose: (model: Model, count: number, layout: ParameterLayout) => Promise<Int32Array>,
): Promise<Model> {
  const model = task.original.clone();
  try {
    const layout = parameterLayout(model);
    const count = perturbationCount(hp.k, layout.total);
    const chosen = await choose(model, count, layout);
    await perturbEntries(model, chosen, { mode: hp.mode, noiseScale: hp.noiseScale, seed: combineSeeds(task.seed, method, 'perturb') });
    task.log(`${method}: perturbed ${count} of ${layout.total} parameter entries (k = ${hp.k}, mode '${hp.mode}')`);
    if (hp.finetuneEpochs > 0) {
      if (task.setting !== 'retain' || task.retain.length === 0) {
        task.log(`${method}: no retain set in the '${task.setting}' setting, so no fine-tuning (finetuneEpochs = ${hp.finetuneEpochs} ignored)`);
      } else {
        await trainLoop({
          model,
          epochs: hp.finetuneEpochs,
          batches: epochBatches(task.train, task.retain, { batchSize: hp.batchSize, seed: combineSeeds(task.seed, method, 'finetune'), augment: task.recipe.augment }),
          stepsPerEpoch: stepsPerEpoch(task.retain.length, hp.batchSize),
          optimizer: { lr: hp.lr, momentum: hp.momentum, weightDecay: hp.weightDecay },
          schedule: fineTuneSchedule(hp),
          onProgress: (p) => task.onProgress?.({ ...p, phase: `${method}-finetune` }),
        });
      }
    }
    return model;
  } catch (err) {
    model.dispose();
    throw err;
  }
}
