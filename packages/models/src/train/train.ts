// The training loop: accumulate gradients over micro-batches, clip, skip non-finite steps,
// step the optimizer on a warmup + cosine schedule, evaluate, checkpoint. Everything a
// step depends on (weights, optimizer slots, step, data position, RNG) is checkpointed, so
// a run stopped at step k and resumed reproduces the uninterrupted run's losses bit for bit.
import { Rng, add, compile, gradients, mul, optim, tensor, tidy, tidyAsync, type Compiled, type Tensor } from '@titans/tensor';
import {
  CheckpointError, firstNonFinite, hasCheckpoint, loadCheckpoint, lockCheckpoint, nodeFileSystem, recoverCheckpoint, saveCheckpoint, type CheckpointLock,
} from '../checkpoint/index.js';
import type {
  TrainingBatch, BatchSource, TrainOptions, TrainResult, TrainableModel, TrainableOptimizer, TrainerState,
} from './types.js';

/** A step's three phases as compiled functions (TrainOptions.compile). */
interface CompiledStep {
  /** [loss, ...gradients] of one micro-batch. */
  readonly gradients: Compiled<[Tensor, Tensor], Tensor[]>;
  /** [norm, ...clipped gradients]. */
  readonly clip: Compiled<Tensor[], Tensor[]>;
  readonly update: Compiled<Tensor[], Tensor[]>;
}

interface StepOutcome {
  loss: number;
  gradNorm: number;
  finite: boolean;
  tokens: number;
}

