import { printable, type CellResult } from '@lethe/harness/results';
import type { MeanSummary } from '@lethe/metrics/statistics';
import type { BeatsMatrix, BeatsVerdict } from './beats.js';
import { aucLabel, describeAuc, efficacyLabel, gapMetricsDescription, gapMetricsLabel } from './labels.js';
import { isRetrain, type LeaderboardRow } from './summarize.js';

/** Escape text for HTML element content and quoted attribute values. */
export function escapeHtml(value: unknown): string {
  return String(value)
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

/**
 * JSON safe to place inside a <script> element: `<` is escaped so no string from a result file can close
 * the element or open a comment, and U+2028/9 because older engines treat them as line breaks.
 */
export function jsonForScript(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, '\\u003c')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}

const fixed = (x: number, digits = 2): string => (Number.isFinite(x) ? x.toFixed(digits) : '–');
const seconds = (s: number): string => (s < 10 ? s.toFixed(2) : s.toFixed(1));

/**
 * The table's own styles, scoped to `table.leaderboard`: the page and the fragment a notebook displays both carry
 * them, so the table reads the same in either. The layout does not depend on them: each retrain target sits after
 * a <br>, so even where a renderer drops styles (a code host's notebook view) no two numbers run together.
 */
export const TABLE_CSS = `
table.leaderboard { border-collapse: collapse; font-variant-numeric: tabular-nums; margin: 1rem 0; }
table.leaderboard th, table.leaderboard td { padding: 0.35rem 0.6rem; border-bottom: 1px solid #ddd; text-align: left; vertical-align: top; }
table.leaderboard .num { text-align: right; }
table.leaderboard thead th { background: #f4f4f4; }
table.leaderboard th .sub { display: block; font-weight: normal; font-size: 0.8em; color: #555; }
table.leaderboard th button { font: inherit; font-weight: 600; background: none; border: 0; padding: 0; cursor: pointer; color: inherit; text-align: inherit; }
table.leaderboard th[aria-sort='ascending'] button::after { content: ' ▲'; }
table.leaderboard th[aria-sort='descending'] button::after { content: ' ▼'; }
table.leaderboard tr.retrain { background: #fdf0f0; }
table.leaderboard .ref { font-size: 0.8em; color: #666; }
table.leaderboard .ci { font-size: 0.85em; color: #444; white-space: nowrap; }
table.leaderboard .tag { font-size: 0.75em; background: #e45756; color: white; border-radius: 0.3em; padding: 0 0.35em; }
table.leaderboard details summary { cursor: pointer; }
table.leaderboard details dl { margin: 0.4rem 0; min-width: 24rem; max-width: 40rem; font-size: 0.85em; }
table.leaderboard details dt { font-weight: 600; }
table.leaderboard details dd { margin: 0 0 0.3rem 1rem; overflow-wrap: anywhere; }
`;

/** Options of the table; everything the details show besides the result files comes from here. */
export interface TableOptions {
  /** headers are sort buttons (the page's script uses them) and cells carry data-sort */
  sortable?: boolean;
  id?: string;
  /** each method's paper, by registry name (`UnlearnerDefinition.paper`); a method not listed shows none */
  papers?: Readonly<Record<string, string>>;
  /**
   * a link to a search record (`cell.hyperParameterSource.file`) of a benchmark, or null to show its name as text;
   * without it, names are text. Only ever called with names from result files: it must return a safe URL or null.
   */
  searchRecordHref?: (file: string, benchmark: string) => string | null;
  /** put TABLE_CSS in a <style> before the table (default true; the page, which has it once, passes false) */
  style?: boolean;
}

interface Column {
  label: string;
  /** generated text under the label (e.g. the compared metrics or the attack), escaped HTML */
  sub?: string;
  /** header tooltip, explains the column */
  help: string;
  numeric: boolean;
  /** the value sorting uses (a number, or text); null sorts last */
  sortValue: (r: LeaderboardRow) => number | string | null;
  /** cell content, already escaped HTML */
  cell: (r: LeaderboardRow) => string;
}

/**
 * A mean with its 95% interval (when there is more than one run) and the retrained model's value under it. The <br>
 * keeps the target on its own line with or without styles.
 */
