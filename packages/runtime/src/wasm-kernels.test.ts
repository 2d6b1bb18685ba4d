// The wasm kernel suite on the single-threaded wasm build (see wasm-kernels.suite.ts).
process.env['LETHE_WASM_THREADS'] = '1';
await import('./wasm-kernels.suite.js');
