import assert from 'node:assert/strict';
import test from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { nativeAvailability } from '@lethe/backend-native';
import { BACKEND_NAMES, BackendUnavailableError, backendInfo, initBackend, parseBackendName } from './backend.js';
import { nativeBuilt } from './native-tfjs.test-util.js';

const noNative = !nativeBuilt('@tensorflow/tfjs-node') && !nativeBuilt('@tensorflow/tfjs-node-gpu');
/** Whether Lethe's oneDNN addon is built here (CI installs libdnnl-dev, so there it must be). */
const oneDnn = nativeAvailability();
if (!oneDnn.available) {
  const line = `the native (oneDNN) backend tests are skipped: ${oneDnn.message}`;
  if (process.env['CI']) throw new Error(`${line} (CI must build it: .ci/run installs libdnnl-dev)`);
  console.log(line);
}

test('parseBackendName accepts the five names and names them all on a typo', () => {
  assert.deepEqual(BACKEND_NAMES, ['tensorflow-gpu', 'tensorflow', 'native', 'wasm', 'cpu']);
  for (const name of BACKEND_NAMES) assert.equal(parseBackendName(name), name);
  assert.equal(parseBackendName(' WASM '), 'wasm');
  assert.equal(parseBackendName('Native'), 'native');
  assert.throws(() => parseBackendName('wsam'), /^Error: unknown backend 'wsam'; known: tensorflow-gpu, tensorflow, native, wasm, cpu$/);
});

test("initBackend('auto') falls through the missing libtensorflow backends to native (oneDNN) when built, else wasm", { skip: noNative ? false : 'a libtensorflow backend is built here' }, async () => {
  const lines: string[] = [];
  const info = await initBackend('auto', { log: (l) => lines.push(l) });
  assert.deepEqual(backendInfo(), info);
  assert.equal(lines.length, 1);
  if (oneDnn.available) {
    assert.equal(info.name, 'native');
    assert.equal(info.tfjsBackend, 'native');
    assert.equal(tf.getBackend(), 'native');
    assert.equal(info.packageName, '@lethe/backend-native');
    assert.match(info.detail ?? '', /^oneDNN 2\.\d+\.\d+ \(\w+\), \d+ thread\(s\), \d+ native kernels, fused batch norm, (Winograd 3x3|direct) convolutions$/);
    assert.match(lines[0]!, /^backend: native \(@lethe\/backend-native \d+\.\d+\.\d+, \d+ threads?, auto; skipped tensorflow-gpu: .*; tensorflow: [^;]*\)$/);
  } else {
    assert.equal(info.name, 'wasm');
    assert.equal(info.tfjsBackend, 'wasm');
    assert.equal(tf.getBackend(), 'wasm');
    assert.equal(info.version, '4.22.0');
    assert.equal(info.packageName, '@tensorflow/tfjs-backend-wasm');
    assert.match(lines[0]!, /^backend: wasm \(@tensorflow\/tfjs-backend-wasm [\d.]+, \d+ threads?, auto; skipped tensorflow-gpu: .*; tensorflow: .*; native: /);
  }
  // idempotent and cheap the second time
  const t0 = performance.now();
  const again = await initBackend('auto');
  assert.ok(performance.now() - t0 < 50, 'second call should not reload anything');
  assert.deepEqual(again, info);
  // gradients are registered (tfjs-core's Node bundle has none of its own)
  const g = tf.grad((x: tf.Tensor) => tf.div(tf.square(x), 2))(tf.scalar(3));
  assert.equal(g.dataSync()[0], 3);
});

for (const [name, pkg] of [
  ['tensorflow', '@tensorflow/tfjs-node'],
  ['tensorflow-gpu', '@tensorflow/tfjs-node-gpu'],
] as const) {
  test(`forcing '${name}' without its native build throws BackendUnavailableError with install advice`, { skip: nativeBuilt(pkg) ? `${pkg} is built here` : false }, async () => {
    const before = tf.getBackend();
    await assert.rejects(initBackend(name), (e: unknown) => {
      assert.ok(e instanceof BackendUnavailableError);
      assert.equal(e.backend, name);
      assert.equal(e.packageName, pkg);
      const escaped = pkg.replace(/[/]/g, '\\/');
      assert.match(e.message, new RegExp(`^the '${name}' backend needs ${escaped}`));
      assert.match(e.message, /libtensorflow, which needs internet access at install time/);
      assert.match(e.message, new RegExp(`\`pnpm --filter @lethe/runtime add ${escaped}\``));
      assert.match(e.message, /or use --backend wasm/);
      assert.doesNotMatch(e.message, /https?:\/\//); // no registry or download host in the advice
      return true;
    });
    assert.equal(tf.getBackend(), before, 'a failed load leaves the active backend alone');
  });
}

test('LETHE_BACKEND picks the backend when no request is given, and is validated', async () => {
  const saved = process.env['LETHE_BACKEND'];
  try {
    process.env['LETHE_BACKEND'] = 'bogus';
    await assert.rejects(initBackend(), /^Error: unknown backend 'bogus'; known: tensorflow-gpu, tensorflow, native, wasm, cpu$/);
    process.env['LETHE_BACKEND'] = 'cpu';
    const lines: string[] = [];
    const cpu = await initBackend(undefined, { log: (l) => lines.push(l) });
    assert.equal(cpu.name, 'cpu');
    assert.equal(tf.getBackend(), 'cpu');
    assert.equal(cpu.version, '4.22.0');
    assert.match(lines[0]!, /^backend: cpu \(@tensorflow\/tfjs-backend-cpu 4\.22\.0, from LETHE_BACKEND\)$/);
    // an explicit request wins over the environment
    const wasm = await initBackend('wasm');
    assert.equal(wasm.name, 'wasm');
    assert.equal(tf.getBackend(), 'wasm');
  } finally {
    if (saved === undefined) delete process.env['LETHE_BACKEND'];
    else process.env['LETHE_BACKEND'] = saved;
  }
});
