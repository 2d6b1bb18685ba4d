import path from 'node:path';
import { Rng, combineSeeds } from '@lethe/runtime';
import { concatDatasets, type ImageDataset } from '@lethe/datasets';
import { trainFromScratch } from '@lethe/core';
import { modelOutputs, sampleSignals, selectOutputs, selectSignals, type ModelOutputs, type ReferenceModelSignals, type SampleSignals } from '@lethe/attacks';
import type { Plan, PlannedReference } from '../plan/plan.js';
import type { PreparedData } from './data.js';
import { cachedModel } from './cache.js';
import { createPhaseProgress } from './progress.js';
import { readHeaderFile, writeHeaderFile } from '@lethe/runtime/files';

/**
 * Reference models for LiRA and RMIA (trained before the groups, shared by all of them): K models trained with the
 * original model's recipe on random halves of the reference data, in pairs of complementary halves. The reference
 * data is the training set without the holdout ('train-halves', offline attacks) or that plus the test set
 * ('train-test-halves', AMUN's online RMIA). Each model is trained once and cached by content hash like the original
 * and gold models; its logits on the whole training and test sets are cached beside it, so a later run (another
 * method, forget set or seed) costs neither training nor inference for them, and an attack can derive any signal
 * (softmax confidence, logit scaling, soft margins at any temperature) from them.
 */
export interface ReferenceModelData {
  reference: PlannedReference;
  /** 1 where a training / test sample was in this model's half */
  trainIn: Uint8Array;
  testIn: Uint8Array;
  train: ModelOutputs;
  test: ModelOutputs;
  trainSignals: SampleSignals;
  testSignals: SampleSignals;
}

/** The reference data: pool positions [0, available) are training images (in `available` order), then test images. */
export interface ReferencePool {
  /** training-set indices of the pool's first positions */
  available: Int32Array;
  /** test images in the pool (0 for 'train-halves') */
  testCount: number;
  count: number;
}

export function referencePool(available: Int32Array, testCount: number, referenceData: 'train-halves' | 'train-test-halves'): ReferencePool {
  const tests = referenceData === 'train-test-halves' ? testCount : 0;
  return { available, testCount: tests, count: available.length + tests };
}

/** The half of pair `pair`: floor(n/2) pool positions drawn by the reference seed; side 1 is the complement. */
export function referenceHalf(poolCount: number, referenceSeed: number, pair: number, side: 0 | 1): Uint8Array {
  const mask = new Uint8Array(poolCount);
  for (const i of new Rng(combineSeeds(referenceSeed, 'reference-half', pair)).sample(poolCount, Math.floor(poolCount / 2))) mask[i] = 1;
  if (side === 1) for (let i = 0; i < poolCount; i++) mask[i] = 1 - mask[i]!;
  return mask;
}

/** Membership of every training and test image in a half of the pool (holdout images are in no half). */
export function halfMembership(pool: ReferencePool, half: Uint8Array, trainCount: number, testCount: number): { trainIn: Uint8Array; testIn: Uint8Array } {
  const trainIn = new Uint8Array(trainCount);
  pool.available.forEach((i, position) => (trainIn[i] = half[position]!));
  const testIn = new Uint8Array(testCount);
  for (let j = 0; j < pool.testCount; j++) testIn[j] = half[pool.available.length + j]!;
  return { trainIn, testIn };
}

const OUTPUTS_FORMAT = 'lethe.reference-outputs/v2';

interface OutputsHeader {
  format: string;
  dataChecksum: string;
  trainCount: number;
  testCount: number;
  numClasses: number;
}

export function referenceOutputsFile(cacheDir: string, key: string): string {
  return path.join(cacheDir, `${key}.outputs.bin`);
}

/**
 * A reference model's cached outputs: null when there are none for these data (missing, or another format or data
 * set); an error naming the file when it is damaged (its body's SHA-256 or length is wrong).
 */
