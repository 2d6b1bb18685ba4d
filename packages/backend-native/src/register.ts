import * as tf from '@tensorflow/tfjs-core';
// importing the cpu backend registers its kernels, which the native backend reuses for everything it does not
// implement itself
import '@tensorflow/tfjs-backend-cpu';
import { availableParallelism } from 'node:os';
import { loadAddon, type NativeAddon } from './addon.js';
import { NativeBackend } from './native-backend.js';
import { installNativeGradients } from './gradients.js';
import { batchNormKernels } from './kernels/batch-norm.js';
import { convKernels } from './kernels/conv.js';
import { elementwiseKernels } from './kernels/elementwise.js';
import { matMulKernels } from './kernels/matmul.js';
import { poolKernels } from './kernels/pool.js';
import { reduceKernels } from './kernels/reduce.js';
import { NATIVE, type KernelArgs } from './kernels/util.js';

/** The kernels implemented in C++; every other kernel of the cpu backend is registered for 'native' as is. */
export const nativeKernels: readonly tf.KernelConfig[] = [...convKernels, ...matMulKernels, ...elementwiseKernels, ...reduceKernels, ...poolKernels, ...batchNormKernels];

export interface NativeBackendInfo {
  /** the tfjs backend name */
  name: 'native';
  /** oneDNN version, e.g. '2.6.3' */
  dnnl: string;
  /** the instruction set oneDNN dispatches to, e.g. 'avx512_core' */
  isa: string;
  threads: number;
  /** kernel names served by native code */
  nativeKernels: string[];
  /**
   * whether 3x3 stride-1 convolutions with 64+ channels run as Winograd kernels (oneDNN, AVX-512 only): 2-3x faster
   * there, rounded differently; LETHE_NATIVE_WINOGRAD=0 turns them off
   */
  winograd: boolean;
}

/** The environment variable that turns Winograd convolutions off ('0'); read when the backend is registered. */
export const WINOGRAD_ENV = 'LETHE_NATIVE_WINOGRAD';

/** Per-kernel wall time, when profiling is on (see setKernelProfiling). */
const profile = new Map<string, { calls: number; ms: number }>();
let profiling = process.env['LETHE_NATIVE_PROFILE'] === '1';

/** Turn per-kernel timing on or off (also on when LETHE_NATIVE_PROFILE=1). Costs about a microsecond a kernel. */
export function setKernelProfiling(on: boolean): void {
  profiling = on;
}

/** Time spent in each kernel since the last reset, slowest first. */
export function kernelProfile(): Array<{ kernel: string; calls: number; ms: number }> {
  return [...profile].map(([kernel, v]) => ({ kernel, ...v })).sort((a, b) => b.ms - a.ms);
}

export function resetKernelProfile(): void {
  profile.clear();
}

function timed(kernelName: string, fn: tf.KernelFunc): tf.KernelFunc {
  return (args: KernelArgs) => {
    if (!profiling) return fn(args);
    const t0 = performance.now();
    try {
      return fn(args);
    } finally {
      const entry = profile.get(kernelName) ?? { calls: 0, ms: 0 };
      entry.calls++;
      entry.ms += performance.now() - t0;
      profile.set(kernelName, entry);
    }
  };
}

let registered: NativeBackendInfo | undefined;

function defaultThreads(): number {
  const fromEnv = Number(process.env['LETHE_NATIVE_THREADS']);
  return Number.isInteger(fromEnv) && fromEnv > 0 ? fromEnv : availableParallelism();
}

/**
 * Register the 'native' backend with tfjs-core (idempotent): the backend factory, every cpu kernel under the
 * name 'native', then the native kernels over them. Throws NativeUnavailableError (saying what to install) when
 * the addon is not built. Does not activate the backend: call `tf.setBackend('native')` (or Lethe's
 * `initBackend('native')`).
 */
export function registerNativeBackend(options: { threads?: number } = {}): NativeBackendInfo {
  const addon: NativeAddon = loadAddon();
  if (options.threads !== undefined) addon.setThreads(options.threads);
  addon.setWinograd(process.env[WINOGRAD_ENV] !== '0');
  if (registered) {
    const now = addon.info();
    registered = { ...registered, threads: now.threads, winograd: now.winograd };
    return registered;
  }
  if (options.threads === undefined) addon.setThreads(defaultThreads());
  // priority between tfjs-node (3) and wasm (2): the order of Lethe's backend ladder
  tf.registerBackend(
    NATIVE,
    () => {
      // tfjs's gradients may have been registered after registerNativeBackend ran
      installNativeGradients();
      return new NativeBackend(addon);
    },
    2.5,
  );
  installNativeGradients();
  const ours = new Set(nativeKernels.map((k) => k.kernelName));
  for (const config of tf.getKernelsForBackend('cpu')) {
    if (ours.has(config.kernelName) || tf.getKernel(config.kernelName, NATIVE) !== undefined) continue;
    tf.registerKernel({ ...config, backendName: NATIVE, kernelFunc: timed(config.kernelName, config.kernelFunc) });
  }
  for (const config of nativeKernels) {
    if (tf.getKernel(config.kernelName, NATIVE) !== undefined) tf.unregisterKernel(config.kernelName, NATIVE);
    tf.registerKernel({ ...config, kernelFunc: timed(config.kernelName, config.kernelFunc) });
  }
  const info = addon.info();
  registered = { name: NATIVE, dnnl: info.dnnl, isa: info.isa, threads: info.threads, nativeKernels: [...ours].sort(), winograd: info.winograd };
  return registered;
}
