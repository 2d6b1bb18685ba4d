import * as tf from '@tensorflow/tfjs-core';
import type { Model } from '@lethe/models';
import { Sgd, type SgdConfig } from './sgd.js';
import { learningRateAt, type LrSchedule } from './schedule.js';
import { crossEntropy } from './loss.js';

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
  const start = performance.now();
  const epochLosses: number[] = [];
  let steps = 0;
  try {
    for (let epoch = 0; epoch < epochs; epoch++) {
      const lr = learningRateAt(options.optimizer.lr, options.schedule, epoch, epochs);
      let lossSum = tf.keep(tf.scalar(0));
      let batchesInEpoch = 0;
      for (const batch of options.batches(epoch)) {
        try {
          const { value, grads } = tf.variableGrads(() => (batch.loss ?? loss)(model, batch), variables);
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
    }
  } finally {
    sgd.dispose();
  }
  return { epochLosses, steps, seconds: (performance.now() - start) / 1000 };
}
