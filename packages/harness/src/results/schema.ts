import { z } from 'zod';
import { MAX_NAME_LENGTH, printable, unsafeTextReason } from '../config/strings.js';
import type { CellResult } from './results.js';

/**
 * The result file's schema, with its ranges: what the writer checks before it writes a cell's result and what every
 * reader checks before it trusts one (`lethe run` reusing results, `lethe report`, the leaderboard, notebooks). A file
 * that fails is reported with its path and the field, never half-used: a missing field must not become a TypeError,
 * a null metric must not become 0.00, an out-of-range value must not be ranked. Zod only (the light entry
 * `@lethe/harness/results` loads it without TensorFlow.js).
 *
 * Units are those of the papers' tables: accuracies, MIA scores and AUCs are percentages (0-100), gaps are
 * percentage points, times are seconds. Objects are loose: a field this version does not know is kept, not refused,
 * so a file written by a later minor version still reads.
 */
export const RESULT_SCHEMA_ID = 'lethe.result/v1';
/** Every result schema id starts with this; another version is reported, not skipped. */
export const RESULT_SCHEMA_FAMILY = 'lethe.result/';

/** Rounding noise a computed non-negative quantity may carry below 0 (KL of identical models, for one). */
const TOLERANCE = 1e-6;

/** One line of printable text: no control, bidirectional or line-separator characters. */
function lineText(max: number) {
  return z
    .string()
    .max(max, `use at most ${max} characters`)
    .superRefine((s, ctx) => {
      const reason = unsafeTextReason(s) ?? (/[\n\t\u2028\u2029]/.test(s) ? 'holds a line break or tab (a name is one line)' : null);
      if (reason) ctx.addIssue({ code: 'custom', message: reason });
    });
}

/** A name shown in tables and charts (benchmark, method, label, forget set, attack): 1-80 printable characters. */
const name = lineText(MAX_NAME_LENGTH).min(1, 'must not be empty');
/** Provenance text (versions, platform, CPU model, dates). */
const text = lineText(500);

const finite = z.number({ error: (issue) => (issue.code === 'invalid_type' ? `expected a finite number, found ${issue.input === null ? 'null' : typeof issue.input === 'number' ? String(issue.input) : typeof issue.input}` : undefined) });
const percent = finite.min(0).max(100);
const points = finite.min(-100).max(100);
const gap = finite.min(0).max(100);
const nonNegative = finite.min(-TOLERANCE);
const count = z.number().int().min(0);

const accuracy = { UA: percent, RA: percent, TA: percent };

const rocGrid = z
  .object({ fpr: z.array(percent).max(1000), tpr: z.array(percent).max(1000) })
  .refine((r) => r.fpr.length === r.tpr.length, { message: 'fpr and tpr must have the same length' });

const byAttackEntry = z.looseObject({
  ftAuc: percent.optional(),
  roc: rocGrid.optional(),
  tprAt1Fpr: percent.optional(),
  efficacy: percent.optional(),
  referenceModels: count.optional(),
  outReferences: count.optional(),
  mode: name.optional(),
  signal: name.optional(),
});

const miaSchema = z.looseObject({
  attack: name,
  referenceModels: count,
  ftAuc: percent.nullable(),
  tprAt1Fpr: percent.nullable(),
  efficacy: percent.nullable(),
  mode: name.optional(),
  byAttack: z.record(name, byAttackEntry).optional(),
});

const baselineSchema = z.looseObject({
  ...accuracy,
  MIA: percent.optional(),
  /** forgetting rate: (before - after) / before, at most 1, unbounded below */
  FR: finite.max(1).nullable().optional(),
  MRR: nonNegative.nullable().optional(),
  mia: miaSchema.optional(),
});

const seedSchema = z.number().int().min(0);

const hyperParameterSourceSchema = z.discriminatedUnion('kind', [
  z.looseObject({ kind: z.literal('config') }),
  z.looseObject({ kind: z.literal('search'), file: text, searchKey: name, candidates: count, validationAvgGap: gap, validation: z.looseObject({ originalSeed: seedSchema, forgetSetSeed: seedSchema, unlearningSeed: seedSchema }) }),
]);

/** Every other metric registered with `reported: true`: a finite number, or null where it is undefined. */
const reportedMetric = finite.nullable();

const metricsSchema = z
  .object({
    ...accuracy,
    avgGap: gap,
    avgGapOver: z.array(name).min(1),
    MIA: percent.optional(),
    FR: finite.max(1).nullable().optional(),
    MRR: nonNegative.nullable().optional(),
    alignmentGap: gap.nullable().optional(),
    /** L2 distance of two probability vectors: at most sqrt(2) */
    activationDistance: nonNegative.max(Math.SQRT2 + TOLERANCE).nullable().optional(),
    klForget: nonNegative.nullable().optional(),
    klTest: nonNegative.nullable().optional(),
  })
  .catchall(reportedMetric);

