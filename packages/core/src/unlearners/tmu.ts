import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import { Rng, combineSeeds } from '@lethe/runtime';
import { batches, type ImageDataset } from '@lethe/datasets';
import { Model } from '@lethe/models';
import { epochBatches, stepsPerEpoch, trainFromScratch } from '../training/recipe.js';
import { trainLoop, type Batch } from '../training/loop.js';
import type { TaskSizes, UnlearnerDefinition, UnlearningTask, Workload } from '../unlearner.js';
import { fineTuneFields, fineTuneSchedule, trainCopy } from './common.js';
import { allIndices, gatherSamples, sampleIndices, type SampleSet } from './tmu/data.js';
import { adversarialFeature, correctlyClassified, distanceFeature, lossFeature, type FeatureName } from './tmu/features.js';
import { applyFeatureScaler, fitFeatureScaler } from './tmu/scaling.js';
import { GeneralisationPredictor } from './tmu/predictor.js';

const hyperParameters = z
  .object({
    /**
     * where the twin problem's held-out data D_h comes from. 'test-split': a seeded share (`heldOutFraction`) of
     * the test set. The unlearned model never trains on those images, but the twin model and the predictor do,
     * and the harness measures TA on the whole test set, so TA is not on fully untouched data: the run's log
     * says so. 'train-holdout': the training images in neither D_f nor D_r, i.e. data the harness kept away from
     * the original model; the harness keeps none back yet, so this is refused with an error until it does.
     */
    heldOut: z.enum(['test-split', 'train-holdout']).default('test-split'),
    /** share of the test set used as D_h under 'test-split' (project default: half, chosen by the task seed) */
    heldOutFraction: z.number().gt(0).max(1).default(0.5),
    /**
     * epochs of fine-tuning the original on D_h to make the twin (project default 5, as the unlearning stage;
     * the papers do not state it). SGD with this `twinLr` and the fine-tuning momentum, weight decay and batch.
     */
    twinEpochs: z.number().int().positive().default(5),
    twinLr: z.number().positive().default(0.01),
    /**
     * training images mixed into the twin's fine-tuning per held-out image (project choice, default 1): the twin
     * should be the original model that has also learnt D_h, not one that drifted to D_h alone. 0 = D_h only.
     */
    twinReplay: z.number().min(0).default(1),
    /** DF's number of nearest same-class retained samples (the paper: 5) */
    neighbours: z.number().int().positive().default(5),
    /**
     * how many retained samples DF searches, drawn by seed (project default 5,000 to bound the cost on
     * CIFAR-10's 45,000-image D_r; 0 = all of them)
     */
    referenceSamples: z.number().int().min(0).default(5000),
    /** the predictor's inputs; the public code feeds DF and CF only (REFERENCE.md) */
    features: z
      .array(z.enum(['DF', 'AF', 'CF']))
      .min(1)
      .refine((f) => new Set(f).size === f.length, 'features must not repeat')
      .default(['DF', 'CF']),
    /** AF's attack: 5-step L-inf PGD, eps 4/255 (the paper); step size eps/4 (project choice), no random start */
    pgdEpsilon: z.number().min(0).default(4 / 255),
    pgdSteps: z.number().int().min(0).default(5),
    pgdStepSize: z.number().min(0).default(1 / 255),
    /**
     * CF's early model: trained from scratch with the original recipe for this many epochs (the paper: 2) on
     * D (= D_f and D_r) together with D_h, so that it has seen the samples of both problems once per epoch
     */
    earlyEpochs: z.number().int().positive().default(2),
    /** predictor training: Adam lr 0.01, 200 epochs (the public code); full-batch steps (project choice; 0 = full batch) */
    predictorEpochs: z.number().int().positive().default(200),
    predictorLr: z.number().positive().default(0.01),
    predictorBatchSize: z.number().int().min(0).default(0),
    /** a forget sample is hard (gets a random label) when P(hard) > this (project default 0.5) */
    hardThreshold: z.number().min(0).max(1).default(0.5),
    /**
     * the noise-perturbed variant (the paper's defence against membership inference; details not available to
     * us): std of Gaussian noise, in [0, 1] pixel units, added to the forget images in every fine-tuning batch
     * (then clamped to [0, 1]). Project default 0 = off.
     */
    noiseStd: z.number().min(0).default(0),
    /** batch size of the feature computations (no effect on their values) */
    featureBatchSize: z.number().int().positive().default(256),
    // the unlearning fine-tune: SGD lr 0.01, momentum 0.9, weight decay 5e-4 (common.ts) with batch 64 and
    // 5 epochs (TMU's public code)
    ...fineTuneFields,
    epochs: z.number().int().positive().default(5),
    batchSize: z.number().int().positive().default(64),
  })
  .strict();

