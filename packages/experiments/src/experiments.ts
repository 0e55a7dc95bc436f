// The experiments of a reproduction plan and how to run one. An experiment is a training
// run (long-context or MQAR track) or an evaluation of a trained model (S-NIAH, held-out
// perplexity by position, MQAR accuracy by number of pairs). Each one writes its result to
// results/<id>.json atomically; training writes checkpoints (train()'s checkpointDir) so an
// interrupted run continues from the last one, and evaluations load the final checkpoint.
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ByteTokenizer, deriveSeed, loadCorpus } from '@titans/data';
import {
  evaluateMqar, evaluateNiah, evaluatePasskey, evaluatePerplexity, toJson, type AccuracyStat, type MqarResult, type NiahResult, type PositionBucket,
} from '@titans/eval';
import {
  architectureRevision, asGenerativeModel, asNextTokenModel, asScoringModel, countParameters, createModel, loadCheckpoint, parameterBreakdown, train,
  type BatchSourceFactory, type ModelConfig, type TitansLanguageModel, type TrainEvent,
} from '@titans/models';
import { passkeyPrompt, type FillerKind } from './filler.ts';
import { planModelConfig, planModels } from './models.ts';
import type { CustomTrackSettings, ModelName, ReproducePlan, Track, TrainRecipe } from './recipes.ts';
import { trackDefinition, type TrackEvaluation } from './registry.ts';
import { longContextSource, mqarSource, passkeySource } from './tasks.ts';

/** 'track': the evaluation of a registered track (registry.ts). */
export type ExperimentKind = 'train' | 'niah' | 'perplexity' | 'mqar' | 'passkey' | 'track';

export interface Experiment {
  /** File-safe id, e.g. 'train-long-mac', 'niah-mac'. */
  readonly id: string;
  readonly kind: ExperimentKind;
  readonly model: ModelName;
  readonly track: Track;
  /** Experiments whose results this one needs (its training run). */
  readonly after: readonly string[];
  /** Seed of the model, its data and its evaluation (the plan's `seed` unless the plan has several). */
  readonly seed: number;
}

/** The plan's seeds, its `seed` first. */
export function planSeeds(plan: ReproducePlan): number[] {
  return [plan.seed, ...(plan.seeds ?? []).filter((s) => s !== plan.seed)];
}

/** The plan as it runs for one seed (the same object for the plan's own seed). */
export function seededPlan(plan: ReproducePlan, seed: number): ReproducePlan {
  return seed === plan.seed ? plan : { ...plan, seed };
}

/** An experiment id without its seed suffix: the id of the same experiment for the plan's first seed. */
export function baseExperimentId(id: string): string {
  return id.replace(/-s\d+$/, '');
}

/**
 * Every experiment of the plan in a runnable order (each training before its evaluations):
 * the plan's first seed first, with the ids the plans have always had, then the other seeds
 * with '-s<seed>' ids.
 */
export function planExperiments(plan: ReproducePlan): Experiment[] {
  const out: Experiment[] = [];
  planSeeds(plan).forEach((seed, i) => {
    const suffix = i === 0 ? '' : `-s${seed}`;
    const add = (id: string, kind: ExperimentKind, model: ModelName, track: Track, after: string[] = []): void => {
      out.push({ id: `${id}${suffix}`, kind, model, track, after: after.map((a) => `${a}${suffix}`), seed });
    };
    // The passkey track first: it is the cheapest evidence that the models learn at all.
    for (const model of plan.passkey.models) {
      if (!(plan.passkey.seedsByModel?.[model] ?? [seed]).includes(seed)) continue;
      add(`train-passkey-${model}`, 'train', model, 'passkey');
      add(`passkey-${model}`, 'passkey', model, 'passkey', [`train-passkey-${model}`]);
    }
    const mqarModels = mqarTrackModels(plan);
    const addMqar = (model: ModelName): void => {
      add(`train-mqar-${model}`, 'train', model, 'mqar');
      add(`mqar-${model}`, 'mqar', model, 'mqar', [`train-mqar-${model}`]);
    };
    const longModels = longContextModels(plan);
    for (const model of longModels) {
      add(`train-long-${model}`, 'train', model, 'long');
      add(`niah-${model}`, 'niah', model, 'long', [`train-long-${model}`]);
      add(`perplexity-${model}`, 'perplexity', model, 'long', [`train-long-${model}`]);
      if (mqarModels.includes(model)) addMqar(model);
    }
    // Models trained on MQAR and not on the bytes track (e.g. the Atlas and Hope families of the full plan).
    for (const model of mqarModels) if (!longModels.includes(model)) addMqar(model);
    for (const [track, settings] of Object.entries(plan.tracks ?? {})) {
      for (const model of settings.models) {
        add(`train-${track}-${model}`, 'train', model, track);
        add(`${track}-${model}`, 'track', model, track, [`train-${track}-${model}`]);
      }
    }
  });
  return out;
}

