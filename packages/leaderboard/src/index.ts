export { summarize, groupLabel, isRetrain, type LeaderboardRow } from './summarize.js';
export {
  avgGapChartSpec,
  gapMetricsLabel,
  accuracyChartSpec,
  renderChartSvg,
  forJupyter,
  VEGA_LITE_SCHEMA,
  JUPYTER_VEGA_LITE_MIME,
  JUPYTER_VEGA_LITE_SCHEMA,
} from './charts.js';
export { escapeHtml, jsonForScript, leaderboardTableHtml, provenanceHtml, provenanceSummary, COLUMN_NOTES_HTML } from './html.js';
export {
  buildLeaderboard,
  loadResultsDir,
  defaultOutDir,
  noResultsMessage,
  renderPage,
  type BuildLeaderboardOptions,
  type BuildLeaderboardResult,
  type PageInput,
} from './build.js';
export type { TopLevelSpec } from 'vega-lite';
