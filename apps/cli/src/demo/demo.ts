// The main job: train a tiny MAG (Titans, memory as a gate) and a sliding-window
// Transformer of the same size on compact passkey retrieval + SOTU text, within a time
// budget, then evaluate both on passkey prompts longer than the attention window (1x, 2x
// and 4x the training length) and on held-out SOTU text, and write a report. Every number
// it prints is measured here.
import { join } from 'node:path';
import { ByteTokenizer, compactPasskey, type Tokenizer } from '@titans/data';
import type { PerplexityResult } from '@titans/eval';
import { countParameters, createModel, formatDuration, progressLogger, type LanguageModel, type TrainEvent } from '@titans/models';
import { compile, gradients, optim, tidy, tensor, type Tensor } from '@titans/tensor';
import { fixed, formatTable, grouped, percent } from '../format.js';
import { progressStream } from '../progress.js';
import type { RunConfig } from '../run-config.js';
import { batchSource, encodeAnswerTargets, runTraining, WeightedLossModel, type BatchExtras } from '../training.js';
import { evaluateCorpusPerplexity, evaluatePasskey, type PasskeyPrompt, type PasskeyResult } from '../evaluation.js';
import { demoModelConfig, type DemoRecipe } from './recipe.js';

export const DEMO_MODELS = [
  { key: 'mag', label: 'Titans MAG' },
  { key: 'swa', label: 'SWA Transformer' },
] as const;
export type DemoModelKey = (typeof DEMO_MODELS)[number]['key'];

export interface DemoModelResult {
  readonly key: DemoModelKey;
  readonly label: string;
  readonly parameters: number;
  readonly steps: number;
  readonly plannedSteps: number;
  readonly secondsPerStep: number;
  readonly trainSeconds: number;
  readonly tokens: number;
  readonly finalLoss: number | null;
  /** Training loss per step (null: skipped step). */
  readonly losses: readonly (number | null)[];
  /** Loss on the passkey answer tokens per step (null where not measured). */
  readonly answerLosses: readonly (number | null)[];
  readonly validation: readonly { step: number; loss: number; answerLoss: number | null }[];
  readonly passkey: PasskeyResult;
  readonly perplexity: PerplexityResult;
  readonly evalSeconds: number;
  readonly checkpoint: string;
}

export interface DemoResult {
  readonly format: 'titans-demo';
  readonly quick: boolean;
  readonly backend: string;
  readonly seed: number;
  readonly recipe: DemoRecipe;
  readonly passkeyLengths: readonly number[];
  readonly models: readonly DemoModelResult[];
  readonly totalSeconds: number;
}

export interface DemoOptions {
  readonly recipe: DemoRecipe;
  readonly quick: boolean;
  readonly out: string;
  readonly seed: number;
  readonly backend: string;
  /** Human-readable lines (the plan, notes); the progress display goes to stderr. */
  readonly say: (line: string) => void;
  readonly signal?: AbortSignal;
  /** Train op by op instead of with compiled steps (--eager; default false). */
  readonly eager?: boolean;
}

export function demoRunConfig(key: DemoModelKey, recipe: DemoRecipe, seed: number, steps: number): RunConfig {
  const t = recipe.train;
  return {
    format: 'titans-run', version: 1,
    model: demoModelConfig(key, recipe),
    data: { task: 'compact-passkey+sotu', tokenizer: 'byte', mqarVocab: 0, numPairs: 16, ...recipe.data },
    train: {
      steps, lr: t.lr, warmupSteps: Math.min(t.warmupSteps, Math.max(1, Math.floor(steps / 5))), minLrRatio: t.minLrRatio, weightDecay: t.weightDecay, clipNorm: t.clipNorm,
      gradAccumulation: 1, checkpointEvery: 0, evalEvery: Math.max(1, Math.ceil(steps / Math.max(1, t.evalPoints))), evalBatches: 2,
    },
    seed,
  };
}

