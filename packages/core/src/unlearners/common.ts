import { z } from 'zod';
import type { Model } from '@lethe/models';
import { trainLoop, type TrainLoopOptions } from '../training/loop.js';
import type { LrSchedule } from '../training/schedule.js';
import type { UnlearningTask } from '../unlearner.js';

/** The learning-rate schedules a fine-tuning method can take (see `fineTuneFields.schedule`). */
export const FINE_TUNE_SCHEDULES = ['constant', 'cosine', 'step'] as const;

/**
 * Fine-tuning hyper-parameters shared by the fine-tuning family. Defaults: SGD, momentum 0.9, weight decay
 * 5e-4, batch 128, 10 epochs, learning rate 0.01 — AMUN's fine-tuning setup (arXiv 2503.00917, Sec. 5 and
 * its public code default lr), which its baselines (FT, RL, GA, ...) share through SalUn's code base; the papers
 * search the learning rate per method, so treat `lr` as the first thing to tune.
 */
export const fineTuneFields = {
  epochs: z.number().int().positive().default(10),
  lr: z.number().positive().default(0.01),
  momentum: z.number().min(0).lt(1).default(0.9),
  weightDecay: z.number().min(0).default(5e-4),
  batchSize: z.number().int().positive().default(128),
  /**
   * learning-rate schedule over the fine-tuning epochs, stepped once per epoch: 'constant'; 'cosine' (annealed to 0
   * over the run); 'step' (multiplied by `stepGamma` every `stepEpochs` epochs, PyTorch's StepLR). AMUN's public
   * code fine-tunes every method it evaluates with StepLR (`LRsteps` 1, gamma 0.1; adversarial_unlearn.py,
   * hyperparam_tune.py); 'constant' stays the default here so that each method's own source decides (`amun` sets
   * 'step'), and the paper presets set the schedule explicitly.
   */
  schedule: z.enum(FINE_TUNE_SCHEDULES).default('constant'),
  /** 'step' only: epochs between two decays (StepLR's step_size; AMUN's code: `LRsteps` 1, a decay after every epoch) */
  stepEpochs: z.number().int().positive().default(1),
  /** 'step' only: the factor of each decay (StepLR's gamma; AMUN's code: 0.1) */
  stepGamma: z.number().positive().default(0.1),
};

/** The fine-tuning hyper-parameters that choose the learning-rate schedule. */
export interface FineTuneScheduleFields {
  schedule: (typeof FINE_TUNE_SCHEDULES)[number];
  stepEpochs: number;
  stepGamma: number;
}

/** The training loop's schedule for a fine-tuning method's hyper-parameters (every fine-tuning unlearner uses this). */
export function fineTuneSchedule(hp: FineTuneScheduleFields): LrSchedule {
  switch (hp.schedule) {
    case 'constant':
      return { kind: 'constant' };
    case 'cosine':
      return { kind: 'cosine' };
    case 'step':
      return { kind: 'step', everyEpochs: hp.stepEpochs, gamma: hp.stepGamma };
    default: {
      const never: never = hp.schedule;
      throw new Error(`unknown fine-tuning schedule '${String(never)}'; known: constant, cosine, step`);
    }
  }
}

/**
 * Train a copy of the original model through the one training loop, reporting progress under `phase`; the copy
 * is disposed if training fails. The shape of every fine-tuning unlearner.
 */
export async function trainCopy(task: UnlearningTask, phase: string, options: Omit<TrainLoopOptions, 'model' | 'onProgress'>): Promise<Model> {
  const model = task.original.clone();
  try {
    await trainLoop({ ...options, model, onProgress: (p) => task.onProgress?.({ ...p, phase }) });
    return model;
  } catch (err) {
    model.dispose();
    throw err;
  }
}
