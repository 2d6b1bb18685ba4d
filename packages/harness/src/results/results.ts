import fs from 'node:fs';
import path from 'node:path';
import type { HyperParameterSource } from '../plan/tuning-record.js';
import { RESULT_SCHEMA_FAMILY, RESULT_SCHEMA_ID, checkCellResult, formatResultProblem, resultProblem, type ResultProblem } from './schema.js';

export { cellResultSchema, checkCellResult, formatResultProblem, resultProblem, RESULT_SCHEMA_FAMILY, type ResultProblem } from './schema.js';
export { printable } from '../config/strings.js';
export type { HyperParameterSource } from '../plan/tuning-record.js';

/**
 * One result file = one cell of a benchmark plan (method x setting x forget set x seed).
 * Accuracies are percentages (0-100), gaps are percentage points, as in the papers' tables.
 */
export const RESULT_SCHEMA = RESULT_SCHEMA_ID;

export interface AccuracyMetrics {
  /** accuracy on the forget set D_f ("unlearn accuracy" in AMUN's tables) */
  UA: number;
  /** accuracy on the retain set D_r */
  RA: number;
  /** accuracy on the test set D_t */
  TA: number;
}

/**
 * Membership inference on one model (added with the MIA evaluation; absent from older result files).
 * Percentages throughout.
 */
export interface MiaResult {
  /** the attack whose score is MIA in Avg Gap ('rmia', 'lira' or 'svc-mia') */
  attack: string;
  /** reference models behind ftAuc and tprAt1Fpr (0 when no reference-model attack ran) */
  referenceModels: number;
  /** AUC of telling D_f from D_t (AMUN's "FT AUC"; 50 = indistinguishable, the retrained model's target) */
  ftAuc: number | null;
  /** true-positive rate at 1% false-positive rate on the same D_f vs D_t task */
  tprAt1Fpr: number | null;
  /** SVC MIA-efficacy: share of D_f the SVC predicts to be non-members (SalUn, l1-sparse) */
  efficacy: number | null;
  /** the reference-model attack behind ftAuc: 'offline' or 'online' (RMIA, LiRA); absent in older files (offline) */
  mode?: string;
  /** every attack's own numbers, with its mode and signal (reference-model attacks) */
  /** each attack's numbers; `roc`: its ROC curve at fixed false-positive rates, percent (files since 2026-12-07) */
  byAttack?: Record<string, { ftAuc?: number; tprAt1Fpr?: number; roc?: { fpr: number[]; tpr: number[] }; efficacy?: number; referenceModels?: number; outReferences?: number; mode?: string; signal?: string }>;
}

/** Metrics of the retrained or original model beside the unlearned one's (MIA and rates optional, as above). */
export type BaselineModelMetrics = AccuracyMetrics & {
  /** the primary attack's score (see MiaResult.attack) */
  MIA?: number;
  /** forgetting rate and memory retention rate relative to the original model (gold model only) */
  FR?: number | null;
  MRR?: number | null;
  mia?: MiaResult;
};

/**
 * SPD-GAN unlearning degree (our interpretation of Zuo et al., arXiv 2401.04385; @lethe/metrics spd-gan.ts): the
 * method unlearned the GAN-perturbed forget set G(D_f) from the "SPD original" (trained on D_r ∪ G(D_f)); the
 * degrees are the drops of accuracy and of mean true-class confidence on G(D_f), percentage points. The retrained
 * model's (trained on D_r alone) drops are the target.
 */
export interface SpdGanResult {
  eps: number;
  degreeAccuracy: number;
  degreeConfidence: number;
  retrainDegreeAccuracy: number;
  retrainDegreeConfidence: number;
  /** the SPD original's accuracy and confidence on G(D_f), percent */
  originalAccuracy?: number;
  originalConfidence?: number;
  /**
   * SPD original minus retrained model, accuracy points, on G(D_f) (= retrainDegreeAccuracy) and on the clean D_f.
   * The degree isolates the perturbation only where the first is clearly larger than the second.
   */
  perturbedGap?: number;
  cleanGap?: number;
  /** the SPD original's accuracy on the clean forget set, percent */
  cleanOriginalAccuracy?: number;
}

