import type { RocGrid } from './roc.js';
import { z } from 'zod';
import { Registry } from '@lethe/runtime/registry';
import type { ModelOutputs, SampleSignals } from './outputs.js';

/** What a membership inference attack is given: the attacked model's outputs, and reference models' signals. */
export interface MembershipAttackInput {
  /** the attacked (e.g. unlearned) model's outputs on the forget, retain and test sets */
  target: { forget: ModelOutputs; retain: ModelOutputs; test: ModelOutputs };
  /** reference models' signals on the same forget and test samples (needed by reference-model attacks) */
  references?: ReferenceModelSignals;
  /** seeds every random choice of the attack (balanced draws, reference subsets, population draws) */
  seed: number;
}

export interface ReferenceModelSignals {
  /** forget[k]: reference model k's signals on the forget samples, in the target's order */
  forget: SampleSignals[];
  /** test[k]: reference model k's signals on the test samples */
  test: SampleSignals[];
  /** forgetIncluded[k][i] = 1 where forget sample i was in reference model k's training data */
  forgetIncluded: Uint8Array[];
  /**
   * testIncluded[k][j] = 1 where test sample j was in reference model k's training data. Absent: every test sample
   * is OUT for every reference model (reference models trained on halves of the training set only). Online RMIA
   * needs it (its reference models train on halves of train + test, AMUN's rmia_evaluate.py); offline attacks then
   * use only each test sample's OUT reference models, as they do for forget samples.
   */
  testIncluded?: Uint8Array[];
  /** forgetOutputs[k]: reference model k's logits on the forget samples, in the target's order (for signals other than `forget`'s, e.g. taylor-soft-margin) */
  forgetOutputs?: ModelOutputs[];
  /** testOutputs[k]: reference model k's logits on the test samples, in the target's order */
  testOutputs?: ModelOutputs[];
  /** retainOutputs[k]: reference model k's logits on the retain samples, in `target.retain`'s order (RMIA's population 'all') */
  retainOutputs?: ModelOutputs[];
  /** retainIncluded[k][r] = 1 where retain sample r was in reference model k's training data (with `retainOutputs`) */
  retainIncluded?: Uint8Array[];
}

export interface MembershipAttackResult {
  attack: string;
  /** AUC, in percent, of telling D_f (positives) from D_t (negatives) by the attack's score: AMUN's "FT AUC", 50 ideal */
  ftAuc?: number;
  /** TPR, in percent, at 1% FPR on the same D_f vs D_t task */
  tprAt1Fpr?: number;
  /** the same task's ROC curve at fixed false-positive rates (`ROC_FPR_GRID`), percent: for log-log ROC plots */
  roc?: RocGrid;
  /** SVC MIA-efficacy: percentage of D_f predicted non-member */
  efficacy?: number;
  /** reference models given to the attack */
  referenceModels?: number;
  /** OUT reference models each sample's statistic used (offline attacks) */
  outReferences?: number;
  /** 'offline': each sample's statistic from its OUT reference models; 'online': from all of them, IN and OUT (reference-model attacks) */
  mode?: 'offline' | 'online';
  /** the per-sample signal the attack compared, e.g. 'softmax', 'taylor-soft-margin', 'logit-scaled-confidence' (reference-model attacks) */
  signal?: string;
}

export interface MembershipAttackDefinition<O extends Record<string, unknown> = Record<string, unknown>> {
  /** registry id, used in configs */
  name: string;
  description: string;
  paper: string;
  /** true: needs `references` (models trained on random halves of the training data) */
  needsReferenceModels: boolean;
  /** the attack's options with their documented defaults */
  options: z.ZodType<O>;
  run(input: MembershipAttackInput, options: O): Promise<MembershipAttackResult>;
}

// Adding an attack is one file and one registration (the one registry type of @lethe/runtime/registry).
const registry = new Registry<MembershipAttackDefinition>('membership attack');

export function registerMembershipAttack<O extends Record<string, unknown>>(definition: MembershipAttackDefinition<O>): void {
  registry.register(definition as unknown as MembershipAttackDefinition);
}

export function getMembershipAttack(name: string): MembershipAttackDefinition {
  return registry.get(name);
}

export function listMembershipAttacks(): MembershipAttackDefinition[] {
  return registry.list();
}

/** Validate an attack's options, filling defaults; errors name the attack and the field. */
export function resolveAttackOptions(name: string, raw: unknown): Record<string, unknown> {
  const parsed = getMembershipAttack(name).options.safeParse(raw ?? {});
  if (!parsed.success) throw new Error(`invalid options for membership attack '${name}':\n${z.prettifyError(parsed.error)}`);
  return parsed.data;
}

/** Run a registered attack with its options resolved (defaults filled). */
export async function runMembershipAttack(name: string, input: MembershipAttackInput, rawOptions?: unknown): Promise<MembershipAttackResult> {
  const definition = getMembershipAttack(name);
  if (definition.needsReferenceModels && !input.references) throw new Error(`membership attack '${name}' needs reference models' signals (input.references)`);
  return definition.run(input, resolveAttackOptions(name, rawOptions));
}
