import type { CellResult } from '../results/results.js';

/** The unlearning side of x retrain: the method's wall time and the backend it was measured on (null = unknown). */
export interface UnlearnTime {
  unlearnSeconds: number;
  unlearnBackend: string | null;
}

/** The gold side: the cached gold model's recorded training time and backend (null = not recorded). */
export interface RetrainTime {
  trainSeconds: number;
  backend: string | null;
}

export type RetrainRatioSkip = 'no-retrain-time' | 'gold-backend-unknown' | 'unlearn-backend-unknown' | 'backend-mismatch';

export interface RetrainRatio {
  timing: CellResult['timing'] & { retrainBackend: string | null };
  /** why relativeToRetrain is null; null when it was computed */
  skipped: RetrainRatioSkip | null;
}

/**
 * A result's timing block. relativeToRetrain (the "x retrain" column, RTE as a fraction of retrain time) is
 * computed only when the gold model's training backend is known and is the backend the unlearner ran on: a gold
 * model cached on wasm and a method run on native would otherwise compare two backends' speeds, not the methods.
 */
export function retrainRatio(unlearn: UnlearnTime, gold: RetrainTime): RetrainRatio {
  const retrainSeconds = Number.isFinite(gold.trainSeconds) && gold.trainSeconds > 0 ? gold.trainSeconds : null;
  const retrainBackend = gold.backend;
  const skipped: RetrainRatioSkip | null =
    retrainSeconds === null ? 'no-retrain-time'
    : retrainBackend === null ? 'gold-backend-unknown'
    : unlearn.unlearnBackend === null ? 'unlearn-backend-unknown'
    : retrainBackend !== unlearn.unlearnBackend ? 'backend-mismatch'
    : null;
  const relativeToRetrain = skipped === null ? unlearn.unlearnSeconds / retrainSeconds! : null;
  return { timing: { unlearnSeconds: unlearn.unlearnSeconds, retrainSeconds, retrainBackend, relativeToRetrain }, skipped };
}

/**
 * The log line of a cell whose x retrain was not computed for a backend reason (null otherwise, and when there is
 * no retrain time at all: nothing to compare). goldDir is the gold model's cache directory: deleting it retrains it.
 */
export function retrainRatioSkippedLine(label: string, ratio: RetrainRatio, unlearnBackend: string | null, goldDir: string): string | null {
  const gold = ratio.timing.retrainBackend;
  const current = unlearnBackend ?? 'an unrecorded backend';
  const retrainHint = `delete the cached gold model ${goldDir} and run again with --force to retrain it on ${current}`;
  switch (ratio.skipped) {
    case 'backend-mismatch':
      return `x retrain: not computed for ${label}: the gold model was trained on ${gold}, this run uses ${current} (to compare, ${retrainHint}, or run with --backend ${gold} --force)`;
    case 'gold-backend-unknown':
      return `x retrain: not computed for ${label}: the gold model's training backend was not recorded (cached by an older version), this run uses ${current} (to compare, ${retrainHint})`;
    case 'unlearn-backend-unknown':
      return `x retrain: not computed for ${label}: the backend this method ran on is unknown, the gold model was trained on ${gold}`;
    default:
      return null;
  }
}