/** Trains `model` for `options.steps` optimizer steps (see TrainOptions for every knob). */
export async function train<S = unknown>(options: TrainOptions<S>): Promise<TrainResult> {
  const { model, steps } = options;
  const accumulation = options.gradAccumulation ?? 1;
  const clipNorm = options.clipNorm ?? 1;
  const evalEvery = options.evalEvery ?? 0;
  const checkpointEvery = options.checkpointEvery ?? 0;
  const maxSkipped = options.maxSkippedSteps ?? 10;
  const fileSystem = options.fileSystem ?? nodeFileSystem;
  const dir = options.checkpointDir;
  if (!Number.isSafeInteger(steps) || steps < 0) throw new RangeError(`train: steps must be a non-negative integer, got ${steps}`);
  if (!Number.isSafeInteger(accumulation) || accumulation < 1) throw new RangeError(`train: gradAccumulation must be a positive integer, got ${accumulation}`);
  if (!(clipNorm >= 0)) throw new RangeError(`train: clipNorm must be >= 0, got ${clipNorm}`);
  const log = options.log ?? ((): void => undefined);

  const params = model.parameters();
  const optimizer = makeOptimizer(options.optimizer, params);
  const peak = optimizer.lr;
  const learningRate = scheduleOf(options.schedule, peak, steps);

  // ------------------------------------------------------------ lock and resume
  const ownsOptimizer = typeof options.optimizer !== 'function';
  let saved: TrainerState<S> | undefined;
  let source: BatchSource<S>;
  let runId = newRunId();
  // One writer per checkpoint directory for the whole run; readers never write.
  let lock: CheckpointLock | undefined;
  try {
    if (dir !== undefined) lock = await lockCheckpoint(dir);
    if (options.resume && dir !== undefined) {
      // Finishing an interrupted save is a write: done here, under the lock.
      await recoverCheckpoint(dir, fileSystem);
      if (await hasCheckpoint(dir, fileSystem)) {
        const loaded = await loadCheckpoint(dir, {
          model, optimizer, fileSystem, allowRevisionMismatch: options.allowRevisionMismatch === true,
          validate: (checkpoint) => {
            saved = parseTrainerState<S>(checkpoint.trainer, `${dir}/trainer.json`);
          },
        });
        if (loaded.mark) runId = loaded.mark.run;
      }
    }
    source = openSource(options.batches, saved?.data);
    await options.onReady?.({ resumedFrom: saved ? saved.step : null });
  } catch (error) {
    if (ownsOptimizer) optimizer.dispose?.();
    await lock?.release();
    throw error;
  }
  let step = saved?.step ?? 0;
  const losses = saved ? saved.losses.slice(0, step) : [];
  const evals = saved ? [...saved.evals] : [];
  let skippedSteps = saved?.skippedSteps ?? 0;
  let tokens = saved?.tokens ?? 0;
  const priorMs = saved?.elapsedMs ?? 0;
  const rng = saved ? Rng.fromState(saved.rng) : new Rng(options.seed ?? 0);
  const resumedFrom = saved ? step : null;
  const context = { step, microBatch: 0, rng };
  const compileSetting = options.compile ?? model.compilable === true;
  const compileOptions = typeof compileSetting === 'object' ? compileSetting : {};
  const compiled: CompiledStep | null = compileSetting !== false ? {
    gradients: compile((ids: Tensor, targets: Tensor): Tensor[] => {
      const value = lossOf(model, ids, targets, context);
      return [value, ...gradients(value, params)];
    }, compileOptions),
    clip: compile((...grads: Tensor[]): Tensor[] => {
      const { grads: clipped, norm } = optim.clipGradNorm(grads, clipNorm > 0 ? clipNorm : Infinity);
      return [norm, ...clipped];
    }, compileOptions),
    update: compile((...grads: Tensor[]): Tensor[] => {
      optimizer.step(grads);
      return [];
    }, compileOptions),
  } : null;

  let compileStats: TrainResult['compiled'] = null;

  // ------------------------------------------------------------ interruption
  const controller = new AbortController();
  const onAbort = (): void => controller.abort();
  options.signal?.addEventListener('abort', onAbort, { once: true });
  if (options.signal?.aborted) controller.abort();
  const sigint = options.handleSigint === true && typeof process !== 'undefined';
  if (sigint) process.once('SIGINT', onAbort);

  const runStart = performance.now();
  let runTokens = 0;
  let lastSaved = resumedFrom ?? -1;
  let consecutiveSkips = 0;
  let firstSkipped = 0;
  let interrupted = false;
  const elapsed = (): number => priorMs + performance.now() - runStart;

  const lastGood = (): string => (dir === undefined ? 'no checkpoint directory' : lastSaved < 0 ? `no checkpoint was saved in ${dir}` : `the last good checkpoint is step ${lastSaved} in ${dir}`);
  const save = async (): Promise<void> => {
    if (dir === undefined || lastSaved === step) return;
    // Never overwrite a good checkpoint with non-finite weights.
    for (const [name, p] of model.namedParameters()) {
      const bad = firstNonFinite(await p.data());
      if (bad) throw new TrainingDivergedError(`train: parameter '${name}' became non-finite (${bad.value}) by step ${step}; not saved: ${lastGood()}`, step, lastSaved < 0 ? null : lastSaved);
    }
    const started = performance.now();
    const trainer: TrainerState<S> = {
      format: 'titans-trainer', version: 1, step, totalSteps: steps, optimizerStep: optimizer.steps, lr: optimizer.lr,
      data: source.state(), rng: rng.state(), losses, evals, skippedSteps, tokens, elapsedMs: elapsed(),
    };
    try {
      await saveCheckpoint(dir, { model, optimizer, config: options.config ?? model.config, trainer, fileSystem, step, runId });
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      const text = (error as Error).message;
      const why = code && !text.startsWith(code) ? `${code}: ${text}` : text;
      throw new CheckpointSaveError(`train: could not save the checkpoint of step ${step} in ${dir} (${why}); ${lastSaved < 0 ? 'no earlier checkpoint was saved' : `the checkpoint there is still step ${lastSaved}`}`, step, lastSaved < 0 ? null : lastSaved, { cause: error });
    }
    lastSaved = step;
    log({ type: 'checkpoint', step, dir, ms: performance.now() - started });
  };

  const runEval = async (): Promise<void> => {
    if (!options.evaluate || evals.at(-1)?.step === step) return;
    model.eval?.();
    try {
      const value = await options.evaluate({ step, model });
      evals.push({ step, value });
      log({ type: 'eval', step, value });
    } finally {
      model.train?.(true);
    }
  };

  try {
    model.train?.(true);
    log({ type: 'start', step, totalSteps: steps, resumed: resumedFrom !== null, parameters: params.reduce((n, p) => n + p.size, 0) });
    while (step < steps) {
      // CPU steps finish in microtasks; without a macrotask break Ctrl-C and timers never fire.
      await yieldToEventLoop();
      if (controller.signal.aborted) {
        interrupted = true;
        break;
      }
      optimizer.lr = learningRate(step);
      context.step = step;
      const outcome = await trainStep(model, optimizer, params, source, { step, accumulation, clipNorm, rng, compiled, context });
      tokens += outcome.tokens;
      runTokens += outcome.tokens;
      step++;
      if (outcome.finite) {
        consecutiveSkips = 0;
        losses.push(outcome.loss);
        const ms = performance.now() - runStart;
        log({
          type: 'step', step, totalSteps: steps, loss: outcome.loss, lr: optimizer.lr, gradNorm: outcome.gradNorm,
          tokensPerSecond: (runTokens * 1000) / Math.max(ms, 1e-3), elapsedMs: elapsed(), etaMs: (ms / (step - (resumedFrom ?? 0))) * (steps - step),
        });
      } else {
        skippedSteps++;
        if (consecutiveSkips === 0) firstSkipped = step;
        consecutiveSkips++;
        losses.push(null);
        const reason = !Number.isFinite(outcome.loss) ? `loss is ${outcome.loss}` : `gradient norm is ${outcome.gradNorm}`;
        log({ type: 'skip', step, totalSteps: steps, loss: outcome.loss, gradNorm: outcome.gradNorm, skippedSteps, reason });
        if (consecutiveSkips > maxSkipped) {
          throw new TrainingDivergedError(
            `train: loss became non-finite at step ${firstSkipped} and stayed so for ${consecutiveSkips} steps (${reason}); the run has diverged: ${lastGood()}`,
            firstSkipped, lastSaved < 0 ? null : lastSaved,
          );
        }
      }
      if (evalEvery > 0 && step % evalEvery === 0) await runEval();
      // No periodic save in the middle of non-finite steps: the last good checkpoint stays.
      if (checkpointEvery > 0 && step % checkpointEvery === 0 && step < steps && consecutiveSkips === 0) await save();
    }
    if (!interrupted) await runEval();
    await save();
  } finally {
    // An optimizer the loop built is the loop's to free; one from a factory stays the caller's.
    if (ownsOptimizer) optimizer.dispose?.();
    if (compiled) {
      const all = Object.values(compiled).map((c) => c.stats());
      const profile = (Object.entries(compiled) as [string, Compiled<Tensor[], Tensor[]>][]).flatMap(([phase, c]) => c.stats().profile.map((p) => ({ ...p, kind: `${phase} ${p.kind}` })));
      compileStats = {
        traces: all.reduce((n, c) => n + c.traces, 0), replays: all.reduce((n, c) => n + c.replays, 0), profile: profile.sort((a, b) => b.ms - a.ms),
      };
      for (const c of Object.values(compiled)) c.dispose();
    }
    options.signal?.removeEventListener('abort', onAbort);
    if (sigint) process.off('SIGINT', onAbort);
    await lock?.release();
  }
  const elapsedMs = elapsed();
  log({ type: 'end', step, interrupted, elapsedMs, ...(resumedFrom !== null ? { runMs: elapsedMs - priorMs } : {}) });
  return { step, interrupted, losses, evals, skippedSteps, tokens, resumedFrom, compiled: compileStats };
}

