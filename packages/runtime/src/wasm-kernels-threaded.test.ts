// The wasm kernel suite on the multi-threaded wasm build, XNNPACK on two threads (see wasm-kernels.suite.ts).
process.env['LETHE_WASM_THREADS'] = '2';
await import('./wasm-kernels.suite.js');