function readOutputs(file: string, expected: OutputsHeader, data: PreparedData): { train: ModelOutputs; test: ModelOutputs } | null {
  const read = readHeaderFile<OutputsHeader>(
    file,
    (h) => h.format === expected.format && h.dataChecksum === expected.dataChecksum && h.trainCount === expected.trainCount && h.testCount === expected.testCount && h.numClasses === expected.numClasses,
    // files written before bodySha256 have exactly these keys
    { unhashed: (h) => Object.keys(h).sort().join() === 'dataChecksum,format,numClasses,testCount,trainCount' },
  );
  if (!read) return null;
  const k = expected.numClasses;
  if (read.body.byteLength !== 4 * k * (expected.trainCount + expected.testCount)) {
    throw new Error(`'${file}' is damaged (${read.body.byteLength} bytes of logits, expected ${4 * k * (expected.trainCount + expected.testCount)}); delete it so it is computed again`);
  }
  const logits = new Float32Array(read.body.byteLength / 4);
  new Uint8Array(logits.buffer).set(read.body);
  const labelsOf = (ds: ImageDataset): Int32Array => Int32Array.from(ds.labels.subarray(0, ds.count));
  return {
    train: { logits: logits.slice(0, expected.trainCount * k), labels: labelsOf(data.train), count: expected.trainCount, numClasses: k },
    test: { logits: logits.slice(expected.trainCount * k), labels: labelsOf(data.test), count: expected.testCount, numClasses: k },
  };
}

export interface PreparedReferences {
  models: ReferenceModelData[];
  online: boolean;
}

export interface ReferenceOptions {
  cacheDir: string;
  batchSize: number;
  log: (line: string) => void;
  interactive: boolean;
  /** a time limit: true at an epoch end stops the training there, checkpointed */
  stopTraining?: (lastEpochSeconds: number) => boolean;
}

function outputsHeader(data: PreparedData): OutputsHeader {
  return { format: OUTPUTS_FORMAT, dataChecksum: data.checksum, trainCount: data.train.count, testCount: data.test.count, numClasses: data.train.numClasses };
}

function halfOf(plan: Plan, data: PreparedData, reference: PlannedReference): { pool: ReferencePool; half: Uint8Array } {
  const { referenceSeed, referenceData } = plan.config.evaluation.mia;
  const pool = referencePool(data.available, data.test.count, referenceData);
  return { pool, half: referenceHalf(pool.count, referenceSeed, reference.pair, reference.side) };
}

/**
 * One reference model's job: train it (or load it from the model cache) and cache its logits on every training and
 * test image. Returns whether a model was trained. The reference data (training images, then for online attacks the
 * test images) is built once per process and passed back in `pool`.
 */
export async function ensureReferenceModel(
  plan: Plan,
  data: PreparedData,
  reference: PlannedReference,
  options: ReferenceOptions,
  poolData: () => ImageDataset,
): Promise<{ trained: boolean }> {
  const { log } = options;
  const K = plan.references.length;
  const role = `reference model ${reference.index + 1}/${K}`;
  const header = outputsHeader(data);
  const file = referenceOutputsFile(options.cacheDir, reference.key);
  try {
    if (readOutputs(file, header, data)) return { trained: false };
  } catch (err) {
    // a damaged file is computed again here; when a cell finds one (loadReferenceModels), its error names the file
    log(`${role}: cached outputs unusable (${(err as Error).message}); computing them again`);
  }
  const { pool, half } = halfOf(plan, data, reference);
  // training-set positions of the half: training images keep their index, test image j is train.count + j
  const positions: number[] = [];
  half.forEach((inHalf, p) => {
    if (inHalf) positions.push(p < pool.available.length ? pool.available[p]! : data.train.count + (p - pool.available.length));
  });
  const trainOn = Int32Array.from(positions);
  const progress = createPhaseProgress(role, log, options.interactive);
  let trained: Awaited<ReturnType<typeof cachedModel>>;
  try {
    trained = await cachedModel(
      options.cacheDir,
      reference.key,
      plan.modelSpec,
      role,
      log,
      async (checkpoint) => {
        const seed = combineSeeds(plan.config.evaluation.mia.referenceSeed, 'reference', reference.pair, reference.side);
        return (await trainFromScratch(plan.modelSpec, plan.referenceRecipe, poolData(), trainOn, seed, (p) => progress.update(p), { checkpoint })).model;
      },
      options.stopTraining,
    );
  } finally {
    progress.stop();
  }
  const { model, trainedNow } = trained;
  try {
    log(`${role}: computing its outputs on ${data.train.count} training and ${data.test.count} test images (inference)`);
    const allTrain = Int32Array.from({ length: data.train.count }, (_, i) => i);
    const allTest = Int32Array.from({ length: data.test.count }, (_, i) => i);
    const train = await modelOutputs(model, data.train, allTrain, options.batchSize);
    const test = await modelOutputs(model, data.test, allTest, options.batchSize);
    const body = new Uint8Array(4 * header.numClasses * (header.trainCount + header.testCount));
    body.set(new Uint8Array(train.logits.buffer, train.logits.byteOffset, train.logits.byteLength));
    body.set(new Uint8Array(test.logits.buffer, test.logits.byteOffset, test.logits.byteLength), train.logits.byteLength);
    writeHeaderFile(file, header, body);
  } finally {
    model.dispose();
  }
  return { trained: trainedNow };
}

