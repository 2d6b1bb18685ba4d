import * as tf from '@tensorflow/tfjs-core';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { FUSED_BATCH_NORM_ENV, fusedBatchNormDisabled } from './fused-batch-norm.js';
import { registerWasmTrainingKernels } from './wasm-kernels/index.js';
import { registerExplicitPaddingGradients } from './explicit-padding.js';
import { threadCount, type WasmBackendLike } from './wasm-kernels/util.js';
import { guardWasmHeap } from './wasm-heap.js';
import { requestedWasmThreads, startWasmWithThreads } from './wasm-threads.js';

/**
 * The compute-backend ladder: native TensorFlow (GPU, then CPU), then Lethe's native CPU backend (oneDNN, when its
 * addon is built), then WebAssembly (XNNPACK), then plain JS.
 *
 * Every Lethe package imports `@tensorflow/tfjs-core` and there is a single instance of it in node_modules, so a
 * backend package registers itself into that instance when imported; this module only decides which one to
 * import and activate, and reports what it got.
 */

export type BackendName = 'tensorflow-gpu' | 'tensorflow' | 'native' | 'wasm' | 'cpu';

/** In the order 'auto' tries them: fastest first. */
export const BACKEND_NAMES: readonly BackendName[] = ['tensorflow-gpu', 'tensorflow', 'native', 'wasm', 'cpu'];

export interface BackendInfo {
  name: BackendName;
  /** what `tf.getBackend()` reports once active ('tensorflow' for both native packages) */
  tfjsBackend: string;
  /** version of the backend package, e.g. '4.22.0' */
  version: string;
  packageName: string;
  detail?: string;
  /** threads the backend computes with, when it says (wasm: XNNPACK's pool; native: oneDNN's) */
  threads?: number;
}

export class BackendUnavailableError extends Error {
  readonly backend: BackendName;
  readonly packageName: string;
  /** the short technical reason (also at the end of the message, in parentheses) */
  readonly reason: string;
  constructor(backend: BackendName, packageName: string, advice: string, reason: string, options?: { cause?: unknown }) {
    super(`${advice} (${reason})`, options);
    this.name = 'BackendUnavailableError';
    this.backend = backend;
    this.packageName = packageName;
    this.reason = reason;
  }
}

export function parseBackendName(s: string): BackendName {
  const name = s.trim().toLowerCase();
  if ((BACKEND_NAMES as readonly string[]).includes(name)) return name as BackendName;
  throw new Error(`unknown backend '${s}'; known: ${BACKEND_NAMES.join(', ')}`);
}

interface BackendSpec {
  name: BackendName;
  packageName: string;
  /** name the package registers with tfjs-core */
  tfjsBackend: string;
  native: boolean;
}

const SPECS: Record<BackendName, BackendSpec> = {
  'tensorflow-gpu': { name: 'tensorflow-gpu', packageName: '@tensorflow/tfjs-node-gpu', tfjsBackend: 'tensorflow', native: true },
  tensorflow: { name: 'tensorflow', packageName: '@tensorflow/tfjs-node', tfjsBackend: 'tensorflow', native: true },
  // native: false because it is not one of the libtensorflow packages (whose lib/ holds tfjs_binding.node)
  native: { name: 'native', packageName: '@lethe/backend-native', tfjsBackend: 'native', native: false },
  wasm: { name: 'wasm', packageName: '@tensorflow/tfjs-backend-wasm', tfjsBackend: 'wasm', native: false },
  cpu: { name: 'cpu', packageName: '@tensorflow/tfjs-backend-cpu', tfjsBackend: 'cpu', native: false },
};

const require = createRequire(import.meta.url);

/** The installed package's directory, or undefined when it cannot be resolved from here. */
function packageDir(packageName: string): string | undefined {
  try {
    return dirname(require.resolve(`${packageName}/package.json`));
  } catch {
    return undefined;
  }
}

function packageVersion(dir: string): string {
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version?: unknown };
  return typeof pkg.version === 'string' ? pkg.version : 'unknown';
}

