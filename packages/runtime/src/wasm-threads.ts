import * as tf from '@tensorflow/tfjs-core';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Starting tfjs-backend-wasm's multi-threaded build (XNNPACK on a pthreadpool of Web Workers) under Node.
 *
 * tfjs-backend-wasm 4.22.0 ships that build but never uses it under Node: its WASM_HAS_MULTITHREAD_SUPPORT flag
 * answers false there (tfjs issue #3830). Setting the flag is not enough, for three reasons, each handled here
 * only for the duration of the backend's initialisation:
 *  1. Emscripten starts each pthread as a worker_threads Worker on the script `locateFile('...worker.js')`
 *     returns, and tfjs returns a `blob:` URL, which Node's Worker cannot load. We write the same worker script to
 *     a file and hand out that file's path instead (URL.createObjectURL answers with it for that one blob).
 *  2. The worker then loads the module factory from `mainScriptUrlOrBlob`, a Blob in tfjs's setup, through
 *     another blob URL. The worker file we write loads the factory from the package's own
 *     `wasm-out/tfjs-backend-wasm-threaded-simd.js` instead: one line of the worker script is replaced, and the
 *     replacement fails loudly if a tfjs upgrade changes that line.
 *  3. The C++ side caps its pool at emscripten_num_logical_cores() / 2 (it assumes two hyper-threads per core),
 *     which under Node is os.cpus().length / 2: one thread on a 2-core machine. os.cpus() reports twice the
 *     requested thread count while the module initialises.
 * The threads then run XNNPACK's kernels (convolutions, matrix products, including the GEMMs of Lethe's own wasm
 * training kernels); JavaScript loops stay on the main thread. Results do not depend on the thread count: XNNPACK
 * splits the output among threads, never a sum (the kernel tests compare against the cpu backend either way).
 */

export const WASM_THREADS_ENV = 'LETHE_WASM_THREADS';

/** XNNPACK's pool in tfjs-backend-wasm is capped at 8 threads (8 workers are created up front). */
export const MAX_WASM_THREADS = 8;

/**
 * The number of threads the wasm backend should start: env LETHE_WASM_THREADS when set (1 = the single-threaded
 * build), else one per available core, at most MAX_WASM_THREADS.
 */
export function requestedWasmThreads(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env[WASM_THREADS_ENV];
  if (raw === undefined || raw.trim() === '') return Math.max(1, Math.min(availableParallelism(), MAX_WASM_THREADS));
  const n = Number(raw.trim());
  if (!Number.isInteger(n) || n < 1 || n > MAX_WASM_THREADS) {
    throw new Error(
      `${WASM_THREADS_ENV}=${JSON.stringify(raw)} is not a thread count: use a whole number from 1 (the single-threaded wasm build) to ${MAX_WASM_THREADS}, or unset it for one thread per core`,
    );
  }
  return n;
}

const WORKER_MODULE = 'wasm-out/tfjs-backend-wasm-threaded-simd.worker.js';
const FACTORY_MODULE = 'wasm-out/tfjs-backend-wasm-threaded-simd.js';
/** The worker script's line that loads the factory from a Blob (tfjs-backend-wasm 4.22.0, Emscripten 3.1.x). */
const LOAD_FACTORY =
  'if(typeof e.data.urlOrBlob=="string"){importScripts(e.data.urlOrBlob)}else{var objectUrl=URL.createObjectURL(e.data.urlOrBlob);importScripts(objectUrl);URL.revokeObjectURL(objectUrl)}';

let scriptDir: string | undefined;

interface EmscriptenPThreads {
  runningWorkers: Array<{ unref?: () => void }>;
  unusedWorkers: Array<{ unref?: () => void }>;
}

/**
 * Emscripten keeps a started pthread's Worker referenced (worker.ref()) until the thread exits, and XNNPACK's pool
 * threads never exit: without this a script that used the wasm backend would never end. The threads only serve
 * work the main thread hands them and waits for, so nothing is lost when the process ends under them.
 */
function letProcessExit(): void {
  const wasm = (tf.backend() as unknown as { wasm?: { PThread?: EmscriptenPThreads } }).wasm;
  const threads = wasm?.PThread;
  if (threads === undefined) {
    throw new Error(`the threaded wasm module does not expose Emscripten's PThread (tfjs-backend-wasm changed?); set ${WASM_THREADS_ENV}=1`);
  }
  for (const w of [...threads.runningWorkers, ...threads.unusedWorkers]) w.unref?.();
}

/** Write the pthread worker script and the factory loader it imports; once per process, removed at exit. */
function workerScript(wasmPackageDir: string): string {
  const require = createRequire(join(wasmPackageDir, 'package.json'));
  const { wasmWorkerContents } = require(join(wasmPackageDir, WORKER_MODULE)) as { wasmWorkerContents?: unknown };
  if (typeof wasmWorkerContents !== 'string' || !wasmWorkerContents.includes(LOAD_FACTORY)) {
    throw new Error(
      `this @tensorflow/tfjs-backend-wasm's pthread worker script is not the one Lethe knows how to start under Node (4.22.0); set ${WASM_THREADS_ENV}=1 to use the single-threaded build`,
    );
  }
  if (scriptDir === undefined) {
    const dir = mkdtempSync(join(tmpdir(), 'lethe-wasm-threads-'));
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
    scriptDir = dir;
  }
  const factoryLoader = join(scriptDir, 'factory.cjs');
  // importScripts evaluates this at the worker's global scope, so the `var` becomes the global the script expects
  writeFileSync(factoryLoader, `var WasmBackendModuleThreadedSimd = require(${JSON.stringify(join(wasmPackageDir, FACTORY_MODULE))});\n`);
  const worker = join(scriptDir, 'worker.cjs');
  // tfjs escapes newlines the same way before making its Blob: the script holds "\n" inside string literals
  const source = wasmWorkerContents.replace(/\n/g, '\\n').replace(LOAD_FACTORY, `importScripts(${JSON.stringify(factoryLoader)});`);
  writeFileSync(worker, source);
  return worker;
}

/**
 * Run `start` (which must call tf.setBackend('wasm') and wait for it) so that the wasm backend comes up with
 * `threads` XNNPACK threads. With threads <= 1 it selects the single-threaded SIMD build.
 */
export async function startWasmWithThreads<T>(threads: number, wasmPackageDir: string, start: () => Promise<T>): Promise<T> {
  if (threads <= 1) {
    tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
    return start();
  }
  if (typeof SharedArrayBuffer === 'undefined') {
    throw new Error(`this Node has no SharedArrayBuffer, which wasm threads need; set ${WASM_THREADS_ENV}=1`);
  }
  const worker = workerScript(wasmPackageDir);
  const nodeRequire = createRequire(import.meta.url);
  const os = nodeRequire('node:os') as { cpus: () => unknown[] };
  const realCpus = os.cpus;
  const realCreateObjectURL = URL.createObjectURL;
  // the Emscripten module reads require("os").cpus().length while it initialises (see 3. above)
  os.cpus = () => {
    const cpus = realCpus.call(os);
    return Array.from({ length: 2 * threads }, (_, i) => cpus[i % Math.max(1, cpus.length)]);
  };
  URL.createObjectURL = (obj: Blob) => (obj instanceof Blob && obj.type === 'application/javascript' ? worker : realCreateObjectURL(obj));
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', true);
  try {
    const result = await start();
    letProcessExit();
    return result;
  } finally {
    os.cpus = realCpus;
    URL.createObjectURL = realCreateObjectURL;
  }
}
