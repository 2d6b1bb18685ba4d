export {
  summarize,
  groupLabel,
  isRetrain,
  efficacyAttackOf,
  primaryScoreOf,
  INTERVAL_METRICS,
  type IntervalMetric,
  type LeaderboardRow,
  type RowMia,
  type RowHyperParameters,
} from './summarize.js';
export {
  avgGapChartSpec,
  accuracyChartSpec,
  miaChartSpec,
  renderChartSvg,
  forJupyter,
  VEGA_LITE_SCHEMA,
  JUPYTER_VEGA_LITE_MIME,
  JUPYTER_VEGA_LITE_SCHEMA,
} from './charts.js';
export { gapMetricsLabel, gapMetricsDescription, gapMiaLabel, aucLabel, efficacyLabel, describeAuc } from './labels.js';
export { beatsMatrix, BEATS_ALPHA, type BeatsMatrix, type BeatsCell, type BeatsVerdict } from './beats.js';
export {
  escapeHtml,
  jsonForScript,
  leaderboardTableHtml,
  beatsMatrixHtml,
  tableHeaders,
  provenanceHtml,
  provenanceSummary,
  COLUMN_NOTES_HTML,
  TABLE_CSS,
  type TableOptions,
} from './html.js';
export { findBenchmarkConfigs, configLinkFor, protocolLine, linkTo, type BenchmarkConfigFile, type ConfigLink } from './configs.js';
export {
  buildLeaderboard,
  loadResultsDir,
  defaultOutDir,
  noResultsMessage,
  renderPage,
  type BenchmarkSection,
  type BuildLeaderboardOptions,
  type BuildLeaderboardResult,
  type PageInput,
} from './build.js';
export type { TopLevelSpec } from 'vega-lite';
export { rocCurves, rocChartSpec, rocAttacksIn, tprAt, type RocCurves, type RocModelCurve, type RocModelKind } from './roc.js';
