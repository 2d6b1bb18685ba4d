import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import test from 'node:test';
import { MAX_WASM_THREADS, requestedWasmThreads } from './wasm-threads.js';

const BAD = (raw: string) =>
  `LETHE_WASM_THREADS=${JSON.stringify(raw)} is not a thread count: use a whole number from 1 (the single-threaded wasm build) to 8, or unset it for one thread per core`;

test('LETHE_WASM_THREADS: default one thread per core (at most 8), whole numbers 1-8, anything else named in the error', () => {
  assert.equal(requestedWasmThreads({}), Math.min(availableParallelism(), MAX_WASM_THREADS));
  assert.equal(requestedWasmThreads({ LETHE_WASM_THREADS: '' }), Math.min(availableParallelism(), MAX_WASM_THREADS));
  assert.equal(requestedWasmThreads({ LETHE_WASM_THREADS: '1' }), 1);
  assert.equal(requestedWasmThreads({ LETHE_WASM_THREADS: ' 3 ' }), 3);
  for (const raw of ['0', '9', '1.5', 'two', '-2']) {
    assert.throws(() => requestedWasmThreads({ LETHE_WASM_THREADS: raw }), { message: BAD(raw) });
  }
});

/** Run a script against this package's build in a fresh Node process (the wasm module starts once per process). */
function runScript(source: string, env: Record<string, string>): { status: number | null; stdout: string; stderr: string; signal: string | null } {
  const index = fileURLToPath(new URL('./index.js', import.meta.url));
  const script = `const { initBackend } = await import(${JSON.stringify(index)});\n${source}`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    env: { ...process.env, ...env },
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, signal: r.signal };
}

test('a script that used two wasm threads ends by itself (the pool threads do not hold the process open)', () => {
  const r = runScript(
    `const tf = await import('@tensorflow/tfjs-core');
     const info = await initBackend('wasm');
     const y = tf.conv2d(tf.ones([2, 8, 8, 4]), tf.ones([3, 3, 4, 5]), 1, 'valid');
     console.log(info.threads, info.detail, y.dataSync()[0]);`,
    { LETHE_WASM_THREADS: '2' },
  );
  assert.equal(r.signal, null, `killed by ${r.signal} after 60 s: the process did not exit (stderr: ${r.stderr})`);
  assert.equal(r.status, 0, r.stderr);
  // each output sums 3*3*4 ones
  assert.equal(r.stdout.trim(), '2 XNNPACK, 2 thread(s), Lethe training kernels 36');
});

test('a bad LETHE_WASM_THREADS stops initBackend("wasm") with the fix, rather than quietly using another build', () => {
  const r = runScript(
    `try { await initBackend('wasm'); console.log('started'); } catch (e) { console.log(e.message); }`,
    { LETHE_WASM_THREADS: 'lots' },
  );
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), BAD('lots'));
});
