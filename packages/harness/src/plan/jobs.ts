import { getUnlearner, type ArtefactRequest, type TaskSizes, type Workload } from '@lethe/core';
import { contentHash } from '../config/hash.js';
import { forgetCount, type Plan, type PlannedCell, type PlannedGroup } from './plan.js';

/**
 * The plan as a job graph: every piece of work with a content-hash id, what it needs first, and how many images it
 * sends through the network. `lethe plan` prints it (with what is done already and an estimate of the rest); the
 * local executor (run.ts) runs it in dependency order: reference models, then per group the original and gold
 * models, then the cells. The ids are the cache keys and cell hashes, so any executor on any machine agrees with
 * every other on what a job is and whether it is done.
 */
export type JobKind = 'reference' | 'original' | 'gold' | 'validation-gold' | 'spd-original' | 'artefact' | 'search' | 'cell';

export interface Job {
  /** `<kind>:<key or cell hash>` */
  id: string;
  kind: JobKind;
  title: string;
  deps: string[];
  workload: Workload;
  /** jobs of one time class take about as long as each other (time limits estimate a job by the last of its class) */
  timeClass: string;
}

/** Evaluation of one model: inference over the forget, retain and test sets (membership attacks reuse those outputs). */
function evaluationImages(plan: Plan): number {
  return plan.sizes.available + plan.sizes.test;
}

export function taskSizesOf(plan: Plan, group: PlannedGroup): TaskSizes {
  const forget = forgetCount(plan.sizes.available, group.forgetFraction);
  return { forget, retain: plan.sizes.available - forget, test: plan.sizes.test, setting: plan.config.setting, recipeEpochs: plan.recipe.epochs };
}

/** A cell's unlearning work: the method's own estimate, else `epochs` passes over the data its setting allows. */
export function unlearningWorkload(method: string, hyperParameters: Record<string, unknown>, sizes: TaskSizes): Workload {
  const definition = getUnlearner(method);
  if (definition.workload) return definition.workload(sizes, hyperParameters);
  const epochs = typeof hyperParameters.epochs === 'number' ? hyperParameters.epochs : 1;
  const data = sizes.setting === 'retain' ? sizes.forget + sizes.retain : sizes.forget;
  return { trainImages: epochs * data, inferenceImages: 0 };
}

/** The artefacts a method asks for with these hyper-parameters (none for most methods). */
export function artefactsOf(method: string, hyperParameters: Record<string, unknown>): ArtefactRequest[] {
  return getUnlearner(method).artefacts?.(hyperParameters) ?? [];
}

/** An artefact's content key: what it is and the options, the original model and the forget-set draw it is made from. */
export function artefactKey(group: PlannedGroup, request: Pick<ArtefactRequest, 'name' | 'options'>): string {
  return contentHash({ artefact: request.name, options: request.options, original: group.originalKey, forgetSet: group.forgetSetId, forgetSetSeed: group.seeds.forgetSet });
}

/** A group's artefacts by key (two methods asking for the same one share it), with the cells that need each. */
export function groupArtefacts(group: PlannedGroup): Map<string, { request: ArtefactRequest; cells: PlannedCell[] }> {
  const out = new Map<string, { request: ArtefactRequest; cells: PlannedCell[] }>();
  for (const cell of group.cells) {
    for (const request of artefactsOf(cell.method, cell.hyperParameters)) {
      const key = artefactKey(group, request);
      const entry = out.get(key) ?? { request, cells: [] };
      entry.cells.push(cell);
      out.set(key, entry);
    }
  }
  return out;
}

