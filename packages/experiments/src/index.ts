// @titans/experiments: the reproduction engine of titans-ts. Plans (which models are trained
// on which tracks, for how long, how they are evaluated), the tuned recipes, the training
// tracks' batch sources, one experiment's run and its typed result, the report, and runPlan,
// which runs a whole plan resumably (`titans reproduce` is runPlan plus argument parsing).
export { runPlan, resolvePlan, validatePlan, ReproduceError, type RunPlanOptions, type PlanSummary, type PlanProgress } from './run.ts';
export {
  PLANS, MQAR_RECIPE, PASSKEY_RECIPE, TINY_MODEL, GATE_BIAS, ABLATIONS, SCALE_MODEL, SCALE_PASSKEY_MODEL, SCALE_MQAR_MODEL, withBudget,
  type PlanName, type ReproducePlan, type ModelRecipe, type TrainRecipe, type TrainByModel, type Track, type BuiltinTrack, type ModelName, type AblationName,
  type LongContextTrack, type MqarTrack, type PasskeyTrack, type CustomTrackSettings, type RetrievalTask, type Budget,
} from './recipes.ts';
export {
  registerModel, registerTrack, modelVariant, trackDefinition,
  type ModelVariant, type TrackDefinition, type TrackEvaluation, type TrackContext,
} from './registry.ts';
export { timeSeriesTrack, dnaTrack, quantize, binCentre, fitLinearForecast } from './extra-tracks.ts';
export { CALIBRATION, estimatePlan, planCalibration, formatEstimate, type Calibration, type ExperimentEstimate, type PlanEstimate } from './estimate.ts';
export {
  planExperiments, planSeeds, seededPlan, baseExperimentId, customTrack, runExperiment, runAndStore, readResult, resultPath, experimentHash, checkpointDir, trackConfig, trackSettings, trainRecipe,
  mqarTrackModels, longContextModels, hashText, writeJsonAtomically, InterruptedError,
  type Experiment, type ExperimentKind, type ResultFile, type RunContext, type TrainResultSummary, type NiahExperimentResult,
  type PerplexityExperimentResult, type PasskeyExperimentResult, type PasskeyCell, type PasskeyLengthAccuracy, type PasskeyOutputRecord, type MqarExperimentResult, type TrackExperimentResult,
} from './experiments.ts';
export { BYTE_VOCAB, isAblation, matchedMlpHidden, planModelConfig, planModels, recipeConfig, trackModel } from './models.ts';
export {
  IGNORE, isTextStep, longContextSource, mqarSource, niahAnswerBytes, passkeySource, retrievalExample,
  type LongContextSourceOptions, type LongContextState, type MqarSourceOptions,
} from './tasks.ts';
export {
  PAPER, buildFigures, buildTables, collectResults, meanAndSpread, modelLabel, provenance, writeReproduceReport,
  type CollectedResults, type Provenance, type ReportOutput, type Tables,
} from './report.ts';
export {
  PAPER_ATLAS_HOPE, PRINTED_AVERAGE_MISMATCHES, ATLAS_HOPE_MODELS, beyondTitansTable, beyondTitansNote, isBeyondTitans, quotedTable, quotedTableCaption,
  type PaperId, type PaperSource, type QuotedTable, type BeyondTitansOurs,
} from './paper-atlas-hope.ts';
export { HELD_OUT_FILLER_SOURCE, heldOutFillerSentences, passkeyPrompt, trainingTexts, type FillerKind } from './filler.ts';
export {
  GPU_ASSUMPTION, ISSUE_TOKENS_PER_MODEL, checkTargets, formatCost, formatTargets, needlesInsideWindow, scaleUpCost,
  type GpuAssumption, type ScaleUpCost, type TargetCheck, type TargetReport,
} from './targets.ts';
export { checkCurriculum, curriculumLengths, curriculumStage, retrievalFits, retrievalTasksAt, type LengthCurriculum } from './tasks.ts';
export type { PasskeyFillerResult } from './experiments.ts';
export { DOCS_BUDGET_BYTES, DOC_FAMILIES, exportForDocs, type DocsExport, type ExportForDocsOptions, type ExportedModel } from './export-docs.ts';
