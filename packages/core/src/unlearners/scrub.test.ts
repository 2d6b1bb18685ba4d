// SCRUB's data: its public code trains on un-augmented images, whatever recipe the original model had.
import assert from 'node:assert/strict';
import test from 'node:test';
import { initBackend } from '@lethe/runtime';
import type { Model } from '@lethe/models';
import { resolveHyperParameters } from '../registry.js';
import './index.js';
import { scrub } from './scrub.js';
import { makeTask, problem, recipe, trainOriginal } from './memorised.test-util.js';

await initBackend('wasm');

const { train, forget, retain } = problem;
const original = await trainOriginal();
const size = train.height * train.width * train.channels;

type ScrubHyperParameters = Parameters<typeof scrub.unlearn>[1];
const hp = (raw: Record<string, unknown>): ScrubHyperParameters => resolveHyperParameters('scrub', 'retain', raw) as ScrubHyperParameters;

/**
 * Run SCRUB for one epoch (a max pass over D_f, then a min pass over D_r) on a task whose recipe augments, and
 * return, for every image the teacher was shown (SCRUB shows it each training batch), the index of the training
 * image it equals pixel for pixel (byte / 255), or -1 when it equals none (a crop or flip of one).
 */
async function imagesTrainedOn(raw: Record<string, unknown>): Promise<number[]> {
  const matches: number[] = [];
  // the original model, through the prototype chain, with a logits that records its inputs (SCRUB's teacher)
  const teacher = Object.create(original) as Model;
  teacher.logits = (x, options) => {
    const pixels = x.dataSync();
    for (let s = 0; s < x.shape[0]; s++) {
      let found = -1;
      for (let i = 0; i < train.count && found < 0; i++) {
        let same = true;
        for (let p = 0; p < size && same; p++) same = Math.abs(pixels[s * size + p]! - train.images[i * size + p]! / 255) < 1e-6;
        if (same) found = i;
      }
      matches.push(found);
    }
    return original.logits(x, options);
  };
  const task = makeTask(teacher, 'retain', 2, { recipe: { ...recipe, augment: true } });
  (await scrub.unlearn(task, hp({ epochs: 1, maxEpochs: 1, batchSize: 16, forgetBatchSize: 8, ...raw }))).dispose();
  return matches;
}

test("augment false (the default, as SCRUB's code): every batch holds the un-augmented images, each sample once per pass", async () => {
  assert.equal(hp({}).augment, false);
  const matches = await imagesTrainedOn({});
  // one max pass over D_f and one min pass over D_r: each sample exactly once, as itself
  assert.deepEqual(matches.sort((a, b) => a - b), [...forget, ...retain].sort((a, b) => a - b));
});

test("augment true: the recipe's crops and flips (so the test above can tell them apart)", async () => {
  const matches = await imagesTrainedOn({ augment: true });
  assert.equal(matches.length, forget.length + retain.length);
  const changed = matches.filter((m) => m < 0).length;
  assert.ok(changed > matches.length / 2, `${changed} of ${matches.length} images augmented`);
});
