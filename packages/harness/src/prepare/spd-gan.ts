import fs from 'node:fs';
import path from 'node:path';
import type { ImageDataset } from '@lethe/datasets';
import type { Model } from '@lethe/models';
import { trainFromScratch } from '@lethe/core';
import { modelOutputs } from '@lethe/attacks';
import { trainSpdGan, perturbedDataset, saveSpdGenerator, loadSpdGenerator, accuracyAndConfidence, SPD_GENERATOR_FORMAT, type SpdGenerator } from '@lethe/metrics';
import type { SpdGanConfig } from '../config/config.js';
import type { Plan, PlannedGroup } from '../plan/plan.js';
import type { SpdGanResult } from '../results/results.js';
import { cachedModel } from './cache.js';
import { contentHash } from '../config/hash.js';

/**
 * The SPD-GAN part of a group (opt-in by `evaluation.spdGan`): the generator (cached per data set, forget set,
 * forget-set seed and GAN settings), the perturbed training set D_r ∪ G(D_f), the SPD original trained on it with
 * the benchmark's recipe and the original model's seed (cached; its key names the original's, so it changes with the
 * data, network, recipe and seed), and the SPD original's and the gold model's scores on G(D_f).
 */
export interface SpdGanGroup {
  settings: SpdGanConfig;
  perturbed: ImageDataset;
  spdOriginal: Model;
  trainedNow: string[];
  /** the SPD original's accuracy and confidence on G(D_f), percent */
  before: { accuracy: number; confidence: number };
  /** the retrained model's (trained on D_r alone) degrees: the target */
  retrain: { degreeAccuracy: number; degreeConfidence: number };
  /**
   * the same gap on the clean forget set: SPD original minus gold model, accuracy points. The degree means something
   * only where the perturbed gap (retrain.degreeAccuracy) is clearly larger than this one: then the SPD original
   * learnt the perturbation, not just the forget images.
   */
  cleanGap: number;
  /** the SPD original's accuracy on the clean forget set, percent */
  cleanOriginalAccuracy: number;
}

export function spdGanKeys(plan: Plan, group: PlannedGroup, settings: SpdGanConfig): { generatorKey: string; spdOriginalKey: string } {
  const generatorKey = contentHash({ kind: 'spd-gan-generator', format: SPD_GENERATOR_FORMAT, dataset: plan.config.dataset, forgetSet: group.forgetSetId, seed: group.seeds.forgetSet, settings });
  const spdOriginalKey = contentHash({ kind: 'spd-original', generatorKey, originalKey: group.originalKey, seed: group.seeds.original });
  return { generatorKey, spdOriginalKey };
}

