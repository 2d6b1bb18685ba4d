import { writeFileAtomic } from '@lethe/runtime/files';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CellResult, ResultProblem } from '@lethe/harness/results';
import type { TopLevelSpec } from 'vega-lite';
import { accuracyChartSpec, avgGapChartSpec, renderChartSvg } from './charts.js';
import { COLUMN_NOTES_HTML, escapeHtml, jsonForScript, leaderboardTableHtml, provenanceHtml } from './html.js';
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
// empty values (e.g. no retrain time recorded) always sort last.
const SORT_SCRIPT = `(function () {
  var table = document.getElementById('leaderboard');
  if (!table) return;
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
})();`;

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
body { margin: 0 auto; max-width: 72rem; padding: 1.5rem; color: #1b1b1b; }
h1 { margin-bottom: 0.2rem; } .lede { margin-top: 0; color: #555; }
table.leaderboard { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; margin: 1rem 0; }
table.leaderboard th, table.leaderboard td { padding: 0.35rem 0.6rem; border-bottom: 1px solid #ddd; text-align: left; vertical-align: top; }
table.leaderboard .num { text-align: right; }
table.leaderboard thead th { background: #f4f4f4; position: sticky; top: 0; }
table.leaderboard th button { font: inherit; font-weight: 600; background: none; border: 0; padding: 0; cursor: pointer; color: inherit; text-align: inherit; }
table.leaderboard th[aria-sort='ascending'] button::after { content: ' ▲'; }
table.leaderboard th[aria-sort='descending'] button::after { content: ' ▼'; }
table.leaderboard tr.retrain { background: #fdf0f0; }
.ref { display: block; font-size: 0.8em; color: #666; }
.tag { font-size: 0.75em; background: #e45756; color: white; border-radius: 0.3em; padding: 0 0.35em; }
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

export interface PageInput {
  rows: readonly LeaderboardRow[];
  results: readonly CellResult[];
  charts: Array<{ id: string; spec: TopLevelSpec; svg: string; caption: string }>;
  scripts: Array<{ src: string; version: string; pkg: string }>;
  title: string;
  now: Date;
  /** result files left out (path relative to the results directory, field, reason): listed under the table */
  skipped?: readonly ResultProblem[];
}

/** The bad result files the build left out, as a list (every text escaped). */
function skippedHtml(skipped: readonly ResultProblem[]): string {
  if (skipped.length === 0) return '';
  const files = new Set(skipped.map((p) => p.file)).size;
  const items = skipped.map((p) => `<li><code>${escapeHtml(p.file)}</code>: <code>${escapeHtml(p.field)}</code>: ${escapeHtml(p.message)}</li>`).join('\n');
  return `<section class="skipped">\n<h2>Result files left out</h2>\n<p>${files} result file(s) did not pass the result schema and are not in the table or the charts:</p>\n<ul>\n${items}\n</ul>\n</section>`;
}

/** The whole page as a string. Every text from result files goes through escapeHtml or jsonForScript. */
export function renderPage(input: PageInput): string {
  const benchmarks = [...new Set(input.rows.map((r) => r.benchmark))];
  const title = escapeHtml(input.title);
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
${input.rows.length} rows from ${input.results.length} result files; benchmarks: ${benchmarks.map(escapeHtml).join(', ')}.</p>
</header>
<main>
<section>
<h2>Leaderboard</h2>
<p>Sorted by Avg Gap (best first). Click a column header to sort by it; click again to reverse.</p>
${leaderboardTableHtml(input.rows, { sortable: true, id: 'leaderboard' })}
</section>
${skippedHtml(input.skipped ?? [])}
<section>
<h2>Charts</h2>
<div class="charts">
${input.charts.map((c) => chartFigure(c.id, c.spec, c.svg, c.caption)).join('\n')}
</div>
</section>
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

/**
 * Build the static leaderboard site: `outDir/index.html` plus `outDir/vendor/` (vega browser bundles).
 * The page works offline from file://, and without scripts (pre-rendered SVG charts, table in Avg Gap order).
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

  const rows = summarize(results);
  const specs = [
    { id: 'chart-avg-gap', spec: avgGapChartSpec(rows), caption: 'Avg Gap per method, percentage points (lower is better).' },
    { id: 'chart-accuracy', spec: accuracyChartSpec(rows), caption: 'UA, RA and TA per method; black ticks mark the retrained model.' },
  ];
  // a chart vega cannot draw costs that chart, not the page (the table and the other chart still build)
  const chartErrors: string[] = [];
  const charts = await Promise.all(
    specs.map(async (c) => {
      try {
        return { ...c, svg: await renderChartSvg(c.spec) };
      } catch (err) {
        chartErrors.push(`${c.id}: ${(err as Error).message}`);
        return { ...c, svg: `<p class="chart-error">This chart could not be drawn: ${escapeHtml((err as Error).message)}</p>` };
      }
    }),
  );

  const outDir = path.resolve(options.outDir ?? defaultOutDir());
  fs.mkdirSync(outDir, { recursive: true });
  // Vendor files first, index.html last: the page only appears once everything it loads is in place.
  const scripts = copyVendor(outDir);
  const { printable } = await import('@lethe/harness/results');
  const skipped = problems.map((p) => ({ ...p, file: printable(path.relative(resultsDir, p.file) || p.file) }));
  const html = renderPage({ rows, results, charts, scripts, title: options.title ?? 'Lethe leaderboard', now: options.now ?? new Date(), skipped });
  const indexPath = path.join(outDir, 'index.html');
  writeFileAtomic(indexPath, html);
  return { indexPath, rows: rows.length, results: results.length, problems, chartErrors };
}
