import * as tf from '@tensorflow/tfjs-core';

/**
 * Backend-level plumbing for Lethe's wasm kernels: calling the shipped kernels, XNNPACK's GEMM and JS loops over
 * the wasm heap.
 *
 * Why not tf.* ops inside a kernel: nested ops would run through the engine (recorded on gradient tapes, counted
 * by the profiler, tracked by tidy scopes). Calling kernel functions directly with the backend keeps intermediate
 * results as plain TensorInfos that the kernel frees itself with `backend.disposeData` (the leak test checks the
 * backend's buffer count as well as tf.memory()).
 */

export type TensorInfo = tf.TensorInfo;

/**
 * The parts of tfjs-backend-wasm's BackendWasm (4.22.0) these kernels use. Tensors live in the module's linear
 * memory; `dataIdMap` maps a tensor to its byte offset there and to the id the C++ side knows it by.
 */
export interface WasmBackendLike extends tf.KernelBackend {
  wasm: {
    HEAPF32: Float32Array;
    HEAP32: Int32Array;
    HEAPU8: Uint8Array;
    tfjs: { disposeData(id: number): void; getThreadsCount(): number };
    cwrap(name: string, returnType: null | 'number', argTypes: string[]): (...args: unknown[]) => unknown;
  };
  dataIdMap: {
    get(dataId: tf.DataId): { id: number; memoryOffset: number; refCount: number } | undefined;
    delete(dataId: tf.DataId): boolean;
  };
  makeOutput(shape: number[], dtype: tf.DataType, memoryOffset?: number): TensorInfo;
  disposeData(dataId: tf.DataId, force?: boolean): boolean;
}

export const WASM = 'wasm';

/** Marks kernel functions registered by Lethe, so they are never mistaken for shipped ones. */
export const MARK = Symbol.for('lethe.wasmTrainingKernel');
export type Marked = tf.KernelFunc & { [MARK]?: true };

/** Kernels as shipped by tfjs-backend-wasm, captured before Lethe replaces any of them. */
const shipped = new Map<string, tf.KernelConfig>();

export function rememberShipped(kernelName: string): tf.KernelConfig | undefined {
  const known = shipped.get(kernelName);
  if (known) return known;
  const config = tf.getKernel(kernelName, WASM);
  if (!config || (config.kernelFunc as Marked)[MARK] === true) return undefined;
  shipped.set(kernelName, config);
  return config;
}

/** Run the shipped wasm kernel `kernelName` on `inputs`; the caller owns (and must dispose) the result. */
export function run(
  kernelName: string,
  backend: WasmBackendLike,
  inputs: Record<string, TensorInfo>,
  attrs: Record<string, unknown> = {},
): TensorInfo {
  const fn = (shipped.get(kernelName) ?? rememberShipped(kernelName))?.kernelFunc;
  if (!fn) throw new Error(`wasm kernel '${kernelName}' is not registered (is @tensorflow/tfjs-backend-wasm loaded?)`);
  const out = fn({ inputs: inputs as tf.NamedTensorInfoMap, backend, attrs: attrs as tf.NamedAttrMap });
  if (Array.isArray(out)) throw new Error(`wasm kernel '${kernelName}' returned several outputs`);
  return out;
}

export function dispose(backend: WasmBackendLike, ...infos: Array<TensorInfo | undefined>): void {
  for (const t of infos) if (t) backend.disposeData(t.dataId);
}

export type Explicit4 = [[number, number], [number, number], [number, number], [number, number]];

/** NHWC Conv2D on the wasm backend (XNNPACK) with explicit padding. */
export function conv2d(
  backend: WasmBackendLike,
  x: TensorInfo,
  filter: TensorInfo,
  strides: [number, number],
  dilations: [number, number],
  pad: [number, number, number, number],
): TensorInfo {
  const [top, bottom, left, right] = pad;
  const explicit: Explicit4 = [[0, 0], [top, bottom], [left, right], [0, 0]];
  return run('Conv2D', backend, { x, filter }, { strides, dilations, pad: explicit, dataFormat: 'NHWC', dimRoundingMode: undefined });
}

/** Allocate an uninitialised float32 tensor on the wasm heap. */
export function alloc(backend: WasmBackendLike, shape: number[]): TensorInfo {
  return backend.makeOutput(shape, 'float32');
}

