// Arbitraries for the fuzz suites (fast-check): values a broken or hostile config or result file may hold.
import fc from 'fast-check';
import { ADVERSARIAL_STRINGS } from './fixtures.test-util.js';

/** Seeds and run counts: fixed by default so CI is reproducible; FUZZ_SEED / FUZZ_RUNS explore further. */
export const FUZZ = {
  seed: process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : 13,
  runs: (n: number): number => (process.env.FUZZ_RUNS ? Number(process.env.FUZZ_RUNS) : n),
};

/** A hostile or broken string: from the adversarial list, random text of any unit, or one of those inside a name. */
export const adversarialString: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(...ADVERSARIAL_STRINGS),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 20 }),
  fc.tuple(fc.constantFrom('finetune', 'retrain', 'random-10pct', 'unit'), fc.constantFrom(...ADVERSARIAL_STRINGS)).map(([a, b]) => `${a}${b}`),
);

/** A wrong value of any type: numbers out of every range (NaN and infinities included), strings, null, objects, arrays. */
export const adversarialValue: fc.Arbitrary<unknown> = fc.oneof(
  adversarialString,
  fc.double(),
  fc.constantFrom(NaN, Infinity, -Infinity, -0, -1, 1e308, 101, -101, 0.5, 2 ** 53, Number.MIN_VALUE),
  fc.integer(),
  fc.constant(null),
  fc.boolean(),
  fc.array(fc.oneof(fc.integer(), adversarialString), { maxLength: 3 }),
  fc.dictionary(adversarialString, fc.integer(), { maxKeys: 3 }),
);

/** Every path to a leaf (or a container) of a JSON value, as keys. */
export function jsonPaths(value: unknown, prefix: Array<string | number> = []): Array<Array<string | number>> {
  const out: Array<Array<string | number>> = [prefix];
  if (Array.isArray(value)) value.forEach((v, i) => out.push(...jsonPaths(v, [...prefix, i])));
  else if (typeof value === 'object' && value !== null) for (const [k, v] of Object.entries(value)) out.push(...jsonPaths(v, [...prefix, k]));
  return out;
}

/** `value` (a JSON copy) with the thing at `at` replaced (or deleted, for `undefined`). */
export function withValueAt<T>(value: T, at: ReadonlyArray<string | number>, replacement: unknown): T {
  if (at.length === 0) return replacement as T;
  const copy = structuredClone(value) as Record<string | number, unknown>;
  let node = copy;
  for (const key of at.slice(0, -1)) node = node[key] as Record<string | number, unknown>;
  if (replacement === undefined) delete node[at.at(-1)!];
  else node[at.at(-1)!] = replacement;
  return copy as T;
}

/** Characters that must never reach a terminal, a file name or a page from a name or label. */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
export const UNSAFE_CHARACTERS = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]/;