const newRunId = (): string => `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 10)}`;

/** Training stopped because the loss or the weights became non-finite. */
export class TrainingDivergedError extends Error {
  override readonly name = 'TrainingDivergedError';
  constructor(message: string, readonly step: number, readonly lastCheckpointStep: number | null) {
    super(message);
  }
}

/** A checkpoint could not be written (disk full, permissions); the previous one is intact. */
export class CheckpointSaveError extends Error {
  override readonly name = 'CheckpointSaveError';
  constructor(message: string, readonly step: number, readonly lastCheckpointStep: number | null, options?: ErrorOptions) {
    super(message, options);
  }
}

interface StepSettings {
  step: number;
  accumulation: number;
  clipNorm: number;
  rng: Rng;
  compiled: CompiledStep | null;
  /** The context passed to `loss` (the compiled gradient pass reads it from here). */
  context: { step: number; microBatch: number; rng: Rng };
}

function lossOf(model: TrainableModel, ids: Tensor, targets: Tensor, context: { step: number; microBatch: number; rng: Rng }): Tensor {
  const value = model.loss(ids, targets, { step: context.step, microBatch: context.microBatch, rng: context.rng });
  if (value.size !== 1) throw new Error(`train: model.loss must return a scalar, got shape [${value.shape.join(', ')}]`);
  return value;
}