/** XNNPACK's thread count for this backend (fixed when the module initialised). */
export function threadCount(backend: WasmBackendLike): number {
  return backend.wasm.tfjs.getThreadsCount();
}

/** Index of a float32 tensor's first element in HEAPF32. Re-read the heap after any allocation (it may grow). */
export function f32Index(backend: WasmBackendLike, t: TensorInfo): number {
  const data = backend.dataIdMap.get(t.dataId);
  if (!data) throw new Error('tensor is not on the wasm backend');
  return data.memoryOffset >>> 2;
}

/**
 * A tensor aliasing part of another one's memory (byte offset into the heap), so XNNPACK can read a window of a
 * buffer without a copy. Release it with releaseView, never disposeData (which would free() the interior pointer).
 */
export function makeView(backend: WasmBackendLike, shape: number[], floatIndex: number): TensorInfo {
  return backend.makeOutput(shape, 'float32', floatIndex * 4);
}

export function releaseView(backend: WasmBackendLike, view: TensorInfo): void {
  const data = backend.dataIdMap.get(view.dataId);
  if (!data) return;
  // unregisters the id on the C++ side, which also drops XNNPACK operators cached for it
  backend.wasm.tfjs.disposeData(data.id);
  backend.dataIdMap.delete(view.dataId);
}

/** The C++ id the wasm side knows a tensor by. */
export function wasmId(backend: WasmBackendLike, t: TensorInfo): number {
  const data = backend.dataIdMap.get(t.dataId);
  if (!data) throw new Error('tensor is not on the wasm backend');
  return data.id;
}

type GemmFn = (aId: number, aShape: Uint8Array, aRank: number, bId: number, bShape: Uint8Array, bRank: number, ta: boolean, tb: boolean, outId: number) => void;
const gemmFns = new WeakMap<object, GemmFn>();

function shapeBytes(d0: number, d1: number, d2: number): Uint8Array {
  return new Uint8Array(new Int32Array([d0, d1, d2]).buffer);
}

/**
 * out[m, n] = sum_k a[m, k] * b[k, n] on XNNPACK's fully-connected kernel, writing into an existing tensor (or a
 * view). This calls the wasm module's BatchMatMul entry point directly: the kernel wrapper would allocate the
 * output itself and costs tens of microseconds per call, which adds up over hundreds of small products.
 * XNNPACK packs `b` once and caches that against b's id, so repeated products with the same b are cheap.
 */
export function gemm(backend: WasmBackendLike, a: TensorInfo, b: TensorInfo, out: TensorInfo, m: number, k: number, n: number): void {
  let fn = gemmFns.get(backend.wasm);
  if (!fn) {
    fn = backend.wasm.cwrap('BatchMatMul', null, ['number', 'array', 'number', 'number', 'array', 'number', 'number', 'number', 'number']) as GemmFn;
    gemmFns.set(backend.wasm, fn);
  }
  fn(wasmId(backend, a), shapeBytes(1, m, k), 3, wasmId(backend, b), shapeBytes(1, k, n), 3, false, false, wasmId(backend, out));
}

/** dst[batch][c][r] = src[batch][r][c] in 32x32 blocks (the shipped Transpose is slow on long 2-D transposes). */
export function transpose2d(src: Float32Array, dst: Float32Array, batch: number, rows: number, cols: number): void {
  const B = 32;
  for (let t = 0; t < batch; t++) {
    const s0 = t * rows * cols;
    const d0 = t * rows * cols;
    for (let r0 = 0; r0 < rows; r0 += B) {
      const r1 = Math.min(rows, r0 + B);
      for (let c0 = 0; c0 < cols; c0 += B) {
        const c1 = Math.min(cols, c0 + B);
        for (let r = r0; r < r1; r++) {
          const sr = s0 + r * cols;
          for (let c = c0; c < c1; c++) dst[d0 + c * rows + r] = src[sr + c]!;
        }
      }
    }
  }
}

/**
 * A Float32Array over exactly one tensor's elements. Kernels index these from 0 rather than HEAPF32 at an
 * offset: V8 runs loops over such a view two to three times faster (measured 2.9 vs 7.9 ms for 4M reads).
 */
export function f32View(backend: WasmBackendLike, t: TensorInfo, size = tf.util.sizeFromShape(t.shape)): Float32Array {
  const start = f32Index(backend, t);
  return backend.wasm.HEAPF32.subarray(start, start + size);
}
