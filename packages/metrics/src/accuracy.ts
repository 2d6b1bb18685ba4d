import * as tf from '@tensorflow/tfjs-core';
import type { Model } from '@lethe/models';
import { batches, type ImageDataset } from '@lethe/datasets';

/** Evaluation batch size: inference only, so larger than training batches. */
export const EVAL_BATCH_SIZE = 256;

/** Per-sample correctness (1 = the model's top-1 prediction equals the label), in the order of `indices`. */
export async function correctness(model: Model, dataset: ImageDataset, indices: Int32Array, batchSize = EVAL_BATCH_SIZE): Promise<Uint8Array> {
  const out = new Uint8Array(indices.length);
  let at = 0;
  for (const batch of batches(dataset, { indices, batchSize, augment: false, normalize: false })) {
    const hits = tf.tidy(() => tf.cast(tf.equal(tf.argMax(model.logits(batch.x, { training: false }), 1), tf.cast(batch.y, 'int32')), 'int32'));
    out.set(await hits.data(), at);
    at += batch.indices.length;
    hits.dispose();
    batch.x.dispose();
    batch.y.dispose();
  }
  return out;
}

/** Mean of a 0/1 array as a percentage; NaN for an empty set. */
export function percentOf(hits: Uint8Array): number {
  if (hits.length === 0) return Number.NaN;
  let s = 0;
  for (const h of hits) s += h;
  return (100 * s) / hits.length;
}

/** Top-1 accuracy in percent. */
export async function accuracy(model: Model, dataset: ImageDataset, indices: Int32Array, batchSize = EVAL_BATCH_SIZE): Promise<number> {
  return percentOf(await correctness(model, dataset, indices, batchSize));
}
