import type * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import { combineSeeds } from '@lethe/runtime';
import type { Model } from '@lethe/models';
import type { ArtefactRequest, TaskSizes, UnlearnerDefinition, UnlearningTask, Workload } from '../unlearner.js';
import { FINE_TUNE_SCHEDULES, fineTuneFields, fineTuneSchedule, trainCopy } from './common.js';
import { mixedCount, mixedEpochBatches, type BatchSource } from './mixed-batches.js';
import { adversarialDataset, describeAdversarialSet, type AmunAttackOptions } from './amun/adversarial-set.js';
import { cachedAmunAdversarialSet } from './amun/cache.js';

export { amunAdversarialSet, adversarialDataset, describeAdversarialSet, bucketRows, AMUN_ATTACK_DEFAULTS } from './amun/adversarial-set.js';
export type { AmunAdversarialSet, AmunAttackOptions, AmunAttackProgress } from './amun/adversarial-set.js';
export { cachedAmunAdversarialSet, adversarialSetKey, clearAdversarialSetMemory, readAdversarialSet, writeAdversarialSet, type CachedAdversarialSet } from './amun/cache.js';

export const amunHyperParameters = z
  .object({
    // Fine-tuning: SGD, momentum 0.9, weight decay 5e-4, batch 128, 10 epochs, lr 0.01 (AMUN Sec. 5; lr is the
    // public code's default, the paper searches it in [1e-6, 1e-1]).
    ...fineTuneFields,
    /**
     * AMUN's public code decays the learning rate x0.1 after every epoch (StepLR, `LRsteps` 1 in hyperparam_tune.py;
     * the evaluated models' paths say `LRs_1_lr_0.01`; REFERENCE.md): the decay is part of its default, so 'step'
     * (with `stepEpochs` 1 and `stepGamma` 0.1, the shared defaults) is AMUN's default here.
     */
    schedule: z.enum(FINE_TUNE_SCHEDULES).default('step'),
    /** first L2 radius of the attack (AMUN Sec. 4; public code `pgdl2_modified.py` eps=0.04) */
    initialEps: z.number().positive().default(0.04),
    /** PGD steps per radius (AMUN Sec. 4: 50) */
    attackSteps: z.number().int().positive().default(50),
    /** attack step size as a fraction of the radius (AMUN Sec. 4: eps / 10) */
    stepFraction: z.number().positive().default(0.1),
    /** radius doublings before a sample is given up (ours: AMUN's code doubles without limit; 0.04 * 2^12 ≈ 164) */
    maxDoublings: z.number().int().min(0).default(12),
    /** samples attacked together (ours; inference-mode attacks make it a speed setting, up to float rounding) */
    attackBatchSize: z.number().int().positive().default(128),
    /** restart from the clean image after a doubling (ours: AMUN's code continues from the last iterate, false) */
    restartOnDoubling: z.boolean().default(false),
    /** crop+flip the adversarial images during fine-tuning (AMUN's code: no, unless its `amun_randadvset` variant) */
    augmentAdversarial: z.boolean().default(false),
    /** keep never-flipped samples in D_adv with their (true-label) prediction (ours: no, they teach nothing new) */
    includeUnflipped: z.boolean().default(false),
  })
  .strict();

export type AmunHyperParameters = z.infer<typeof amunHyperParameters>;

export function amunAttackOptions(hp: AmunHyperParameters): AmunAttackOptions {
  return {
    initialEps: hp.initialEps,
    steps: hp.attackSteps,
    stepFraction: hp.stepFraction,
    maxDoublings: hp.maxDoublings,
    batchSize: hp.attackBatchSize,
    restartOnDoubling: hp.restartOnDoubling,
  };
}

export interface RunAmunOptions {
  /** restricts the fine-tuning updates (AMUN+SalUn passes SalUn's saliency mask), keyed by parameter name */
  gradientMask?: ReadonlyMap<string, tf.Tensor>;
  /** the progress phase name (default 'amun') */
  phase?: string;
}

/**
 * AMUN with extra options: the body of the `amun` unlearner, and of variants that change only the fine-tuning's
 * update mask (AMUN+SalUn).
 */