const median = (values: readonly number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

/**
 * Seconds per training step of the run's model, from a few steps on a throwaway copy: the
 * median of the timed steps, so one slow step (JIT, garbage collection) does not inflate it.
 */
export async function measureStepSeconds(run: RunConfig, tokenizer: Tokenizer, steps = 5, warmupSteps = 3, compiled = true): Promise<number> {
  const model = createModel(run.model);
  const extras: BatchExtras = { answerTargets: null };
  // A compiled step takes the answer targets inside the targets tensor, as runTraining does.
  const trainable = new WeightedLossModel(model, extras, run.data.answerWeight, compiled);
  const params = trainable.parameters();
  const optimizer = new optim.AdamW(params, { lr: run.train.lr });
  const plain = batchSource(run, tokenizer, extras);
  const source = compiled ? encodeAnswerTargets(plain, extras, run.model.vocabSize) : plain;
  // Timed as the demo trains: compiled (gradients, then the update, as train() splits them)
  // unless --eager. Timing eager steps for a compiled run made the budget about 3x too small.
  const lossAndGrads = (ids: Tensor, targets: Tensor): Tensor[] => {
    const loss = trainable.loss(ids, targets);
    return [loss, ...gradients(loss, params)];
  };
  const update = (...grads: Tensor[]): Tensor[] => {
    optimizer.step(grads);
    return [];
  };
  const forward = compiled ? compile(lossAndGrads) : lossAndGrads;
  const apply = compiled ? compile(update) : update;
  const step = async (): Promise<void> => {
    const batch = source.next();
    const shape = [batch.batchSize, batch.sequenceLength];
    const norm = tidy(() => {
      const [loss, ...grads] = forward(tensor(batch.inputs, shape, { dtype: 'int32' }), tensor(batch.targets, shape, { dtype: 'int32' }));
      apply(...grads);
      return loss!;
    });
    await norm.data();
    norm.dispose();
  };
  try {
    for (let i = 0; i < warmupSteps; i++) await step(); // warm-up: JIT, kernel caches, worker start
    const times: number[] = [];
    for (let i = 0; i < steps; i++) {
      const started = performance.now();
      await step();
      times.push((performance.now() - started) / 1000);
    }
    return median(times);
  } finally {
    optimizer.dispose?.();
    for (const p of params) p.dispose();
  }
}

/** Runs the whole demo; returns what it measured (the caller prints and writes the report). */
export async function runDemo(options: DemoOptions): Promise<DemoResult> {
  const { recipe, say } = options;
  const started = performance.now();
  const tokenizer = new ByteTokenizer();
  const T = recipe.data.sequenceLength;
  const passkeyLengths = recipe.eval.lengthMultiples.map((m) => Math.round(m * T));
  const stream = progressStream();

  // ---- plan: measure each model's step time, fit the steps into the time budget
  say(`titans demo${options.quick ? ' --quick' : ''}: ${DEMO_MODELS.map((m) => m.label).join(' vs ')}, byte-level, trained on compact passkey retrieval + State of the Union text`);
  const probes = DEMO_MODELS.map(({ key, label }) => ({ key, label, run: demoRunConfig(key, recipe, options.seed, recipe.train.maxSteps) }));
  const secondsPerStep = options.quick ? probes.map(() => Number.NaN) : [];
  if (!options.quick) for (const probe of probes) secondsPerStep.push(await measureStepSeconds(probe.run, tokenizer, 5, 3, options.eager !== true));
  // Same steps (same batches) for both models: the budget is split by their measured speeds.
  const budgetSteps = Math.floor(recipe.train.trainingSeconds / secondsPerStep.reduce((a, b) => a + b, 0));
  const steps = options.quick ? recipe.train.maxSteps : Math.max(recipe.train.minSteps, Math.min(recipe.train.maxSteps, budgetSteps));
  const plans = probes.map((probe, i) => ({ ...probe, secondsPerStep: secondsPerStep[i]!, steps, run: demoRunConfig(probe.key, recipe, options.seed, steps) }));
  const evalCells = passkeyLengths.length * recipe.eval.depths.length * recipe.eval.samplesPerCell;
  say('plan:');
  for (const p of plans) {
    const m = p.run.model;
    const memory = m.memory.depth === 1 ? 'linear' : `MLP depth ${m.memory.depth} x${m.memory.expansion}`;
    const shape = m.architecture === 'swa'
      ? `window ${m.window}, mlp ${m.mlpHidden}`
      : `window ${m.window}, ${m.persistentTokens} persistent tokens, memory ${m.memory.heads} heads ${memory} chunk ${m.memory.chunkSize}, mlp ${m.mlpHidden}`;
    const time = Number.isFinite(p.secondsPerStep) ? `, ${p.secondsPerStep.toFixed(2)} s/step measured = ~${formatDuration(p.steps * p.secondsPerStep * 1000)}` : '';
    say(`  ${p.label.padEnd(16)} ${grouped(countParameters(m)).padStart(7)} params (dim ${m.dim}, ${m.layers} blocks, ${shape}): ${p.steps} steps${time}`);
  }
  if (!options.quick && budgetSteps < recipe.train.minSteps) say(`  (the time budget allows ${budgetSteps} steps on this machine now; training the minimum of ${recipe.train.minSteps}, over budget)`);
  say(`  data: ${recipe.data.batchSize} rows x ${T} bytes per step (${recipe.data.passkeyRows} compact passkey, answer-only loss; ${recipe.data.batchSize - recipe.data.passkeyRows} SOTU train text), AdamW lr ${recipe.train.lr}, warmup + cosine`);
  say(`  eval: passkey at ${passkeyLengths.join(', ')} bytes (window ${recipe.model.window}) x depths ${recipe.eval.depths.map((d) => `${Math.round(d * 100)}%`).join(' ')} x ${recipe.eval.samplesPerCell} samples (${evalCells} prompts per model); SOTU test perplexity over ${grouped(recipe.eval.perplexityTokens)} bytes`);
  const trainEstimate = plans.reduce((s, p) => s + (Number.isFinite(p.secondsPerStep) ? p.steps * p.secondsPerStep : 0), 0);
  // Evaluation reads ~(prompts x mean length + perplexity tokens) tokens forward only, about a third of a training step's cost per token.
  const evalTokens = evalCells * (passkeyLengths.reduce((a, b) => a + b, 0) / passkeyLengths.length) + recipe.eval.perplexityTokens;
  const evalEstimate = plans.reduce((s, p) => s + (Number.isFinite(p.secondsPerStep) ? (evalTokens / (recipe.data.batchSize * T)) * p.secondsPerStep * 0.6 : 0), 0);
  if (!options.quick) say(`  estimated time: training ~${formatDuration(trainEstimate * 1000)}, evaluation ~${formatDuration(evalEstimate * 1000)}; output in ${options.out}`);

  // ---- train and evaluate each model
  const results: DemoModelResult[] = [];
  for (const plan of plans) {
    if (options.signal?.aborted) break;
    say(`== ${plan.label}: training ${plan.steps} steps`);
    const answerLosses: (number | null)[] = [];
    const validation: { step: number; loss: number; answerLoss: number | null }[] = [];
    const controller = new AbortController();
    const onAbort = (): void => controller.abort();
    options.signal?.addEventListener('abort', onAbort, { once: true });
    // A safety stop if the machine turns out much slower than measured (other load).
    const deadline = options.quick ? undefined : setTimeout(() => {
      say(`  ${plan.label}: training takes over twice its measured time (is the machine busy?); stopping early`);
      controller.abort();
    }, (plan.steps * plan.secondsPerStep * 2 + 30) * 1000);
    const log = progressLogger({ stream });
    const trainStarted = performance.now();
    let trained: { model: LanguageModel; steps: number; tokens: number; losses: (number | null)[] };
    try {
      const dir = join(options.out, plan.key);
      const { result, model } = await runTraining({
        run: plan.run, dir, resume: false, signal: controller.signal, compile: options.eager !== true,
        log: (event: TrainEvent) => log(event),
        onStepParts: (_step, parts) => answerLosses.push(parts.answer),
        onValidation: (step, value) => validation.push({ step, ...value }),
      });
      trained = { model, steps: result.step, tokens: result.tokens, losses: result.losses };
    } finally {
      if (deadline) clearTimeout(deadline);
      options.signal?.removeEventListener('abort', onAbort);
    }
    const trainSeconds = (performance.now() - trainStarted) / 1000;
    if (options.signal?.aborted) break;
    const evalStarted = performance.now();
    const { model } = trained;
    model.eval();
    const passkey = await evaluatePasskey({
      model, name: plan.label, tokenizer, lengths: passkeyLengths, depths: recipe.eval.depths, samplesPerCell: recipe.eval.samplesPerCell,
      digits: recipe.data.digits, seed: options.seed + 1, prompt: (o) => compactPasskeyPrompt(tokenizer, o),
    });
    const perplexity = await evaluateCorpusPerplexity({ model, name: plan.label, tokenizer, corpus: 'sotu', split: 'test', tokens: recipe.eval.perplexityTokens });
    const finalLosses = trained.losses.filter((l): l is number => l !== null);
    results.push({
      key: plan.key, label: plan.label, parameters: countParameters(model), steps: trained.steps, plannedSteps: plan.steps,
      secondsPerStep: trainSeconds / Math.max(1, trained.steps), trainSeconds, tokens: trained.tokens,
      finalLoss: finalLosses.length > 0 ? mean(finalLosses.slice(-Math.max(1, Math.ceil(finalLosses.length / 10)))) : null,
      losses: trained.losses, answerLosses, validation, passkey, perplexity,
      evalSeconds: (performance.now() - evalStarted) / 1000, checkpoint: join(options.out, plan.key),
    });
    say(`   ${plan.label}: ${trained.steps} steps in ${formatDuration(trainSeconds * 1000)}, evaluation ${formatDuration(performance.now() - evalStarted)}`);
  }
  return {
    format: 'titans-demo', quick: options.quick, backend: options.backend, seed: options.seed, recipe, passkeyLengths, models: results,
    totalSeconds: (performance.now() - started) / 1000,
  };
}

/** An evaluation prompt in the training format: a compact passkey of at most `length` bytes (prompt + answer). */
function compactPasskeyPrompt(tokenizer: Tokenizer, options: { length: number; depth: number; digits: number; seed: number }): PasskeyPrompt {
  const sample = compactPasskey(options);
  return { tokens: () => tokenizer.encode(sample.prompt), answer: sample.answer, passkey: sample.passkey };
}

function mean(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0) / values.length;
}

