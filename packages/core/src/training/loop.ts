import * as tf from '@tensorflow/tfjs-core';
import type { Model } from '@lethe/models';
import { Sgd, type SgdConfig } from './sgd.js';
import { learningRateAt, type LrSchedule } from './schedule.js';
import { crossEntropy } from './loss.js';
import { variableGradsReleasing } from './grads.js';

/**
 * Free each activation and intermediate gradient as the backward pass moves past it (grads.ts): the same numbers,
 * a lower peak. LETHE_RELEASE_DURING_BACKWARD=0 turns it off (to compare, in `pnpm bench:perf`).
 */
const RELEASE_DURING_BACKWARD = typeof process === 'undefined' || process.env['LETHE_RELEASE_DURING_BACKWARD'] !== '0';

/** A training batch: images, labels, and whatever else a method's loss needs (the loop disposes them all). */
export interface Batch {
  x: tf.Tensor4D;
  y: tf.Tensor1D;
  /** optional extra tensors, e.g. a per-sample sign for NegGrad+; disposed with the batch */
  extra?: Record<string, tf.Tensor>;
  /**
   * this batch's loss instead of the loop's `loss`: lets one run mix passes with different objectives under one
   * optimiser, e.g. a cross-entropy descent pass over D_r before an ascent pass over D_f (unlearners/retain-pass.ts)
   */
  loss?: LossFunction;
}

/** The loss of one batch. Called inside a gradient tape; use training-mode forward passes. */
export type LossFunction = (model: Model, batch: Batch) => tf.Scalar;

export const crossEntropyLoss: LossFunction = (model, batch) => crossEntropy(model.logits(batch.x, { training: true }), batch.y);

export interface TrainProgress {
  epoch: number;
  epochs: number;
  step: number;
  stepsPerEpoch: number | undefined;
  learningRate: number;
  /** mean loss of the epoch so far; present at epoch ends */
  epochLoss?: number;
}

/** Where a long training stands after some epochs: enough, with the model's variables, to continue it exactly. */
export interface TrainCheckpointState {
  /** epochs finished */
  epochsDone: number;
  epochLosses: number[];
  steps: number;
  /** training seconds so far */
  seconds: number;
  /** the optimiser's momentum buffers by parameter name */
  momentum: Map<string, Float32Array>;
}

/**
 * Saves a training at epoch ends and resumes it: a killed or time-limited training continues from its last finished
 * epoch with the same result as an uninterrupted one (each epoch's batches depend only on the seed and the epoch).
 */
export interface TrainCheckpointer {
  /** the state to continue from, with its weights loaded into `model`; null to start afresh */
  restore(model: Model): Promise<TrainCheckpointState | null>;
  /** after each epoch but the last */
  save(model: Model, state: TrainCheckpointState): Promise<void>;
  /** asked after each save: true stops the training there (it throws TrainingStopped; run it again to continue) */
  shouldStop?(lastEpochSeconds: number): boolean;
}

/** Thrown when a checkpointed training stops at an epoch end because its checkpointer asked (a time limit). */
export class TrainingStopped extends Error {
  constructor(readonly epochsDone: number, readonly epochs: number) {
    super(`training stopped after epoch ${epochsDone}/${epochs} (checkpoint saved; run again to continue)`);
    this.name = 'TrainingStopped';
  }
}

export interface TrainLoopOptions {
  model: Model;
  epochs: number;
  /** the batches of one epoch; each batch's tensors are disposed by the loop after its step */
  batches: (epoch: number) => Iterable<Batch>;
  /** for progress reporting only */
  stepsPerEpoch?: number;
  optimizer: SgdConfig;
  schedule: LrSchedule;
  /** default: cross-entropy on the batch labels */
  loss?: LossFunction;
  /** parameters not listed are frozen (default: all); keyed by parameter name */
  trainable?: (name: string) => boolean;
  /** multiplies each parameter's update (0 = frozen entry); keyed by parameter name */
  gradientMask?: ReadonlyMap<string, tf.Tensor>;
  onProgress?: (progress: TrainProgress) => void;
  /** called after every step, e.g. for leak checks in tests */
  afterStep?: (step: number) => void;
  /** save at epoch ends and resume from the last save (original, gold and reference models of long benchmarks) */
  checkpoint?: TrainCheckpointer;
}