export async function runAmun(task: UnlearningTask, hp: AmunHyperParameters, options: RunAmunOptions = {}): Promise<Model> {
  const phase = options.phase ?? 'amun';
  if (task.forget.length === 0) throw new Error(`${phase}: the forget set is empty`);
  const started = performance.now();
  const { set, source, key } = await cachedAmunAdversarialSet(task.original, task.train, task.forget, amunAttackOptions(hp), {
    cacheDir: task.cacheDir,
    onProgress: (p) => task.log(`${phase}: adversarial examples ${p.done}/${p.total}`),
    onProblem: (message) => task.log(`${phase}: ${message}`),
  });
  const summary = describeAdversarialSet(set);
  task.log(
    `${phase}: adversarial set ${key.slice(0, 12)} (${source}${source === 'computed' ? ` in ${((performance.now() - started) / 1000).toFixed(1)} s` : ''}): ` +
      `${summary.flipped}/${summary.count} flipped, mean eps ${summary.meanEps.toFixed(4)}, max eps ${summary.maxEps.toFixed(4)}, mean L2 ${summary.meanNorm.toFixed(4)}`,
  );
  if (summary.neverFlipped > 0) {
    task.log(
      `${phase}: warning: ${summary.neverFlipped} forget sample(s) kept their label after ${hp.maxDoublings} radius doublings` +
        `${hp.includeUnflipped ? '' : ' and are left out of D_adv'}; raise maxDoublings to search further`,
    );
  }
  const adversarial = adversarialDataset(set, task.train, { includeUnflipped: hp.includeUnflipped });
  // D_r ∪ D_f (Table 1) or D_f alone (Table 2), with the original recipe's augmentation, plus D_adv
  const ownIndices = task.setting === 'retain' ? Int32Array.from([...task.retain, ...task.forget]) : Int32Array.from(task.forget);
  const sources: BatchSource[] = [
    { dataset: task.train, indices: ownIndices, augment: task.recipe.augment },
    { dataset: adversarial, indices: Int32Array.from({ length: adversarial.count }, (_, i) => i), augment: hp.augmentAdversarial },
  ];
  return trainCopy(task, phase, {
    epochs: hp.epochs,
    batches: mixedEpochBatches(sources, { batchSize: hp.batchSize, seed: combineSeeds(task.seed, phase) }),
    stepsPerEpoch: Math.ceil(mixedCount(sources) / hp.batchSize),
    optimizer: { lr: hp.lr, momentum: hp.momentum, weightDecay: hp.weightDecay },
    schedule: fineTuneSchedule(hp),
    ...(options.gradientMask ? { gradientMask: options.gradientMask } : {}),
  });
}

/**
 * AMUN's adversarial set as an artefact: it depends on the original model, the forget samples and the attack
 * options only (not on the learning rate a search varies, nor on the seed), so a harness computes it once per
 * original model and forget set into the cache, where `runAmun` (and AMUN+SalUn, whose attack options are the same)
 * finds it. Its work: each forget sample a forward and backward pass per PGD step; samples stop at their first
 * misclassified iterate, so one radius of `attackSteps` steps per sample is a rough upper estimate of a typical search.
 */
export function amunAdversarialArtefact(hp: AmunHyperParameters): ArtefactRequest {
  const options = amunAttackOptions(hp);
  return {
    name: 'amun-adversarial-set',
    options: { ...options },
    workload: (s) => ({ trainImages: s.forget * hp.attackSteps, inferenceImages: 0 }),
    prepare: async (task) => {
      const { key, source } = await cachedAmunAdversarialSet(task.original, task.train, task.forget, options, {
        cacheDir: task.cacheDir,
        onProgress: (p) => task.log(`amun-adversarial-set: adversarial examples ${p.done}/${p.total}`),
      });
      task.log(`amun-adversarial-set: ${key.slice(0, 12)} ${source === 'computed' ? 'computed' : `found (${source})`} in ${task.cacheDir}`);
    },
  };
}

/**
 * AMUN's work besides its adversarial set (an artefact, `amunAdversarialArtefact`): the epochs over D_r ∪ D_f ∪ D_adv
 * (or D_f ∪ D_adv).
 */
export function amunWorkload(s: TaskSizes, hp: AmunHyperParameters): Workload {
  const own = s.forget + (s.setting === 'retain' ? s.retain : 0);
  return { trainImages: hp.epochs * (own + s.forget), inferenceImages: 0 };
}

/**
 * AMUN, Adversarial Mixup for UNlearning (Ebrahimpour-Boroojeny et al., arXiv 2503.00917, ICML 2025). For each
 * forget sample, the nearest adversarial example the original model misclassifies (L2 PGD, growing radius; see
 * `amunAdversarialSet`) is labelled with that wrong prediction; fine-tuning on the forget set together with these
 * examples lowers the model's confidence on the forget samples toward that of unseen data, without driving their
 * accuracy to zero. Fine-tuning is plain cross-entropy on D_r ∪ D_f ∪ D_adv ('retain', Table 1) or D_f ∪ D_adv
 * ('forget-only', Table 2), with the learning rate decayed x0.1 after every epoch as in the public code.
 *
 * Choices where the paper leaves a detail open (all hyper-parameters): a sample stops at the first misclassified
 * PGD iterate and a doubled radius continues from the last iterate (both as in the public code); doublings are
 * capped, and samples that never flip are logged and left out of D_adv; adversarial images are not augmented
 * during fine-tuning. The adversarial set is computed once per (original model, forget set, attack options) and
 * cached in memory and in `task.cacheDir` when given.
 */
export const amun: UnlearnerDefinition<AmunHyperParameters> = {
  name: 'amun',
  description: 'Fine-tune on the forget set plus its nearest adversarial examples labelled with their wrong predictions.',
  paper: 'Ebrahimpour-Boroojeny et al., "AMUN: Adversarial Machine UNlearning", arXiv 2503.00917 (ICML 2025); defaults from Sec. 4-5 and the public code',
  settings: ['retain', 'forget-only'],
  workload: (s, hp) => amunWorkload(s, hp),
  artefacts: (hp) => [amunAdversarialArtefact(hp)],
  hyperParameters: amunHyperParameters,
  unlearn: (task, hp) => runAmun(task, hp),
};
