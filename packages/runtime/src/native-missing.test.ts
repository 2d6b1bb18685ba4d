import assert from 'node:assert/strict';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { BackendUnavailableError, initBackend } from './backend.js';
import { nativeBuilt } from './native-tfjs.test-util.js';

// Simulate a machine where the oneDNN addon was not built: point the loader at a file that does not exist. This
// file runs in its own process (node --test), before anything has loaded the real addon.
const missing = join(tmpdir(), 'lethe-no-such-dir', 'lethe_native.node');
process.env['LETHE_NATIVE_ADDON'] = missing;

function libtensorflowBuilt(): boolean {
  return ['@tensorflow/tfjs-node', '@tensorflow/tfjs-node-gpu'].some((pkg) => nativeBuilt(pkg));
}

const INSTALL_LINE =
  "the 'native' backend (oneDNN) is not built here. Debian/Ubuntu: apt-get install libdnnl-dev, then pnpm --filter @lethe/backend-native build; " +
  'elsewhere: install oneDNN 2.x and set DNNL_ROOT; or use --backend wasm';

function isInstallError(e: unknown): true {
  assert.ok(e instanceof BackendUnavailableError, `expected BackendUnavailableError, got ${String(e)}`);
  assert.equal(e.backend, 'native');
  assert.equal(e.packageName, '@lethe/backend-native');
  assert.equal(e.reason, `no addon at ${missing}`);
  assert.equal(e.message, `${INSTALL_LINE} (no addon at ${missing})`);
  return true;
}

test("forcing 'native' without its addon fails with the install line and leaves the backend alone", async () => {
  await initBackend('cpu');
  await assert.rejects(initBackend('native'), isInstallError);
  assert.equal(tf.getBackend(), 'cpu');
  // asking again gives the same answer (a failed load is not remembered as a success)
  await assert.rejects(initBackend('native'), isInstallError);
});

test('LETHE_BACKEND=native without the addon fails with the same line', async () => {
  const saved = process.env['LETHE_BACKEND'];
  process.env['LETHE_BACKEND'] = 'native';
  try {
    await assert.rejects(initBackend(), isInstallError);
  } finally {
    if (saved === undefined) delete process.env['LETHE_BACKEND'];
    else process.env['LETHE_BACKEND'] = saved;
  }
});

test("'auto' skips native with its reason and takes wasm", { skip: libtensorflowBuilt() ? 'a libtensorflow backend is built here' : false }, async () => {
  const lines: string[] = [];
  const info = await initBackend('auto', { log: (l) => lines.push(l) });
  assert.equal(info.name, 'wasm');
  assert.equal(tf.getBackend(), 'wasm');
  assert.equal(lines.length, 1);
  assert.ok(lines[0]!.includes(`; native: no addon at ${missing})`), lines[0]);
});
