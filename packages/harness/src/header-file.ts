import fs from 'node:fs';
import path from 'node:path';

/**
 * The cache files that hold arrays (reference-model outputs, ...): one JSON header line, then a binary body. Written
 * atomically (temporary file + rename), so a killed run leaves either the old file or the new one, never half of one;
 * the temporary name carries the process id, so concurrent writers never share one.
 */
export function writeHeaderFile(file: string, header: object, body: Uint8Array): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  try {
    fs.writeFileSync(tmp, Buffer.concat([Buffer.from(JSON.stringify(header) + '\n'), body]));
    fs.renameSync(tmp, file);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw new Error(`could not write cache file '${file}': ${(err as Error).message}`);
  }
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
