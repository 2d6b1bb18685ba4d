import fs from 'node:fs';
import path from 'node:path';
import type { ArtefactRequest } from '@lethe/core';
import { writeJsonAtomic } from '@lethe/runtime/files';
import type { PlannedGroup } from '../plan/plan.js';
import { drawForgetSet } from './data.js';
import { ensureOriginal, type RunContext } from './group.js';

/**
 * Stage 3c: a group's artefacts (AMUN's adversarial set), each a job of its own: computed once per original model
 * and forget-set draw, before the cells and searches that need them, which then find them in the cache. The method's
 * own cache (keyed by the content it is made of) holds the artefact; a marker under `<cache>/artefacts/<key>.json`,
 * written last, records that the job finished, so that `lethe plan` and every executor agree on what is done.
 */

export function artefactMarkerFile(cacheDir: string, key: string): string {
  return path.join(cacheDir, 'artefacts', `${key}.json`);
}

export function artefactDone(cacheDir: string, key: string): boolean {
  return fs.existsSync(artefactMarkerFile(cacheDir, key));
}

/** Compute (or find) one artefact of a group with its original model, then mark it done. */
export async function prepareArtefact(context: RunContext, group: PlannedGroup, request: ArtefactRequest, key: string): Promise<void> {
  const { data, log, cacheDir } = context;
  const { forget } = drawForgetSet(data.available, group);
  const original = await ensureOriginal(context, group.seeds.original, group.originalKey);
  const start = performance.now();
  try {
    await request.prepare({ original: original.model, train: data.train, forget, log, cacheDir });
  } finally {
    original.model.dispose();
  }
  const seconds = (performance.now() - start) / 1000;
  writeJsonAtomic(artefactMarkerFile(cacheDir, key), { artefact: request.name, options: request.options, original: group.originalKey, forgetSet: group.forgetSetId, forgetSetSeed: group.seeds.forgetSet, seconds, createdAt: new Date().toISOString() });
}