/**
 * One optimizer step inside a tidy scope, so nothing but the parameters and optimizer
 * slots survive it. The step is not applied when the loss or gradient is not finite.
 */
async function trainStep(model: TrainableModel, optimizer: TrainableOptimizer, params: Tensor[], source: BatchSource<unknown>, settings: StepSettings): Promise<StepOutcome> {
  return tidyAsync(async () => {
    let lossSum: Tensor | undefined;
    let gradSum: Tensor[] | undefined;
    let tokens = 0;
    for (let microBatch = 0; microBatch < settings.accumulation; microBatch++) {
      const batch = checkBatch(source.next(), settings.step);
      tokens += batch.batchSize * batch.sequenceLength;
      const [loss, grads] = tidy(() => {
        const shape = [batch.batchSize, batch.sequenceLength];
        const ids = tensor(batch.inputs, shape, { dtype: 'int32' });
        const targets = tensor(batch.targets, shape, { dtype: 'int32' });
        settings.context.microBatch = microBatch;
        if (settings.compiled) {
          const [value, ...grads] = settings.compiled.gradients(ids, targets);
          return [value!, grads] as const;
        }
        const value = lossOf(model, ids, targets, settings.context);
        return [value, gradients(value, params)] as const;
      });
      if (lossSum === undefined || gradSum === undefined) {
        lossSum = loss;
        gradSum = grads;
      } else {
        const previousLoss = lossSum;
        const previousGrads = gradSum;
        lossSum = add(previousLoss, loss);
        gradSum = previousGrads.map((g, i) => add(g, grads[i]!));
        // Free as we go: peak memory stays at two sets of gradients, not one per micro-batch.
        for (const t of [previousLoss, loss, ...previousGrads, ...grads]) t.dispose();
      }
    }
    const scale = 1 / settings.accumulation;
    const meanLoss = settings.accumulation === 1 ? lossSum! : mul(lossSum!, scale);
    const meanGrads = settings.accumulation === 1 ? gradSum! : gradSum!.map((g) => mul(g, scale));
    let grads: Tensor[];
    let norm: Tensor;
    if (settings.compiled) {
      [norm, ...grads] = settings.compiled.clip(...meanGrads) as [Tensor, ...Tensor[]];
    } else {
      ({ grads, norm } = optim.clipGradNorm(meanGrads, settings.clipNorm > 0 ? settings.clipNorm : Infinity));
    }
    const loss = (await meanLoss.data())[0]!;
    const gradNorm = (await norm.data())[0]!;
    const finite = Number.isFinite(loss) && Number.isFinite(gradNorm);
    if (finite) {
      if (settings.compiled) settings.compiled.update(...grads);
      else optimizer.step(grads);
    }
    return { loss, gradNorm, finite, tokens };
  });
}

