import { z } from 'zod';
import * as tf from '@tensorflow/tfjs-core';
import { combineSeeds } from '@lethe/runtime';
import type { Model } from '@lethe/models';
import { epochBatches, stepsPerEpoch } from '../training/recipe.js';
import { trainLoop, type Batch, type LossFunction } from '../training/loop.js';
import { crossEntropy } from '../training/loss.js';
import type { UnlearnerDefinition } from '../unlearner.js';
import { fineTuneFields, fineTuneSchedule } from './common.js';

// Defaults from SCRUB's public code (meghdadk/SCRUB, large_scale_unlearning.ipynb: CIFAR-10 with ResNet):
// sgda_epochs 3, msteps 2, SGD lr 5e-4, momentum 0.9, weight decay 5e-4, kd_T 4, alpha 0.001 (KL), gamma 0.99
// (CE), retain loader batch 256, forget loader batch 512. Its step decay (x0.1 after epochs 3, 5, 9) never
// applies within 3 epochs, hence the constant schedule.
const hyperParameters = z
  .object({
    ...fineTuneFields,
    /** total epochs; each ends with a min pass over D_r */
    epochs: z.number().int().positive().default(3),
    /** the first `maxEpochs` epochs start with a max pass over D_f (SCRUB's `msteps`) */
    maxEpochs: z.number().int().min(0).default(2),
    lr: z.number().positive().default(5e-4),
    /** retain (min-step) batch size */
    batchSize: z.number().int().positive().default(256),
    /** forget (max-step) batch size */
    forgetBatchSize: z.number().int().positive().default(512),
    /** distillation temperature (`kd_T`) */
    temperature: z.number().positive().default(4),
    /** weight of KL(teacher || student) in the min steps */
    alpha: z.number().min(0).default(0.001),
    /** weight of the cross-entropy in the min steps */
    gamma: z.number().min(0).default(0.99),
    /**
     * true: the standard padded-crop + flip augmentation on the images of both passes (what scrub did, following
     * the original recipe, before this option). false (default): SCRUB's code trains on un-augmented data
     * (large_scale_unlearning.ipynb calls `datasets.get_loaders(..., augment=False)`; datasets.py defaults
     * `augment=False` for CIFAR).
     */
    augment: z.boolean().default(false),
  })
  .strict();

/**
 * The distillation divergence of SCRUB (Hinton et al.'s KD loss as SCRUB's code computes it):
 * T^2 * mean over the batch of KL(softmax(teacher / T) || softmax(student / T)).
 */
export function distillationKl(studentLogits: tf.Tensor2D, teacherLogits: tf.Tensor2D, temperature: number): tf.Scalar {
  return tf.tidy(() => {
    const logStudent = tf.logSoftmax(tf.div(studentLogits, temperature));
    const logTeacher = tf.logSoftmax(tf.div(teacherLogits, temperature));
    const perSample = tf.sum(tf.mul(tf.exp(logTeacher), tf.sub(logTeacher, logStudent)), 1);
    return tf.mul(tf.mean(perSample), temperature * temperature) as tf.Scalar;
  });
}

/**
 * ceWeight * CE + klWeight * KL(teacher || student), the weights carried by the batch: (0, -1) in a max step
 * (push the student away from the teacher on D_f), (gamma, alpha) in a min step (stay close to it on D_r).
 */
function scrubLoss(temperature: number): LossFunction {
  return (model, batch) =>
    tf.tidy(() => {
      const extra = batch.extra!;
      const studentLogits = model.logits(batch.x, { training: true });
      const kl = distillationKl(studentLogits, extra['teacherLogits'] as tf.Tensor2D, temperature);
      const ce = crossEntropy(studentLogits, batch.y);
      return tf.add(tf.mul(extra['ceWeight']!, ce), tf.mul(extra['klWeight']!, kl)) as tf.Scalar;
    });
}

/**
 * SCRUB (Kurmanji et al., NeurIPS 2023, "Towards unbounded machine unlearning"): the teacher is the original
 * model (frozen, evaluated in inference mode, never modified), the student a clone of it. Each epoch the
 * student first (in the first `maxEpochs` epochs) makes a max pass over D_f, maximising the KL divergence from
 * the teacher (a descent on -KL), then a min pass over D_r minimising gamma * CE + alpha * KL. Both passes are
 * one epoch of the one training loop with one optimiser, whose momentum carries across them as in SCRUB's
 * code; the teacher's logits are computed outside the gradient tape and travel with each batch.
 */
export const scrub: UnlearnerDefinition<z.infer<typeof hyperParameters>> = {
  name: 'scrub',
  description: 'Teacher-student unlearning: move away from the original model on D_f, stay close on D_r (SCRUB).',
  paper: 'Kurmanji et al., NeurIPS 2023 "Towards unbounded machine unlearning" (SCRUB); defaults from its public code',
  settings: ['retain'],
  // max passes over D_f, min passes over D_r, each batch also through the teacher (inference)
  workload: (s, hp) => {
    const images = Math.min(hp.maxEpochs, hp.epochs) * s.forget + hp.epochs * s.retain;
    return { trainImages: images, inferenceImages: images };
  },
  hyperParameters,
  async unlearn(task, hp) {
    const { train, retain, forget } = task;
    const teacher: Model = task.original;
    const forgetBatches = epochBatches(train, forget, { batchSize: hp.forgetBatchSize, seed: combineSeeds(task.seed, 'scrub', 'forget'), augment: hp.augment });
    const retainBatches = epochBatches(train, retain, { batchSize: hp.batchSize, seed: combineSeeds(task.seed, 'scrub', 'retain'), augment: hp.augment });
    const withTeacher = (x: tf.Tensor4D, y: tf.Tensor1D, ceWeight: number, klWeight: number): Batch => ({
      x,
      y,
      extra: { teacherLogits: teacher.logits(x, { training: false }), ceWeight: tf.scalar(ceWeight), klWeight: tf.scalar(klWeight) },
    });
    const student = teacher.clone();
    try {
      await trainLoop({
        model: student,
        epochs: hp.epochs,
        batches: function* (epoch): Iterable<Batch> {
          if (epoch < hp.maxEpochs) for (const b of forgetBatches(epoch)) yield withTeacher(b.x, b.y, 0, -1);
          for (const b of retainBatches(epoch)) yield withTeacher(b.x, b.y, hp.gamma, hp.alpha);
        },
        // progress only: the count of the epochs that have a max pass
        stepsPerEpoch: stepsPerEpoch(retain.length, hp.batchSize) + (hp.maxEpochs > 0 ? stepsPerEpoch(forget.length, hp.forgetBatchSize) : 0),
        optimizer: { lr: hp.lr, momentum: hp.momentum, weightDecay: hp.weightDecay },
        schedule: fineTuneSchedule(hp),
        loss: scrubLoss(hp.temperature),
        onProgress: (p) => task.onProgress?.({ ...p, phase: 'scrub' }),
      });
      return student;
    } catch (err) {
      student.dispose();
      throw err;
    }
  },
};
