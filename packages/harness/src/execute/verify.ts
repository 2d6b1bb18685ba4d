/**
 * `lethe verify`: run a published cell again from its provenance and compare every number. The config is the one of
 * the repository's configs whose hash the result records (results/submission.ts), the cell is found in its plan by its
 * hash, and the run uses the recorded backend and thread count; the models it needs come from the cache or are
 * trained first, as `lethe run` would. On the same backend, instruction set, threads, versions and data the numbers
 * must be identical, at any later commit (a change that alters them is what this catches); otherwise the headline
 * metrics must agree within a tolerance, stated in the output.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseBackendName, type BackendName } from '@lethe/runtime';
import { configOfResult, SubmissionError, type ConfigOfResult } from '../results/submission.js';
import { formatResultProblem, readResultFile, type CellResult } from '../results/results.js';
import { resultFilePath } from '../results/result-files.js';
import { runBenchmark } from './run.js';

/**
 * Percentage points a headline metric may move when the re-run cannot be bit-identical (another backend, instruction
 * set, thread count, version or commit): float rounding changes the trained models, and accuracies on a few thousand
 * images move by about a point between such runs.
 */
export const DEFAULT_VERIFY_TOLERANCE = 2;

/** Fields compared within the tolerance when the run cannot be identical; every other number is shown only. */
const HEADLINE = /^(metrics\.(UA|RA|TA|MIA|avgGap)|mia\.(ftAuc|efficacy)|(gold|original)\.(UA|RA|TA|MIA))$/;

export interface VerifyOptions {
  /** folders of benchmark configs (the repository's benchmarks/) */
  configDirs: readonly string[];
  cacheDir?: string;
  dataDir?: string;
  /** default: the result's backend */
  backend?: BackendName;
  /** percentage points for headline metrics when identity is not expected (default DEFAULT_VERIFY_TOLERANCE) */
  tolerance?: number;
  /** where the re-run writes its result (default: a temporary folder, removed afterwards) */
  workDir?: string;
  log?: (line: string) => void;
  interactive?: boolean;
}

export interface FieldComparison {
  field: string;
  published: string | number | boolean | null;
  rerun: string | number | boolean | null;
  /** rerun - published, for numbers present in both */
  difference: number | null;
  /** whether this field decides the verdict */
  checked: boolean;
  ok: boolean;
}

export interface VerifyOutcome {
  file: string;
  config: string;
  /** whether the re-run had to be bit-identical */
  exact: boolean;
  /** why identity was not expected (empty when exact) */
  differences: string[];
  /** the re-run's commit differs from the published one (`commitNote`), or null */
  commitNote: string | null;
  tolerance: number;
  fields: FieldComparison[];
  ok: boolean;
  /** models the re-run trained (the rest came from the cache) */
  trained: string[];
}

type Leaf = string | number | boolean | null;

/** Every leaf of a JSON value, by dotted path (array items by index). */
function leaves(value: unknown, prefix: string, out: Map<string, Leaf>): Map<string, Leaf> {
  if (value === null || typeof value !== 'object') {
    out.set(prefix, (value ?? null) as Leaf);
    return out;
  }
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) leaves(v, prefix ? `${prefix}.${k}` : k, out);
  return out;
}

/** The numbers and labels of a result that a re-run must reproduce (timings and provenance are not among them). */
function comparable(result: CellResult): Map<string, Leaf> {
  const out = new Map<string, Leaf>();
  leaves(result.cell.hyperParameters, 'cell.hyperParameters', out);
  for (const part of ['metrics', 'mia', 'spdGan', 'gold', 'original', 'sizes'] as const) {
    const value = (result as unknown as Record<string, unknown>)[part];
    if (value !== undefined) leaves(value, part, out);
  }
  return out;
}

