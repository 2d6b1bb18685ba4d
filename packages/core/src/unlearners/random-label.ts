import { z } from 'zod';
import type * as tf from '@tensorflow/tfjs-core';
import { Rng, combineSeeds } from '@lethe/runtime';
import type { ImageDataset } from '@lethe/datasets';
import type { Model } from '@lethe/models';
import { epochBatches, stepsPerEpoch } from '../training/recipe.js';
import { trainLoop, type Batch } from '../training/loop.js';
import type { UnlearnerDefinition, UnlearningTask } from '../unlearner.js';
import { fineTuneFields, fineTuneSchedule } from './common.js';

/**
 * RL's hyper-parameters, shared with SalUn (which is RL restricted to a saliency mask). Defaults from SalUn's
 * public code (OPTML-Group/Unlearn-Saliency, Classification/arg_parser.py): 10 unlearning epochs, lr 0.01,
 * batch 256, SGD momentum 0.9, weight decay 5e-4 (the papers tune the learning rate per method and setting).
 */
export const randomLabelFields = {
  ...fineTuneFields,
  epochs: z.number().int().positive().default(10),
  lr: z.number().positive().default(0.01),
  batchSize: z.number().int().positive().default(256),
  /**
   * 'per-epoch' draws new random labels every epoch, as SalUn's code does (it draws them per batch, and each
   * forget sample is seen once per epoch); 'fixed' draws them once for the whole run.
   */
  relabel: z.enum(['per-epoch', 'fixed']).default('per-epoch'),
  /**
   * true: a uniformly random *wrong* label (one of the other numClasses - 1 classes), as RL is described
   * ("random wrong labels", REFERENCE.md; Golatkar et al. 2020). SalUn's code draws uniformly from all classes,
   * keeping the true label with probability 1/numClasses: set false to match it.
   */
  excludeTrueLabel: z.boolean().default(true),
  /**
   * 'forget-first': each epoch runs over the relabelled forget set, then over the retain set, as the CIFAR-10
   * branch of SalUn's RL code does; 'shuffled': one shuffled pass over both together (its CIFAR-100 branch).
   */
  order: z.enum(['forget-first', 'shuffled']).default('forget-first'),
};

const hyperParameters = z.object(randomLabelFields).strict();

export type RandomLabelHyperParameters = z.infer<typeof hyperParameters>;

/**
 * A copy of `dataset` whose labels at `forget` are replaced by random labels (uniform over the other classes
 * when `excludeTrueLabel`, else over all classes). The images are shared, not copied: only the label array is
 * new, so relabelling CIFAR-10 costs 50 kB.
 */
export function relabelledDataset(dataset: ImageDataset, forget: Int32Array, rng: Rng, excludeTrueLabel: boolean): ImageDataset {
  const classes = dataset.numClasses;
  if (excludeTrueLabel && classes < 2) throw new Error(`cannot draw a wrong label with ${classes} class; use excludeTrueLabel: false`);
  const labels = Uint8Array.from(dataset.labels);
  for (const i of forget) {
    if (i < 0 || i >= dataset.count) throw new RangeError(`forget index ${i} out of range for ${dataset.count} samples`);
    if (excludeTrueLabel) {
      const draw = rng.int(classes - 1);
      const truth = dataset.labels[i]!;
      labels[i] = draw >= truth ? draw + 1 : draw;
    } else {
      labels[i] = rng.int(classes);
    }
  }
  return { ...dataset, labels };
}

/**
 * The batches of one RL epoch: D_f with random labels, together with D_r (when given) with its own labels, in
 * the order `hp.order` says. Labels are drawn from `seed` (and the epoch, for 'per-epoch').
 */
