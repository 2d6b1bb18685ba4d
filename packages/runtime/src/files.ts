import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

/**
 * The one way Lethe writes a file it must never leave half-written (result files, model weights, cache entries,
 * the leaderboard): a temporary file beside it, then a rename. A killed process leaves the old file or the new one,
 * never part of one. Temporary names carry the writer's pid (`<file>.tmp-<pid>-<n>`), so concurrent writers never
 * share one and `removeStaleTemporaries` can tell a dead writer's leftovers from a live one's. Errors name the path.
 * Imports no TensorFlow.js (light subpath `@lethe/runtime/files`).
 */
let counter = 0;

export function writeFileAtomic(file: string, data: string | Uint8Array): void {
  const tmp = `${file}.tmp-${process.pid}-${counter++}`;
  try {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(tmp, data);
    fs.renameSync(tmp, file);
  } catch (err) {
    try {
      fs.rmSync(tmp, { force: true });
    } catch {
      // nothing was written where nothing could be
    }
    throw new Error(`could not write '${file}': ${(err as Error).message}`);
  }
}

export function writeJsonAtomic(file: string, value: unknown): void {
  writeFileAtomic(file, JSON.stringify(value, null, 2) + '\n');
}

/**
 * The cache files that hold arrays (reference-model outputs, generators): one JSON header line, then a binary body,
 * written atomically. The header records the body's SHA-256 (`bodySha256`), which readHeaderFile checks.
 */
export function writeHeaderFile(file: string, header: object, body: Uint8Array | readonly Uint8Array[]): void {
  const parts = body instanceof Uint8Array ? [body] : [...body];
  const hash = crypto.createHash('sha256');
  for (const part of parts) hash.update(part);
  const withHash = { ...header, bodySha256: hash.digest('hex') };
  writeFileAtomic(file, Buffer.concat([Buffer.from(JSON.stringify(withHash) + '\n'), ...parts]));
}

export interface ReadHeaderFileOptions<H> {
  /**
   * Which headers without `bodySha256` to read anyway: files written before it existed. Say exactly which (e.g. a
   * header with precisely the old keys), so that a damaged `bodySha256` key does not pass for an old file.
   */
  unhashed?: (header: H) => boolean;
}

/**
 * Read a header file; null when it is missing or its header is not the expected one (`accept` says which): a cache
 * entry of another format or data set is recomputed, never used. A file whose body does not match the SHA-256 its
 * header records, that records none (unless `unhashed` accepts the header), or whose header line is not a JSON object,
 * is damaged: an error names the file and the fix.
 */
export function readHeaderFile<H>(file: string, accept: (header: H) => boolean, options: ReadHeaderFileOptions<H> = {}): { header: H; body: Uint8Array } | null {
  if (!fs.existsSync(file)) return null;
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (err) {
    throw new Error(`cannot read '${file}': ${(err as Error).message}`);
  }
  const damaged = (why: string): Error => new Error(`'${file}' is damaged (${why}); delete it so it is computed again`);
  const newline = bytes.indexOf(0x0a);
  if (newline < 0) throw damaged('no header line');
  let header: H;
  try {
    header = JSON.parse(bytes.subarray(0, newline).toString('utf8')) as H;
  } catch {
    throw damaged('its header line is not JSON');
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) throw damaged('its header line is not a JSON object');
  if (!accept(header)) return null;
  const body = bytes.subarray(newline + 1);
  const recorded = (header as { bodySha256?: unknown }).bodySha256;
  if (recorded === undefined) {
    if (!options.unhashed?.(header)) throw damaged('its header records no bodySha256');
  } else {
    const actual = crypto.createHash('sha256').update(body).digest('hex');
    if (actual !== recorded) throw damaged(`its body has SHA-256 ${actual}, its header records ${String(recorded)}`);
  }
  return { header, body };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** How old a leftover must be before it is removed (its writer may be on another machine sharing the directory). */
export const STALE_AFTER_MS = 10 * 60 * 1000;

/**
 * The pid that owns a leftover, from its name, or null when the name is not one of a writer's temporaries:
 * `<file>.tmp-<pid>[-<n>]` (writeFileAtomic, checkpoint staging folders), `<file>.<pid>.partial` (data set downloads),
 * `.fetch-<source>-<pid>-<time>` (a download's staging folder).
 */
function leftoverOwner(name: string, isDirectory: boolean): number | null {
  const m = /\.tmp-(\d+)(?:-\d+)?$/.exec(name) ?? (isDirectory ? /^\.fetch-[A-Za-z0-9_-]*?-(\d+)-\d+$/.exec(name) : /\.(\d+)\.partial$/.exec(name));
  return m ? Number(m[1]) : null;
}

export interface RemoveStaleOptions {
  /** leftovers younger than this are kept (default STALE_AFTER_MS: 10 minutes) */
  minAgeMs?: number;
  /** the current time, ms since the epoch (tests) */
  now?: number;
}

/**
 * Remove what writers that are no longer running left in `dir` and its subfolders (a kill or a full disk between
 * write and rename): temporary files (`*.tmp-<pid>-<n>`, `*.<pid>.partial`) and staging folders (`.fetch-*` of an
 * interrupted download, `*.tmp-<pid>` of a checkpoint copy). They are never read, and on a full disk they keep it
 * full. A leftover is removed only when its owner pid is not running here AND it is at least 10 minutes old (a
 * directory shared between machines holds other machines' pids, which mean nothing here). Returns the paths removed;
 * an I/O error names its path.
 */
export function removeStaleTemporaries(dir: string, options: RemoveStaleOptions = {}): string[] {
  const removed: string[] = [];
  if (!fs.existsSync(dir)) return removed;
  const minAge = options.minAgeMs ?? STALE_AFTER_MS;
  const now = options.now ?? Date.now();
  const walk = (d: string): void => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(d, { withFileTypes: true });
    } catch (err) {
      throw new Error(`could not list '${d}' to remove stale temporary files: ${(err as Error).message}`);
    }
    for (const entry of entries) {
      const full = path.join(d, entry.name);
      const directory = entry.isDirectory();
      const owner = leftoverOwner(entry.name, directory);
      if (owner === null) {
        if (directory) walk(full);
        continue;
      }
      if (alive(owner)) continue;
      let age: number;
      try {
        age = now - fs.lstatSync(full).mtimeMs;
      } catch {
        continue; // removed meanwhile by someone else
      }
      if (age < minAge) continue;
      try {
        fs.rmSync(full, { recursive: true, force: true });
      } catch (err) {
        throw new Error(`could not remove the stale temporary '${full}': ${(err as Error).message}`);
      }
      removed.push(full);
    }
  };
  walk(dir);
  return removed;
}