function valueWithInterval(summary: MeanSummary | undefined, target?: number | null): string {
  if (!summary) return '–';
  const interval =
    summary.halfWidth === null
      ? ''
      : `<span class="ci" title="95% interval [${fixed(summary.low!)}, ${fixed(summary.high!)}] over ${summary.n} runs (Student t)"> ± ${fixed(summary.halfWidth)}</span>`;
  const ref = target === undefined ? '' : `<br><span class="ref">retrain ${target === null ? '–' : fixed(target)}</span>`;
  return `${fixed(summary.mean)}${interval}${ref}`;
}

const accuracyColumn = (metric: 'UA' | 'RA' | 'TA', help: string): Column => ({
  label: `${metric} (%)`,
  help: `${help}; mean ± 95% interval over the runs, the retrained model’s value under it`,
  numeric: true,
  sortValue: (r) => r[metric],
  // The retrain value is the target, so it sits next to the method's value.
  cell: (r) => valueWithInterval(r.intervals[metric], r.gold[metric]),
});

/**
 * A hyper-parameter's value as one line of text. The schema takes hyper-parameters as any JSON, so control and
 * bidirectional characters are shown as their codes (`printable`) rather than reaching the page.
 */
const settingValue = (v: unknown): string => printable(typeof v === 'string' ? v : (JSON.stringify(v) ?? String(v)));

/** The row's hyper-parameters and where they come from, escaped. */
function hyperParametersHtml(r: LeaderboardRow, options: TableOptions): string {
  return r.hyperParameters
    .map((h) => {
      const entries = Object.entries(h.values).sort(([a], [b]) => a.localeCompare(b));
      const values = entries.length === 0 ? 'the method’s defaults' : entries.map(([k, v]) => `<code>${escapeHtml(printable(k))}</code> = <code>${escapeHtml(settingValue(v))}</code>`).join(', ');
      const runs = r.hyperParameters.length > 1 ? ` (${h.runs} run${h.runs === 1 ? '' : 's'})` : '';
      let source: string;
      if (h.source.kind === 'search') {
        const s = h.source;
        const href = options.searchRecordHref?.(s.file, r.benchmark) ?? null;
        const file = href === null ? `<code>${escapeHtml(s.file)}</code>` : `<a href="${escapeHtml(href)}"><code>${escapeHtml(s.file)}</code></a>`;
        source =
          `chosen by <code>lethe tune</code> among ${s.candidates} candidates by Avg Gap ${fixed(s.validationAvgGap)} on a validation forget set ` +
          `(original seed ${s.validation.originalSeed}, forget-set seed ${s.validation.forgetSetSeed}, unlearning seed ${s.validation.unlearningSeed}); ` +
          `search record ${file}, search <code>${escapeHtml(s.searchKey)}</code>`;
      } else {
        source = 'the benchmark config';
      }
      return `${values}${runs}<br><span class="ref">source: ${source}</span>`;
    })
    .join('<br>');
}

/** The row's details: method, paper, hyper-parameters (and search record), runs and provenance. */
function detailsHtml(r: LeaderboardRow, options: TableOptions): string {
  const paper = options.papers?.[r.method];
  const seeds = r.seeds.map((s) => `${s.original}/${s.forgetSet}/${s.unlearning}`).join(', ');
  const provenance = provenanceSummary(r.runResults)
    .map(([label, values]) => `<dt>${escapeHtml(label)}</dt><dd>${values.length === 0 ? '–' : values.map(escapeHtml).join('<br>')}</dd>`)
    .join('');
  return (
    `<dl>` +
    `<dt>Method</dt><dd><code>${escapeHtml(r.method)}</code>${r.label !== r.method ? ` (label <code>${escapeHtml(r.label)}</code>)` : ''}</dd>` +
    `<dt>Paper</dt><dd>${paper === undefined ? 'not known to this Lethe’s registry' : escapeHtml(paper)}</dd>` +
    `<dt>Hyper-parameters</dt><dd>${hyperParametersHtml(r, options)}</dd>` +
    `<dt>Runs</dt><dd>${r.runs} on forget set${r.forgetSets.length === 1 ? '' : 's'} ${r.forgetSets.map(escapeHtml).join(', ')}; seeds (original/forget set/unlearning): ${escapeHtml(seeds)}</dd>` +
    `${provenance}</dl>`
  );
}

