import { combineSeeds } from '@lethe/runtime';
import { crossEntropyLoss, type Batch } from '../training/loop.js';
import type { UnlearningTask } from '../unlearner.js';
import { mixedEpochBatches } from './mixed-batches.js';

export interface RetainPassOptions {
  /** batch size of the D_r pass (the methods use their own fine-tuning batch size) */
  batchSize: number;
  /** the method's seed; the D_r stream is drawn from combineSeeds(seed, 'retain') */
  seed: number;
}

/**
 * An epoch that first makes one descent pass of plain cross-entropy over D_r, then the method's own pass over D_f:
 * how AMUN's code (adversarial_unlearn.py) runs its GA and BS baselines when the retain set is available (Table 1).
 * Both passes are batches of the one training loop, so they share one optimiser (momentum carries from one to the
 * other, as there) and the epoch's learning rate. The D_r batches carry cross-entropy as their own loss
 * (`Batch.loss`), whatever the method's loss for D_f is; they are reshuffled each epoch (AMUN's D_r loader does not
 * shuffle; ours does, as every other pass in Lethe) and augmented when the original recipe was.
 *
 * Batches are made lazily, when the loop asks for them, so `forgetPass(epoch)` starts after the last D_r step of
 * that epoch (BS's labelling model can be copied there). Without D_r (`task.retain` empty, as in 'forget-only')
 * an epoch is `forgetPass(epoch)` alone.
 */
export function retainPassThenForget(
  task: Pick<UnlearningTask, 'train' | 'retain' | 'recipe'>,
  forgetPass: (epoch: number) => Iterable<Batch>,
  options: RetainPassOptions,
): (epoch: number) => Iterable<Batch> {
  if (task.retain.length === 0) return forgetPass;
  const retainBatches = mixedEpochBatches([{ dataset: task.train, indices: task.retain, augment: task.recipe.augment }], {
    batchSize: options.batchSize,
    seed: combineSeeds(options.seed, 'retain'),
  });
  return function* (epoch) {
    for (const batch of retainBatches(epoch)) yield { ...batch, loss: crossEntropyLoss };
    yield* forgetPass(epoch);
  };
}

/** Steps of the D_r pass per epoch (0 without D_r), for progress reporting. */
export function retainPassSteps(task: Pick<UnlearningTask, 'retain'>, batchSize: number): number {
  return Math.ceil(task.retain.length / batchSize);
}
