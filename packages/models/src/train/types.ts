// The shapes the training loop works with: a model that returns a loss, a batch source that
// can save and restore its position, and the events the loop reports.
import type { CompileOptions, Rng, StepProfile, Tensor } from '@titans/tensor';
import type { CheckpointFileSystem, NamedParameters, StatefulOptimizer } from '../checkpoint/index.js';

/** Token ids for one step: row-major [batchSize, sequenceLength] (a TokenLoader batch fits). */
export interface TrainingBatch {
  readonly inputs: Int32Array;
  readonly targets: Int32Array;
  readonly batchSize: number;
  readonly sequenceLength: number;
}

/** A stream of batches whose position is a JSON value (`state()`), so training can resume exactly. */
export interface BatchSource<S = unknown> {
  next(): TrainingBatch;
  state(): S;
  /** Moves to a position from `state()`. Not needed when a factory builds the source. */
  restore?(state: S): void;
}

/** Builds the batch source, at the saved position when resuming (TokenLoader's `resume` option). */
export type BatchSourceFactory<S = unknown> = (resume: S | undefined) => BatchSource<S>;

/** Passed to `loss` so models with dropout draw from the checkpointed generator. */
export interface StepContext {
  /** The optimizer step being computed (0-based). */
  readonly step: number;
  /** Micro-batch index within the step (gradient accumulation). */
  readonly microBatch: number;
  readonly rng: Rng;
}

/** What the loop needs from a model; an nn.Module with a `loss` method fits. */
export interface TrainableModel extends NamedParameters {
  parameters(): Tensor[];
  /** Scalar loss of predicting `targets` [B, T] from `ids` [B, T] (both int32). */
  loss(ids: Tensor, targets: Tensor, context?: StepContext): Tensor;
  /** JSON-serialisable config, saved as config.json. */
  readonly config?: object;
  /** Switch dropout and similar layers (nn.Module has both). */
  train?(on?: boolean): unknown;
  /**
   * True when `loss` is a function of its tensors and the parameters only (no host state,
   * no use of the step context): the loop then compiles its step by default (see
   * TrainOptions.compile). The package's models set it.
   */
  readonly compilable?: boolean;
  eval?(): unknown;
}

/** What the loop needs from an optimizer (optim.AdamW and optim.SGD fit). */
export interface TrainableOptimizer extends StatefulOptimizer {
  lr: number;
  readonly steps: number;
  step(grads: readonly Tensor[]): void;
}

export interface AdamWSettings {
  /** Peak learning rate (default 3e-4). */
  lr?: number;
  betas?: readonly [number, number];
  eps?: number;
  weightDecay?: number;
}

export interface ScheduleSettings {
  /** Linear warmup steps (default: 10% of the steps, at most 1000). */
  warmupSteps?: number;
  /** Learning rate at the last step (default 10% of the peak). */
  minLr?: number;
}

export interface EvaluateContext {
  readonly step: number;
  readonly model: TrainableModel;
}

