import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '@lethe/runtime';
import type { Model, ModelSpec } from '@lethe/models';
import { batches, subset, syntheticImageDataset, type ImageDataset } from '@lethe/datasets';
import { trainFromScratch, type TrainingRecipe } from '../training/recipe.js';
import type { Setting, UnlearningTask } from '../unlearner.js';

/**
 * A small problem where the forget set must be memorised: synthetic 8x8 images of 4 learnable classes, and a
 * forget set whose labels are replaced by other, random classes. The original model fits those labels only by
 * memorising them; a model that never saw them predicts their images' true classes instead. So forgetting shows as
 * a drop in accuracy on the forget set (w.r.t. its assigned labels) while retain accuracy stays high.
 */
export const NUM_CLASSES = 4;
export const cnnSpec: ModelSpec = { arch: 'small-cnn', numClasses: NUM_CLASSES, inputShape: [8, 8, 3], batchNorm: true };
export const resnetSpec: ModelSpec = { arch: 'resnet18', numClasses: NUM_CLASSES, inputShape: [8, 8, 3], width: 0.25 };

export const recipe: TrainingRecipe = { epochs: 12, batchSize: 16, optimizer: { lr: 0.05, momentum: 0.9, weightDecay: 5e-4 }, schedule: { kind: 'cosine' }, augment: false };

const TRAIN = 64;
const TEST = 32;
const FORGET = 8;

function build(): { train: ImageDataset; test: ImageDataset; forget: Int32Array; retain: Int32Array; trueForgetLabels: Uint8Array } {
  const data = syntheticImageDataset({ count: TRAIN + TEST, numClasses: NUM_CLASSES, height: 8, width: 8, channels: 3, seed: 31 });
  const train = subset(data, Int32Array.from({ length: TRAIN }, (_, i) => i));
  const test = subset(data, Int32Array.from({ length: TEST }, (_, i) => TRAIN + i));
  const forget = Int32Array.from({ length: FORGET }, (_, i) => i * (TRAIN / FORGET));
  const retain = Int32Array.from({ length: TRAIN }, (_, i) => i).filter((i) => i % (TRAIN / FORGET) !== 0);
  const trueForgetLabels = Uint8Array.from(forget, (i) => train.labels[i]!);
  const rng = new Rng(5);
  for (const i of forget) train.labels[i] = (train.labels[i]! + 1 + rng.int(NUM_CLASSES - 1)) % NUM_CLASSES;
  return { train, test, forget, retain, trueForgetLabels };
}

export const problem = build();

export async function trainOriginal(spec: ModelSpec = cnnSpec, epochs = recipe.epochs): Promise<Model> {
  const all = Int32Array.from({ length: problem.train.count }, (_, i) => i);
  return (await trainFromScratch(spec, { ...recipe, epochs }, problem.train, all, 11)).model;
}

/** Accuracy of `model` on `indices` of `dataset` against the data set's labels (inference mode). */
export function accuracy(model: Model, dataset: ImageDataset, indices: Int32Array): number {
  let correct = 0;
  for (const b of batches(dataset, { indices, batchSize: 64 })) {
    correct += tf.tidy(() => tf.sum(tf.cast(tf.equal(tf.argMax(model.logits(b.x, { training: false }), 1), b.y), 'int32')).dataSync()[0]!);
    b.x.dispose();
    b.y.dispose();
  }
  return correct / indices.length;
}

/**
 * The `log` and `onProgress` hooks of a test's task: log lines go to `log`, and with `counts`, the live tensor
 * count after each training step is appended to its phase's list (so a test can check memory stays flat per phase).
 */
export function recordingHooks(log: string[], counts?: Map<string, number[]>): Pick<UnlearningTask, 'log' | 'onProgress'> {
  return {
    log: (line) => log.push(line),
    onProgress: counts
      ? (p) => {
          if (p.epochLoss === undefined) counts.set(p.phase, [...(counts.get(p.phase) ?? []), tf.memory().numTensors]);
        }
      : undefined,
  };
}

export function makeTask(original: Model, setting: Setting, seed: number, extra: Partial<UnlearningTask> = {}): UnlearningTask {
  return {
    original,
    train: problem.train,
    test: problem.test,
    forget: problem.forget,
    retain: setting === 'retain' ? problem.retain : new Int32Array(0),
    setting,
    seed,
    recipe,
    log: () => {},
    ...extra,
  };
}

/** Every parameter and state value of a model (copies), for bit-identity checks. */
export function weightsOf(model: Model): Float32Array[] {
  return [...model.params.values(), ...model.state.values()].map((v) => Float32Array.from(v.dataSync()));
}

/** Whether two weight snapshots are bit-identical. */
export function sameWeights(a: Float32Array[], b: Float32Array[]): boolean {
  if (a.length !== b.length) return false;
  return a.every((x, k) => {
    const y = b[k]!;
    if (x.length !== y.length) return false;
    const xb = new Uint32Array(x.buffer, x.byteOffset, x.length);
    const yb = new Uint32Array(y.buffer, y.byteOffset, y.length);
    for (let i = 0; i < xb.length; i++) if (xb[i] !== yb[i]) return false;
    return true;
  });
}

/** Live tensors a clone of `model` holds (what a returned model may add to the count). */
export function tensorsPerModel(model: Model): number {
  const before = tf.memory().numTensors;
  const copy = model.clone();
  const held = tf.memory().numTensors - before;
  copy.dispose();
  return held;
}

/**
 * Run an unlearner and check the project's contracts: the tensor count after the call grows by exactly the returned
 * model's tensors, it is flat across training steps, and the original model is untouched. Returns the model.
 */
export async function runChecked(
  unlearn: (task: UnlearningTask) => Promise<Model>,
  original: Model,
  setting: Setting,
  seed: number,
  extra: Partial<UnlearningTask> = {},
): Promise<{ model: Model; stepCounts: number[]; logs: string[] }> {
  const originalWeights = weightsOf(original);
  const perModel = tensorsPerModel(original);
  const stepCounts: number[] = [];
  const logs: string[] = [];
  const before = tf.memory().numTensors;
  const model = await unlearn(
    makeTask(original, setting, seed, {
      log: (line) => logs.push(line),
      onProgress: (p) => {
        if (p.epochLoss === undefined) stepCounts.push(tf.memory().numTensors);
      },
      ...extra,
    }),
  );
  const after = tf.memory().numTensors;
  if (after - before !== perModel) throw new Error(`tensor count grew by ${after - before}, expected ${perModel} (the returned model's)`);
  if (stepCounts.length < 2) throw new Error(`expected at least 2 training steps, saw ${stepCounts.length}`);
  if (stepCounts.some((c) => c !== stepCounts[0])) throw new Error(`live tensors drift across steps: ${stepCounts.join(', ')}`);
  if (!sameWeights(weightsOf(original), originalWeights)) throw new Error('the original model was modified');
  return { model, stepCounts, logs };
}