/**
 * Whether a native package has a built `tfjs_binding.node` under lib/. Its install step downloads libtensorflow
 * and builds the binding; when that failed the package directory still exists but importing it throws, after it
 * has already registered its kernels. Checking first keeps a failed import from leaving half-registered state.
 */
function hasNativeBinding(dir: string): boolean {
  const lib = join(dir, 'lib');
  if (!existsSync(lib)) return false;
  const stack = [lib];
  while (stack.length > 0) {
    const d = stack.pop()!;
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      if (entry.isDirectory()) stack.push(join(d, entry.name));
      else if (entry.name === 'tfjs_binding.node') return true;
    }
  }
  return false;
}

function installAdvice(spec: BackendSpec, packageAdvice?: string): string {
  if (spec.name === 'native') {
    return `the 'native' backend (oneDNN) is not built here. ${packageAdvice ?? nativeInstallAdvice}; or use --backend wasm`;
  }
  if (spec.native) {
    const gpu = spec.name === 'tensorflow-gpu' ? ' (and an NVIDIA GPU with CUDA 11.2 / cuDNN 8.1)' : '';
    return (
      `the '${spec.name}' backend needs ${spec.packageName}${gpu}, which is not installed or failed to build ` +
      `(its install downloads libtensorflow, which needs internet access at install time). Install it with ` +
      `\`pnpm --filter @lethe/runtime add ${spec.packageName}\` on a machine that can download it, or use --backend wasm`
    );
  }
  return (
    `the '${spec.name}' backend needs ${spec.packageName}, which could not be loaded. Reinstall it with ` +
    `\`pnpm --filter @lethe/runtime add ${spec.packageName}\``
  );
}

function errorText(e: unknown): string {
  const text = e instanceof Error ? e.message : String(e);
  return text.split('\n')[0]!.slice(0, 300);
}

/** tfjs warns once per kernel when a second native package re-registers the 'tensorflow' kernels; that is noise. */
async function importQuietly(packageName: string): Promise<unknown> {
  const warn = console.warn;
  console.warn = (...args: unknown[]) => {
    if (typeof args[0] === 'string' && /^The kernel '.*' for backend '.*' is already registered/.test(args[0])) return;
    warn(...args);
  };
  try {
    return await import(packageName);
  } finally {
    console.warn = warn;
  }
}

let wasmPathsSet = false;

/** The advice @lethe/backend-native gives when its addon is missing (kept here for when the package itself is). */
const nativeInstallAdvice =
  'Debian/Ubuntu: apt-get install libdnnl-dev, then pnpm --filter @lethe/backend-native build; elsewhere: install oneDNN 2.x and set DNNL_ROOT';

type NativePackage = typeof import('@lethe/backend-native');

/** Lethe's native CPU backend: load its addon and register the 'native' tfjs backend. */
async function loadNative(spec: BackendSpec): Promise<{ version: string; detail: string; threads: number }> {
  const dir = packageDir(spec.packageName);
  if (dir === undefined) throw new BackendUnavailableError(spec.name, spec.packageName, installAdvice(spec), 'package not found');
  const mod = (await import(spec.packageName)) as NativePackage;
  const availability = mod.nativeAvailability();
  if (!availability.available) {
    throw new BackendUnavailableError(spec.name, spec.packageName, installAdvice(spec, availability.advice), availability.reason);
  }
  const info = mod.registerNativeBackend();
  // the batch-norm form changes the rounding of every BN model's training, so it is part of the description that
  // `lethe verify` compares (fused-batch-norm.ts);
  const batchNorm = fusedBatchNormDisabled() ? `batch norm unfused (${FUSED_BATCH_NORM_ENV}=0)` : 'fused batch norm';
  // so do Winograd convolutions (only on CPUs with AVX-512; LETHE_NATIVE_WINOGRAD=0 turns them off)
  const convolutions = info.winograd ? 'Winograd 3x3 convolutions' : 'direct convolutions';
  return { version: packageVersion(dir), threads: info.threads, detail: `oneDNN ${info.dnnl} (${info.isa}), ${info.threads} thread(s), ${info.nativeKernels.length} native kernels, ${batchNorm}, ${convolutions}` };
}