/** Why a re-run here cannot be bit-identical to the published one (its environment); empty when it can. */
export function identityBlockers(published: CellResult, rerun: CellResult): string[] {
  const a = published.provenance;
  const b = rerun.provenance;
  const out: string[] = [];
  const differ = (what: string, x: unknown, y: unknown): void => {
    if (JSON.stringify(x) !== JSON.stringify(y)) out.push(`${what}: ${JSON.stringify(x) ?? 'not recorded'} published, ${JSON.stringify(y) ?? 'not recorded'} here`);
  };
  differ('backend', a.backend.name, b.backend.name);
  differ('backend version', a.backend.version, b.backend.version);
  if (a.backend.detail === undefined || a.backend.threads === undefined) out.push('the published result does not record its backend threads and instruction set (written before 2026-12-07)');
  else {
    differ('backend detail (instruction set, threads)', a.backend.detail, b.backend.detail);
    differ('backend threads', a.backend.threads, b.backend.threads);
  }
  differ('TensorFlow.js', a.tfjs, b.tfjs);
  differ('Lethe packages', a.lethe, b.lethe);
  differ('data checksum', a.dataChecksum, b.dataChecksum);
  return out;
}

/**
 * A later commit does not excuse other numbers: a change since the published commit that alters this computation is
 * what verification exists to catch (the published file must then be computed again, or the change explained). The
 * note says where to look when numbers differ.
 */
export function commitNote(published: CellResult, rerun: CellResult): string | null {
  const a = published.provenance.gitCommit;
  const b = rerun.provenance.gitCommit;
  if (a === b) return null;
  return `published at commit ${a ?? 'unknown'}, re-run at ${b ?? 'unknown'}: a difference may come from a change since (\`git diff ${(a ?? '').replace(/\+dirty$/, '').slice(0, 12)} ${(b ?? '').replace(/\+dirty$/, '').slice(0, 12)}\`, or check out the published commit)`;
}

/** Compare two results field by field: identical when `exact`, else headline metrics within `tolerance`. */
export function compareResults(published: CellResult, rerun: CellResult, exact: boolean, tolerance: number): FieldComparison[] {
  const a = comparable(published);
  const b = comparable(rerun);
  const fields: FieldComparison[] = [];
  for (const field of new Set([...a.keys(), ...b.keys()])) {
    const x = a.has(field) ? a.get(field)! : null;
    const y = b.has(field) ? b.get(field)! : null;
    const difference = typeof x === 'number' && typeof y === 'number' ? y - x : null;
    const missing = !a.has(field) || !b.has(field);
    // a field the published file lacks is one this version added since: shown, not held against the file
    const checked = !a.has(field) ? false : exact || HEADLINE.test(field) || typeof x !== 'number';
    let ok: boolean;
    if (!checked) ok = true;
    else if (missing) ok = false;
    else if (exact || typeof x !== 'number' || typeof y !== 'number') ok = x === y;
    else ok = Math.abs(difference!) <= tolerance;
    fields.push({ field, published: x, rerun: y, difference, checked, ok });
  }
  return fields;
}

