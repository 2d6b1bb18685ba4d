import { writeFileAtomic } from '@lethe/runtime/files';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CellResult, ResultProblem } from '@lethe/harness/results';
import type { TopLevelSpec } from 'vega-lite';
import { beatsMatrix } from './beats.js';
import { accuracyChartSpec, avgGapChartSpec, miaChartSpec, renderChartSvg } from './charts.js';
import { configLinkFor, findBenchmarkConfigs, linkTo, protocolLine, type ConfigLink } from './configs.js';
import { COLUMN_NOTES_HTML, TABLE_CSS, beatsMatrixHtml, escapeHtml, jsonForScript, leaderboardTableHtml, provenanceHtml, type TableOptions } from './html.js';
import { summarize, type LeaderboardRow } from './summarize.js';

export interface BuildLeaderboardOptions {
  /** directory holding the harness's result JSON files (searched recursively) */
  resultsDir: string;
  /** where index.html and vendor/ go; default `<repo>/leaderboard/dist` */
  outDir?: string;
  /** page title */
  title?: string;
  /** build time shown on the page; injectable so output can be reproduced */
  now?: Date;
  /**
   * called for each bad result file (its path, the field, the reason): the file is left out, listed on the page, and
   * the rest still build. Without it, the problems are still in the returned `problems`.
   */
  onProblem?: (problem: ResultProblem) => void;
  /**
   * the benchmark configs (`*.json`); each benchmark section links the config whose hash (as the harness computes it)
   * is its results' `provenance.configHash`. Default `<repo>/benchmarks`; a missing folder means no links.
   */
  configsDir?: string;
  /**
   * where the page links a config file: this base plus the file's name (e.g.
   * `https://github.com/<owner>/<repo>/blob/<commit>/benchmarks/`). Default: the relative path from outDir to
   * configsDir, which works when the page is opened from the repository. http(s) or a relative path only.
   */
  configBaseUrl?: string;
  /** each method's paper by registry name; default: the papers of the unlearners registered in @lethe/core */
  papers?: Readonly<Record<string, string>>;
}

export interface BuildLeaderboardResult {
  indexPath: string;
  /** leaderboard rows (one per benchmark, setting and method) */
  rows: number;
  /** result files read */
  results: number;
  /** result files left out, each with its path and field (also listed on the page) */
  problems: ResultProblem[];
  /** charts that could not be drawn (the page keeps a note in their place) */
  chartErrors: string[];
}

/** Browser bundles copied beside index.html so the page works offline from file:// (UMD builds, load order matters). */
const VENDOR = [
  { pkg: 'vega', file: 'build/vega.min.js' },
  { pkg: 'vega-lite', file: 'build/vega-lite.min.js' },
  { pkg: 'vega-embed', file: 'build/vega-embed.min.js' },
] as const;

export function noResultsMessage(dir: string): string {
  return `no result files in ${dir}; run \`pnpm lethe run benchmarks/smoke.json\` first`;
}

/**
 * Every valid result file under `dir`, each checked against the harness's result schema; a bad file (not JSON,
 * another schema version, a missing, null or out-of-range field, unsafe characters) goes to `onProblem` with its path
 * and field and is left out; without `onProblem`, a bad file throws a ResultFileError naming every problem. Throws
 * the run-a-benchmark-first error when no valid result file is left. Only the light `@lethe/harness/results`
 * entry is loaded (not the runner, which pulls in TensorFlow.js and the training stack), and lazily, so that
 * CommonJS callers (tslab) keep working.
 */
export async function loadResultsDir(dir: string, options: { onProblem?: (problem: ResultProblem) => void } = {}): Promise<CellResult[]> {
  const resolved = path.resolve(dir);
  if (!fs.existsSync(resolved) || !fs.statSync(resolved).isDirectory()) throw new Error(noResultsMessage(resolved));
  const { loadResults } = await import('@lethe/harness/results');
  const results = loadResults(resolved, options.onProblem ? { onProblem: options.onProblem } : {});
  if (results.length === 0) throw new Error(noResultsMessage(resolved));
  return results;
}

/** The monorepo root (the nearest ancestor of `from` with pnpm-workspace.yaml), or null. */
function findRepoRoot(from: string): string | null {
  for (let dir = path.resolve(from); ; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, 'pnpm-workspace.yaml'))) return dir;
    if (path.dirname(dir) === dir) return null;
  }
}

