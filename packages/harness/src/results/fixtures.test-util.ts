// Test fixtures: MADE-UP numbers, for tests of reading and checking result files only.
import { RESULT_SCHEMA, type CellResult } from './results.js';

/** A result as the harness writes it (made-up numbers). */
export function validResult(overrides: { benchmark?: string; cellHash?: string; method?: string } = {}): CellResult {
  const method = overrides.method ?? 'finetune';
  return {
    schema: RESULT_SCHEMA,
    benchmark: overrides.benchmark ?? 'unit',
    cellHash: overrides.cellHash ?? '0123456789abcdef',
    cell: { method, label: method, setting: 'retain', forgetSet: 'random-10pct', seed: 0, seeds: { original: 0, forgetSet: 0, unlearning: 0 }, hyperParameters: { lr: 0.01 }, hyperParameterSource: { kind: 'config' } },
    metrics: { UA: 91, RA: 99, TA: 88, MIA: 55, avgGap: 2.5, avgGapOver: ['UA', 'RA', 'TA', 'MIA'], FR: 0.05, MRR: 1, alignmentGap: 1, activationDistance: 0.2, klForget: 0.1, klTest: 0.05 },
    mia: { attack: 'rmia', referenceModels: 4, ftAuc: 55, tprAt1Fpr: 2, efficacy: 30, byAttack: { rmia: { ftAuc: 55, tprAt1Fpr: 2, referenceModels: 4 }, 'svc-mia': { efficacy: 30 } } },
    gold: { UA: 90, RA: 99, TA: 89, MIA: 52, FR: null, MRR: 1 },
    original: { UA: 100, RA: 100, TA: 90, MIA: 80 },
    sizes: { train: 1000, forget: 100, retain: 900, test: 200 },
    timing: { unlearnSeconds: 10, retrainSeconds: 100, retrainBackend: 'cpu', relativeToRetrain: 0.1 },
    provenance: { lethe: { '@lethe/harness': '0.1.0' }, tfjs: '4.22.0', backend: { name: 'cpu', tfjsBackend: 'cpu', version: '4.22.0' }, node: 'v20', platform: 'linux-x64', cpus: '2 x CPU', gitCommit: null, dataChecksum: 'abc', configHash: 'def', createdAt: '2026-01-01T00:00:00.000Z' },
  };
}


/** Control, bidirectional, separator and markup strings a hostile or broken file may hold. */
export const ADVERSARIAL_STRINGS: readonly string[] = [
  '',
  ' ',
  '..',
  '../../../etc/passwd',
  '..\\..\\windows',
  'a/b',
  '/abs',
  'C:\\x',
  'x\u0000y',
  '\u001b[31mred\u001b[0m',
  '\u001b]8;;http://x\u0007link',
  '\u202eexe.txt',
  '\u2066iso\u2069',
  '\u200f',
  'a\nb',
  'a\rb',
  'a\u2028b',
  '\u0085',
  '\ud800',
  '<script>alert(1)</script>',
  '"><img src=x onerror=alert(1)>',
  "'; DROP TABLE x; --",
  '{{constructor.constructor("alert(1)")()}}',
  '${process.exit(1)}',
  '__proto__',
  'constructor',
  'toString',
  'datum.x',
  '&amp;&lt;',
  '</script><script>alert(2)</script>',
  '<!--',
  'x'.repeat(100_000),
  '日本語',
  '\u{1F600}',
];
