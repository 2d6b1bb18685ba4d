import { z } from 'zod';

/**
 * Strings from configs and result files that Lethe puts into paths, terminals and web pages. Names that become part of
 * a file's path (benchmark name, method name and label, forget-set id) keep to a small character set; free text
 * (a description) may hold anything printable but no control characters and no bidirectional-override characters, which
 * could make a terminal line or a table cell read differently from what it holds (Trojan Source, CVE-2021-42574).
 * Zod only, no TensorFlow.js: the light `@lethe/harness/results` entry uses these too.
 */

/** The longest name that becomes part of a path. */
export const MAX_NAME_LENGTH = 80;
/** The longest free text (a config's description). */
export const MAX_TEXT_LENGTH = 2000;

/** C0 and C1 control characters other than tab and newline (which free text may hold), and DEL. */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/;
/** Bidirectional marks, embeddings, overrides and isolates (Unicode UAX #9). */
const BIDI = /[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/;

/** Why a free text is refused, or null when it is acceptable. */
export function unsafeTextReason(text: string): string | null {
  const control = CONTROL.exec(text);
  if (control) return `holds the control character U+${control[0].codePointAt(0)!.toString(16).padStart(4, '0').toUpperCase()} at position ${control.index}`;
  const bidi = BIDI.exec(text);
  if (bidi) return `holds the bidirectional-control character U+${bidi[0].codePointAt(0)!.toString(16).padStart(4, '0').toUpperCase()} at position ${bidi.index}, which can make the text display differently from what it holds`;
  return null;
}

/** A path component: 1-80 characters of `chars`, starting with a letter or digit, never "..". */
function pathNameSchema(chars: RegExp, allowed: string, what: string) {
  return z
    .string()
    .min(1, `must not be empty (${what})`)
    .max(MAX_NAME_LENGTH, `use at most ${MAX_NAME_LENGTH} characters (${what})`)
    .regex(chars, `use ${allowed}, starting with a letter or digit (${what})`)
    .refine((s) => !s.includes('..'), `must not contain ".." (${what})`);
}

/** A benchmark's name: the results folder <results dir>/<name>/. */
export const benchmarkNameSchema = pathNameSchema(/^[a-z0-9][a-z0-9._-]*$/, 'lower-case letters, digits, ".", "_" and "-"', 'the name is the results folder');

/** A method's registry name or display label: part of each result file's name. */
export const methodNameSchema = pathNameSchema(/^[A-Za-z0-9][A-Za-z0-9._+-]*$/, 'letters, digits, ".", "_", "+" and "-"', 'it names result files');

/** A forget set's id (`random-10pct`): part of each result file's name. */
export const forgetSetIdSchema = pathNameSchema(/^[A-Za-z0-9][A-Za-z0-9._+-]*$/, 'letters, digits, ".", "_", "+" and "-"', 'it names result files');

/** Free text: printable, no control or bidirectional-control characters, at most `max` characters. */
export function safeTextSchema(max = MAX_TEXT_LENGTH) {
  return z
    .string()
    .max(max, `use at most ${max} characters`)
    .superRefine((s, ctx) => {
      const reason = unsafeTextReason(s);
      if (reason) ctx.addIssue({ code: 'custom', message: reason });
    });
}

/** Control, bidirectional and line-separator characters, for `printable`. */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2028\u2029\u2066-\u2069]/g;

/**
 * Text safe to print in a terminal or a page, for messages that quote untrusted input (a JSON parser's error, a key
 * from a file): every control, bidirectional or line-separator character is shown as its code (`\u001B`).
 */
export function printable(text: string): string {
  return text.replace(UNPRINTABLE, (c) => `\\u${c.codePointAt(0)!.toString(16).padStart(4, '0').toUpperCase()}`);
}
