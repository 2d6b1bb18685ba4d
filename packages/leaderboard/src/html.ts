import type { CellResult } from '@lethe/harness/results';
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

interface Column {
  label: string;
  /** header tooltip, explains the column */
  help: string;
  numeric: boolean;
  /** the value sorting uses (a number, or text); null sorts last */
  sortValue: (r: LeaderboardRow) => number | string | null;
  /** cell content, already escaped HTML */
  cell: (r: LeaderboardRow) => string;
}

const accuracyColumn = (metric: 'UA' | 'RA' | 'TA', help: string): Column => ({
  label: `${metric} (%)`,
  help,
  numeric: true,
  sortValue: (r) => r[metric],
  // The retrain value is the target, so it sits next to the method's value.
  cell: (r) => `${fixed(r[metric])}<span class="ref">retrain ${fixed(r.gold[metric])}</span>`,
});

const COLUMNS: readonly Column[] = [
  {
    label: 'Method',
    help: 'unlearning method',
    numeric: false,
    sortValue: (r) => r.method,
    cell: (r) => `${escapeHtml(r.method)}${isRetrain(r.method) ? ' <span class="tag">reference</span>' : ''}`,
  },
  { label: 'Benchmark', help: 'benchmark name', numeric: false, sortValue: (r) => r.benchmark, cell: (r) => escapeHtml(r.benchmark) },
  {
    label: 'Setting',
    help: "'retain': the method may use the retain set; 'forget-only': it sees only the forget set",
    numeric: false,
    sortValue: (r) => r.setting,
    cell: (r) => escapeHtml(r.setting),
  },
  {
    label: 'Avg Gap (pp)',
    help: 'gap of the means, as in AMUN’s tables: |mean(method) − mean(retrain)| over the runs per metric, averaged over the compared metrics; percentage points, lower is better',
    numeric: true,
    sortValue: (r) => r.avgGap,
    // No ± here: the spread of the runs' own gaps is not the uncertainty of the gap of the means (see the notes).
    cell: (r) => `<span title="over ${escapeHtml(r.avgGapOver.join(', '))}">${fixed(r.avgGap)}</span>`,
  },
  {
    label: 'Mean run gap (pp)',
    help: 'the mean of the runs’ own Avg Gaps (each run against its retrained model) ± their standard deviation',
    numeric: true,
    sortValue: (r) => r.meanRunGap,
    cell: (r) => `${fixed(r.meanRunGap)}${r.runs > 1 ? `<span class="ref">± ${fixed(r.meanRunGapStd)}</span>` : ''}`,
  },
  accuracyColumn('UA', 'accuracy on the forget set; the target is the retrained model’s, not 0'),
  accuracyColumn('RA', 'accuracy on the retain set'),
  accuracyColumn('TA', 'accuracy on the test set'),
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

/** Index of the column the rows arrive sorted by (summarize sorts by Avg Gap). */
const INITIAL_SORT_COLUMN = COLUMNS.findIndex((c) => c.label.startsWith('Avg Gap'));

/**
 * The leaderboard as an HTML table. With `sortable`, headers are buttons that the page's script uses;
 * each cell carries its raw value in data-sort so sorting does not parse formatted text.
 */
export function leaderboardTableHtml(rows: readonly LeaderboardRow[], options: { sortable?: boolean; id?: string } = {}): string {
  const sortable = options.sortable ?? false;
  const head = COLUMNS.map((c, i) => {
    const sort = sortable ? ` aria-sort="${i === INITIAL_SORT_COLUMN ? 'ascending' : 'none'}"` : '';
    const label = sortable ? `<button type="button">${escapeHtml(c.label)}</button>` : escapeHtml(c.label);
    return `<th scope="col" title="${escapeHtml(c.help)}"${c.numeric ? ' class="num"' : ''}${sort}>${label}</th>`;
  }).join('');
  const body = rows
    .map((r) => {
      const cells = COLUMNS.map((c) => {
        const v = c.sortValue(r);
        const sortAttr = sortable ? ` data-sort="${v === null ? '' : escapeHtml(v)}"` : '';
        return `<td${c.numeric ? ' class="num"' : ''}${sortAttr}>${c.cell(r)}</td>`;
      }).join('');
      return `<tr${isRetrain(r.method) ? ' class="retrain"' : ''}>${cells}</tr>`;
    })
    .join('\n');
  const id = options.id ? ` id="${escapeHtml(options.id)}"` : '';
  return `<table class="leaderboard"${id}>\n<thead><tr>${head}</tr></thead>\n<tbody>\n${body}\n</tbody>\n</table>`;
}

/** Column explanations shared by the page and the notebook. */
export const COLUMN_NOTES_HTML = `<dl class="notes">
<dt>UA</dt><dd>Accuracy on the forget set D<sub>f</sub>, in percent. The target is the <em>retrained</em> model’s UA, not 0: a model retrained without D<sub>f</sub> still classifies much of it correctly, and an unlearned model that scores far below that is itself a tell.</dd>
<dt>RA / TA</dt><dd>Accuracy on the retain set D<sub>r</sub> and on the test set, in percent; the target is again the retrained model’s value (shown under each number).</dd>
<dt>Avg Gap</dt><dd>The gap of the means, as AMUN’s tables report it: for each compared metric (UA, RA, TA, and MIA when membership inference ran; the chart’s subtitle names them), |mean of the method over the runs − mean of the retrained models of the same runs|, then the mean over the metrics, in percentage points. Lower is better; retrain itself scores 0. With several forget sets it is the mean of each forget set’s gap. It has no interval: near 0, where good methods are, the absolute value makes a bootstrap interval unreliable.</dd>
<dt>Mean run gap</dt><dd>The older figure: each run’s own Avg Gap against its retrained model, averaged over the runs, “±” their standard deviation. Over the runs of one forget set it is never below Avg Gap (the triangle inequality), and above it whenever a method lands on different sides of retrain in different runs.</dd>
<dt>Unlearn time / Time vs retrain</dt><dd>Mean wall time of the unlearning step in seconds, and that time as a percentage of retraining from scratch.</dd>
<dt>Runs</dt><dd>Number of result files averaged: seeds × forget sets.</dd>
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
    ['Data checksum', distinct(p.map((x) => x.dataChecksum))],
  ];
}

export function provenanceHtml(results: readonly CellResult[]): string {
  const items = provenanceSummary(results)
    .map(([label, values]) => `<dt>${escapeHtml(label)}</dt><dd>${values.length === 0 ? '–' : values.map(escapeHtml).join('<br>')}</dd>`)
    .join('\n');
  return `<dl class="provenance">\n${items}\n</dl>`;
}