export function defaultOutDir(): string {
  const root = findRepoRoot(process.cwd()) ?? findRepoRoot(path.dirname(fileURLToPath(import.meta.url))) ?? process.cwd();
  return path.join(root, 'leaderboard', 'dist');
}


/** A dependency's package directory, found from its resolved entry (these packages do not export package.json). */
function packageDir(pkg: string): string {
  let dir = path.dirname(fileURLToPath(import.meta.resolve(pkg)));
  for (;;) {
    const manifest = path.join(dir, 'package.json');
    if (fs.existsSync(manifest) && (JSON.parse(fs.readFileSync(manifest, 'utf8')) as { name?: string }).name === pkg) return dir;
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`cannot locate the '${pkg}' package directory; is it installed?`);
    dir = up;
  }
}

function copyVendor(outDir: string): Array<{ src: string; version: string; pkg: string }> {
  const vendorDir = path.join(outDir, 'vendor');
  fs.mkdirSync(vendorDir, { recursive: true });
  return VENDOR.map(({ pkg, file }) => {
    const dir = packageDir(pkg);
    const version = (JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as { version: string }).version;
    const name = path.basename(file);
    writeFileAtomic(path.join(vendorDir, name), fs.readFileSync(path.join(dir, file)));
    // The minified bundles point at their source maps; ship them so devtools do not report missing files.
    const map = path.join(dir, `${file}.map`);
    if (fs.existsSync(map)) writeFileAtomic(path.join(vendorDir, `${name}.map`), fs.readFileSync(map));
    const license = path.join(dir, 'LICENSE');
    if (fs.existsSync(license)) writeFileAtomic(path.join(vendorDir, `${pkg}.LICENSE.txt`), fs.readFileSync(license));
    return { src: `vendor/${name}`, version, pkg };
  });
}

// Plain browser JS, kept ES2015 so any current browser runs it. Sorting uses each cell's data-sort value;
// empty values (e.g. no retrain time recorded) always sort last. Every table of the page sorts on its own.
const SORT_SCRIPT = `Array.prototype.forEach.call(document.querySelectorAll('table.leaderboard'), function (table) {
  var headers = Array.prototype.slice.call(table.tHead.rows[0].cells);
  function compare(a, b) {
    var x = Number(a), y = Number(b);
    return a !== '' && b !== '' && isFinite(x) && isFinite(y) ? x - y : a.localeCompare(b);
  }
  headers.forEach(function (th, col) {
    var button = th.querySelector('button');
    if (!button) return;
    button.addEventListener('click', function () {
      var dir = th.getAttribute('aria-sort') === 'ascending' ? -1 : 1;
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      rows.sort(function (r1, r2) {
        var a = r1.cells[col].getAttribute('data-sort') || '', b = r2.cells[col].getAttribute('data-sort') || '';
        if (a === '' || b === '') return (a === '') - (b === '');
        return dir * compare(a, b);
      });
      rows.forEach(function (r) { body.appendChild(r); });
      headers.forEach(function (h) { if (h.querySelector('button')) h.setAttribute('aria-sort', 'none'); });
      th.setAttribute('aria-sort', dir === 1 ? 'ascending' : 'descending');
    });
  });
});`;

// Replaces each pre-rendered SVG with the live vega-embed chart once it has rendered; on any failure the
// pre-rendered chart simply stays.
const EMBED_SCRIPT = `(function () {
  if (typeof vegaEmbed !== 'function') return;
  Array.prototype.forEach.call(document.querySelectorAll('[data-spec]'), function (live) {
    var spec = JSON.parse(document.getElementById(live.getAttribute('data-spec')).textContent);
    var fallback = document.getElementById(live.getAttribute('data-fallback'));
    vegaEmbed(live, spec, { actions: false, renderer: 'svg' }).then(function () {
      if (fallback) fallback.hidden = true;
      live.setAttribute('data-rendered', 'true');
    }, function (err) {
      console.error('Lethe leaderboard: interactive chart failed, keeping the pre-rendered one:', err);
    });
  });
})();`;

