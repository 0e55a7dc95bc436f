// @titans/eval: model interfaces, baselines, metrics, evaluation harnesses (S-NIAH, passkey,
// BABILong-style, MQAR, perplexity) and dependency-free reports (JSON, SVG, HTML).

export type { GenerativeModel, ScoringModel, NextTokenModel, GenerateOptions } from './model.ts';
export { NeedleLookupModel, LastWindowModel, BabilongOracleModel, AssociativeRecallModel, NgramModel } from './baselines.ts';
export {
  perplexity,
  bitsPerByte,
  bucketedPerplexity,
  exactMatch,
  stringMatch,
  meanSquaredError,
  meanAbsoluteError,
  wilsonInterval,
  accuracyStat,
  type PositionBucket,
  type AccuracyStat,
} from './metrics.ts';
export { checkNiahAnswer, checkBabilongAnswer, firstSentence } from './checks.ts';
export { isNonFiniteOutputError, type EvaluationProgress, type LengthDepthCell, type LengthDepthRecord, type LengthDepthResult } from './harness/grid.ts';
export { evaluateNiah, niahAccuracyMatrix, type NiahEvalOptions, type NiahResult, type NiahCell, type NiahRecord } from './harness/niah.ts';
export {
  evaluatePasskey,
  passkeyAccuracyMatrix,
  type PasskeyEvalOptions,
  type PasskeyPrompt,
  type PasskeyPromptOptions,
  type PasskeyResult,
  type PasskeyCell,
  type PasskeyLengthStat,
  type PasskeyRecord,
} from './harness/passkey.ts';
export { evaluateBabilong, type BabilongEvalOptions, type BabilongResult, type BabilongCell, type BabilongRecord } from './harness/babilong.ts';
export { evaluateMqar, type MqarEvalOptions, type MqarResult } from './harness/mqar.ts';
export { evaluatePerplexity, type PerplexityEvalOptions, type PerplexityResult } from './harness/perplexity.ts';
export { escapeXml, formatTokens, formatNumber, linearScale, logScale, niceDomain, SERIES_COLORS, type Scale } from './report/svg.ts';
export {
  heatmapSvg,
  niahHeatmapSvg,
  lineChartSvg,
  barChartSvg,
  surpriseChartSvg,
  viridis,
  type HeatmapOptions,
  type LineChartOptions,
  type LineSeries,
  type BarChartOptions,
  type BarSeries,
  type SurpriseChartOptions,
} from './report/charts.ts';
export { HtmlReport, toJson, type TableCell } from './report/html.ts';
export { writeReport, type ReportBundle } from './report/files.ts';
