import type { z } from 'zod';
import type { Model } from '@lethe/models';
import type { ImageDataset } from '@lethe/datasets';
import type { TrainingRecipe } from './training/recipe.js';
import type { TrainProgress } from './training/loop.js';

/**
 * Which data an unlearner may use: the retain set and the forget set (AMUN Table 1), or only the forget set
 * (AMUN Table 2).
 */
export type Setting = 'retain' | 'forget-only';
export const SETTINGS: readonly Setting[] = ['retain', 'forget-only'];

/** Everything an unlearner is given. It must not modify `original`: clone it. */
export interface UnlearningTask {
  original: Model;
  train: ImageDataset;
  test: ImageDataset;
  /** indices into `train` of the forget set D_f */
  forget: Int32Array;
  /** indices into `train` of the retain set D_r (empty in the forget-only setting) */
  retain: Int32Array;
  setting: Setting;
  seed: number;
  /** the recipe the original model was trained with (retrain reuses it) */
  recipe: TrainingRecipe;
  log: (line: string) => void;
  onProgress?: (progress: TrainProgress & { phase: string }) => void;
  /**
   * A directory where a method may keep expensive intermediate results that depend only on the original model and
   * the data (e.g. AMUN's adversarial examples of the forget set), keyed by a hash of their content, so that
   * repeated runs and sibling methods reuse them. Optional: without it, methods cache in memory only.
   */
  cacheDir?: string;
}

/** The sizes of an unlearning task, for estimating its cost before it runs (`lethe plan`). */
export interface TaskSizes {
  forget: number;
  retain: number;
  test: number;
  setting: Setting;
  /** the original recipe's epochs and batch size (retrain repeats them) */
  recipeEpochs: number;
}

/** How much work an unlearning run does, in images through the network (training steps count forward + backward). */
export interface Workload {
  trainImages: number;
  inferenceImages: number;
}

/** What preparing an artefact is given: the original model, the data and the forget set of one group. */
export type ArtefactTask = Pick<UnlearningTask, 'original' | 'train' | 'forget' | 'log' | 'onProgress'> & { cacheDir: string };

/**
 * Work a method needs that depends only on the original model, the forget set and some of its options, not on the
 * hyper-parameters a search varies nor on the unlearning seed (AMUN's adversarial set is the first): a harness
 * computes it once per original model and forget set, as a job of its own before the method's cells and searches, and
 * the method then finds it in `task.cacheDir`.
 */
export interface ArtefactRequest {
  /** what it is, e.g. 'amun-adversarial-set' (with `options`, it names the artefact of a group) */
  name: string;
  /** the options that determine it (JSON) */
  options: Record<string, unknown>;
  /** its work, for plans and time limits */
  workload(sizes: TaskSizes): Workload;
  /** compute it into `task.cacheDir`, or find it there */
  prepare(task: ArtefactTask): Promise<void>;
}

export interface UnlearnerDefinition<H extends Record<string, unknown> = Record<string, unknown>> {
  /** registry id, e.g. 'finetune' */
  name: string;
  /** one line for `lethe methods` */
  description: string;
  /** where the method comes from: paper (and table / public code for its defaults) */
  paper: string;
  settings: readonly Setting[];
  /**
   * true for a method whose output is, by definition, the task's gold model (retraining on D_r with the original
   * recipe): a harness that already holds the gold model reuses it as this method's result instead of training it
   * again, and has nothing to search for it
   */
  isGoldModel?: boolean;
  /** validates user hyper-parameters and fills documented defaults */
  hyperParameters: z.ZodType<H>;
  unlearn(task: UnlearningTask, hyperParameters: H): Promise<Model>;
  /**
   * Refuse hyper-parameter values that the setting cannot honour (e.g. a pass over D_r in 'forget-only'), with an
   * error naming the method, the field and the setting. Optional; `resolveHyperParameters` calls it.
   */
  checkSetting?(setting: Setting, hyperParameters: H): void;
  /**
   * The run's work for given sizes (used to estimate wall time before a benchmark runs). Optional: without it, the
   * harness assumes `epochs` passes over the data the setting allows (D_r and D_f, or D_f alone).
   */
  workload?(sizes: TaskSizes, hyperParameters: H): Workload;
  /** Artefacts the method needs (computed once per original model and forget set, not in `workload`). Optional. */
  artefacts?(hyperParameters: H): ArtefactRequest[];
}