export type TmuHyperParameters = z.infer<typeof hyperParameters>;

/** The features of both problems, before scaling, in the order of `hp.features`. */
export interface TmuFeatures {
  names: FeatureName[];
  /** the twin problem: held-out samples D_h, their features under the twin model, and whether the original misclassifies them */
  twin: { set: SampleSet; columns: Float32Array[]; hard: Uint8Array };
  /** the real problem: the forget set's features under the original model */
  forget: { set: SampleSet; columns: Float32Array[] };
}

/** D_h per `hp.heldOut` (see the hyper-parameter's comment). */
export function heldOutSet(task: UnlearningTask, hp: Pick<TmuHyperParameters, 'heldOut' | 'heldOutFraction'>): SampleSet {
  if (hp.heldOut === 'test-split') {
    const count = Math.max(1, Math.round(hp.heldOutFraction * task.test.count));
    return { dataset: task.test, indices: sampleIndices(allIndices(task.test.count), count, new Rng(combineSeeds(task.seed, 'tmu', 'held-out'))) };
  }
  const used = new Uint8Array(task.train.count);
  for (const i of task.forget) used[i] = 1;
  for (const i of task.retain) used[i] = 1;
  const unseen = allIndices(task.train.count).filter((i) => !used[i]);
  if (unseen.length === 0) {
    throw new Error(
      "tmu: heldOut 'train-holdout' needs training images the original model never saw (in neither D_f nor D_r), and this task has none " +
        "(the harness does not hold any back yet); use heldOut 'test-split'",
    );
  }
  return { dataset: task.train, indices: unseen };
}

/** CF's early model: trained from scratch for `epochs` epochs with the original recipe on `data`. */
async function trainEarlyModel(task: UnlearningTask, data: ImageDataset, epochs: number): Promise<Model> {
  const seed = combineSeeds(task.seed, 'tmu', 'early');
  const { model } = await trainFromScratch(task.original.spec, { ...task.recipe, epochs }, data, allIndices(data.count), seed, (p) =>
    task.onProgress?.({ ...p, phase: 'tmu-early-model' }),
  );
  return model;
}

async function featureColumns(
  names: readonly FeatureName[],
  model: Model,
  earlyModel: Model,
  queries: SampleSet,
  references: SampleSet,
  hp: TmuHyperParameters,
): Promise<Float32Array[]> {
  const columns: Float32Array[] = [];
  for (const name of names) {
    if (name === 'DF') columns.push(await distanceFeature(model, queries, references, hp.neighbours, hp.featureBatchSize));
    else if (name === 'AF') columns.push(await adversarialFeature(model, queries, { eps: hp.pgdEpsilon, steps: hp.pgdSteps, stepSize: hp.pgdStepSize }, hp.featureBatchSize));
    else columns.push(await lossFeature(earlyModel, queries, hp.featureBatchSize));
  }
  return columns;
}

/**
 * Steps 1 and 2 of TMU up to the predictor's inputs: make the twin model, label D_h easy/hard with the
 * original model, and compute the features of D_h (twin model; DF against the twin's retained data D = D_f and
 * D_r) and of D_f (original model; DF against D_r). Exported for tests and notebooks.
 */