export function jobGraph(plan: Plan): Job[] {
  const jobs: Job[] = [];
  const epochs = plan.recipe.epochs;
  const referenceIds = plan.references.map((r) => `reference:${r.key}`);
  for (const r of plan.references) {
    jobs.push({
      id: `reference:${r.key}`,
      kind: 'reference',
      title: `reference model ${r.index + 1}/${plan.references.length} (pair ${r.pair}, side ${r.side})`,
      deps: [],
      workload: { trainImages: plan.referenceRecipe.epochs * plan.sizes.referenceHalf, inferenceImages: plan.sizes.train + plan.sizes.test },
      timeClass: 'reference',
    });
  }
  for (const o of plan.originals) {
    jobs.push({ id: `original:${o.key}`, kind: 'original', title: `original model (seed ${o.seed})`, deps: [], workload: { trainImages: epochs * plan.sizes.available, inferenceImages: 0 }, timeClass: 'original' });
  }
  const goldJob = (group: PlannedGroup, kind: 'gold' | 'validation-gold'): void => {
    const sizes = taskSizesOf(plan, group);
    jobs.push({
      id: `${kind}:${group.goldKey}`,
      kind,
      title: `${kind === 'gold' ? 'gold' : 'validation gold'} model (original seed ${group.seeds.original}, ${group.forgetSetId} draw ${group.seeds.forgetSet})`,
      deps: [],
      workload: { trainImages: epochs * sizes.retain, inferenceImages: 2 * evaluationImages(plan) },
      timeClass: 'gold',
    });
  };
  for (const group of plan.validationGroups) goldJob(group, 'validation-gold');
  for (const search of plan.searches) {
    const sizes = taskSizesOf(plan, search.group);
    const per = unlearningWorkload(search.method, search.base, sizes);
    const n = candidateCount(search.space, search.budget);
    // the method's artefacts (AMUN's adversarial set) are computed by the first candidate and reused by the others
    const once = artefactsOf(search.method, search.base).reduce((w, a) => addWork(w, a.workload(sizes)), { trainImages: 0, inferenceImages: 0 });
    jobs.push({
      id: `search:${search.searchKey}`,
      kind: 'search',
      title: `search ${search.label} on ${search.forgetSetId} (${n} candidates)`,
      deps: [`original:${search.group.originalKey}`, `validation-gold:${search.group.goldKey}`, ...referenceIds],
      workload: { trainImages: once.trainImages + n * per.trainImages, inferenceImages: once.inferenceImages + n * (per.inferenceImages + evaluationImages(plan)) },
      timeClass: `search:${search.method}`,
    });
  }
  const spdGan = plan.config.evaluation.spdGan;
  for (const group of plan.groups) {
    goldJob(group, 'gold');
    const sizes = taskSizesOf(plan, group);
    if (spdGan) {
      // the SPD-GAN degree: a generator over D_f and an original trained on D_r ∪ G(D_f) per group (spd-gan.ts)
      jobs.push({
        id: `spd-original:${group.goldKey}`,
        kind: 'spd-original',
        title: `SPD-GAN generator and SPD original (original seed ${group.seeds.original}, ${group.forgetSetId} draw ${group.seeds.forgetSet})`,
        deps: [`gold:${group.goldKey}`],
        workload: { trainImages: epochs * plan.sizes.available + 2 * spdGan.ganEpochs * sizes.forget, inferenceImages: 4 * sizes.forget },
        timeClass: 'spd-original',
      });
    }
    // artefacts (AMUN's adversarial set): one job per group and artefact, before the cells that need it
    const artefactIds = new Map<PlannedCell, string[]>();
    for (const [key, { request, cells }] of groupArtefacts(group)) {
      const id = `artefact:${key}`;
      jobs.push({
        id,
        kind: 'artefact',
        title: `${request.name} (original seed ${group.seeds.original}, ${group.forgetSetId} draw ${group.seeds.forgetSet})`,
        deps: [`original:${group.originalKey}`],
        workload: request.workload(sizes),
        timeClass: `artefact:${request.name}`,
      });
      for (const cell of cells) artefactIds.set(cell, [...(artefactIds.get(cell) ?? []), id]);
    }
    for (const cell of group.cells) {
      // a gold-model method (retrain) reuses the group's gold model: no work of its own
      const once: Workload = getUnlearner(cell.method).isGoldModel ? { trainImages: 0, inferenceImages: 0 } : unlearningWorkload(cell.method, cell.hyperParameters, sizes);
      // with the SPD-GAN degree every method also unlearns G(D_f) from the SPD original
      // (and computes its artefacts for the SPD original there)
      const spdArtefacts = spdGan ? artefactsOf(cell.method, cell.hyperParameters).reduce((w, a) => addWork(w, a.workload(sizes)), { trainImages: 0, inferenceImages: 0 }) : null;
      const per: Workload = spdArtefacts ? { trainImages: 2 * once.trainImages + spdArtefacts.trainImages, inferenceImages: 2 * once.inferenceImages + sizes.forget + spdArtefacts.inferenceImages } : once;
      const search = plan.searches.find((s) => s.label === cell.label && s.forgetSetId === cell.forgetSetId);
      jobs.push({
        id: `cell:${cell.cellHash}`,
        kind: 'cell',
        title: cellTitle(cell),
        deps: [`original:${group.originalKey}`, `gold:${group.goldKey}`, ...referenceIds, ...(artefactIds.get(cell) ?? []), ...(spdGan ? [`spd-original:${group.goldKey}`] : []), ...(search && cell.awaitsSearch && plan.config.tuning?.required ? [`search:${search.searchKey}`] : [])],
        workload: { trainImages: per.trainImages, inferenceImages: per.inferenceImages + evaluationImages(plan) },
        timeClass: `cell:${cell.method}`,
      });
    }
  }
  return jobs;
}

function addWork(a: Workload, b: Workload): Workload {
  return { trainImages: a.trainImages + b.trainImages, inferenceImages: a.inferenceImages + b.inferenceImages };
}

export function cellTitle(cell: PlannedCell): string {
  return `${cell.label} (${cell.forgetSetId}, o${cell.seeds.original} f${cell.seeds.forgetSet} u${cell.seeds.unlearning})`;
}

/** Candidates a search space yields: the grid's size when every dimension is a grid, else the budget. */
export function candidateCount(space: Record<string, unknown>, budget: number): number {
  const dims = Object.values(space) as Array<{ grid?: unknown[] }>;
  return dims.every((d) => Array.isArray(d.grid)) ? dims.reduce((n, d) => n * d.grid!.length, 1) : budget;
}