/** Import a backend package so it registers with tfjs-core. Throws BackendUnavailableError. */
async function loadPackage(spec: BackendSpec): Promise<{ version: string; detail?: string; threads?: number }> {
  const fail = (why: string, cause?: unknown): never => {
    throw new BackendUnavailableError(spec.name, spec.packageName, installAdvice(spec), why, { cause });
  };
  if (spec.name === 'native') return loadNative(spec);
  const dir = packageDir(spec.packageName);
  if (dir === undefined) return fail('package not found');
  if (spec.native && !hasNativeBinding(dir)) return fail('native binding tfjs_binding.node not built');
  let mod: unknown;
  try {
    mod = await importQuietly(spec.packageName);
  } catch (e) {
    return fail(`import failed: ${errorText(e)}`, e);
  }
  if (tf.findBackendFactory(spec.tfjsBackend) == null) {
    // the package registered into a different copy of tfjs-core than the one Lethe uses
    return fail(`it did not register backend '${spec.tfjsBackend}' with the @tensorflow/tfjs-core Lethe uses`);
  }
  const version = packageVersion(dir);
  if (spec.name === 'wasm') {
    if (!wasmPathsSet) {
      // Point the loader at the .wasm files inside the installed package (the default guesses a path relative to
      // the running script, which breaks under bundlers and symlinked installs).
      const wasm = mod as { setWasmPaths?: (prefix: string) => void };
      const distDir = dirname(require.resolve(spec.packageName));
      wasm.setWasmPaths?.(distDir.endsWith('/') ? distDir : `${distDir}/`);
      wasmPathsSet = true;
    }
    return { version };
  }
  if (spec.name === 'cpu') return { version, detail: 'plain JavaScript kernels (slow)' };
  return { version };
}

async function activate(spec: BackendSpec): Promise<BackendInfo> {
  const { version, detail, threads } = await loadPackage(spec);
  let ok: boolean;
  const start = async (): Promise<boolean> => {
    const done = await tf.setBackend(spec.tfjsBackend);
    await tf.ready();
    return done;
  };
  // a bad LETHE_WASM_THREADS is the user's error to fix, not a reason for 'auto' to skip wasm
  const wasmThreadCount = spec.name === 'wasm' ? requestedWasmThreads() : 1;
  try {
    // the wasm backend picks its single- or multi-threaded build while it initialises
    ok = spec.name === 'wasm' ? await startWasmWithThreads(wasmThreadCount, packageDir(spec.packageName)!, start) : await start();
  } catch (e) {
    throw new BackendUnavailableError(spec.name, spec.packageName, installAdvice(spec), `initialisation failed: ${errorText(e)}`, { cause: e });
  }
  if (!ok || tf.getBackend() !== spec.tfjsBackend) {
    throw new BackendUnavailableError(spec.name, spec.packageName, installAdvice(spec), `tfjs could not initialise backend '${spec.tfjsBackend}'`);
  }
  const info: BackendInfo = { name: spec.name, tfjsBackend: tf.getBackend(), version, packageName: spec.packageName };
  if (detail !== undefined) info.detail = detail;
  if (threads !== undefined) info.threads = threads;
  if (spec.name === 'wasm') {
    guardWasmHeap();
    registerWasmTrainingKernels();
    // XNNPACK's pool (see wasm-threads.ts for how it is started under Node)
    info.threads = threadCount(tf.backend() as WasmBackendLike);
    info.detail = `XNNPACK, ${info.threads} thread(s), Lethe training kernels`;
  }
  // tfjs-node's convolution gradients refuse explicit padding, which ResNet-18's stride-2 convolutions use
  if (spec.tfjsBackend === 'tensorflow') registerExplicitPaddingGradients(spec.tfjsBackend);
  return info;
}