/** The columns for some rows: the MIA columns only when some row has the number, the benchmark only when several. */
function columnsFor(rows: readonly LeaderboardRow[], options: TableOptions): Column[] {
  const gapOver = gapMetricsLabel(rows);
  const auc = aucLabel(rows);
  const efficacy = efficacyLabel(rows);
  const columns: Array<Column | false> = [
    {
      label: 'Method',
      help: 'unlearning method; open it for its hyper-parameters, paper and provenance',
      numeric: false,
      sortValue: (r) => r.label,
      cell: (r) =>
        `<details><summary>${escapeHtml(r.label)}${isRetrain(r.method) ? ' <span class="tag">reference</span>' : ''}</summary>${detailsHtml(r, options)}</details>`,
    },
    new Set(rows.map((r) => r.benchmark)).size > 1 && { label: 'Benchmark', help: 'benchmark name', numeric: false, sortValue: (r) => r.benchmark, cell: (r) => escapeHtml(r.benchmark) },
    {
      label: 'Setting',
      help: "'retain': the method may use the retain set; 'forget-only': it sees only the forget set",
      numeric: false,
      sortValue: (r) => r.setting,
      cell: (r) => escapeHtml(r.setting),
    },
    {
      label: 'Avg Gap (pp)',
      sub: escapeHtml(gapOver),
      help: `gap of the means, as in AMUN’s tables: |mean(method) − mean(retrain)| over the runs per metric, averaged over ${gapMetricsDescription(rows)}; percentage points, lower is better`,
      numeric: true,
      sortValue: (r) => r.avgGap,
      // No interval here: the gap of the means has none (see the notes); the runs' own gaps carry one.
      cell: (r) => `<span title="over ${escapeHtml(r.avgGapOver.join(', '))}">${fixed(r.avgGap)}</span>`,
    },
    {
      label: 'Mean run gap (pp)',
      help: 'the mean of the runs’ own Avg Gaps (each run against its retrained model) ± the half-width of its 95% interval',
      numeric: true,
      sortValue: (r) => r.meanRunGap,
      cell: (r) => valueWithInterval(r.intervals.runGap),
    },
    accuracyColumn('UA', 'accuracy on the forget set; the target is the retrained model’s, not 0'),
    accuracyColumn('RA', 'accuracy on the retain set'),
    accuracyColumn('TA', 'accuracy on the test set'),
    auc !== null && {
      label: 'FT AUC (%)',
      sub: escapeHtml(auc),
      help: `membership inference by ${auc} (K = reference models): AUC of telling the forget set from the test set; 50 = indistinguishable; the target is the retrained model’s`,
      numeric: true,
      sortValue: (r) => r.intervals.ftAuc?.mean ?? null,
      cell: (r) => `<span title="${escapeHtml(r.mia ? (describeAuc(r.mia) ?? '') : '')}">${valueWithInterval(r.intervals.ftAuc, r.intervals.ftAuc ? r.goldMia.ftAuc : undefined)}</span>`,
    },
    efficacy !== null && {
      label: 'MIA-efficacy (%)',
      sub: escapeHtml(efficacy),
      help: `share of the forget set that ${efficacy} predicts to be non-members (SalUn’s MIA-efficacy); the target is the retrained model’s`,
      numeric: true,
      sortValue: (r) => r.intervals.efficacy?.mean ?? null,
      cell: (r) => valueWithInterval(r.intervals.efficacy, r.intervals.efficacy ? r.goldMia.efficacy : undefined),
    },
    {
      label: 'Unlearn time (s)',
      help: 'mean wall time of the unlearning method, seconds',
      numeric: true,
      sortValue: (r) => r.unlearnSeconds,
      cell: (r) => seconds(r.unlearnSeconds),
    },
    {
      label: 'Time vs retrain (%)',
      help: 'unlearning time as a percentage of the time to retrain from scratch',
      numeric: true,
      sortValue: (r) => (r.relativeToRetrain === null ? null : r.relativeToRetrain * 100),
      cell: (r) => (r.relativeToRetrain === null ? '–' : fixed(r.relativeToRetrain * 100, 1)),
    },
    {
      label: 'Runs',
      help: 'result files averaged (seeds × forget sets)',
      numeric: true,
      sortValue: (r) => r.runs,
      cell: (r) => `${r.runs}`,
    },
  ];
  return columns.filter((c): c is Column => c !== false);
}

/** The header labels of the table for some rows, with their generated part ("Avg Gap (pp) · UA, RA, TA, MIA"), as plain text. */
export function tableHeaders(rows: readonly LeaderboardRow[]): Array<{ label: string; sub: string | null; help: string }> {
  return columnsFor(rows, {}).map((c) => ({ label: c.label, sub: c.sub === undefined ? null : c.sub, help: c.help }));
}

