import { Registry } from '@lethe/runtime/registry';
import type { Model } from '@lethe/models';
import type { UnlearnerDefinition, UnlearningTask } from '@lethe/core';
import type { BenchmarkConfig } from '../config/config.js';
import type { PlannedCell } from '../plan/plan.js';
import type { CellResult } from '../results/results.js';
import { miaResult, type OpenGroup } from '../prepare/group.js';
import { spdGanResultOf, type SpdGanGroup } from '../prepare/spd-gan.js';

/**
 * The cell stage's evaluations beyond the registry's metrics: membership inference and the SPD-GAN degree, each a
 * registered definition that the config switches on, so that a new kind of evaluation (one that writes its own
 * result-file field, or runs the method again on another task) is one definition plus one `registerCellEvaluation`
 * call, and the cell stage (`runCell`) has no evaluation wired by hand. Evaluations run in registration order after
 * the method and the accuracy metrics; one that throws fails the cell (a re-run computes it again).
 */

export interface CellEvaluationInput {
  config: BenchmarkConfig;
  cell: PlannedCell;
  definition: UnlearnerDefinition;
  /** the group: original and gold models, forget and retain sets, its evaluation */
  open: OpenGroup;
  /** the group's SPD-GAN part when the config asks for it */
  spdGan: SpdGanGroup | null;
  /** the unlearned model (for a gold-model method, the gold model itself) */
  model: Model;
  isGold: boolean;
  /** the task the method was given, with its own progress display (an evaluation that runs the method again changes some fields) */
  task(label: string): UnlearningTask;
}

export interface CellEvaluationOutput {
  /** the result-file fields it writes (the built-in ones: `mia`, `spdGan`) */
  fields: Partial<CellResult>;
  /** numbers stored in the result's `metrics` by name, which summaries, tables and the leaderboard pick up by name */
  metrics?: Record<string, number | null>;
  /** values compared with the gold model's in Avg Gap (membership inference: MIA) */
  gap?: Record<string, number>;
  /** words for the cell's log line */
  describe?: string;
}

export interface CellEvaluation {
  name: string;
  description: string;
  /** whether the config asks for it */
  enabled(config: BenchmarkConfig): boolean;
  evaluate(input: CellEvaluationInput): Promise<CellEvaluationOutput>;
}

const registry = new Registry<CellEvaluation>('cell evaluation');

export function registerCellEvaluation(definition: CellEvaluation): void {
  registry.register(definition);
}

export function unregisterCellEvaluation(name: string): boolean {
  return registry.unregister(name);
}

export function listCellEvaluations(): CellEvaluation[] {
  return registry.list();
}

/** The evaluations a config runs, in registration order. */
export function cellEvaluationsFor(config: BenchmarkConfig): CellEvaluation[] {
  return registry.list().filter((e) => e.enabled(config));
}

registerCellEvaluation({
  name: 'membership',
  description: "membership inference on the forget set (evaluation.mia): every configured attack; the primary one's number is MIA, one of Avg Gap's metrics",
  enabled: (config) => config.evaluation.mia.attacks.length > 0,
  async evaluate({ open, model, isGold }) {
    // the gold model's attack ran once for the group
    const mia = isGold ? open.goldMia : await open.membership(model);
    if (!mia) return { fields: {} };
    return {
      fields: { mia: miaResult(mia) },
      gap: { MIA: mia.value },
      describe: `MIA (${mia.attack}) ${mia.value.toFixed(2)}` + (mia.efficacy !== null && mia.attack !== 'svc-mia' ? `  MIA-efficacy ${mia.efficacy.toFixed(2)}` : ''),
    };
  },
});

registerCellEvaluation({
  name: 'spd-gan',
  description: "the SPD-GAN unlearning degree (evaluation.spdGan): the method unlearns G(D_f) from the SPD original too; retrain's drop is the target",
  enabled: (config) => config.evaluation.spdGan !== undefined,
  async evaluate({ config, cell, definition, open, spdGan, task }) {
    if (!spdGan) throw new Error('the SPD-GAN part of the group was not prepared');
    const batchSize = config.evaluation.batchSize;
    // retrain's output is the gold model: D_r is the same in both training sets
    if (definition.isGoldModel) return { fields: { spdGan: await spdGanResultOf(spdGan, 'retrain', open.forget, batchSize) } };
    const spdModel = await definition.unlearn({ ...task(`${cell.label} (SPD-GAN)`), original: spdGan.spdOriginal, train: spdGan.perturbed }, cell.hyperParameters);
    try {
      const result = await spdGanResultOf(spdGan, spdModel, open.forget, batchSize);
      return {
        fields: { spdGan: result },
        describe: `SPD-GAN degree acc ${result.degreeAccuracy.toFixed(2)} (retrain ${result.retrainDegreeAccuracy.toFixed(2)}), conf ${result.degreeConfidence.toFixed(2)} (retrain ${result.retrainDegreeConfidence.toFixed(2)})`,
      };
    } finally {
      spdModel.dispose();
    }
  },
});