const spdGanSchema = z.looseObject({
  eps: finite.gt(0).max(1),
  degreeAccuracy: points,
  degreeConfidence: points,
  retrainDegreeAccuracy: points,
  retrainDegreeConfidence: points,
  originalAccuracy: percent.optional(),
  originalConfidence: percent.optional(),
  perturbedGap: points.optional(),
  cleanGap: points.optional(),
  cleanOriginalAccuracy: percent.optional(),
});

const provenanceSchema = z.looseObject({
  lethe: z.record(name, text),
  tfjs: text,
  backend: z.looseObject({ name: text, tfjsBackend: text, version: text, threads: count.optional(), detail: text.optional() }),
  node: text,
  platform: text,
  cpus: text,
  gitCommit: text.nullable(),
  dataChecksum: text,
  configHash: text,
  createdAt: text,
});

export const cellResultSchema = z.looseObject({
  schema: z.literal(RESULT_SCHEMA_ID),
  benchmark: name,
  cellHash: name,
  cell: z.looseObject({
    method: name,
    label: name.optional(),
    setting: z.enum(['retain', 'forget-only']),
    forgetSet: name,
    seed: seedSchema,
    seeds: z.looseObject({ original: seedSchema, forgetSet: seedSchema, unlearning: seedSchema }).optional(),
    hyperParameters: z.record(z.string(), z.unknown()),
    hyperParameterSource: hyperParameterSourceSchema.optional(),
  }),
  metrics: metricsSchema,
  mia: miaSchema.optional(),
  spdGan: spdGanSchema.optional(),
  gold: baselineSchema,
  original: baselineSchema,
  sizes: z
    .looseObject({ train: count, forget: count, retain: count, test: count, holdout: count.optional() })
    .refine((s) => s.forget + s.retain === s.train, { message: 'forget + retain must equal train (the images models train on)', path: ['train'] }),
  timing: z.looseObject({
    unlearnSeconds: nonNegative,
    retrainSeconds: nonNegative.nullable(),
    retrainBackend: text.nullable().optional(),
    relativeToRetrain: nonNegative.nullable(),
  }),
  provenance: provenanceSchema,
});

/** Where a problem is: `metrics.UA`, `cell.seeds.original`, `metrics.avgGapOver[0]`; '(file)' for the file as a whole. */
export function fieldPath(at: readonly PropertyKey[]): string {
  let out = '';
  for (const key of at) out += typeof key === 'number' ? `[${key}]` : `${out ? '.' : ''}${String(key)}`;
  return out || '(file)';
}

/** One problem of one result file: its path, the field, what is wrong (and what to do). */
export interface ResultProblem {
  file: string;
  field: string;
  message: string;
}

/** The problem as one line: `result file '<path>': <field>: <message>` (control characters shown as codes). */
export function formatResultProblem(problem: ResultProblem): string {
  return printable(`result file '${problem.file}': ${problem.field}: ${problem.message}`);
}

/** A problem whose field and message quote nothing unprintable from the file (keys, values, parser errors). */
export function resultProblem(file: string, field: string, message: string): ResultProblem {
  return { file, field: printable(field), message: printable(message) };
}

/**
 * Check a parsed JSON value against the schema: the value (typed), or the problems (every failing field, first 10).
 * `schema` is checked first, so a file of another version is reported as that, not as a list of missing fields.
 */
export function checkCellResult(value: unknown, file: string): { ok: true; result: CellResult } | { ok: false; problems: ResultProblem[] } {
  const problem = (field: string, message: string): { ok: false; problems: ResultProblem[] } => ({ ok: false, problems: [resultProblem(file, field, message)] });
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return problem('(file)', `expected a JSON object, found ${value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value}`);
  const schema = (value as { schema?: unknown }).schema;
  if (typeof schema !== 'string') return problem('schema', `missing or not a string; a Lethe result file has "schema": "${RESULT_SCHEMA_ID}"`);
  if (schema !== RESULT_SCHEMA_ID) {
    const shown = JSON.stringify(schema.slice(0, 60));
    return problem('schema', `${shown} is not the result schema this Lethe reads (${RESULT_SCHEMA_ID}); read it with the Lethe that wrote it, or run its cell again`);
  }
  const parsed = cellResultSchema.safeParse(value);
  // the schema is the interface CellResult (results.ts, where each field is documented) with its ranges
  if (parsed.success) return { ok: true, result: parsed.data as unknown as CellResult };
  return { ok: false, problems: parsed.error.issues.slice(0, 10).map((issue) => resultProblem(file, fieldPath(issue.path), issue.message)) };
}
