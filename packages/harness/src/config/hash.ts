import crypto from 'node:crypto';

/** JSON with object keys sorted, so that equal values always hash the same. */
export function stableStringify(value: unknown): string {
  if (value === undefined) return 'null';
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(stableStringify).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableStringify(v)}`).join(',')}}`;
}

/** A short content hash (hex) of a JSON-able value: names cache entries and result files. */
export function contentHash(value: unknown, length = 16): string {
  return crypto.createHash('sha256').update(stableStringify(value)).digest('hex').slice(0, length);
}