export interface Provenance {
  lethe: Record<string, string>;
  tfjs: string;
  /**
   * The compute backend. `threads` and `detail` (e.g. "oneDNN 2.6.3 (avx512_core_bf16), 1 thread(s), ...") decide
   * whether a re-run can be bit-identical (`lethe verify`): the native backend's sums depend on the instruction set
   * and thread count. Absent from files written before 2026-12-07.
   */
  backend: { name: string; tfjsBackend: string; version: string; threads?: number; detail?: string };
  node: string;
  platform: string;
  cpus: string;
  gitCommit: string | null;
  dataChecksum: string;
  configHash: string;
  createdAt: string;
}

/** What a cell's randomness is: original model x forget-set draw x unlearning run (AMUN: 3 x 3 x 3 runs). */
export interface CellSeeds {
  original: number;
  forgetSet: number;
  unlearning: number;
}

/** A result's seeds; files from before the three were separate used one seed for all three. */
export function seedsOf(result: Pick<CellResult, 'cell'>): CellSeeds {
  const { seed, seeds } = result.cell;
  return seeds ?? { original: seed, forgetSet: seed, unlearning: seed };
}

export interface CellResult {
  schema: typeof RESULT_SCHEMA;
  benchmark: string;
  cellHash: string;
  cell: {
    method: string;
    /** display name (defaults to the method id); differs when a config runs one method twice */
    label?: string;
    setting: 'retain' | 'forget-only';
    forgetSet: string;
    /** the unlearning run's seed (in files written before `seeds` existed, one seed fixed all three) */
    seed: number;
    /** the three seeds of AMUN's protocol: which original model, which forget-set draw, which unlearning run */
    seeds?: CellSeeds;
    hyperParameters: Record<string, unknown>;
    /** where the hyper-parameters come from: the config, or a search by `lethe tune` (absent in older files: the config) */
    hyperParameterSource?: HyperParameterSource;
  };
  /** the unlearned model's metrics */
  metrics: AccuracyMetrics & {
    /** mean |method - retrain| over the metrics compared (names in avgGapOver), percentage points */
    avgGap: number;
    /** ['UA', 'RA', 'TA'], plus 'MIA' when membership inference ran */
    avgGapOver: string[];
    /** membership score of D_f by the primary attack (mia.attack): FT AUC, or MIA-efficacy for the SVC */
    MIA?: number;
    /** forgetting rate (acc_before(D_f) - acc_after(D_f)) / acc_before(D_f), before = original model; null if undefined */
    FR?: number | null;
    /** memory retention rate acc_after(D_r) / acc_before(D_r) */
    MRR?: number | null;
    /** TMU's alignment gap |UA - UA_gold|, percentage points */
    alignmentGap?: number;
    /** mean L2 distance between the output probabilities of this and the gold model on D_f */
    activationDistance?: number;
    /** mean KL(gold || this) of the output distributions on D_f and on D_t, nats */
    klForget?: number;
    klTest?: number;
    /** every other metric registered with `reported: true`, by its registry name (null where undefined) */
    [metric: string]: number | null | string[] | undefined;
  };
  /** membership inference on the unlearned model */
  mia?: MiaResult;
  /** SPD-GAN unlearning degree (when the config asks for it; see SpdGanResult) */
  spdGan?: SpdGanResult;
  /** the retrained (gold) model's metrics on the same sets */
  gold: BaselineModelMetrics;
  /** the original model's metrics on the same sets, before unlearning */
  original: BaselineModelMetrics;
  /** train: the images models train on (forget + retain); holdout: training images no model saw (when the config holds some out) */
  sizes: { train: number; forget: number; retain: number; test: number; holdout?: number };
  timing: {
    /** wall time of the unlearning method itself, seconds */
    unlearnSeconds: number;
    /** wall time of retraining the gold model, seconds (when it was trained in this run or recorded in its cache) */
    retrainSeconds: number | null;
    /**
     * the backend retrainSeconds was measured on (the gold model may be cached from a run on another backend); null
     * when its cache entry predates this record; absent from older result files. The unlearner's backend is
     * provenance.backend.name, except for the retrain method, whose time is the gold model's own (this backend).
     */
    retrainBackend?: string | null;
    /**
     * unlearnSeconds / retrainSeconds (RTE as a fraction of retrain time); null when retrainBackend is unknown or
     * differs from the backend the unlearner ran on (the ratio would compare backends, not methods)
     */
    relativeToRetrain: number | null;
  };
  provenance: Provenance;
}