const CSS = `
:root { color-scheme: light; font-family: system-ui, -apple-system, 'Segoe UI', sans-serif; line-height: 1.45; }
body { margin: 0 auto; max-width: 80rem; padding: 1.5rem; color: #1b1b1b; }
h1 { margin-bottom: 0.2rem; } .lede { margin-top: 0; color: #555; }
${TABLE_CSS}
table.leaderboard { width: 100%; }
table.leaderboard thead th { position: sticky; top: 0; }
section.benchmark { border-top: 2px solid #ccc; margin-top: 2rem; }
.protocol { font-size: 0.95em; } .config { font-size: 0.9em; color: #444; }
table.beats { border-collapse: collapse; font-size: 0.85em; margin: 0.5rem 0 1rem; }
table.beats th, table.beats td { border: 1px solid #ddd; padding: 0.2rem 0.45rem; text-align: center; }
table.beats td.beats { background: #e3f1df; } table.beats td.loses { background: #f8e0df; } table.beats td.self { background: #eee; }
table.beats .ref { display: block; font-size: 0.8em; color: #666; }
.charts { display: flex; flex-wrap: wrap; gap: 2rem; }
figure { margin: 0; } figure svg { max-width: 100%; height: auto; }
dl.notes dt, dl.provenance dt { font-weight: 600; } dl.notes dd, dl.provenance dd { margin: 0 0 0.5rem 1.2rem; }
dl.provenance dd { font-family: ui-monospace, monospace; font-size: 0.9em; word-break: break-all; }
footer { margin-top: 2rem; color: #666; font-size: 0.85em; }
`;

function chartFigure(id: string, spec: TopLevelSpec, svg: string, caption: string): string {
  // The SVG comes from vega's own renderer, which escapes every text it draws.
  return `<figure>
<div id="${id}-static" class="chart-static">${svg}</div>
<div id="${id}-live" class="chart-live" data-spec="${id}-spec" data-fallback="${id}-static"></div>
<script type="application/json" id="${id}-spec">${jsonForScript(spec)}</script>
<figcaption>${escapeHtml(caption)}</figcaption>
</figure>`;
}

/** One benchmark's part of the page. */
export interface BenchmarkSection {
  benchmark: string;
  rows: readonly LeaderboardRow[];
  results: readonly CellResult[];
  /** the protocol in one line (protocolLine) */
  protocol: string;
  /** its config, or null when none was found */
  config: ConfigLink | null;
  /** the beats matrix of each setting with more than one run of some method */
  beats: Array<{ setting: string; html: string }>;
  charts: Array<{ id: string; spec: TopLevelSpec; svg: string; caption: string }>;
}

export interface PageInput {
  sections: readonly BenchmarkSection[];
  results: readonly CellResult[];
  scripts: Array<{ src: string; version: string; pkg: string }>;
  title: string;
  now: Date;
  /** result files left out (path relative to the results directory, field, reason): listed under the table */
  skipped?: readonly ResultProblem[];
  /** papers and search-record links for the rows' details */
  table?: Pick<TableOptions, 'papers' | 'searchRecordHref'>;
}

/** The bad result files the build left out, as a list (every text escaped). */
function skippedHtml(skipped: readonly ResultProblem[]): string {
  if (skipped.length === 0) return '';
  const files = new Set(skipped.map((p) => p.file)).size;
  const items = skipped.map((p) => `<li><code>${escapeHtml(p.file)}</code>: <code>${escapeHtml(p.field)}</code>: ${escapeHtml(p.message)}</li>`).join('\n');
  return `<section class="skipped">\n<h2>Result files left out</h2>\n<p>${files} result file(s) did not pass the result schema and are not in the table or the charts:</p>\n<ul>\n${items}\n</ul>\n</section>`;
}

function configHtml(link: ConfigLink | null): string {
  if (link === null) return '<p class="config">Config: no config in the repository’s <code>benchmarks/</code> has this benchmark’s name or its results’ config hash.</p>';
  const a = `<a href="${escapeHtml(link.href)}"><code>benchmarks/${escapeHtml(link.fileName)}</code></a>`;
  const note = link.matches
    ? ` (config hash <code>${escapeHtml(link.configHash)}</code>, as recorded in the result files)`
    : ` — <strong>changed since these results</strong>: its hash is <code>${escapeHtml(link.configHash)}</code>, the result files record ${link.resultHashes.map((h) => `<code>${escapeHtml(h)}</code>`).join(', ')}; the model and epochs above are the current config’s`;
  const description = link.config.description ? `<details><summary>Description</summary><p>${escapeHtml(link.config.description)}</p></details>` : '';
  return `<p class="config">Config: ${a}${note}</p>${description}`;
}

