import assert from 'node:assert/strict';
import test from 'node:test';
import { HEADROOM, WASM_HEAP_LIMIT, WasmHeapFullError, guardWasmModule, type WasmModuleMalloc } from './wasm-heap.js';

/**
 * A stand-in for the Emscripten module: a bump allocator over a pretend 4 GiB address space whose `_malloc`
 * starts as Emscripten's lazy stub (the first call replaces the property with the raw function).
 */
function fakeModule(start: number): WasmModuleMalloc & { freed: number[] } {
  let next = start;
  const raw = (bytes: number): number => {
    if (next + bytes > WASM_HEAP_LIMIT) return 0;
    const at = next;
    next += bytes;
    // like wasm's i32 result: addresses past 2 GiB come back negative
    return at | 0;
  };
  const m = {
    freed: [] as number[],
    HEAPU8: { length: 3.5 * 2 ** 30 } as unknown as Uint8Array,
    _free: (at: number) => void m.freed.push(at),
    _malloc: function stub(bytes: number): number {
      m._malloc = raw;
      return raw(bytes);
    } as (bytes: number) => number,
  };
  return m;
}

test('the wasm heap guard passes allocations below the headroom through, as unsigned addresses', () => {
  const m = fakeModule(3 * 2 ** 30);
  guardWasmModule(m);
  const wrapper = m._malloc;
  const at = m._malloc(1024);
  // the probe allocation (16 bytes) came first and was freed
  assert.deepEqual(m.freed.map((a) => a >>> 0), [3 * 2 ** 30]);
  assert.equal(at, 3 * 2 ** 30 + 16);
  assert.equal(m._malloc, wrapper, 'the lazy stub must not have replaced the guard');
  guardWasmModule(m); // idempotent
  assert.equal(m._malloc, wrapper);
});

test('an allocation reaching into the last 512 MiB, or failing, throws WasmHeapFullError naming the sizes and the fix', () => {
  const m = fakeModule(WASM_HEAP_LIMIT - HEADROOM - 2 ** 20);
  guardWasmModule(m);
  const edge = WASM_HEAP_LIMIT - HEADROOM - 2 ** 20 + 16;
  assert.throws(() => m._malloc(32 * 2 ** 20), (e: unknown) => {
    assert.ok(e instanceof WasmHeapFullError);
    assert.equal(
      e.message,
      'the wasm heap is full: allocating 32.0 MiB failed with 3.50 GiB of WebAssembly memory in use (it cannot grow past 4 GiB). ' +
        'Use a smaller batch size or model, or a native backend (--backend native)',
    );
    return true;
  });
  // the refused block went back to the allocator
  assert.equal(m.freed.at(-1)! >>> 0, edge);
  const full = fakeModule(WASM_HEAP_LIMIT - 100);
  guardWasmModule(full);
  assert.throws(() => full._malloc(4096), WasmHeapFullError);
  assert.equal(full._malloc(0) >= 0, true); // zero-byte requests never throw
});