// ---------------------------------------------------------------- result files

/** What results/<id>.json holds. */
export interface ResultFile<R = unknown> {
  readonly id: string;
  readonly plan: string;
  /** Hash of everything the result depends on; a result with another hash is stale. */
  readonly specHash: string;
  /** Wall-clock seconds (varies run to run; everything else is deterministic given the seed). */
  readonly seconds: number;
  readonly result: R;
}

/** FNV-1a of a string, as 8 hex digits. */
export function hashText(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(16).padStart(8, '0');
}

/** The models trained on the MQAR track (the plan's list, else every model of the plan). */
export function mqarTrackModels(plan: ReproducePlan): ModelName[] {
  return plan.mqar.models ? [...plan.mqar.models] : planModels(plan);
}

/** The models trained on the bytes (long-context) track (the plan's list, else every model of the plan). */
export function longContextModels(plan: ReproducePlan): ModelName[] {
  return plan.longContext.models ? [...plan.longContext.models] : planModels(plan);
}

/** The training recipe of one model on one track (the MQAR and passkey tracks may change a model's). */
export function trainRecipe(plan: ReproducePlan, model: ModelName, track: Track): TrainRecipe {
  if (track === 'long') return plan.longContext.train;
  const { train, trainByModel } = track === 'mqar' ? plan.mqar : track === 'passkey' ? plan.passkey : customTrack(plan, track);
  const change = trainByModel?.[model];
  // Spread over `train`, so the keys keep their order and a spec hash depends only on the values.
  return change === undefined ? train : { ...train, ...change };
}

/**
 * What a model's results on a track depend on besides its config: the track's settings,
 * without the lists of models and with the model's own training recipe.
 */
export function trackSettings(plan: ReproducePlan, track: Track, model: ModelName): unknown {
  if (track === 'long') {
    // Without its list of models (absent in the plans before it had one: the same JSON).
    const { models: _models, ...settings } = plan.longContext;
    return settings;
  }
  const { models: _models, trainByModel: _train, ...settings } = track === 'mqar' ? plan.mqar : track === 'passkey' ? plan.passkey : customTrack(plan, track);
  // A passkey model's seeds decide which experiments exist, not what one of them depends on.
  if ('seedsByModel' in settings) delete (settings as { seedsByModel?: unknown }).seedsByModel;
  return { ...settings, train: trainRecipe(plan, model, track) };
}

/** The settings of a registered track in the plan. */
export function customTrack(plan: ReproducePlan, track: Track): CustomTrackSettings {
  const settings = plan.tracks?.[track];
  if (!settings) throw new Error(`plan '${plan.name}' has no track '${track}'`);
  return settings;
}

/**
 * What a model's results and checkpoints depend on, hashed into their names. The
 * architecture's revision (@titans/models) is part of it from revision 2 on, so a resumed
 * run redoes a changed architecture's experiments; revision 1 is left out, so the hashes of
 * runs made before revisions existed stay valid.
 */
function trackSpec(plan: ReproducePlan, model: ModelName, track: Track): object {
  const config = trackConfig(plan, model, track);
  const revision = architectureRevision(config.architecture);
  return { seed: plan.seed, config, settings: trackSettings(plan, track, model), ...(revision > 1 ? { revision } : {}) };
}

/** The hash of what an experiment depends on: the plan's settings, its model config, its kind. */
export function experimentHash(plan: ReproducePlan, experiment: Experiment): string {
  return hashText(JSON.stringify({ kind: experiment.kind, ...trackSpec(seededPlan(plan, experiment.seed), experiment.model, experiment.track) }));
}

export function resultPath(out: string, id: string): string {
  return join(out, 'results', `${id}.json`);
}

