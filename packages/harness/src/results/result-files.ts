import fs from 'node:fs';
import path from 'node:path';
import type { Plan, PlannedCell } from '../plan/plan.js';
import { SUPERSEDED_DIR, readResultFile, resultProblem, type CellResult, type ResultProblem } from './results.js';

/** Result files on disk: where a cell's file is, whether it holds the cell's result, which cells are done. */

/** A cell's result file: `<label>.<forget set>.o<original>-f<forget draw>-u<unlearning>.<cell hash>.json`. */
export function resultFilePath(resultsDir: string, benchmark: string, cell: Pick<PlannedCell, 'label' | 'forgetSetId' | 'seeds' | 'cellHash'>): string {
  const { original, forgetSet, unlearning } = cell.seeds;
  return path.join(resultsDir, benchmark, `${cell.label}.${cell.forgetSetId}.o${original}-f${forgetSet}-u${unlearning}.${cell.cellHash}.json`);
}

/**
 * The result of a cell, if its file exists, passes the schema and is the cell's (its hash): what `lethe run` reuses.
 * A file that fails the schema is never reused: `onProblem` hears its path and field, and the cell runs again (its new
 * result replaces the file).
 */
export function readExistingResult(file: string, cellHash: string, onProblem?: (problem: ResultProblem) => void): CellResult | null {
  if (!fs.existsSync(file)) return null;
  const read = readResultFile(file);
  if (read.kind === 'problem') {
    read.problems.forEach((p) => onProblem?.(p));
    return null;
  }
  if (read.kind === 'other') {
    onProblem?.(resultProblem(file, 'schema', `is '${read.schema}', not a result file`));
    return null;
  }
  if (read.result.cellHash !== cellHash) {
    onProblem?.(resultProblem(file, 'cellHash', `is '${read.result.cellHash}', but the file is named for cell '${cellHash}'`));
    return null;
  }
  return read.result;
}

/**
 * The state of each planned cell: its result file exists and passes the schema (done), it waits for a search, or it is
 * to run. A bad result file goes to `onProblem` (its path and field) and its cell is pending.
 */
export function cellStatus(
  plan: Plan,
  resultsDir: string,
  force = false,
  onProblem?: (problem: ResultProblem) => void,
): { done: Map<string, CellResult>; awaitingSearch: PlannedCell[]; pending: PlannedCell[] } {
  const done = new Map<string, CellResult>();
  const awaitingSearch: PlannedCell[] = [];
  const pending: PlannedCell[] = [];
  const required = plan.config.tuning?.required ?? false;
  for (const group of plan.groups) {
    for (const cell of group.cells) {
      const existing = force ? null : readExistingResult(resultFilePath(resultsDir, plan.config.name, cell), cell.cellHash, onProblem);
      if (existing) done.set(cell.cellHash, existing);
      else if (required && cell.awaitsSearch) awaitingSearch.push(cell);
      else pending.push(cell);
    }
  }
  return { done, awaitingSearch, pending };
}

/**
 * Move result files of this benchmark whose cell is not in the current plan (the config changed since they were
 * written) into <benchmark>/superseded/, so that tables, notebooks and the leaderboard never average results of
 * different settings under one method name. Nothing is deleted.
 */
export function retireSupersededResults(resultsDir: string, plan: Plan, log: (line: string) => void): void {
  const dir = path.join(resultsDir, plan.config.name);
  if (!fs.existsSync(dir)) return;
  const current = new Set(plan.groups.flatMap((g) => g.cells.map((c) => c.cellHash)));
  const stale = fs.readdirSync(dir).filter((name) => {
    if (!name.endsWith('.json')) return false;
    // only a valid result is moved: a bad file stays where `lethe run` and the leaderboard report it
    const read = readResultFile(path.join(dir, name));
    return read.kind === 'result' && !current.has(read.result.cellHash);
  });
  if (stale.length === 0) return;
  const target = path.join(dir, SUPERSEDED_DIR);
  fs.mkdirSync(target, { recursive: true });
  for (const name of stale) fs.renameSync(path.join(dir, name), path.join(target, name));
  log(`${stale.length} result file(s) from an earlier version of this config moved to ${target}`);
}

