import { Registry } from '@lethe/runtime/registry';
import type { Model } from '@lethe/models';
import { correctPredictions, type ModelOutputs, type ReferenceModelSignals } from '@lethe/attacks';
import { OutputCache, type EvaluationSet, type EvaluationSets } from './outputs.js';
import { percentOf } from './accuracy.js';
import { activationDistance, alignmentGap, forgettingRate, meanKlDivergence, memoryRetentionRate } from './comparison.js';
import { evaluateMembership, type MembershipSettings } from './membership.js';
import { spdDegreeFrom } from './spd-gan.js';

/** What a per-model metric sees: one model, the benchmark's sets, and the models it may be compared with. */
export interface EvaluationContext extends EvaluationSets {
  model: Model;
  /** the retrained (gold) model, for metrics that compare with it (alignment gap, activation distance, KL) */
  gold?: Model;
  /** the model before unlearning, for metrics relative to it (forgetting rate, memory retention rate) */
  original?: Model;
  /** shared per-model outputs: pass one cache to every context of a group so each model runs once per set */
  outputs?: OutputCache;
  /** membership inference: attacks to run for the MIA metric, and reference models' signals if they need them */
  membership?: MembershipSettings & { references?: ReferenceModelSignals };
}

export interface MetricDefinition {
  /** registry id, also the key in result files */
  name: string;
  description: string;
  /** 'percent' values are 0-100, 'points' are differences of percentages */
  unit: 'percent' | 'points' | 'ratio' | 'seconds' | 'nats' | 'l2';
  /**
   * computed for every unlearned model of a benchmark and stored by name in its result file, from which summaries
   * take it (a benchmark metric: adding one is this file's registration and nothing else). Metrics that need more
   * than a model and the benchmark's sets (MIA, the SPD-GAN degree) are computed by their own stages.
   */
  reported?: boolean;
  compute(context: EvaluationContext): Promise<number>;
}

const registry = new Registry<MetricDefinition>('metric');

export function registerMetric(definition: MetricDefinition): void {
  registry.register(definition);
}

export function getMetric(name: string): MetricDefinition {
  return registry.get(name);
}

export function listMetrics(): MetricDefinition[] {
  return registry.list();
}

/** The metrics a benchmark computes for every unlearned model and stores in its result files, in registration order. */
export function reportedMetrics(): MetricDefinition[] {
  return registry.list().filter((m) => m.reported);
}

/** The outputs of the context's model, gold model or original model on one set (cached when the context has a cache). */
export function outputsOf(context: EvaluationContext, role: 'model' | 'gold' | 'original', set: EvaluationSet, metric = 'this metric'): Promise<ModelOutputs> {
  const model = context[role];
  if (!model) throw new Error(`${metric} compares with the ${role} model, but the evaluation context has none (set context.${role})`);
  context.outputs ??= new OutputCache();
  return context.outputs.get(model, set, context);
}

async function accuracyOf(context: EvaluationContext, role: 'model' | 'gold' | 'original', set: EvaluationSet, metric: string): Promise<number> {
  return percentOf(correctPredictions(await outputsOf(context, role, set, metric)));
}

registerMetric({ name: 'UA', description: "accuracy on the forget set D_f (target: the retrained model's, not 0)", unit: 'percent', compute: (c) => accuracyOf(c, 'model', 'forget', 'UA') });
registerMetric({ name: 'RA', description: 'accuracy on the retain set D_r', unit: 'percent', compute: (c) => accuracyOf(c, 'model', 'retain', 'RA') });
registerMetric({ name: 'TA', description: 'accuracy on the test set D_t', unit: 'percent', compute: (c) => accuracyOf(c, 'model', 'test', 'TA') });
registerMetric({
  name: 'FR',
  description: 'forgetting rate (acc_before(D_f) - acc_after(D_f)) / acc_before(D_f), before = the original model (Zuo et al., arXiv 2401.04385)',
  unit: 'ratio',
  reported: true,
  compute: async (c) => forgettingRate(await accuracyOf(c, 'original', 'forget', 'FR'), await accuracyOf(c, 'model', 'forget', 'FR')),
});
registerMetric({
  name: 'MRR',
  description: 'memory retention rate acc_after(D_r) / acc_before(D_r), before = the original model (Zuo et al., arXiv 2401.04385)',
  unit: 'ratio',
  reported: true,
  compute: async (c) => memoryRetentionRate(await accuracyOf(c, 'original', 'retain', 'MRR'), await accuracyOf(c, 'model', 'retain', 'MRR')),
});
registerMetric({
  name: 'alignmentGap',
  description: "TMU's alignment gap |acc(D_f) - acc_gold(D_f)|, percentage points",
  unit: 'points',
  reported: true,
  compute: async (c) => alignmentGap(await accuracyOf(c, 'model', 'forget', 'alignmentGap'), await accuracyOf(c, 'gold', 'forget', 'alignmentGap')),
});
registerMetric({
  name: 'activationDistance',
  description: "mean L2 distance between the model's and the gold model's output probabilities on D_f (Chundawat et al. 2023; TMU)",
  unit: 'l2',
  reported: true,
  compute: async (c) => activationDistance(await outputsOf(c, 'model', 'forget', 'activationDistance'), await outputsOf(c, 'gold', 'forget', 'activationDistance')),
});
registerMetric({
  name: 'klForget',
  description: "mean KL(gold || model) of the output distributions on D_f, nats",
  unit: 'nats',
  reported: true,
  compute: async (c) => meanKlDivergence(await outputsOf(c, 'gold', 'forget', 'klForget'), await outputsOf(c, 'model', 'forget', 'klForget')),
});
registerMetric({
  name: 'klTest',
  description: "mean KL(gold || model) of the output distributions on D_t, nats",
  unit: 'nats',
  reported: true,
  compute: async (c) => meanKlDivergence(await outputsOf(c, 'gold', 'test', 'klTest'), await outputsOf(c, 'model', 'test', 'klTest')),
});
registerMetric({
  name: 'MIA',
  description: "membership score of D_f by the context's primary attack: FT AUC of D_f vs D_t for RMIA/LiRA (50 ideal), MIA-efficacy for the SVC",
  unit: 'percent',
  compute: async (c) => {
    if (!c.membership) throw new Error('MIA needs membership settings in the evaluation context (context.membership: attacks, seed)');
    const [forget, retain, test] = await Promise.all([outputsOf(c, 'model', 'forget', 'MIA'), outputsOf(c, 'model', 'retain', 'MIA'), outputsOf(c, 'model', 'test', 'MIA')]);
    return (await evaluateMembership({ forget, retain, test }, c.membership, c.membership.references)).value;
  },
});

registerMetric({
  name: 'spd-gan-degree',
  description:
    "SPD-GAN unlearning degree (our interpretation of Zuo et al., arXiv 2401.04385): accuracy on the GAN-perturbed forget set G(D_f) of the SPD original (context.original, trained on D_r ∪ G(D_f)) minus the model's, percentage points; the evaluation sets must hold G(D_f) (see spd-gan.ts; target: the retrained model's value)",
  unit: 'points',
  compute: async (c) => spdDegreeFrom(await outputsOf(c, 'original', 'forget', 'spd-gan-degree'), await outputsOf(c, 'model', 'forget', 'spd-gan-degree')).degreeAccuracy,
});

/** Compute the named metrics for one model, in order. */
export async function evaluate(context: EvaluationContext, names: readonly string[]): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const name of names) out[name] = await getMetric(name).compute(context);
  return out;
}
