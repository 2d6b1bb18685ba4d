import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { writeJsonAtomic } from '@lethe/runtime/files';
import { contentHash } from '../config/hash.js';

/**
 * The search record `lethe tune` writes beside a config (`<config>.tuning.json`): per method and forget set, every
 * candidate tried on the validation forget set with its scores, and the chosen one. `lethe run` reads it: a method
 * whose search finished runs with the chosen values, and its result files say so (HyperParameterSource). A search is
 * identified by a key over everything that determines it (validation gold model, method, its base values, the space,
 * the budget, the evaluation), so a changed config never silently reuses a search made for another.
 */
export const TUNING_SCHEMA = 'lethe.tuning/v1';

const candidateSchema = z.object({
  hyperParameters: z.record(z.string(), z.unknown()),
  /** the candidate's UA, RA, TA (and MIA) on the validation group, and the validation gold model's */
  metrics: z.record(z.string(), z.number()).optional(),
  gold: z.record(z.string(), z.number()).optional(),
  /** Avg Gap to the validation gold model over `avgGapOver`; null when the run failed */
  avgGap: z.number().nullable(),
  avgGapOver: z.array(z.string()).optional(),
  seconds: z.number(),
  error: z.string().optional(),
});

const methodSearchSchema = z.object({
  method: z.string(),
  label: z.string(),
  forgetSet: z.string(),
  searchKey: z.string(),
  base: z.record(z.string(), z.unknown()),
  space: z.record(z.string(), z.unknown()),
  /** candidates the search will try in all */
  planned: z.number().int(),
  candidates: z.array(candidateSchema),
  /** the candidate with the lowest Avg Gap, once all planned candidates ran */
  chosen: z.object({ index: z.number().int(), hyperParameters: z.record(z.string(), z.unknown()), avgGap: z.number() }).nullable(),
});

const tuningRecordSchema = z.object({
  schema: z.literal(TUNING_SCHEMA),
  benchmark: z.string(),
  validation: z.object({ originalSeed: z.number(), forgetSetSeed: z.number(), unlearningSeed: z.number() }),
  /** keyed by searchEntryId(label, forget set) */
  searches: z.record(z.string(), methodSearchSchema),
  updatedAt: z.string(),
});

export type TuningCandidate = z.infer<typeof candidateSchema>;
export type MethodSearch = z.infer<typeof methodSearchSchema>;
export type TuningRecord = z.infer<typeof tuningRecordSchema> & {
  /** the file it was read from (not stored) */
  file?: string;
};

/** Where a cell's hyper-parameters come from. */
export type HyperParameterSource =
  | { kind: 'config' }
  | {
      kind: 'search';
      /** the record's file name (beside the config) */
      file: string;
      searchKey: string;
      /** candidates tried, and the chosen one's Avg Gap on the validation forget set */
      candidates: number;
      validationAvgGap: number;
      validation: TuningRecord['validation'];
    };

export function searchEntryId(label: string, forgetSetId: string): string {
  return `${label}@${forgetSetId}`;
}

/** The search record's path for a config file: `benchmarks/x.json` -> `benchmarks/x.tuning.json`. */
export function tuningFileFor(configPath: string): string {
  const dir = path.dirname(configPath);
  const base = path.basename(configPath).replace(/\.json$/i, '');
  return path.join(dir, `${base}.tuning.json`);
}

export function searchKeyOf(parts: {
  validationGoldKey: string;
  method: string;
  label: string;
  base: Record<string, unknown>;
  space: unknown;
  budget: number;
  seed: number;
  unlearningSeed: number;
  setting: string;
  evaluation: unknown;
  referenceKeys: readonly string[];
}): string {
  return contentHash({ kind: 'search', ...parts });
}

/** Read a search record; null when there is none. A malformed file is an error naming it (it is never silently ignored). */
export function readTuningRecord(file: string): TuningRecord | null {
  if (!fs.existsSync(file)) return null;
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`search record '${file}' is not valid JSON (${(err as Error).message}); delete it and run \`lethe tune\` again`);
  }
  const parsed = tuningRecordSchema.safeParse(raw);
  if (!parsed.success) throw new Error(`search record '${file}' is not a ${TUNING_SCHEMA} file:\n${z.prettifyError(parsed.error)}\ndelete it and run \`lethe tune\` again`);
  return { ...parsed.data, file };
}

export function writeTuningRecord(file: string, record: TuningRecord): void {
  const { file: _file, ...stored } = record;
  writeJsonAtomic(file, { ...stored, updatedAt: new Date().toISOString() });
}

/**
 * Write `entries` of `record` into the record file, keeping every other entry the file holds (another shard's
 * searches), under a lock file so that two shards never overwrite each other's candidates. A lock older than a
 * minute is left over from a killed process and is taken over.
 */
export function updateTuningRecord(file: string, record: TuningRecord, entries: readonly string[]): void {
  const lock = `${file}.lock`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.writeFileSync(lock, String(process.pid), { flag: 'wx' });
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw new Error(`could not lock the search record '${file}': ${(err as Error).message}`);
      const stat = fs.statSync(lock, { throwIfNoEntry: false });
      const age = stat ? Date.now() - stat.mtimeMs : 0;
      if (age > 60_000) fs.rmSync(lock, { force: true });
      else if (Date.now() > deadline) throw new Error(`the search record '${file}' stayed locked for a minute (${lock}); remove the lock file if no lethe tune is running`);
      else Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
    }
  }
  try {
    const onDisk = readTuningRecord(file);
    const merged: TuningRecord = { ...record, searches: { ...(onDisk?.searches ?? {}) } };
    for (const id of entries) merged.searches[id] = record.searches[id]!;
    writeTuningRecord(file, merged);
  } finally {
    fs.rmSync(lock, { force: true });
  }
}

/**
 * The hyper-parameters a cell runs with: the search's choice when the record holds a finished search with the
 * expected key, else the config's values.
 */
export function chosenHyperParameters(
  record: TuningRecord | null,
  entryId: string,
  searchKey: string | null,
  configValues: Record<string, unknown>,
): { hyperParameters: Record<string, unknown>; source: HyperParameterSource; pending: boolean } {
  const search = searchKey && record ? record.searches[entryId] : undefined;
  const matching = search && search.searchKey === searchKey ? search : undefined;
  if (!matching || !matching.chosen) {
    // a finished search whose every candidate failed leaves the config's values: nothing more to wait for
    const finished = !!matching && matching.candidates.length >= matching.planned;
    return { hyperParameters: configValues, source: { kind: 'config' }, pending: searchKey !== null && !finished };
  }
  const chosen = matching.chosen;
  return {
    hyperParameters: { ...configValues, ...chosen.hyperParameters },
    source: {
      kind: 'search',
      file: record!.file ? path.basename(record!.file) : `${record!.benchmark}.tuning.json`,
      searchKey: matching.searchKey,
      candidates: matching.candidates.length,
      validationAvgGap: chosen.avgGap,
      validation: record!.validation,
    },
    pending: false,
  };
}
