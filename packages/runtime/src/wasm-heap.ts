import * as tf from '@tensorflow/tfjs-core';

/**
 * A clear error when the wasm heap is full, instead of a crash or a hang.
 *
 * WebAssembly memory cannot grow past 4 GiB. When it is full, the module's malloc returns 0, and
 * tfjs-backend-wasm 4.22.0 registers the new tensor at address 0 anyway (BackendWasm.move). What follows is
 * undefined: the single-threaded build usually aborts with a bare "Aborted()", the multi-threaded build was seen to
 * spin forever (ResNet-18 width 1 at batch 128). Every tensor buffer tfjs allocates goes through `wasm._malloc`
 * from JavaScript, so checking its result there catches the failure where it happens, and refusing tensor
 * buffers in the heap's last HEADROOM bytes keeps the module's own allocations from being the ones that fail.
 */
export class WasmHeapFullError extends Error {
  constructor(readonly requestedBytes: number, readonly heapBytes: number) {
    super(
      `the wasm heap is full: allocating ${mib(requestedBytes)} failed with ${mib(heapBytes)} of WebAssembly memory in use ` +
        `(it cannot grow past 4 GiB). Use a smaller batch size or model, or a native backend (--backend native)`,
    );
    this.name = 'WasmHeapFullError';
  }
}

function mib(bytes: number): string {
  return bytes >= 2 ** 30 ? `${(bytes / 2 ** 30).toFixed(2)} GiB` : `${(bytes / 2 ** 20).toFixed(1)} MiB`;
}

/** WebAssembly (32-bit) memory cannot grow past this. */
export const WASM_HEAP_LIMIT = 4 * 2 ** 30;
/**
 * Tensor buffers may not reach into the top HEADROOM bytes of the heap: that room is left for the module's own
 * allocations (XNNPACK operators and workspaces), whose failure the module does not survive cleanly. 512 MiB is
 * more than the largest such workspace seen in ResNet-18 width 1 training at batch 128.
 */
export const HEADROOM = 512 * 2 ** 20;

export interface WasmModuleMalloc {
  _malloc: (bytes: number) => number;
  _free: (at: number) => void;
  HEAPU8: Uint8Array;
  [guarded]?: true;
}
const guarded = Symbol.for('lethe.wasmHeapGuard');

/** Make the active wasm backend's allocations throw WasmHeapFullError when the heap is full (idempotent). */
export function guardWasmHeap(): void {
  const wasm = (tf.backend() as unknown as { wasm?: WasmModuleMalloc }).wasm;
  if (wasm === undefined) throw new Error('guardWasmHeap: the active backend is not wasm');
  guardWasmModule(wasm);
}

/** guardWasmHeap on a given Emscripten module object (exported for tests). */
export function guardWasmModule(wasm: WasmModuleMalloc): void {
  if (wasm[guarded]) return;
  // Emscripten's first call of `Module._malloc` replaces the property with the raw export: make that call now, or
  // it would replace this wrapper
  wasm._free(wasm._malloc(16));
  const malloc = wasm._malloc;
  const free = wasm._free;
  wasm._malloc = (bytes: number): number => {
    const at = malloc(bytes) >>> 0;
    if (bytes > 0 && (at === 0 || at + bytes > WASM_HEAP_LIMIT - HEADROOM)) {
      if (at !== 0) free(at);
      throw new WasmHeapFullError(bytes, wasm.HEAPU8.length);
    }
    return at;
  };
  wasm[guarded] = true;
}