/**
 * The leaderboard as an HTML table, preceded by its styles (TABLE_CSS, unless `style: false`). With `sortable`,
 * headers are buttons that the page's script uses; each cell carries its raw value in data-sort so sorting does not
 * parse formatted text. Each method's name opens (a <details>) to its hyper-parameters and their source, its paper
 * and its provenance.
 */
export function leaderboardTableHtml(rows: readonly LeaderboardRow[], options: TableOptions = {}): string {
  const sortable = options.sortable ?? false;
  const columns = columnsFor(rows, options);
  const initialSort = columns.findIndex((c) => c.label.startsWith('Avg Gap'));
  const head = columns.map((c, i) => {
    const sort = sortable ? ` aria-sort="${i === initialSort ? 'ascending' : 'none'}"` : '';
    const text = `${escapeHtml(c.label)}${c.sub ? `<span class="sub">${c.sub}</span>` : ''}`;
    const label = sortable ? `<button type="button">${text}</button>` : text;
    return `<th scope="col" title="${escapeHtml(c.help)}"${c.numeric ? ' class="num"' : ''}${sort}>${label}</th>`;
  }).join('');
  const body = rows
    .map((r) => {
      const cells = columns.map((c) => {
        const v = c.sortValue(r);
        const sortAttr = sortable ? ` data-sort="${v === null ? '' : escapeHtml(v)}"` : '';
        return `<td${c.numeric ? ' class="num"' : ''}${sortAttr}>${c.cell(r)}</td>`;
      }).join('');
      return `<tr${isRetrain(r.method) ? ' class="retrain"' : ''}>${cells}</tr>`;
    })
    .join('\n');
  const id = options.id ? ` id="${escapeHtml(options.id)}"` : '';
  const style = options.style === false ? '' : `<style>${TABLE_CSS}</style>\n`;
  return `${style}<table class="leaderboard"${id}>\n<thead><tr>${head}</tr></thead>\n<tbody>\n${body}\n</tbody>\n</table>`;
}

/** The beats matrix as a table: each cell says whether the row's method beats the column's (paired t-test). */
export function beatsMatrixHtml(matrix: BeatsMatrix, options: { id?: string } = {}): string {
  const shown: Record<BeatsVerdict, string> = { beats: 'beats', loses: 'loses', 'no difference': 'n.s.', 'too few pairs': '—' };
  const head = `<tr><th scope="col">row vs column</th>${matrix.labels.map((l) => `<th scope="col">${escapeHtml(l)}</th>`).join('')}</tr>`;
  const body = matrix.labels
    .map((a, i) => {
      const cells = matrix.cells[i]!.map((cell) => {
        if (cell === null) return '<td class="self"></td>';
        const title =
          cell.comparison === null
            ? (cell.reason ?? '')
            : `${cell.a} − ${cell.b}: mean difference of the runs’ own Avg Gap ${fixed(cell.comparison.test.meanDifference)} pp over ${cell.comparison.test.n} shared runs, paired t-test p = ${cell.comparison.test.pValue.toPrecision(2)}`;
        const p = cell.comparison === null ? '' : `<br><span class="ref">p = ${escapeHtml(cell.comparison.test.pValue.toPrecision(2))}</span>`;
        return `<td class="${cell.verdict.replace(/ /g, '-')}" data-verdict="${escapeHtml(cell.verdict)}" title="${escapeHtml(title)}">${shown[cell.verdict]}${p}</td>`;
      }).join('');
      return `<tr><th scope="row">${escapeHtml(a)}</th>${cells}</tr>`;
    })
    .join('\n');
  const id = options.id ? ` id="${escapeHtml(options.id)}"` : '';
  return `<table class="beats"${id}>\n<thead>${head}</thead>\n<tbody>\n${body}\n</tbody>\n</table>`;
}

