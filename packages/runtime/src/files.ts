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
 * The cache files that hold arrays (reference-model outputs, adversarial sets, generators): one JSON header line, then
 * a binary body, written atomically.
 */
export function writeHeaderFile(file: string, header: object, body: Uint8Array | readonly Uint8Array[]): void {
  const parts = body instanceof Uint8Array ? [body] : [...body];
  writeFileAtomic(file, Buffer.concat([Buffer.from(JSON.stringify(header) + '\n'), ...parts]));
}

/**
 * Read a header file; null when it is missing, unreadable, or its header is not the expected one (`accept` says
 * which): a cache entry of another format or data set is recomputed, never used.
 */
export function readHeaderFile<H>(file: string, accept: (header: H) => boolean): { header: H; body: Uint8Array } | null {
  if (!fs.existsSync(file)) return null;
  const bytes = fs.readFileSync(file);
  const newline = bytes.indexOf(0x0a);
  if (newline < 0) return null;
  let header: H;
  try {
    header = JSON.parse(bytes.subarray(0, newline).toString('utf8')) as H;
  } catch {
    return null;
  }
  if (!accept(header)) return null;
  return { header, body: bytes.subarray(newline + 1) };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Remove the temporary files (`*.tmp-<pid>-...`) that writers which are no longer running left in `dir` and its
 * subfolders (a kill or a full disk between write and rename): they are never read, and on a full disk they keep it
 * full. A live writer's are left alone. Returns the paths removed.
 */
export function removeStaleTemporaries(dir: string): string[] {
  const removed: string[] = [];
  if (!fs.existsSync(dir)) return removed;
  const walk = (d: string): void => {
    for (const entry of fs.readdirSync(d, { withFileTypes: true })) {
      const full = path.join(d, entry.name);
      if (entry.isDirectory()) walk(full);
      else {
        const m = /\.tmp-(\d+)(?:-\d+)?$/.exec(entry.name);
        if (m && !alive(Number(m[1]))) {
          fs.rmSync(full, { force: true });
          removed.push(full);
        }
      }
    }
  };
  walk(dir);
  return removed;
}
