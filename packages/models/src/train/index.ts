// Training: the loop (accumulation, clipping, NaN guard, schedule, eval, exact resume) and a progress display.
export * from './types.js';
export { CheckpointSaveError, TrainingDivergedError, parseTrainerState, train } from './train.js';
export { formatDuration, progressLogger, type ProgressOptions, type ProgressStream } from './progress.js';