/** Column explanations shared by the page and the notebook. */
export const COLUMN_NOTES_HTML = `<dl class="notes">
<dt>UA</dt><dd>Accuracy on the forget set D<sub>f</sub>, in percent. The target is the <em>retrained</em> model’s UA, not 0: a model retrained without D<sub>f</sub> still classifies much of it correctly, and an unlearned model that scores far below that is itself a tell.</dd>
<dt>RA / TA</dt><dd>Accuracy on the retain set D<sub>r</sub> and on the test set, in percent; the target is again the retrained model’s value (shown under each number).</dd>
<dt>± (intervals)</dt><dd>With more than one run, each mean is followed by the half-width of its 95% Student-t confidence interval over the runs (hover for the interval), computed as <code>lethe report</code> computes it; the charts draw the same intervals as error bars.</dd>
<dt>Avg Gap</dt><dd>The gap of the means, as AMUN’s tables report it: for each compared metric (the header and the chart’s subtitle name them, from the result files’ <code>avgGapOver</code>), |mean of the method over the runs − mean of the retrained models of the same runs|, then the mean over the metrics, in percentage points. Lower is better; retrain itself scores 0. With several forget sets it is the mean of each forget set’s gap. It has no interval: near 0, where good methods are, the absolute value makes a bootstrap interval unreliable.</dd>
<dt>Mean run gap</dt><dd>Each run’s own Avg Gap against its retrained model, averaged over the runs, ± the half-width of its 95% interval. Over the runs of one forget set it is never below Avg Gap (the triangle inequality), and above it whenever a method lands on different sides of retrain in different runs.</dd>
<dt>FT AUC</dt><dd>Membership inference: the AUC of the attack named in the header (with its mode, when the result files record one, and K, its number of reference models) telling the forget set from the test set, in percent. 50 means the two are indistinguishable; the target is the retrained model’s value.</dd>
<dt>MIA-efficacy</dt><dd>The share of the forget set that the SVC attack of SalUn predicts to be non-members, in percent; the target is again the retrained model’s.</dd>
<dt>Unlearn time / Time vs retrain</dt><dd>Mean wall time of the unlearning step in seconds, and that time as a percentage of retraining from scratch.</dd>
<dt>Runs</dt><dd>Number of result files averaged: seeds × forget sets.</dd>
<dt>Beats</dt><dd>Row method against column method: a paired t-test of the runs’ own Avg Gap over the runs both share (same forget set and seeds). “beats”: lower mean gap with p &lt; 0.05; “loses”: higher with p &lt; 0.05; “n.s.”: no significant difference; “—”: fewer than 2 shared runs. The tests are not corrected for multiple comparisons, so among many pairs a few differences at p &lt; 0.05 are expected by chance.</dd>
</dl>`;

const distinct = <T>(xs: readonly T[]): T[] => [...new Set(xs)];

/** Provenance facts collected over all results (every distinct value, so mixed runs are visible). */
export function provenanceSummary(results: readonly CellResult[]): Array<[label: string, values: string[]]> {
  const p = results.map((r) => r.provenance);
  const lethe = new Map<string, Set<string>>();
  for (const x of p) {
    for (const [pkg, version] of Object.entries(x.lethe ?? {})) {
      const set = lethe.get(pkg) ?? new Set<string>();
      set.add(version);
      lethe.set(pkg, set);
    }
  }
  const dates = p.map((x) => x.createdAt).filter((d) => typeof d === 'string' && d !== '').sort();
  return [
    ['Backend', distinct(p.map((x) => `${x.backend?.name ?? '?'} ${x.backend?.version ?? ''} (tfjs backend: ${x.backend?.tfjsBackend ?? '?'})`.trim()))],
    ['Result dates', dates.length === 0 ? [] : distinct([dates[0]!, dates[dates.length - 1]!]).map((d, i, a) => (a.length > 1 ? `${i === 0 ? 'from' : 'to'} ${d}` : d))],
    ['Lethe packages', [...lethe.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([pkg, v]) => `${pkg} ${[...v].join(', ')}`)],
    ['TensorFlow.js', distinct(p.map((x) => x.tfjs))],
    ['Node', distinct(p.map((x) => x.node))],
    ['Platform', distinct(p.map((x) => `${x.platform}; ${x.cpus}`))],
    ['Git commit', distinct(p.map((x) => x.gitCommit ?? 'unknown'))],
    ['Config hash', distinct(p.map((x) => x.configHash))],
    ['Data checksum', distinct(p.map((x) => x.dataChecksum))],
  ];
}

export function provenanceHtml(results: readonly CellResult[]): string {
  const items = provenanceSummary(results)
    .map(([label, values]) => `<dt>${escapeHtml(label)}</dt><dd>${values.length === 0 ? '–' : values.map(escapeHtml).join('<br>')}</dd>`)
    .join('\n');
  return `<dl class="provenance">\n${items}\n</dl>`;
}