/** Re-run the cell of a published result file and compare (see the module comment). */
export async function verifyResult(file: string, options: VerifyOptions): Promise<VerifyOutcome> {
  const read = readResultFile(file);
  if (read.kind === 'other') throw new SubmissionError(`${file} is a ${read.schema} file, not a result`);
  if (read.kind === 'problem') throw new SubmissionError(`${file} is not a valid result file:\n${read.problems.map((p) => `  ${formatResultProblem(p)}`).join('\n')}`);
  const published = read.result;
  const log = options.log ?? ((line: string) => console.error(line));
  const found: ConfigOfResult = configOfResult(published, options.configDirs);
  const recorded = published.provenance.backend;
  let backend = options.backend;
  if (!backend) {
    try {
      backend = parseBackendName(recorded.name);
    } catch {
      throw new SubmissionError(`the result's backend '${recorded.name}' is not one this version knows; pass --backend`);
    }
  }
  // the native backend's sums depend on its thread count: use the recorded one unless the user chose
  if (recorded.threads !== undefined && backend === recorded.name) {
    if (backend === 'native' && !process.env['LETHE_NATIVE_THREADS']) process.env['LETHE_NATIVE_THREADS'] = String(recorded.threads);
    if (backend === 'wasm' && !process.env['LETHE_WASM_THREADS']) process.env['LETHE_WASM_THREADS'] = String(recorded.threads);
  }
  const workDir = options.workDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'lethe-verify-'));
  log(`verify: ${file}: cell ${published.cellHash} of ${found.file} (${found.cell.label}, original ${found.cell.seeds.original}, forget set ${found.cell.seeds.forgetSet}, run ${found.cell.seeds.unlearning}) on ${backend}`);
  try {
    const summary = await runBenchmark(found.config, {
      resultsDir: workDir,
      cells: [published.cellHash],
      backend,
      tuning: found.tuning,
      log,
      ...(options.cacheDir ? { cacheDir: options.cacheDir } : {}),
      ...(options.dataDir ? { dataDir: options.dataDir } : {}),
      ...(options.interactive !== undefined ? { interactive: options.interactive } : {}),
    });
    if (summary.failures.length > 0) throw new Error(`the re-run of cell ${published.cellHash} failed: ${summary.failures.map((f) => f.message).join('; ')}`);
    const again = readResultFile(resultFilePath(workDir, found.config.name, found.cell));
    if (again.kind !== 'result') throw new Error(`the re-run wrote no readable result for cell ${published.cellHash}`);
    const rerun = again.result;
    const differences = identityBlockers(published, rerun);
    const exact = differences.length === 0;
    const tolerance = options.tolerance ?? DEFAULT_VERIFY_TOLERANCE;
    const fields = compareResults(published, rerun, exact, tolerance);
    return { file, config: found.file, exact, differences, commitNote: commitNote(published, rerun), tolerance, fields, ok: fields.every((f) => f.ok), trained: summary.trained };
  } finally {
    if (!options.workDir) fs.rmSync(workDir, { recursive: true, force: true });
  }
}

const show = (v: Leaf): string => (v === null ? '-' : typeof v === 'number' ? String(Number(v.toPrecision(10))) : String(v));

/** The side-by-side report `lethe verify` prints. */
export function formatVerifyOutcome(outcome: VerifyOutcome, options: { all?: boolean } = {}): string {
  const lines: string[] = [];
  lines.push(`${outcome.file}`);
  lines.push(`  config ${outcome.config}; models trained for the re-run: ${outcome.trained.length > 0 ? outcome.trained.join(', ') : 'none (all from the cache)'}`);
  if (outcome.exact) lines.push('  expected: identical numbers (same backend, instruction set, threads, versions and data)');
  else {
    lines.push(`  expected: headline metrics within ${outcome.tolerance} points (a bit-identical re-run is not possible here):`);
    for (const d of outcome.differences) lines.push(`    - ${d}`);
  }
  if (outcome.commitNote) lines.push(`  code: ${outcome.commitNote}`);
  // ROC curves are 18 points each: their rows are shown when they differ (or with --all)
  const rows = outcome.fields.filter((f) => options.all || (f.checked && (!f.ok || !f.field.includes('.roc.'))));
  const width = Math.max(5, ...rows.map((f) => f.field.length));
  lines.push(`  ${'field'.padEnd(width)}  ${'published'.padStart(14)}  ${'re-run'.padStart(14)}  ${'difference'.padStart(11)}  verdict`);
  for (const f of rows) {
    const verdict = !f.checked ? 'shown' : f.ok ? (f.difference === 0 || f.published === f.rerun ? 'same' : 'within') : 'MISMATCH';
    lines.push(`  ${f.field.padEnd(width)}  ${show(f.published).padStart(14)}  ${show(f.rerun).padStart(14)}  ${(f.difference === null ? '' : show(f.difference)).padStart(11)}  ${verdict}`);
  }
  const bad = outcome.fields.filter((f) => !f.ok);
  lines.push(outcome.ok ? `  verified: ${outcome.fields.filter((f) => f.checked).length} field(s) ${outcome.exact ? 'identical' : `within ${outcome.tolerance} points`}` : `  NOT verified: ${bad.length} field(s) differ (${bad.map((f) => f.field).join(', ')})`);
  return lines.join('\n');
}
