import { Model, type ModelSpec } from '@lethe/models';
import { batches, type ImageDataset } from '@lethe/datasets';
import { combineSeeds } from '@lethe/runtime';
import type { SgdConfig } from './sgd.js';
import type { LrSchedule } from './schedule.js';
import { trainLoop, type Batch, type TrainCheckpointer, type TrainProgress, type TrainReport } from './loop.js';

/** How a model is trained from scratch: the recipe shared by the original model, the gold model and references. */
export interface TrainingRecipe {
  epochs: number;
  batchSize: number;
  optimizer: SgdConfig;
  schedule: LrSchedule;
  /** 4-pixel padded random crop + horizontal flip */
  augment: boolean;
}

export interface EpochBatchOptions {
  batchSize: number;
  seed: number;
  augment: boolean;
  /** shuffle each epoch (default true) */
  shuffle?: boolean;
}

/** The batches of each epoch over `indices`, reshuffled (and re-augmented) per epoch from the seed. */
export function epochBatches(dataset: ImageDataset, indices: Int32Array, options: EpochBatchOptions): (epoch: number) => Iterable<Batch> {
  if (indices.length === 0) throw new Error('cannot train on an empty set of samples');
  return (epoch) => {
    const epochSeed = combineSeeds(options.seed, 'epoch', epoch);
    return batches(dataset, {
      indices,
      batchSize: options.batchSize,
      shuffleSeed: options.shuffle === false ? undefined : epochSeed,
      augment: options.augment ? { seed: combineSeeds(epochSeed, 'augment') } : false,
      normalize: false,
      dropLast: false,
    });
  };
}

export function stepsPerEpoch(count: number, batchSize: number): number {
  return Math.ceil(count / batchSize);
}

/** Train a fresh model of `spec` on `indices` of `dataset` with `recipe`. Used for original and gold models. */
export async function trainFromScratch(
  spec: ModelSpec,
  recipe: TrainingRecipe,
  dataset: ImageDataset,
  indices: Int32Array,
  seed: number,
  onProgress?: (progress: TrainProgress) => void,
  options: { checkpoint?: TrainCheckpointer } = {},
): Promise<{ model: Model; report: TrainReport }> {
  const model = Model.create(spec, combineSeeds(seed, 'model-init'));
  try {
    const report = await trainLoop({
      model,
      epochs: recipe.epochs,
      batches: epochBatches(dataset, indices, { batchSize: recipe.batchSize, seed: combineSeeds(seed, 'data-order'), augment: recipe.augment }),
      stepsPerEpoch: stepsPerEpoch(indices.length, recipe.batchSize),
      optimizer: recipe.optimizer,
      schedule: recipe.schedule,
      ...(onProgress ? { onProgress } : {}),
      ...(options.checkpoint ? { checkpoint: options.checkpoint } : {}),
    });
    return { model, report };
  } catch (err) {
    model.dispose();
    throw err;
  }
}