/** The reference data a process trains its reference models on, built on first use. */
export function referencePoolData(plan: Plan, data: PreparedData): () => ImageDataset {
  let pool: ImageDataset | null = null;
  return () => (pool ??= plan.config.evaluation.mia.referenceData === 'train-test-halves' ? concatDatasets(data.train, data.test, 'reference-pool') : data.train);
}

/** Every planned reference model's cached outputs with its memberships; an error names a missing one. */
export function loadReferenceModels(plan: Plan, data: PreparedData, cacheDir: string, log: (line: string) => void): PreparedReferences {
  const header = outputsHeader(data);
  const models: ReferenceModelData[] = plan.references.map((reference) => {
    const outputs = readOutputs(referenceOutputsFile(cacheDir, reference.key), header, data);
    if (!outputs) throw new Error(`reference model ${reference.index + 1}/${plan.references.length} (${reference.key}) has no cached outputs in ${cacheDir}; run its job first`);
    const { pool, half } = halfOf(plan, data, reference);
    return { reference, ...halfMembership(pool, half, data.train.count, data.test.count), ...outputs, trainSignals: sampleSignals(outputs.train), testSignals: sampleSignals(outputs.test) };
  });
  const { referenceData } = plan.config.evaluation.mia;
  const pool = referencePool(data.available, data.test.count, referenceData);
  log(`reference models: ${models.length} loaded (${models.length / 2} ${models.length === 2 ? 'pair' : 'pairs'} of complementary halves of ${referenceData === 'train-test-halves' ? `the ${pool.available.length} training and ${data.test.count} test images` : `the ${pool.available.length} training images`})`);
  return { models, online: referenceData === 'train-test-halves' };
}

/**
 * The reference signals of one group: the forget samples, the test set and the retain set (the population of online
 * RMIA over all data), with their IN/OUT status per reference.
 */
export function groupReferenceSignals(prepared: PreparedReferences, forget: Int32Array, testIndices: Int32Array, retain: Int32Array): ReferenceModelSignals {
  return {
    forget: prepared.models.map((m) => selectSignals(m.trainSignals, forget)),
    test: prepared.models.map((m) => selectSignals(m.testSignals, testIndices)),
    forgetIncluded: prepared.models.map((m) => Uint8Array.from(forget, (i) => m.trainIn[i]!)),
    ...(prepared.online
      ? {
          testIncluded: prepared.models.map((m) => Uint8Array.from(testIndices, (j) => m.testIn[j]!)),
        }
      : {}),
    forgetOutputs: prepared.models.map((m) => selectOutputs(m.train, forget)),
    testOutputs: prepared.models.map((m) => selectOutputs(m.test, testIndices)),
    retainOutputs: prepared.models.map((m) => selectOutputs(m.train, retain)),
    retainIncluded: prepared.models.map((m) => Uint8Array.from(retain, (i) => m.trainIn[i]!)),
  };
}
