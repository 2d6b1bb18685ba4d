import * as tf from '@tensorflow/tfjs-core';
// tfjs's gradients (tfjs-core's Node bundle has none)
import '@tensorflow/tfjs';
import { nativeAvailability } from './addon.js';
import type { NativeBackend } from './native-backend.js';
import { registerNativeBackend } from './register.js';
import { sameOnBackends, TOL } from './compare.js';

/** Test helpers: seeded inputs, running a function on cpu and native, comparing, counting addon calls. */

export const availability = nativeAvailability();
if (!availability.available) {
  const line = `the native backend tests are skipped: ${availability.message}`;
  if (process.env['CI']) throw new Error(`${line} (CI must build it: .ci/run installs libdnnl-dev)`);
  console.log(line);
}
/** node:test `skip` option: false when the addon is built here. */
export const skip = availability.available ? false : `native addon not built: ${availability.reason}`;

export async function setup(): Promise<void> {
  if (!availability.available) return;
  registerNativeBackend();
  await tf.setBackend('cpu');
  await tf.setBackend('native');
}

/** mulberry32: a small seeded generator, so every run sees the same inputs. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** n values uniform in [-1, 1) (or [lo, hi)). */
export function uniform(next: () => number, n: number, lo = -1, hi = 1): Float32Array {
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) v[i] = lo + (hi - lo) * next();
  return v;
}

export { onBackend, TOL, type Output } from './compare.js';

/** Assert native and cpu agree within `tol` (absolute), NaN matching NaN; returns the largest difference. */
export function sameAsCpu(label: string, f: () => tf.Tensor | tf.Tensor[], tol = TOL): Promise<number> {
  return sameOnBackends(label, f, 'native', { tol, nanEqual: true });
}

/** Count calls per addon function while `f` runs on the native backend (to prove a native kernel ran). */
export async function addonCalls<T>(f: () => T | Promise<T>): Promise<{ result: T; calls: Record<string, number> }> {
  await tf.setBackend('native');
  const backend = tf.engine().backend as NativeBackend;
  const original = backend.addon;
  const calls: Record<string, number> = {};
  // the addon's properties are read-only, so wrap them in a plain object rather than a Proxy
  const spy = Object.fromEntries(
    Object.getOwnPropertyNames(original).map((name) => {
      const fn = (original as unknown as Record<string, unknown>)[name];
      if (typeof fn !== 'function') return [name, fn];
      return [name, (...args: unknown[]) => {
        calls[name] = (calls[name] ?? 0) + 1;
        return (fn as (...a: unknown[]) => unknown).apply(original, args);
      }];
    }),
  ) as unknown as typeof original;
  (backend as unknown as { addon: typeof original }).addon = spy;
  try {
    const result = await f();
    return { result, calls };
  } finally {
    (backend as unknown as { addon: typeof original }).addon = original;
  }
}