export async function computeTmuFeatures(task: UnlearningTask, hp: TmuHyperParameters): Promise<TmuFeatures> {
  if (task.retain.length === 0) throw new Error("tmu needs the retain set (the 'retain' setting): DF measures distances to retained samples");
  const names = [...hp.features];
  const heldOut = heldOutSet(task, hp);
  const forget: SampleSet = { dataset: task.train, indices: task.forget };
  const trainedOn = Int32Array.from([...task.forget, ...task.retain]).sort();
  const referenceRng = new Rng(combineSeeds(task.seed, 'tmu', 'references'));
  const pickReferences = (from: Int32Array, label: string): SampleSet => ({
    dataset: task.train,
    indices: hp.referenceSamples > 0 ? sampleIndices(from, hp.referenceSamples, referenceRng.fork(label)) : from,
  });
  task.log(
    hp.heldOut === 'test-split'
      ? `tmu: D_h = ${heldOut.indices.length} of ${task.test.count} test images (heldOut 'test-split', fraction ${hp.heldOutFraction}, seeded); ` +
          'the twin model and the predictor train on them and the test accuracy still counts them (the unlearned model never trains on them)'
      : `tmu: D_h = ${heldOut.indices.length} training images outside D_f and D_r (heldOut 'train-holdout')`,
  );

  // the original model is gold for the twin: D_h samples it gets wrong are the hard ones
  const hard = (await correctlyClassified(task.original, heldOut, hp.featureBatchSize)).map((c) => 1 - c);

  // CF's early model, trained on the data of both problems
  let earlyModel: Model | undefined;
  if (names.includes('CF')) {
    const earlyData = gatherSamples([{ dataset: task.train, indices: trainedOn }, heldOut], 'tmu-early');
    earlyModel = await trainEarlyModel(task, earlyData, hp.earlyEpochs);
  }
  try {
    // the twin: the original model that has also learnt D_h
    const replay: SampleSet = { dataset: task.train, indices: sampleIndices(trainedOn, Math.round(hp.twinReplay * heldOut.indices.length), new Rng(combineSeeds(task.seed, 'tmu', 'replay'))) };
    const twinData = gatherSamples([heldOut, replay], 'tmu-twin');
    const twin = task.original.clone();
    let twinColumns: Float32Array[];
    try {
      await trainLoop({
        model: twin,
        epochs: hp.twinEpochs,
        batches: epochBatches(twinData, allIndices(twinData.count), { batchSize: hp.batchSize, seed: combineSeeds(task.seed, 'tmu', 'twin'), augment: task.recipe.augment }),
        stepsPerEpoch: stepsPerEpoch(twinData.count, hp.batchSize),
        optimizer: { lr: hp.twinLr, momentum: hp.momentum, weightDecay: hp.weightDecay },
        schedule: fineTuneSchedule(hp),
        onProgress: (p) => task.onProgress?.({ ...p, phase: 'tmu-twin' }),
      });
      twinColumns = await featureColumns(names, twin, earlyModel ?? twin, heldOut, pickReferences(trainedOn, 'twin'), hp);
    } finally {
      twin.dispose();
    }
    const forgetColumns = await featureColumns(names, task.original, earlyModel ?? task.original, forget, pickReferences(task.retain, 'forget'), hp);
    return { names, twin: { set: heldOut, columns: twinColumns, hard }, forget: { set: forget, columns: forgetColumns } };
  } finally {
    earlyModel?.dispose();
  }
}

/**
 * TMU's work: CF's early model (earlyEpochs over D_f, D_r and D_h, from scratch), the twin (twinEpochs over D_h and
 * its replay share), the features (inference over D_h, D_f and the reference samples, with AF's PGD steps as forward
 * and backward passes), then the epochs over D_r ∪ D_f. D_h's size for 'train-holdout' is not known from the sizes
 * alone; the test split's is used as the estimate.
 */
export function tmuWorkload(s: TaskSizes, hp: TmuHyperParameters): Workload {
  const heldOut = Math.round(hp.heldOutFraction * s.test);
  const early = hp.features.includes('CF') ? hp.earlyEpochs * (s.forget + s.retain + heldOut) : 0;
  const twin = hp.twinEpochs * Math.round(heldOut * (1 + hp.twinReplay));
  const attack = hp.features.includes('AF') ? hp.pgdSteps * (heldOut + s.forget) : 0;
  return { trainImages: early + twin + attack + hp.epochs * (s.forget + s.retain), inferenceImages: 2 * (heldOut + s.forget + 2 * hp.referenceSamples) };
}

/**
 * New labels for the whole training set: each forget sample flagged hard gets a label drawn uniformly from the
 * other classes, every other label stays.
 */
export function relabelHardSamples(labels: Uint8Array, forget: Int32Array, hard: ArrayLike<number>, numClasses: number, rng: Rng): Uint8Array {
  if (hard.length !== forget.length) throw new Error(`${forget.length} forget samples but ${hard.length} hard flags`);
  if (numClasses < 2) throw new Error(`random wrong labels need at least 2 classes, got ${numClasses}`);
  const out = Uint8Array.from(labels);
  forget.forEach((i, k) => {
    if (hard[k]) out[i] = (labels[i]! + 1 + rng.int(numClasses - 1)) % numClasses;
  });
  return out;
}

/**
 * TMU's fine-tuning batches over `indices` (reshuffled and, with `augment`, re-augmented each epoch), with
 * Gaussian pixel noise of std `noiseStd` added to the samples flagged in `noisy` (then clamped to [0, 1]).
 */
