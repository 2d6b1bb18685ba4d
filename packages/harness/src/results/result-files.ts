import fs from 'node:fs';
import path from 'node:path';
import type { Plan, PlannedCell } from '../plan/plan.js';
import { RESULT_SCHEMA, SUPERSEDED_DIR, type CellResult } from './results.js';

/** Result files on disk: where a cell's file is, whether it holds the cell's result, which cells are done. */

/** A cell's result file: `<label>.<forget set>.o<original>-f<forget draw>-u<unlearning>.<cell hash>.json`. */
export function resultFilePath(resultsDir: string, benchmark: string, cell: Pick<PlannedCell, 'label' | 'forgetSetId' | 'seeds' | 'cellHash'>): string {
  const { original, forgetSet, unlearning } = cell.seeds;
  return path.join(resultsDir, benchmark, `${cell.label}.${cell.forgetSetId}.o${original}-f${forgetSet}-u${unlearning}.${cell.cellHash}.json`);
}

export function readExistingResult(file: string, cellHash: string): CellResult | null {
  if (!fs.existsSync(file)) return null;
  try {
    const parsed = JSON.parse(fs.readFileSync(file, 'utf8')) as CellResult;
    return parsed.schema === RESULT_SCHEMA && parsed.cellHash === cellHash ? parsed : null;
  } catch {
    return null; // unreadable: recompute (the atomic writer never leaves a partial file, but a user might)
  }
}

/** The state of each planned cell: its result file exists (done), it waits for a search, or it is to run. */
export function cellStatus(plan: Plan, resultsDir: string, force = false): { done: Map<string, CellResult>; awaitingSearch: PlannedCell[]; pending: PlannedCell[] } {
  const done = new Map<string, CellResult>();
  const awaitingSearch: PlannedCell[] = [];
  const pending: PlannedCell[] = [];
  const required = plan.config.tuning?.required ?? false;
  for (const group of plan.groups) {
    for (const cell of group.cells) {
      const existing = force ? null : readExistingResult(resultFilePath(resultsDir, plan.config.name, cell), cell.cellHash);
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
    try {
      const parsed = JSON.parse(fs.readFileSync(path.join(dir, name), 'utf8')) as Partial<CellResult>;
      return parsed.schema === RESULT_SCHEMA && typeof parsed.cellHash === 'string' && !current.has(parsed.cellHash);
    } catch {
      return false;
    }
  });
  if (stale.length === 0) return;
  const target = path.join(dir, SUPERSEDED_DIR);
  fs.mkdirSync(target, { recursive: true });
  for (const name of stale) fs.renameSync(path.join(dir, name), path.join(target, name));
  log(`${stale.length} result file(s) from an earlier version of this config moved to ${target}`);
}