export interface TrainOptions<S = unknown> {
  model: TrainableModel;
  /** Total optimizer steps (a resumed run continues up to this many). */
  steps: number;
  batches: BatchSource<S> | BatchSourceFactory<S>;
  /** AdamW settings, or a factory for another optimizer over the given parameters. */
  optimizer?: AdamWSettings | ((params: Tensor[]) => TrainableOptimizer);
  /** Warmup + cosine decay from the optimizer's learning rate; 'constant' keeps it fixed. */
  schedule?: ScheduleSettings | 'constant';
  /** Micro-batches per step; their gradients are averaged (default 1). */
  gradAccumulation?: number;
  /** Global gradient-norm limit (default 1; 0 disables clipping). */
  clipNorm?: number;
  /** Run `evaluate` every this many steps and after the last (0 or absent: only after the last). */
  evalEvery?: number;
  /** A validation metric (e.g. loss); the model is in eval mode while it runs. */
  evaluate?: (context: EvaluateContext) => Promise<number> | number;
  /** Where checkpoints go; absent means none are written. */
  checkpointDir?: string;
  /** Save every this many steps (0 or absent: only at the end or on interruption). */
  checkpointEvery?: number;
  /** Continue from checkpointDir when it holds a checkpoint. */
  resume?: boolean;
  /**
   * Resume from weights saved at another revision of the model's architecture (or from
   * another architecture). Default false: the resume is refused with a
   * CheckpointRevisionError naming both revisions, what changed and this option, before
   * anything is written. The resumed run's next checkpoint records the current revision
   * (its weights have since been trained by the current computation).
   */
  allowRevisionMismatch?: boolean;
  /** Seed of the generator passed to `loss` (default 0). */
  seed?: number;
  log?: (event: TrainEvent) => void;
  /** Aborting stops after the current step, saves a checkpoint and returns `interrupted: true`. */
  signal?: AbortSignal;
  /** Treat Ctrl-C (SIGINT) like an abort while training (default false). */
  handleSigint?: boolean;
  /** Saved as config.json (default `model.config`). */
  config?: object;
  /** Consecutive non-finite steps tolerated before training stops with an error (default 10). */
  maxSkippedSteps?: number;
  /**
   * Run the step as compiled functions (`compile` from @titans/tensor): the gradient pass,
   * the clipping and the optimizer update are traced once and replayed, with the same
   * results as eager steps on the CPU. Default: true for models that declare
   * `compilable`, false otherwise (a loss that keeps host state, such as a call counter or
   * noise drawn on the host from the step context, would be frozen by a compiled step).
   * `false` is the eager opt-out. An object compiles with those options (CompileOptions of
   * @titans/tensor): `{ profile: true }` also times every replayed step by kind
   * (TrainResult.compiled.profile), at the cost of two clock reads per step.
   */
  compile?: boolean | CompileOptions;
  /** File operations for checkpoints (tests inject failures here). */
  fileSystem?: CheckpointFileSystem;
  /**
   * Called once the checkpoint directory is locked and any resume has loaded, before the
   * first step (a CLI writes its own files here, so a refused resume writes nothing).
   */
  onReady?: (info: { readonly resumedFrom: number | null }) => void | Promise<void>;
}

export type TrainEvent =
  | { readonly type: 'start'; readonly step: number; readonly totalSteps: number; readonly resumed: boolean; readonly parameters: number }
  | {
      readonly type: 'step';
      readonly step: number;
      readonly totalSteps: number;
      readonly loss: number;
      readonly lr: number;
      /** Global gradient norm before clipping. */
      readonly gradNorm: number;
      readonly tokensPerSecond: number;
      readonly elapsedMs: number;
      readonly etaMs: number;
    }
  | { readonly type: 'skip'; readonly step: number; readonly totalSteps: number; readonly loss: number; readonly gradNorm: number; readonly skippedSteps: number; readonly reason: string }
  | { readonly type: 'eval'; readonly step: number; readonly value: number }
  | { readonly type: 'checkpoint'; readonly step: number; readonly dir: string; readonly ms: number }
  | {
      readonly type: 'end';
      readonly step: number;
      readonly interrupted: boolean;
      /** Training time of the whole run, resumed parts included. */
      readonly elapsedMs: number;
      /** Time of this invocation alone; present when it resumed a saved run. */
      readonly runMs?: number;
    };

export interface TrainResult {
  /** Steps completed (including those before a resume). */
  step: number;
  /** True when stopped early by the signal or Ctrl-C. */
  interrupted: boolean;
  /** Loss of every step from 0, null for skipped (non-finite) steps. */
  losses: (number | null)[];
  evals: { step: number; value: number }[];
  skippedSteps: number;
  /** Tokens trained on, all runs together. */
  tokens: number;
  /** The step the run resumed from, or null for a fresh start. */
  resumedFrom: number | null;
  /**
   * Traces and replays of the compiled step's functions (all three together), or null when it
   * ran eagerly; `profile` (with `compile: { profile: true }`, else empty) is the replays' time by
   * step kind, each kind prefixed with its phase (`gradients`, `clip`, `update`), slowest first.
   */
  compiled: { readonly traces: number; readonly replays: number; readonly profile: readonly StepProfile[] } | null;
}

/** trainer.json: everything besides weights and optimizer slots that an exact resume needs. */
export interface TrainerState<S = unknown> {
  readonly format: 'titans-trainer';
  readonly version: 1;
  readonly step: number;
  readonly totalSteps: number;
  readonly optimizerStep: number;
  readonly lr: number;
  readonly data: S;
  readonly rng: { seed: number; counter: number };
  readonly losses: (number | null)[];
  readonly evals: { step: number; value: number }[];
  readonly skippedSteps: number;
  readonly tokens: number;
  readonly elapsedMs: number;
}