function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => (typeof setImmediate === 'function' ? setImmediate(resolve) : setTimeout(resolve, 0)));
}

function checkBatch(batch: TrainingBatch, step: number): TrainingBatch {
  const expected = batch.batchSize * batch.sequenceLength;
  if (!(batch.batchSize > 0 && batch.sequenceLength > 0) || batch.inputs.length !== expected || batch.targets.length !== expected) {
    throw new Error(
      `train: step ${step} got a batch of ${batch.inputs.length} inputs and ${batch.targets.length} targets for batchSize ${batch.batchSize} x sequenceLength ${batch.sequenceLength}`,
    );
  }
  return batch;
}

function makeOptimizer(setting: TrainOptions['optimizer'], params: Tensor[]): TrainableOptimizer {
  if (typeof setting === 'function') return setting(params);
  const s = setting ?? {};
  return new optim.AdamW(params, {
    lr: s.lr ?? 3e-4,
    ...(s.betas ? { beta1: s.betas[0], beta2: s.betas[1] } : {}),
    ...(s.eps !== undefined ? { eps: s.eps } : {}),
    ...(s.weightDecay !== undefined ? { weightDecay: s.weightDecay } : {}),
  });
}

function scheduleOf(setting: TrainOptions['schedule'], peak: number, totalSteps: number): (step: number) => number {
  if (setting === 'constant') return () => peak;
  const warmupSteps = setting?.warmupSteps ?? Math.min(1000, Math.floor(totalSteps / 10));
  const min = setting?.minLr ?? peak * 0.1;
  return (step) => optim.warmupCosine(step, { peak, warmupSteps, totalSteps, min });
}

function openSource<S>(batches: TrainOptions<S>['batches'], resume: S | undefined): BatchSource<S> {
  if (typeof batches === 'function') return batches(resume);
  if (resume !== undefined) {
    if (!batches.restore) throw new Error('train: resuming needs the batch source to have restore(state), or pass a factory (resume) => source');
    batches.restore(resume);
  }
  return batches;
}

/** Checks trainer.json's shape (not its data-source state, which the source itself checks). */
export function parseTrainerState<S = unknown>(value: unknown, file = 'trainer.json'): TrainerState<S> {
  const fail = (message: string): never => {
    throw new CheckpointError(file, message);
  };
  if (typeof value !== 'object' || value === null) return fail('missing or not an object (a checkpoint without trainer state cannot be resumed)');
  const t = value as Partial<Record<keyof TrainerState, unknown>>;
  if (t.format !== 'titans-trainer' || t.version !== 1) fail(`unknown format ${JSON.stringify(t.format)} version ${JSON.stringify(t.version)}`);
  const count = (key: keyof TrainerState): void => {
    if (!Number.isSafeInteger(t[key]) || (t[key] as number) < 0) fail(`'${key}' is ${JSON.stringify(t[key])}, not a non-negative integer`);
  };
  (['step', 'totalSteps', 'optimizerStep', 'skippedSteps', 'tokens'] as const).forEach(count);
  const rng = t.rng as { seed?: unknown; counter?: unknown } | undefined;
  if (typeof rng?.seed !== 'number' || typeof rng.counter !== 'number') fail(`'rng' is ${JSON.stringify(t.rng)}, not { seed, counter }`);
  if (!Array.isArray(t.losses) || !t.losses.every((l) => l === null || typeof l === 'number')) fail(`'losses' is not a list of numbers`);
  if ((t.losses as unknown[]).length < (t.step as number)) fail(`'losses' has ${(t.losses as unknown[]).length} entries for step ${String(t.step)}`);
  if (!Array.isArray(t.evals)) fail(`'evals' is not a list`);
  return value as TrainerState<S>;
}