/** The attack behind a result's FT AUC: the primary attack when it has one, else the first that does (as the summary picks it). */
export function rocAttackOf(mia: Pick<MiaResult, 'attack' | 'ftAuc' | 'byAttack'>): string | null {
  if (mia.ftAuc === null) return null;
  if (!mia.byAttack || mia.byAttack[mia.attack]?.ftAuc !== undefined) return mia.attack;
  return Object.entries(mia.byAttack ?? {}).find(([, r]) => r.ftAuc !== undefined)?.[0] ?? null;
}

/**
 * Where a run moves result files of its benchmark that its current config no longer produces (another
 * hyper-parameter setting, evaluation or seed list): kept, never deleted, but no longer read as current results.
 */
export const SUPERSEDED_DIR = 'superseded';

/** What reading one `.json` file of a results directory gave. */
export type ResultFileRead =
  | { kind: 'result'; result: CellResult }
  /** a JSON file that declares another kind of Lethe file (e.g. a search record): not a result, not a problem */
  | { kind: 'other'; schema: string }
  | { kind: 'problem'; problems: ResultProblem[] };

/**
 * Read and check one result file against the schema (`schema.ts`, ranges included). Never throws for the file's
 * content: unreadable, not JSON, another schema version, a missing or out-of-range field are problems naming the
 * file and the field. A JSON file whose `schema` names another kind of Lethe file (`lethe.tuning/...`) is 'other'.
 */
export function readResultFile(file: string): ResultFileRead {
  const problem = (field: string, message: string): ResultFileRead => ({ kind: 'problem', problems: [resultProblem(file, field, message)] });
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    return problem('(file)', `cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    return problem('(file)', `is not valid JSON (${(err as Error).message}); delete it or run its cell again`);
  }
  const schema = typeof parsed === 'object' && parsed !== null ? (parsed as { schema?: unknown }).schema : undefined;
  if (typeof schema === 'string' && schema.startsWith('lethe.') && !schema.startsWith(RESULT_SCHEMA_FAMILY)) return { kind: 'other', schema };
  const checked = checkCellResult(parsed, file);
  return checked.ok ? { kind: 'result', result: checked.result } : { kind: 'problem', problems: checked.problems };
}

/** A results directory that holds bad result files, when the caller asked for no `onProblem` (every problem listed). */
export class ResultFileError extends Error {
  override name = 'ResultFileError';
  constructor(readonly problems: ResultProblem[]) {
    super(`${problems.length} problem(s) in result files (fix or delete each file, or run its cell again):\n${problems.map((p) => `  ${formatResultProblem(p)}`).join('\n')}`);
  }
}

export interface LoadResultsOptions {
  /**
   * Called for each problem of a bad file (its path, the field, the reason); the file is left out and the rest are
   * returned. Without it, any bad file makes loadResults throw a ResultFileError listing every problem.
   */
  onProblem?: (problem: ResultProblem) => void;
}

/**
 * Read every `*.json` result file under `dir` (recursively, `superseded/` folders excepted), each checked against the
 * schema. Files of other Lethe kinds are skipped; a bad file (not JSON, another result schema version, a missing,
 * null or out-of-range field) goes to `onProblem`, or makes it throw.
 */
export function loadResults(dir: string, options: LoadResultsOptions = {}): CellResult[] {
  if (!fs.existsSync(dir)) {
    throw new Error(`results directory '${dir}' does not exist; run a benchmark first (pnpm lethe run <config.json>)`);
  }
  const out: CellResult[] = [];
  const problems: ResultProblem[] = [];
  const report = options.onProblem ?? ((p: ResultProblem) => problems.push(p));
  const walk = (d: string): void => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(d, { withFileTypes: true });
    } catch (err) {
      report(resultProblem(d, '(directory)', `cannot be listed (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`));
      return;
    }
    for (const entry of entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
      const full = path.join(d, entry.name);
      if (entry.isDirectory()) {
        if (entry.name !== SUPERSEDED_DIR) walk(full);
      } else if (entry.isFile() && entry.name.endsWith('.json')) {
        const read = readResultFile(full);
        if (read.kind === 'result') out.push(read.result);
        else if (read.kind === 'problem') read.problems.forEach(report);
      }
    }
  };
  walk(dir);
  if (problems.length > 0) throw new ResultFileError(problems);
  out.sort((a, b) => a.benchmark.localeCompare(b.benchmark) || a.cell.method.localeCompare(b.cell.method) || a.cell.seed - b.cell.seed);
  return out;
}