export function randomLabelBatches(
  task: Pick<UnlearningTask, 'train' | 'forget' | 'retain' | 'recipe'>,
  hp: Pick<RandomLabelHyperParameters, 'batchSize' | 'relabel' | 'excludeTrueLabel' | 'order'>,
  seed: number,
): (epoch: number) => Iterable<Batch> {
  const { forget, retain } = task;
  if (forget.length === 0) throw new Error('random-label unlearning needs a non-empty forget set');
  const options = (label: string) => ({ batchSize: hp.batchSize, seed: combineSeeds(seed, label), augment: task.recipe.augment });
  return function* (epoch) {
    const labelSeed = hp.relabel === 'fixed' ? combineSeeds(seed, 'labels') : combineSeeds(seed, 'labels', epoch);
    const data = relabelledDataset(task.train, forget, new Rng(labelSeed), hp.excludeTrueLabel);
    if (hp.order === 'shuffled' && retain.length > 0) {
      const both = new Int32Array(forget.length + retain.length);
      both.set(forget);
      both.set(retain, forget.length);
      yield* epochBatches(data, both, options('order'))(epoch);
      return;
    }
    yield* epochBatches(data, forget, options('forget-order'))(epoch);
    if (retain.length > 0) yield* epochBatches(data, retain, options('retain-order'))(epoch);
  };
}

/** Batches per epoch of `randomLabelBatches`, for progress reporting. */
export function randomLabelStepsPerEpoch(forgetCount: number, retainCount: number, hp: Pick<RandomLabelHyperParameters, 'batchSize' | 'order'>): number {
  if (hp.order === 'shuffled') return stepsPerEpoch(forgetCount + retainCount, hp.batchSize);
  return stepsPerEpoch(forgetCount, hp.batchSize) + (retainCount > 0 ? stepsPerEpoch(retainCount, hp.batchSize) : 0);
}

/**
 * Fine-tune `model` in place with RL's data (plain cross-entropy through the one training loop), optionally
 * restricted to `gradientMask` (SalUn). `seedLabel` separates the random streams of methods built on RL.
 */
export async function trainWithRandomLabels(
  model: Model,
  task: UnlearningTask,
  hp: RandomLabelHyperParameters,
  seedLabel: string,
  gradientMask?: ReadonlyMap<string, tf.Tensor>,
): Promise<void> {
  await trainLoop({
    model,
    epochs: hp.epochs,
    batches: randomLabelBatches(task, hp, combineSeeds(task.seed, seedLabel)),
    stepsPerEpoch: randomLabelStepsPerEpoch(task.forget.length, task.retain.length, hp),
    optimizer: { lr: hp.lr, momentum: hp.momentum, weightDecay: hp.weightDecay },
    schedule: fineTuneSchedule(hp),
    ...(gradientMask ? { gradientMask } : {}),
    onProgress: (p) => task.onProgress?.({ ...p, phase: seedLabel }),
  });
}

/**
 * RL (random labelling; Golatkar et al. 2020, as run in SalUn's and AMUN's tables): fine-tune on the forget
 * set with random wrong labels, together with the retain set when it is available (AMUN Table 1) or alone
 * (AMUN Table 2). Choices the papers leave open are hyper-parameters: when labels are redrawn (`relabel`),
 * whether the true label can be drawn (`excludeTrueLabel`) and the order of forget and retain batches (`order`).
 */
export const randomLabel: UnlearnerDefinition<RandomLabelHyperParameters> = {
  name: 'random-label',
  description: 'Fine-tune on the forget set relabelled with random wrong labels (with the retain set when available).',
  paper: 'Golatkar et al. 2020 "RL"; defaults from SalUn (Fan et al., ICLR 2024) public code (arg_parser.py, unlearn/RL.py)',
  settings: ['retain', 'forget-only'],
  // D_f (relabelled) with D_r when the setting gives it, each epoch
  workload: (s, hp) => ({ trainImages: hp.epochs * (s.forget + (s.setting === 'retain' ? s.retain : 0)), inferenceImages: 0 }),
  hyperParameters,
  async unlearn(task, hp) {
    const model = task.original.clone();
    try {
      await trainWithRandomLabels(model, task, hp, 'random-label');
      return model;
    } catch (err) {
      model.dispose();
      throw err;
    }
  },
};
