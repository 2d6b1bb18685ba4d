import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';

/**
 * Kernel-equivalence checks for tests: run the same function on two tfjs backends and compare every output.
 * Exported as `@lethe/backend-native/testing` so that every backend Lethe ships (native here, wasm in
 * @lethe/runtime) is held to the cpu backend by one comparison.
 */

export interface Output {
  shape: number[];
  dtype: tf.DataType;
  values: Float32Array | Int32Array | Uint8Array;
}

/** Run `f` on a backend (inputs must be created inside f) and return copies of its outputs. */
export async function onBackend(name: string, f: () => tf.Tensor | tf.Tensor[]): Promise<Output[]> {
  await tf.setBackend(name);
  const outs = tf.tidy(() => {
    const r = f();
    return Array.isArray(r) ? r : [r];
  });
  const result = outs.map((t) => ({ shape: t.shape.slice(), dtype: t.dtype, values: (t.dataSync() as Float32Array).slice() }));
  tf.dispose(outs);
  return result;
}

export const TOL = 1e-4;

/**
 * Assert that `backend` and `reference` (default cpu) give the same outputs: shapes and dtypes equal, values within
 * `tol` (absolute). `nanEqual`: a NaN on both sides counts as agreement; without it any NaN fails. Returns the
 * largest difference seen.
 */
export async function sameOnBackends(
  label: string,
  f: () => tf.Tensor | tf.Tensor[],
  backend: string,
  opts: { tol?: number; nanEqual?: boolean; reference?: string } = {},
): Promise<number> {
  const { tol = TOL, nanEqual = false, reference = 'cpu' } = opts;
  const expected = await onBackend(reference, f);
  const actual = await onBackend(backend, f);
  assert.equal(actual.length, expected.length, label);
  let worst = 0;
  expected.forEach((e, i) => {
    const o = actual[i]!;
    assert.deepEqual(o.shape, e.shape, `${label}: output ${i} shape`);
    assert.equal(o.dtype, e.dtype, `${label}: output ${i} dtype`);
    for (let k = 0; k < e.values.length; k++) {
      const a = e.values[k]!, b = o.values[k]!;
      if (a === b || (nanEqual && Number.isNaN(a) && Number.isNaN(b))) continue;
      const d = Math.abs(a - b);
      if (!(d <= tol)) assert.fail(`${label}: output ${i} element ${k}: ${reference} ${a} vs ${backend} ${b} (|diff| ${d} > ${tol})`);
      worst = Math.max(worst, d);
    }
  });
  return worst;
}