/**
 * tfjs-core's Node bundle has no gradient definitions: @tensorflow/tfjs (the union package) registers them when
 * loaded. Without them tf.grad / optimizers fail with "gradient function not found", on every backend.
 */
async function ensureGradients(): Promise<void> {
  if (tf.getGradient(tf.RealDiv) !== undefined && tf.getGradient(tf.Conv2D) !== undefined) return;
  await import('@tensorflow/tfjs');
}

let active: BackendInfo | undefined;
const ready = new Map<BackendName, BackendInfo>();
let autoChoice: BackendName | undefined;
let autoLine = '';

/** ", 2 threads" for the run log, when the backend says how many it computes with. */
function threadsPart(info: BackendInfo): string {
  return info.threads === undefined ? '' : `, ${info.threads} thread${info.threads === 1 ? '' : 's'}`;
}

async function useBackend(spec: BackendSpec): Promise<BackendInfo> {
  const known = ready.get(spec.name);
  if (known) {
    // already loaded once: switching back is a cheap setBackend
    if (tf.getBackend() !== known.tfjsBackend) {
      await tf.setBackend(known.tfjsBackend);
      await tf.ready();
    }
    return known;
  }
  const info = await activate(spec);
  ready.set(spec.name, info);
  return info;
}

/**
 * Choose, load and activate a compute backend. `request` defaults to env LETHE_BACKEND, else 'auto', which takes
 * the first of BACKEND_NAMES that loads. Forcing a backend that cannot load throws BackendUnavailableError.
 * Calling again is cheap: packages are imported once and 'auto' remembers its choice.
 */
export function initBackend(request?: BackendName | 'auto', opts: { log?: (line: string) => void } = {}): Promise<BackendInfo> {
  // one at a time: concurrent callers would otherwise race on setBackend
  const run = queue.then(() => initBackendNow(request, opts));
  queue = run.catch(() => undefined);
  return run;
}
let queue: Promise<unknown> = Promise.resolve();

async function initBackendNow(request: BackendName | 'auto' | undefined, opts: { log?: (line: string) => void }): Promise<BackendInfo> {
  const log = opts.log ?? (() => {});
  await ensureGradients();
  let req: BackendName | 'auto';
  let source = 'requested';
  if (request !== undefined) {
    req = request === 'auto' ? 'auto' : parseBackendName(request);
  } else if (process.env['LETHE_BACKEND'] !== undefined && process.env['LETHE_BACKEND'] !== '') {
    const fromEnv = process.env['LETHE_BACKEND'];
    req = fromEnv.trim().toLowerCase() === 'auto' ? 'auto' : parseBackendName(fromEnv);
    source = 'from LETHE_BACKEND';
  } else {
    req = 'auto';
  }

  if (req !== 'auto') {
    const info = await useBackend(SPECS[req]);
    active = info;
    log(`backend: ${info.name} (${info.packageName} ${info.version}${threadsPart(info)}, ${source})`);
    return info;
  }

  if (autoChoice !== undefined) {
    const info = await useBackend(SPECS[autoChoice]);
    active = info;
    log(autoLine);
    return info;
  }
  const skipped: string[] = [];
  for (const name of BACKEND_NAMES) {
    try {
      const info = await useBackend(SPECS[name]);
      autoChoice = name;
      active = info;
      const why = skipped.length > 0 ? `; skipped ${skipped.join('; ')}` : '';
      autoLine = `backend: ${info.name} (${info.packageName} ${info.version}${threadsPart(info)}, auto${why})`;
      log(autoLine);
      return info;
    } catch (e) {
      if (!(e instanceof BackendUnavailableError)) throw e;
      skipped.push(`${name}: ${e.reason}`);
    }
  }
  throw new Error(`no compute backend could be loaded: ${skipped.join('; ')}`);
}

/** The backend the last initBackend call activated, or undefined before the first call. */
export function backendInfo(): BackendInfo | undefined {
  return active;
}