function sectionHtml(section: BenchmarkSection, index: number, table: PageInput['table']): string {
  const beats = section.beats
    .map(
      (b) =>
        `<h3>Which method beats which${section.beats.length > 1 ? ` (${escapeHtml(b.setting)})` : ''}</h3>\n<p>Paired t-test of the runs’ own Avg Gap on the runs both methods share; “beats”: the row’s method has the lower gap at p &lt; 0.05 (not corrected for multiple comparisons).</p>\n${b.html}`,
    )
    .join('\n');
  return `<section class="benchmark" id="benchmark-${index}" data-benchmark="${escapeHtml(section.benchmark)}">
<h2>${escapeHtml(section.benchmark)}</h2>
<p class="protocol">${escapeHtml(section.protocol)}</p>
${configHtml(section.config)}
<p>${section.rows.length} methods from ${section.results.length} result files, sorted by Avg Gap (best first). Click a column header to sort by it, again to reverse; open a method for its hyper-parameters, paper and provenance.</p>
${leaderboardTableHtml(section.rows, { ...table, sortable: true, id: `leaderboard-${index}`, style: false })}
${beats}
<div class="charts">
${section.charts.map((c) => chartFigure(c.id, c.spec, c.svg, c.caption)).join('\n')}
</div>
</section>`;
}

/** The whole page as a string. Every text from result files goes through escapeHtml or jsonForScript. */
export function renderPage(input: PageInput): string {
  const title = escapeHtml(input.title);
  const rows = input.sections.reduce((n, s) => n + s.rows.length, 0);
  const nav = input.sections.map((s, i) => `<a href="#benchmark-${i}">${escapeHtml(s.benchmark)}</a>`).join(', ');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title}</title>
<style>${CSS}</style>
</head>
<body>
<header>
<h1>${title}</h1>
<p class="lede">Machine unlearning methods on TensorFlow.js, compared against retraining from scratch.
${rows} rows from ${input.results.length} result files; benchmarks: ${nav}.</p>
</header>
<main>
${input.sections.map((s, i) => sectionHtml(s, i, input.table)).join('\n')}
${skippedHtml(input.skipped ?? [])}
<section>
<h2>How to read the columns</h2>
${COLUMN_NOTES_HTML}
</section>
<section>
<h2>Provenance</h2>
${provenanceHtml(input.results)}
</section>
</main>
<footer>Built ${escapeHtml(input.now.toISOString())} by @lethe/leaderboard. Charts: ${input.scripts
    .map((s) => `${escapeHtml(s.pkg)} ${escapeHtml(s.version)}`)
    .join(', ')} (BSD-3-Clause, licences in vendor/).</footer>
