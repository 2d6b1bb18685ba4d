import path from 'node:path';
import { seedsOf, type CellResult } from '@lethe/harness/results';
import type { BenchmarkConfig, BenchmarkConfigFile } from '@lethe/harness';
import { aucLabel, efficacyLabel } from './labels.js';
import type { LeaderboardRow } from './summarize.js';

export type { BenchmarkConfigFile } from '@lethe/harness';

/**
 * Every valid benchmark config directly in `dir`, each with its hash (the harness's `benchmarkConfigsIn`, which
 * `lethe submit` and `lethe verify` use too). The harness (which loads TensorFlow.js) is imported only here and only
 * when called, so the package stays light for notebooks. A missing folder gives none.
 */
export async function findBenchmarkConfigs(dir: string): Promise<BenchmarkConfigFile[]> {
  const { benchmarkConfigsIn } = await import('@lethe/harness');
  return benchmarkConfigsIn(dir);
}

/** The config a benchmark section links to, and whether it is the one its results were produced from. */
export interface ConfigLink {
  /** the config's file name, e.g. `cifar10-cpu.json` */
  fileName: string;
  href: string;
  config: BenchmarkConfig;
  /** true when its hash is a configHash of the results; false: only its name matches (it changed since) */
  matches: boolean;
  configHash: string;
  /** the distinct configHash values of the section's results */
  resultHashes: string[];
}

/** `base` + an encoded file name; `base` must be http(s) or a relative path (never `javascript:` or another scheme). */
export function linkTo(base: string, fileName: string): string {
  if (/^[a-z][a-z0-9+.-]*:/i.test(base) && !/^https?:\/\//i.test(base)) throw new Error(`configBaseUrl '${base}' is neither an http(s) URL nor a relative path`);
  return `${base.endsWith('/') || base === '' ? base : `${base}/`}${encodeURIComponent(fileName)}`;
}

/**
 * The config of a benchmark's results: the config file whose hash is the results' configHash, else (the config has
 * changed since) the one with the benchmark's name, flagged; null when neither exists.
 */
export function configLinkFor(benchmark: string, results: readonly CellResult[], configs: readonly BenchmarkConfigFile[], baseUrl: string): ConfigLink | null {
  const resultHashes = [...new Set(results.map((r) => r.provenance.configHash))].sort();
  const matching = configs.find((c) => resultHashes.includes(c.hash));
  const named = configs.find((c) => c.name === benchmark);
  const found = matching ?? named;
  if (!found) return null;
  const fileName = path.basename(found.file);
  return { fileName, href: linkTo(baseUrl, fileName), config: found.config, matches: found === matching, configHash: found.hash, resultHashes };
}

const count = (n: number): string => n.toLocaleString('en-US');
const distinct = <T>(xs: readonly T[]): T[] => [...new Set(xs)];
const plural = (n: number, one: string, many = `${one}s`): string => `${n} ${n === 1 ? one : many}`;

/** The model of a config in a few words: `resnet18 (width 0.125, normalize false)`. */
function modelText(config: BenchmarkConfig): string {
  const { arch, ...options } = config.model as { arch: string } & Record<string, unknown>;
  const rest = Object.entries(options).map(([k, v]) => `${k} ${typeof v === 'string' ? v : JSON.stringify(v)}`);
  return rest.length > 0 ? `${arch} (${rest.join(', ')})` : arch;
}

/**
 * A benchmark's protocol in one line: images, model, epochs, forget set, runs, MIA. Images, forget sets, runs and MIA
 * come from the result files; the model and the original training's epochs from the config (when one is known).
 */
export function protocolLine(results: readonly CellResult[], rows: readonly LeaderboardRow[], config: BenchmarkConfig | null): string {
  const sizes = distinct(results.map((r) => JSON.stringify([r.sizes.train, r.sizes.forget, r.sizes.test])))
    .map((s) => JSON.parse(s) as [number, number, number])
    .map(([train, forget, test]) => `${count(train)} training images (${count(forget)} to forget), ${count(test)} test`);
  const dataset = config ? `${config.dataset.name}: ` : '';
  const model = config ? `model ${modelText(config)}` : 'model: not recorded in the results (no config found)';
  const epochs = config ? `trained ${plural(config.training.epochs, 'epoch')}` : null;
  const settings = distinct(results.map((r) => (r.cell.setting === 'retain' ? 'retain set available' : 'forget set only')));
  const forget = `forget set ${distinct(results.map((r) => r.cell.forgetSet)).sort().join(', ')} (${settings.join(', ')})`;
  const seeds = results.map(seedsOf);
  const runs =
    `${plural(results.length, 'result file')}: ${plural(distinct(seeds.map((s) => s.original)).length, 'original model')} × ` +
    `${plural(distinct(seeds.map((s) => s.forgetSet)).length, 'forget-set draw')} × ${plural(distinct(seeds.map((s) => s.unlearning)).length, 'unlearning run')}`;
  const auc = aucLabel(rows);
  const efficacy = efficacyLabel(rows);
  const mia = auc === null && efficacy === null ? 'MIA: not run' : `MIA: ${[auc && `FT AUC by ${auc}`, efficacy && `MIA-efficacy by ${efficacy}`].filter(Boolean).join('; ')}`;
  return [`${dataset}${sizes.join(' or ')}`, model, epochs, forget, runs, mia].filter((x): x is string => x !== null).join(' · ');
}