/** Writes JSON through a temporary file and a rename, so readers never see half a file. */
export function writeJsonAtomically(path: string, value: unknown): void {
  mkdirSync(dirname(path), { recursive: true });
  const temporary = `${path}.tmp-${process.pid}`;
  writeFileSync(temporary, toJson(value));
  renameSync(temporary, path);
}

/** The stored result of an experiment when it exists and matches the current spec, else null. */
export function readResult<R = unknown>(out: string, plan: ReproducePlan, experiment: Experiment): ResultFile<R> | null {
  const path = resultPath(out, experiment.id);
  if (!existsSync(path)) return null;
  try {
    const file = JSON.parse(readFileSync(path, 'utf8')) as ResultFile<R>;
    return file.specHash === experimentHash(plan, experiment) ? file : null;
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------- results

export interface TrainResultSummary {
  readonly model: ModelName;
  readonly track: Track;
  readonly config: ModelConfig;
  readonly parameters: number;
  readonly breakdown: ReturnType<typeof parameterBreakdown>;
  readonly steps: number;
  readonly tokens: number;
  readonly losses: (number | null)[];
  /** Mean loss over the last 10% of steps. */
  readonly finalLoss: number;
  readonly trainSeconds: number;
}

export interface NiahExperimentResult {
  readonly model: ModelName;
  readonly trainLength: number;
  /** One harness result per task (records kept: each prompt's output). */
  readonly tasks: NiahResult[];
}

export interface PerplexityExperimentResult {
  readonly model: ModelName;
  readonly documents: string[];
  readonly predictions: number;
  readonly meanNll: number;
  readonly perplexity: number;
  readonly bitsPerByte: number;
  /** Buckets of positions summed over documents. */
  readonly buckets: PositionBucket[];
}

export interface PasskeyCell extends AccuracyStat {
  readonly length: number;
  readonly depth: number;
  /** Prompts whose model outputs were not finite (counted as wrong; absent in results written before it was recorded). */
  readonly nonFinite?: number;
}

/** Accuracy at one passkey length (all depths) and how many of its prompts had non-finite outputs (absent before it was recorded). */
export interface PasskeyLengthAccuracy {
  readonly length: number;
  readonly accuracy: number;
  readonly nonFinite?: number;
}

/** One passkey prompt's greedy output ('' with `nonFinite` when the model's outputs were not finite). */
export interface PasskeyOutputRecord {
  readonly length: number;
  readonly depth: number;
  readonly passkey: string;
  readonly output: string;
  readonly correct: boolean;
  readonly nonFinite?: boolean;
}

export interface PasskeyExperimentResult {
  readonly model: ModelName;
  readonly trainLength: number;
  readonly lengths: number[];
  readonly depths: number[];
  readonly cells: PasskeyCell[];
  /** Accuracy at each length (all depths). */
  readonly byLength: PasskeyLengthAccuracy[];
  readonly records: PasskeyOutputRecord[];
  /** The same prompts (passkeys, depths) with filler never seen in training (plans with `passkey.heldOutFiller`). */
  readonly heldOut?: PasskeyFillerResult;
}

export interface MqarExperimentResult {
  readonly model: ModelName;
  readonly results: MqarResult[];
}

// ---------------------------------------------------------------- running one experiment

export interface RunContext {
  readonly out: string;
  readonly log: (line: string) => void;
  readonly signal?: AbortSignal;
  /** Train and decode eagerly instead of with compiled steps (--eager). */
  readonly eager?: boolean;
}

export function trackConfig(plan: ReproducePlan, model: ModelName, track: Track): ModelConfig {
  return planModelConfig(plan, model, track);
}

export function checkpointDir(out: string, plan: ReproducePlan, model: ModelName, track: Track): string {
  const hash = hashText(JSON.stringify(trackSpec(plan, model, track)));
  return join(out, 'checkpoints', `${track}-${model}-${hash}`);
}

/** Runs one experiment and returns its result (the caller stores it). */
export async function runExperiment(planOfAllSeeds: ReproducePlan, experiment: Experiment, context: RunContext): Promise<unknown> {
  const plan = seededPlan(planOfAllSeeds, experiment.seed);
  switch (experiment.kind) {
    case 'train':
      return trainModel(plan, experiment, context);
    case 'niah':
      return evaluateNiahExperiment(plan, experiment, context);
    case 'perplexity':
      return evaluatePerplexityExperiment(plan, experiment, context);
    case 'mqar':
      return evaluateMqarExperiment(plan, experiment, context);
    case 'passkey':
      return evaluatePasskeyExperiment(plan, experiment, context);
    case 'track':
      return evaluateTrackExperiment(plan, experiment, context);
  }
}

/** What a registered track's evaluation experiment stores. */
export interface TrackExperimentResult extends TrackEvaluation {
  readonly model: ModelName;
  readonly track: Track;
}

async function evaluateTrackExperiment(plan: ReproducePlan, experiment: Experiment, context: RunContext): Promise<TrackExperimentResult> {
  const model = await loadTrained(plan, experiment.model, experiment.track, context.out);
  const definition = trackDefinition(experiment.track);
  const log = (line: string): void => context.log(`${experiment.id}: ${line}`);
  const result = await definition.evaluate(model, customTrack(plan, experiment.track), { seed: deriveSeed(plan.seed, `${experiment.track}-eval`), eager: context.eager === true, log });
  return { model: experiment.model, track: experiment.track, ...result };
}

async function trainModel(plan: ReproducePlan, experiment: Experiment, context: RunContext): Promise<TrainResultSummary> {
  const { model: name, track } = experiment;
  const config = trackConfig(plan, name, track);
  const model = createModel(config);
  const recipe = trainRecipe(plan, name, track);
  const seed = deriveSeed(plan.seed, 'data', track);
  // Curriculum over length: absent keeps the sources exactly as before (same batches, same hashes).
  const curriculum = recipe.lengthCurriculum?.length ? { curriculum: { fractions: recipe.lengthCurriculum, steps: recipe.steps } } : {};
  let batches: BatchSourceFactory<unknown>;
  if (track === 'long') {
    batches = longContextSource({
      documents: (plan.longContext.mix?.text ?? ['sotu']).flatMap((corpus) => loadCorpus(corpus, { split: 'train' })),
      trainLength: plan.longContext.trainLength, batchSize: recipe.batchSize,
      seed, lmFraction: plan.longContext.lmFraction, tasks: plan.longContext.mix?.tasks ?? plan.longContext.niah.tasks, ...curriculum,
    }) as BatchSourceFactory<unknown>;
  } else if (track === 'mqar') {
    batches = mqarSource({ vocabSize: plan.mqar.vocabSize, sequenceLength: plan.mqar.sequenceLength, trainPairs: plan.mqar.trainPairs, batchSize: recipe.batchSize, seed, ...curriculum }) as BatchSourceFactory<unknown>;
  } else if (track === 'passkey') {
    batches = passkeySource({ length: plan.passkey.trainLength, batchSize: recipe.batchSize, seed, digits: plan.passkey.digits, ...curriculum }) as BatchSourceFactory<unknown>;
  } else {
    batches = trackDefinition(track).batches(customTrack(plan, track), { seed, batchSize: recipe.batchSize });
  }
  const every = Math.max(1, Math.round(recipe.steps / 10));
  let elapsedMs = 0;
  const result = await train({
    model, steps: recipe.steps, batches, compile: context.eager !== true,
    optimizer: { lr: recipe.lr, weightDecay: recipe.weightDecay },
    schedule: { warmupSteps: recipe.warmupSteps },
    clipNorm: recipe.clipNorm,
    seed: plan.seed,
    checkpointDir: checkpointDir(context.out, plan, name, track),
    checkpointEvery: plan.checkpointEvery,
    resume: true,
    ...(context.signal ? { signal: context.signal } : {}),
    log: (event: TrainEvent) => {
      if (event.type === 'start' && event.resumed) context.log(`${experiment.id}: resumed at step ${event.step}/${event.totalSteps}`);
      if (event.type === 'step' && (event.step % every === 0 || event.step === event.totalSteps)) {
        context.log(`${experiment.id}: step ${event.step}/${event.totalSteps} loss ${event.loss.toFixed(3)} ${Math.round(event.tokensPerSecond)} tok/s, ETA ${Math.round(event.etaMs / 1000)} s`);
      }
      if (event.type === 'end') elapsedMs = event.elapsedMs;
      if (event.type === 'skip') context.log(`${experiment.id}: skipped step ${event.step} (${event.reason})`);
    },
  });
  if (result.interrupted) throw new InterruptedError(experiment.id);
  const tail = result.losses.slice(-Math.max(1, Math.round(result.losses.length / 10))).filter((l): l is number => l !== null);
  return {
    model: name, track, config, parameters: countParameters(model), breakdown: parameterBreakdown(config),
    steps: result.step, tokens: result.tokens, losses: result.losses,
    finalLoss: tail.reduce((s, l) => s + l, 0) / Math.max(1, tail.length),
    trainSeconds: elapsedMs / 1000,
  };
}

/** Thrown when a run is stopped (Ctrl-C): the checkpoint is saved, no result is written. */
export class InterruptedError extends Error {
  override readonly name = 'InterruptedError';
  constructor(id: string) {
    super(`${id}: interrupted (checkpoint saved; run again with --resume)`);
  }
}

/** The trained model of a track, loaded from its final checkpoint. */
async function loadTrained(plan: ReproducePlan, name: ModelName, track: Track, out: string): Promise<TitansLanguageModel> {
  const config = trackConfig(plan, name, track);
  const model = createModel(config);
  // The directory is named by a hash of the track spec, which includes the architecture's
  // revision: a checkpoint in it that records none was saved at the current one.
  await loadCheckpoint(checkpointDir(out, plan, name, track), { model, assumeRevision: architectureRevision(config.architecture) });
  model.eval();
  return model;
}

async function evaluateNiahExperiment(plan: ReproducePlan, experiment: Experiment, context: RunContext): Promise<NiahExperimentResult> {
  const model = await loadTrained(plan, experiment.model, 'long', context.out);
  const { trainLength, niah } = plan.longContext;
  const tokenizer = new ByteTokenizer();
  const lengths = niah.multiples.map((m) => m * trainLength);
  const tasks: NiahResult[] = [];
  for (const task of niah.tasks) {
    const result = await evaluateNiah({
      model: asGenerativeModel(model, { name: experiment.model, chunkLength: 512, compile: context.eager !== true }), tokenizer, task, lengths, depths: niah.depths,
      samplesPerCell: niah.samplesPerCell, seed: deriveSeed(plan.seed, 'niah-eval'),
    });
    context.log(`${experiment.id}: ${task.toUpperCase()} ${result.cells.length} cells, accuracy ${(100 * result.overall.accuracy).toFixed(1)}%${result.nonFinite > 0 ? ` (${result.nonFinite} of ${result.overall.total} non-finite)` : ''}`);
    tasks.push(result);
  }
  return { model: experiment.model, trainLength, tasks };
}

async function evaluatePerplexityExperiment(plan: ReproducePlan, experiment: Experiment, context: RunContext): Promise<PerplexityExperimentResult> {
  const model = await loadTrained(plan, experiment.model, 'long', context.out);
  const { documents: count, bytes, bucketSize } = plan.longContext.perplexity;
  const tokenizer = new ByteTokenizer();
  const documents = loadCorpus('sotu', { split: 'test' }).slice(0, count);
  const sums: { start: number; end: number; count: number; sum: number }[] = [];
  let totalNll = 0;
  let predictions = 0;
  let byteCount = 0;
  for (const doc of documents) {
    const tokens = Int32Array.from(tokenizer.encode(doc.text).slice(0, bytes));
    const result = await evaluatePerplexity({ model: asScoringModel(model, { name: experiment.model, chunkLength: 512 }), tokens, bucketSize, tokenizer });
    totalNll += result.sumNll;
    predictions += result.predictions;
    byteCount += result.byteCount ?? result.predictions;
    result.buckets.forEach((b, i) => {
      const slot = (sums[i] ??= { start: b.start, end: b.end, count: 0, sum: 0 });
      slot.count += b.count;
      slot.sum += b.meanNll * b.count;
    });
  }
  const buckets = sums.map((s) => ({ start: s.start, end: s.end, count: s.count, meanNll: s.sum / s.count, perplexity: Math.exp(s.sum / s.count) }));
  const meanNll = totalNll / predictions;
  context.log(`${experiment.id}: perplexity ${Math.exp(meanNll).toFixed(3)} (${predictions} bytes)`);
  return {
    model: experiment.model, documents: documents.map((d) => d.id), predictions, meanNll, perplexity: Math.exp(meanNll),
    bitsPerByte: totalNll / Math.LN2 / byteCount, buckets,
  };
}

async function evaluateMqarExperiment(plan: ReproducePlan, experiment: Experiment, context: RunContext): Promise<MqarExperimentResult> {
  const model = await loadTrained(plan, experiment.model, 'mqar', context.out);
  const results: MqarResult[] = [];
  for (const pairs of plan.mqar.evalPairs) {
    const result = await evaluateMqar({
      model: asNextTokenModel(model, { name: experiment.model, chunkLength: 512 }), vocabSize: plan.mqar.vocabSize,
      sequenceLength: plan.mqar.sequenceLength, numPairs: pairs, samples: plan.mqar.evalSamples, seed: deriveSeed(plan.seed, 'mqar-eval'),
    });
    results.push(result);
  }
  context.log(`${experiment.id}: ${results.map((r) => `N=${r.numPairs} ${(100 * r.accuracy).toFixed(1)}%`).join(', ')}`);
  return { model: experiment.model, results };
}

/** Accuracy by length and cell, and each prompt's output, of one kind of passkey filler. */
export interface PasskeyFillerResult {
  readonly cells: PasskeyCell[];
  readonly byLength: PasskeyLengthAccuracy[];
  readonly records: PasskeyOutputRecord[];
}

/** Greedy generation after each compact passkey prompt; correct when the passkey appears whole. */
async function evaluatePasskeyExperiment(plan: ReproducePlan, experiment: Experiment, context: RunContext): Promise<PasskeyExperimentResult> {
  const model = await loadTrained(plan, experiment.model, 'passkey', context.out);
  const { trainLength, multiples, depths, samplesPerCell, digits } = plan.passkey;
  const tokenizer = new ByteTokenizer();
  const generative = asGenerativeModel(model, { name: experiment.model, chunkLength: 512, compile: context.eager !== true });
  const run = async (filler: FillerKind): Promise<{ lengths: number[]; depths: number[]; result: PasskeyFillerResult }> => {
    const result = await evaluatePasskey({
      model: generative, tokenizer,
      lengths: multiples.map((m) => m * trainLength), depths, samplesPerCell, digits, seed: plan.seed, maxNewTokens: digits + 2,
      prompt: (options) => {
        const sample = passkeyPrompt({ ...options, filler });
        return { passkey: sample.passkey, answer: sample.answer, tokens: () => tokenizer.encode(sample.prompt) };
      },
    });
    // The stored result keeps its own (smaller) shape, so results files written before stay comparable.
    // A prompt whose outputs were not finite (the model diverged at that length) counts as wrong and in nonFinite.
    const byLength = result.byLength.map(({ length, accuracy, total, nonFinite }) => ({ length, accuracy, nonFinite, total }));
    context.log(`${experiment.id}: ${filler} filler: ${byLength.map((b) => `${b.length} bytes ${(100 * b.accuracy).toFixed(0)}%${b.nonFinite > 0 ? ` (${b.nonFinite} of ${b.total} non-finite)` : ''}`).join(', ')}`);
    return {
      lengths: [...result.lengths], depths: [...result.depths],
      result: {
        cells: result.cells.map(({ length, depth, correct, total, accuracy, ci95, nonFinite }) => ({ length, depth, correct, total, accuracy, ci95, nonFinite })),
        byLength: byLength.map(({ length, accuracy, nonFinite }) => ({ length, accuracy, nonFinite })),
        records: result.records.map(({ length, depth, passkey, output, correct, nonFinite }) => ({ length, depth, passkey, output, correct, nonFinite })),
      },
    };
  };
  const seen = await run('seen');
  const heldOut = plan.passkey.heldOutFiller ? (await run('held-out')).result : undefined;
  return { model: experiment.model, trainLength, lengths: seen.lengths, depths: seen.depths, ...seen.result, ...(heldOut ? { heldOut } : {}) };
}

/** Runs one experiment and writes results/<id>.json; false when it failed or was interrupted. */
export async function runAndStore(plan: ReproducePlan, experiment: Experiment, context: RunContext): Promise<boolean> {
  const started = performance.now();
  context.log(`${experiment.id}: start`);
  try {
    const result = await runExperiment(plan, experiment, context);
    const seconds = (performance.now() - started) / 1000;
    const file: ResultFile = { id: experiment.id, plan: plan.name, specHash: experimentHash(plan, experiment), seconds, result };
    writeJsonAtomically(resultPath(context.out, experiment.id), file);
    context.log(`${experiment.id}: done in ${seconds.toFixed(1)} s`);
    return true;
  } catch (error) {
    context.log(error instanceof InterruptedError ? error.message : `${experiment.id}: FAILED: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    return false;
  }
}