<script>${SORT_SCRIPT}</script>
${input.scripts.map((s) => `<script src="${escapeHtml(s.src)}"></script>`).join('\n')}
<script>${EMBED_SCRIPT}</script>
</body>
</html>
`;
}

/** Each registered unlearner's paper, by name (the registry loads TensorFlow.js, so only when building). */
async function registeredPapers(): Promise<Record<string, string>> {
  const { listUnlearners } = await import('@lethe/core');
  return Object.fromEntries(listUnlearners().map((u) => [u.name, u.paper]));
}

/** Draw the charts of some rows; a chart vega cannot draw costs that chart (its error is returned), not the page. */
async function drawCharts(rows: readonly LeaderboardRow[], prefix: string, chartErrors: string[]): Promise<BenchmarkSection['charts']> {
  const mia = miaChartSpec(rows);
  const specs = [
    { id: `${prefix}-avg-gap`, spec: avgGapChartSpec(rows), caption: 'Avg Gap per method, percentage points (lower is better).' },
    { id: `${prefix}-accuracy`, spec: accuracyChartSpec(rows), caption: 'UA, RA and TA per method; black ticks mark the retrained model.' },
    ...(mia ? [{ id: `${prefix}-mia`, spec: mia, caption: 'Membership inference per method; black ticks mark the retrained model.' }] : []),
  ];
  return Promise.all(
    specs.map(async (c) => {
      try {
        return { ...c, svg: await renderChartSvg(c.spec) };
      } catch (err) {
        chartErrors.push(`${c.id}: ${(err as Error).message}`);
        return { ...c, svg: `<p class="chart-error">This chart could not be drawn: ${escapeHtml((err as Error).message)}</p>` };
      }
    }),
  );
}

/**
 * Build the static leaderboard site: `outDir/index.html` plus `outDir/vendor/` (vega browser bundles). One section
 * per benchmark: its protocol, a link to its config, the table, the beats matrix (with several runs) and the charts.
 * The page works offline from file://, and without scripts (pre-rendered SVG charts, tables in Avg Gap order).
 */
export async function buildLeaderboard(options: BuildLeaderboardOptions): Promise<BuildLeaderboardResult> {
  const problems: ResultProblem[] = [];
  const resultsDir = path.resolve(options.resultsDir);
  const results = await loadResultsDir(resultsDir, {
    onProblem: (p) => {
      problems.push(p);
      options.onProblem?.(p);
    },
  });
  const outDir = path.resolve(options.outDir ?? defaultOutDir());
  const root = findRepoRoot(process.cwd()) ?? findRepoRoot(path.dirname(fileURLToPath(import.meta.url)));
  const configsDir = path.resolve(options.configsDir ?? path.join(root ?? process.cwd(), 'benchmarks'));
  const configBaseUrl = options.configBaseUrl ?? `${path.relative(outDir, configsDir).split(path.sep).join('/')}/`;
  linkTo(configBaseUrl, ''); // refuses a base URL of another scheme before any work
  const configs = await findBenchmarkConfigs(configsDir);
  const papers = options.papers ?? (await registeredPapers());
  // a search record is linked only when it is a file of the configs folder (its name comes from a result file)
  const searchRecordHref = (file: string): string | null => (configs.length > 0 && path.basename(file) === file && fs.existsSync(path.join(configsDir, file)) ? linkTo(configBaseUrl, file) : null);

  const rows = summarize(results);
  const benchmarks = [...new Set(results.map((r) => r.benchmark))].sort((a, b) => a.localeCompare(b));
  const chartErrors: string[] = [];
  const sections: BenchmarkSection[] = [];
  for (const [index, benchmark] of benchmarks.entries()) {
    const own = results.filter((r) => r.benchmark === benchmark);
    const ownRows = rows.filter((r) => r.benchmark === benchmark);
    const config = configLinkFor(benchmark, own, configs, configBaseUrl);
    const beats = [...new Set(ownRows.map((r) => r.setting))]
      .map((setting) => ({ setting, rows: ownRows.filter((r) => r.setting === setting) }))
      .filter((g) => g.rows.length > 1 && g.rows.some((r) => r.runs > 1))
      .map((g, k) => ({
        setting: g.setting,
        html: beatsMatrixHtml(
          beatsMatrix(
            own.filter((r) => r.cell.setting === g.setting),
            g.rows.map((r) => r.label),
          ),
          { id: `beats-${index}-${k}` },
        ),
      }));
    sections.push({
      benchmark,
      rows: ownRows,
      results: own,
      protocol: protocolLine(own, ownRows, config?.config ?? null),
      config,
      beats,
      charts: await drawCharts(ownRows, `chart-${index}`, chartErrors),
    });
  }

  fs.mkdirSync(outDir, { recursive: true });
  // Vendor files first, index.html last: the page only appears once everything it loads is in place.
  const scripts = copyVendor(outDir);
  const { printable } = await import('@lethe/harness/results');
  const skipped = problems.map((p) => ({ ...p, file: printable(path.relative(resultsDir, p.file) || p.file) }));
  const html = renderPage({ sections, results, scripts, title: options.title ?? 'Lethe leaderboard', now: options.now ?? new Date(), skipped, table: { papers, searchRecordHref } });
  const indexPath = path.join(outDir, 'index.html');
  writeFileAtomic(indexPath, html);
  return { indexPath, rows: rows.length, results: results.length, problems, chartErrors };
}