/** The comparison table (the same rows go into the HTML report). */
export function comparisonTable(result: DemoResult): { headers: string[]; rows: (string | number)[][] } {
  const headers = ['model', 'params', 'steps', 'train', 'final loss', 'SOTU ppl', 'bits/byte', ...result.passkeyLengths.map((l) => `passkey@${l}`)];
  const rows = result.models.map((m) => [
    m.label, grouped(m.parameters), m.steps, formatDuration(m.trainSeconds * 1000), fixed(m.finalLoss, 3), fixed(m.perplexity.perplexity, 2), fixed(m.perplexity.bitsPerByte, 3),
    ...m.passkey.byLength.map((stat) => `${percent(stat.accuracy)} (${stat.correct}/${stat.total})`),
  ]);
  return { headers, rows };
}

/** What the comparison table's columns mean (under the table in the terminal and in the report). */
export const COMPARISON_NOTES: readonly string[] = [
  'final loss: the training objective over the last 10% of steps, next-byte loss on the SOTU rows and the passkey answers ' +
    'plus 1x the passkey answer loss (the answers count twice); it mixes both tasks, so it does not rank the models\' SOTU perplexity',
  'SOTU ppl, bits/byte: held-out 2010-2021 speeches; passkey@N: answer accuracy over all needle depths at N-byte prompts',
];

export function formatComparison(result: DemoResult): string {
  const { headers, rows } = comparisonTable(result);
  return [formatTable(headers, rows), ...COMPARISON_NOTES].join('\n');
}

/**
 * Passkey answers per (model, prompt length) and needle depth, as "correct/total": the
 * comparison table's passkey columns split by where the needle sits (depth 0 = the start of
 * the prompt, 1 = right before the question). Cells missing from a result read "-".
 */
export function passkeyDepthTable(result: DemoResult): { headers: string[]; rows: string[][] } {
  const depths = result.recipe.eval.depths;
  const headers = ['model', 'bytes', ...depths.map((d) => `depth ${Math.round(d * 100)}%`)];
  const rows = result.models.flatMap((m) => result.passkeyLengths.map((length) => [
    m.label, String(length),
    ...depths.map((depth) => {
      const cell = m.passkey.cells.find((c) => c.length === length && c.depth === depth);
      return cell ? `${cell.correct}/${cell.total}` : '-';
    }),
  ]));
  return { headers, rows };
}

export function formatPasskeyDepths(result: DemoResult): string {
  const { headers, rows } = passkeyDepthTable(result);
  return formatTable(headers, rows);
}