export async function prepareSpdGanGroup(
  plan: Plan,
  group: PlannedGroup,
  settings: SpdGanConfig,
  data: { train: ImageDataset; available: Int32Array },
  sets: { forget: Int32Array; retain: Int32Array },
  gold: Model,
  options: { cacheDir: string; batchSize: number; log: (line: string) => void; onProgress?: Parameters<typeof trainFromScratch>[5]; stopTraining?: (lastEpochSeconds: number) => boolean },
): Promise<SpdGanGroup> {
  const { log } = options;
  const { generatorKey, spdOriginalKey } = spdGanKeys(plan, group, settings);
  const file = path.join(options.cacheDir, `${generatorKey}.spd-generator.bin`);
  const trainedNow: string[] = [];
  let generator: SpdGenerator | null = null;
  if (fs.existsSync(file)) {
    try {
      generator = loadSpdGenerator(file).generator;
      log(`SPD-GAN generator: loaded from cache ${file}`);
    } catch (err) {
      log(`SPD-GAN generator: cached copy unusable (${(err as Error).message}); training again`);
    }
  }
  if (!generator) {
    log(`SPD-GAN generator: training (eps ${settings.eps.toFixed(4)}, ${settings.ganEpochs} epochs over ${sets.forget.length} forget images)`);
    const start = performance.now();
    const { generator: trained, report } = await trainSpdGan(
      data.train,
      sets.forget,
      sets.retain,
      { eps: settings.eps, epochs: settings.ganEpochs, batchSize: settings.ganBatchSize, lr: settings.ganLr, signatureWeight: settings.signatureWeight, hidden: settings.hidden, seed: group.seeds.forgetSet },
      (epoch, r) => log(`  GAN epoch ${epoch + 1}/${settings.ganEpochs}: D loss ${r.discriminatorLoss.toFixed(3)}  G loss ${r.generatorLoss.toFixed(3)}  signature alignment ${r.signatureAlignment.toFixed(3)}`),
    );
    generator = trained;
    await saveSpdGenerator(generator, file, { trainSeconds: (performance.now() - start) / 1000, report, createdAt: new Date().toISOString() });
    trainedNow.push('spd-generator');
  }
  const perturbed = await perturbedDataset(data.train, sets.forget, generator, options.batchSize);
  generator.dispose();
  // the original's training images (holdout excluded), with the forget images replaced by their perturbed copies
  const spd = await cachedModel(options.cacheDir, spdOriginalKey, plan.modelSpec, 'SPD original (D_r ∪ G(D_f))', log, async (checkpoint) => (await trainFromScratch(plan.modelSpec, plan.recipe, perturbed, data.available, group.seeds.original, options.onProgress, { checkpoint })).model, options.stopTraining);
  if (spd.trainedNow) trainedNow.push('spd-original');
  const before = accuracyAndConfidence(await modelOutputs(spd.model, perturbed, sets.forget, options.batchSize));
  const goldScores = accuracyAndConfidence(await modelOutputs(gold, perturbed, sets.forget, options.batchSize));
  const retrain = { degreeAccuracy: before.accuracy - goldScores.accuracy, degreeConfidence: before.confidence - goldScores.confidence };
  const cleanSpd = accuracyAndConfidence(await modelOutputs(spd.model, data.train, sets.forget, options.batchSize));
  const cleanGold = accuracyAndConfidence(await modelOutputs(gold, data.train, sets.forget, options.batchSize));
  const cleanGap = cleanSpd.accuracy - cleanGold.accuracy;
  log(`SPD original on G(D_f): accuracy ${before.accuracy.toFixed(2)}  confidence ${before.confidence.toFixed(2)}; retrained model: ${goldScores.accuracy.toFixed(2)} / ${goldScores.confidence.toFixed(2)} (target degree ${retrain.degreeAccuracy.toFixed(2)} / ${retrain.degreeConfidence.toFixed(2)})`);
  log(`SPD original minus retrained model, accuracy on G(D_f): ${retrain.degreeAccuracy.toFixed(2)} points; on the clean D_f: ${cleanGap.toFixed(2)} points${retrain.degreeAccuracy > cleanGap + 5 ? '' : ' (no clear margin: the degree does not isolate the perturbation here)'}`);
  return { settings, perturbed, spdOriginal: spd.model, trainedNow, before, retrain, cleanGap, cleanOriginalAccuracy: cleanSpd.accuracy };
}

/** The result entry of one unlearned model (unlearned from the SPD original on the perturbed task). */
export async function spdGanResultOf(prepared: SpdGanGroup, unlearned: Model | 'retrain', forget: Int32Array, batchSize: number): Promise<SpdGanResult> {
  const common = {
    eps: prepared.settings.eps,
    retrainDegreeAccuracy: prepared.retrain.degreeAccuracy,
    retrainDegreeConfidence: prepared.retrain.degreeConfidence,
    originalAccuracy: prepared.before.accuracy,
    originalConfidence: prepared.before.confidence,
    perturbedGap: prepared.retrain.degreeAccuracy,
    cleanGap: prepared.cleanGap,
    cleanOriginalAccuracy: prepared.cleanOriginalAccuracy,
  };
  if (unlearned === 'retrain') return { ...common, degreeAccuracy: prepared.retrain.degreeAccuracy, degreeConfidence: prepared.retrain.degreeConfidence };
  const after = accuracyAndConfidence(await modelOutputs(unlearned, prepared.perturbed, forget, batchSize));
  return { ...common, degreeAccuracy: prepared.before.accuracy - after.accuracy, degreeConfidence: prepared.before.confidence - after.confidence };
}