export function fineTuneBatches(
  dataset: ImageDataset,
  indices: Int32Array,
  batchSize: number,
  noisy: Uint8Array,
  noiseStd: number,
  seed: number,
  augment: boolean,
): (epoch: number) => Iterable<Batch> {
  return function* (epoch) {
    const epochSeed = combineSeeds(seed, 'epoch', epoch);
    let b = 0;
    for (const batch of batches(dataset, { indices, batchSize, shuffleSeed: epochSeed, augment: augment ? { seed: combineSeeds(epochSeed, 'augment') } : false, normalize: false })) {
      if (noiseStd > 0) {
        const size = batch.x.size / batch.indices.length;
        const noise = new Float32Array(batch.x.size);
        const rng = new Rng(combineSeeds(epochSeed, 'noise', b));
        batch.indices.forEach((i, k) => {
          if (noisy[i]) for (let p = 0; p < size; p++) noise[k * size + p] = noiseStd * rng.normal();
        });
        const x = tf.tidy(() => tf.clipByValue(tf.add(batch.x, tf.tensor(noise, batch.x.shape)), 0, 1) as tf.Tensor4D);
        batch.x.dispose();
        yield { x, y: batch.y };
      } else {
        yield { x: batch.x, y: batch.y };
      }
      b++;
    }
  };
}

/**
 * TMU, Twin Machine Unlearning (arXiv 2408.11433; extended in arXiv 2501.08615), per REFERENCE.md. Aim: match
 * the gold model's accuracy on D_f, which is not zero, by forgetting only the forget samples that the gold model
 * would get wrong.
 * 1. Twin problem: fine-tune the original on held-out data D_h (see `heldOut`) to get a twin model; the original
 *    plays gold for the twin, so each x in D_h is easy (the original classifies it correctly) or hard.
 * 2. Predictor: per-sample features (DF, AF, CF; see tmu/features.ts) on the twin problem, clipped at 1.5 x IQR
 *    and min-max scaled (fitted there, applied unchanged to D_f); an MLP (tmu/predictor.ts) learns P(hard).
 * 3. Unlearning: hard forget samples (P(hard) > `hardThreshold`) get random wrong labels, easy ones keep theirs;
 *    fine-tune the original on D_r together with the relabelled D_f through the one training loop.
 * Project choices where the papers are silent are marked at each hyper-parameter. Needs D_r: 'retain' only.
 */
export const tmu: UnlearnerDefinition<TmuHyperParameters> = {
  name: 'tmu',
  description: 'Twin Machine Unlearning: predict which forget samples the gold model would misclassify (learnt on a twin problem), relabel those randomly, fine-tune with D_r.',
  paper: 'Twin Machine Unlearning, arXiv 2408.11433 and 2501.08615; fine-tuning defaults from its public code (REFERENCE.md)',
  settings: ['retain'],
  workload: (s, hp) => tmuWorkload(s, hp),
  hyperParameters,
  async unlearn(task, hp) {
    const features = await computeTmuFeatures(task, hp);
    const scaler = fitFeatureScaler(features.twin.columns);
    const predictor = await GeneralisationPredictor.train(applyFeatureScaler(scaler, features.twin.columns), features.twin.hard, {
      epochs: hp.predictorEpochs,
      lr: hp.predictorLr,
      batchSize: hp.predictorBatchSize,
      seed: combineSeeds(task.seed, 'tmu', 'predictor'),
    });
    let hardProbability: Float32Array;
    try {
      hardProbability = predictor.predictHardProbability(applyFeatureScaler(scaler, features.forget.columns));
    } finally {
      predictor.dispose();
    }
    const hard = Uint8Array.from(hardProbability, (p) => (p > hp.hardThreshold ? 1 : 0));
    const hardCount = hard.reduce((n, h) => n + h, 0);
    const twinHard = features.twin.hard.reduce((n, h) => n + h, 0);
    task.log(`tmu: ${twinHard} of ${features.twin.hard.length} held-out samples hard in the twin problem; ${hardCount} of ${task.forget.length} forget samples predicted hard and relabelled at random`);

    const labels = relabelHardSamples(task.train.labels, task.forget, hard, task.train.numClasses, new Rng(combineSeeds(task.seed, 'tmu', 'random-labels')));
    const relabelled: ImageDataset = { ...task.train, labels };
    const isForget = new Uint8Array(task.train.count);
    for (const i of task.forget) isForget[i] = 1;
    const indices = Int32Array.from([...task.retain, ...task.forget]);
    return trainCopy(task, 'tmu-finetune', {
      epochs: hp.epochs,
      batches: fineTuneBatches(relabelled, indices, hp.batchSize, isForget, hp.noiseStd, combineSeeds(task.seed, 'tmu', 'finetune'), task.recipe.augment),
      stepsPerEpoch: stepsPerEpoch(indices.length, hp.batchSize),
      optimizer: { lr: hp.lr, momentum: hp.momentum, weightDecay: hp.weightDecay },
      schedule: fineTuneSchedule(hp),
    });
  },
};