export interface TrainReport {
  epochLosses: number[];
  steps: number;
  seconds: number;
}

/**
 * The one training loop: original training, retraining, reference models and every fine-tuning unlearner
 * run through it, so that they differ only in their data, loss, optimiser settings and mask.
 */
export async function trainLoop(options: TrainLoopOptions): Promise<TrainReport> {
  const { model, epochs } = options;
  const loss = options.loss ?? crossEntropyLoss;
  const trainable = [...model.params].filter(([name]) => options.trainable?.(name) ?? true);
  const params = new Map(trainable);
  const nameOf = new Map<string, string>(trainable.map(([name, v]) => [v.name, name]));
  const variables = trainable.map(([, v]) => v);
  const sgd = new Sgd(options.optimizer);
  let start = performance.now();
  const epochLosses: number[] = [];
  let steps = 0;
  let firstEpoch = 0;
  try {
    const resumed = options.checkpoint ? await options.checkpoint.restore(model) : null;
    if (resumed) {
      firstEpoch = resumed.epochsDone;
      epochLosses.push(...resumed.epochLosses);
      steps = resumed.steps;
      start -= resumed.seconds * 1000;
      sgd.restoreMomentum(params, resumed.momentum);
    }
    for (let epoch = firstEpoch; epoch < epochs; epoch++) {
      const epochStart = performance.now();
      const lr = learningRateAt(options.optimizer.lr, options.schedule, epoch, epochs);
      let lossSum = tf.keep(tf.scalar(0));
      let batchesInEpoch = 0;
      for (const batch of options.batches(epoch)) {
        try {
          const { value, grads } = variableGradsReleasing(() => (batch.loss ?? loss)(model, batch), variables, { release: RELEASE_DURING_BACKWARD });
          const byName = new Map<string, tf.Tensor>();
          for (const [id, g] of Object.entries(grads)) byName.set(nameOf.get(id)!, g);
          sgd.step(params, byName, lr, options.gradientMask);
          const next: tf.Scalar = tf.keep(tf.add(lossSum, value));
          lossSum.dispose();
          lossSum = next;
          value.dispose();
          tf.dispose(Object.values(grads));
        } finally {
          batch.x.dispose();
          batch.y.dispose();
          if (batch.extra) tf.dispose(Object.values(batch.extra));
        }
        batchesInEpoch++;
        steps++;
        options.afterStep?.(steps);
        options.onProgress?.({ epoch, epochs, step: batchesInEpoch, stepsPerEpoch: options.stepsPerEpoch, learningRate: lr });
        // let timers (progress bars, signals) run between steps
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
      const epochLoss = batchesInEpoch > 0 ? (await lossSum.data())[0]! / batchesInEpoch : Number.NaN;
      lossSum.dispose();
      if (batchesInEpoch > 0 && !Number.isFinite(epochLoss)) {
        throw new Error(`training diverged: the mean loss of epoch ${epoch + 1} is ${epochLoss}; lower the learning rate (now ${lr})`);
      }
      epochLosses.push(epochLoss);
      options.onProgress?.({ epoch, epochs, step: batchesInEpoch, stepsPerEpoch: options.stepsPerEpoch, learningRate: lr, epochLoss });
      if (options.checkpoint && epoch + 1 < epochs) {
        const state: TrainCheckpointState = { epochsDone: epoch + 1, epochLosses: [...epochLosses], steps, seconds: (performance.now() - start) / 1000, momentum: sgd.momentumState() };
        await options.checkpoint.save(model, state);
        if (options.checkpoint.shouldStop?.((performance.now() - epochStart) / 1000)) throw new TrainingStopped(epoch + 1, epochs);
      }
    }
  } finally {
    sgd.dispose();
  }
  return { epochLosses, steps, seconds: (performance.now() - start) / 1000 };
}
