// Inference: prefill a prompt, then decode token by token from the model's streaming state
// (KV caches, memory states, MAC segment buffers), with greedy or seeded sampling
// (temperature, top-k, top-p, min-p). Adapters expose a model in the shapes the
// @titans/eval harnesses take (GenerativeModel, ScoringModel, NextTokenModel).
import { argmax, crossEntropy, narrow, noGrad, Rng, tensor, tidy, type Backend, type Tensor } from '@titans/tensor';
import { decodeStep } from './decode.js';
import { releaseModelState, type LanguageModel, type ModelState } from './model.js';

export interface SamplingOptions {
  /** Softmax temperature; 0 (the default) picks the most likely token (greedy). */
  readonly temperature?: number;
  /** Keep the k most likely tokens (0 = off). */
  readonly topK?: number;
  /** Keep the smallest set of most likely tokens whose probability reaches p (1 = off). */
  readonly topP?: number;
  /** Keep tokens at least this fraction as likely as the most likely one (0 = off). */
  readonly minP?: number;
  /** Seed of the sampler's generator when no `rng` is passed to generate (default 0). */
  readonly seed?: number;
}

function argmaxOf(values: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i]! > values[best]!) best = i;
  return best;
}

/** The model produced NaN or infinite outputs (weights that overflow or are corrupt): nothing downstream is meaningful. */
export class NonFiniteOutputError extends Error {
  override readonly name = 'NonFiniteOutputError';
}

/** One subtraction per value: v - v is 0 exactly when v is finite. */
function checkFinite(values: ArrayLike<number>, where: string): void {
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (v - v !== 0) throw new NonFiniteOutputError(`${where}: the model's outputs are not finite (${v} at index ${i}); its weights are corrupt or overflow`);
  }
}

/**
 * Draws a token id from one row of logits. Filters apply in the order temperature,
 * top-k, top-p, min-p; each works on what the previous one kept.
 */
export function sampleToken(logits: ArrayLike<number>, options: SamplingOptions, rng: Rng): number {
  const temperature = options.temperature ?? 0;
  if (!(temperature > 0)) return argmaxOf(logits);
  const n = logits.length;
  const max = logits[argmaxOf(logits)]!;
  const weights = new Float64Array(n);
  for (let i = 0; i < n; i++) weights[i] = Math.exp((logits[i]! - max) / temperature);
  const topK = options.topK ?? 0;
  const topP = options.topP ?? 1;
  let candidates: number[];
  if (topK > 0 || topP < 1) {
    candidates = Array.from({ length: n }, (_, i) => i).sort((a, b) => weights[b]! - weights[a]! || a - b);
    if (topK > 0) candidates = candidates.slice(0, topK);
    if (topP < 1) {
      const total = candidates.reduce((s, i) => s + weights[i]!, 0);
      let cumulative = 0;
      let keep = 0;
      while (keep < candidates.length && cumulative < topP * total) cumulative += weights[candidates[keep++]!]!;
      candidates = candidates.slice(0, Math.max(1, keep));
    }
  } else {
    candidates = Array.from({ length: n }, (_, i) => i);
  }
  const minP = options.minP ?? 0;
  if (minP > 0) {
    const best = Math.max(...candidates.map((i) => weights[i]!));
    candidates = candidates.filter((i) => weights[i]! >= minP * best);
  }
  const total = candidates.reduce((s, i) => s + weights[i]!, 0);
  let u = rng.uniformArray(1)[0]! * total;
  for (const i of candidates) {
    u -= weights[i]!;
    if (u < 0) return i;
  }
  return candidates[candidates.length - 1]!;
}

export interface GenerationOptions {
  readonly maxNewTokens: number;
  readonly sampling?: SamplingOptions;
  /** Stop after emitting any of these ids (the id is included in the result). */
  readonly stopIds?: readonly number[];
  /** Called with each new token as soon as it is chosen. */
  readonly onToken?: (token: number, index: number) => void;
  /** Prompt tokens per prefill forward pass (default 512). */
  readonly prefillChunk?: number;
  /** The sampler's generator (default: a new Rng seeded with sampling.seed). */
  readonly rng?: Rng;
  /**
   * Decode token by token with a compiled step (default true; false runs every step
   * eagerly). Models without attention compile their per-token step (its program depends
   * only on the state's layouts, which cycle with the memory's chunk); models with
   * attention decode eagerly either way (see decodeStats). The prompt's prefill is eager.
   * Results are the same as eager, bit for bit on the CPU.
   */
  readonly compile?: boolean;
}

function backendOf(model: LanguageModel): Backend | undefined {
  return model.parameters()[0]?.backend;
}

/** Runs ids (one sequence) through the model from `state`; returns the last row of logits and the new state. */
function step(model: LanguageModel, ids: readonly number[], state: ModelState): { last: Tensor; state: ModelState } {
  const backend = backendOf(model);
  return tidy(() => noGrad(() => {
    const input = tensor(Int32Array.from(ids), [1, ids.length], { dtype: 'int32', ...(backend ? { backend } : {}) });
    const out = model.forward(input, state);
    return { last: narrow(out.logits, 1, ids.length - 1, 1), state: out.state };
  }));
}

/**
 * Continues `prompt`, yielding each new token as it is decoded. The prompt is prefilled in
 * chunks; every later step feeds one token through the streaming state.
 */
export async function* streamTokens(model: LanguageModel, prompt: ArrayLike<number>, options: GenerationOptions): AsyncGenerator<number, void, undefined> {
  const ids = Array.from(prompt);
  if (ids.length === 0) throw new Error('generate: the prompt must hold at least one token');
  const stop = new Set(options.stopIds ?? []);
  const rng = options.rng ?? new Rng(options.sampling?.seed ?? 0);
  const chunk = Math.max(1, options.prefillChunk ?? 512);
  let state = model.initialState(1);
  try {
    let logits: ArrayLike<number> = [];
    const compiled = options.compile ?? true;
    const advance = async (tokens: readonly number[], decode = false): Promise<void> => {
      const out = decode ? decodeStep(model, tokens[0]!, state, compiled) : step(model, tokens, state);
      releaseModelState(state, out.state);
      state = out.state;
      logits = await out.last.data();
      out.last.dispose();
      checkFinite(logits, 'generate');
    };
    for (let at = 0; at < ids.length; at += chunk) await advance(ids.slice(at, at + chunk));
    for (let i = 0; i < options.maxNewTokens; i++) {
      const token = sampleToken(logits, options.sampling ?? {}, rng);
      options.onToken?.(token, i);
      yield token;
      if (stop.has(token) || i === options.maxNewTokens - 1) break;
      await advance([token], true);
    }
  } finally {
    releaseModelState(state);
  }
}

/** Continues `prompt` and returns the new tokens (streamed to `onToken` as they come). */
export async function generate(model: LanguageModel, prompt: ArrayLike<number>, options: GenerationOptions): Promise<number[]> {
  const out: number[] = [];
  for await (const token of streamTokens(model, prompt, options)) out.push(token);
  return out;
}

// ---------------------------------------------------------------- adapters for @titans/eval

/** A model that continues a prompt (the shape @titans/eval's NIAH and BABILong harnesses take). */
export interface GenerativeModel {
  readonly name: string;
  generate(prompt: Int32Array | number[], options: { maxNewTokens: number; stopIds?: number[] }): Promise<number[]>;
}

/** A model that scores text: result[i] = ln p(tokens[i+1] | tokens[..i]), length n - 1. */
export interface ScoringModel {
  readonly name: string;
  logProbs(tokens: Int32Array): Promise<Float32Array>;
}

/** A model that predicts the most likely next token at every position (MQAR). */
export interface NextTokenModel {
  readonly name: string;
  predictNext(tokens: Int32Array): Promise<Int32Array>;
}

export interface AdapterOptions {
  /** Name in reports (default: the architecture). */
  readonly name?: string;
  /** Tokens per forward pass; the state carries across passes, so results do not depend on it (default 512). */
  readonly chunkLength?: number;
}

export function asGenerativeModel(model: LanguageModel, options: AdapterOptions & { sampling?: SamplingOptions; compile?: boolean } = {}): GenerativeModel {
  return {
    name: options.name ?? model.config.architecture,
    generate: (prompt, o) => generate(model, prompt, {
      maxNewTokens: o.maxNewTokens,
      ...(options.compile !== undefined ? { compile: options.compile } : {}),
      ...(o.stopIds ? { stopIds: o.stopIds } : {}),
      ...(options.sampling ? { sampling: options.sampling } : {}),
      ...(options.chunkLength ? { prefillChunk: options.chunkLength } : {}),
    }),
  };
}

/**
 * Feeds tokens through the model in chunks (the state carries across them), computes a
 * per-chunk result from the logits [1, L, V] inside a scope, and hands its values over.
 */
async function scan(
  model: LanguageModel, tokens: Int32Array, chunkLength: number,
  compute: (logits: Tensor, start: number, length: number) => Tensor,
  consume: (values: ArrayLike<number>, start: number, length: number) => void,
): Promise<void> {
  const backend = backendOf(model);
  let state = model.initialState(1);
  try {
    for (let start = 0; start < tokens.length; start += chunkLength) {
      const length = Math.min(chunkLength, tokens.length - start);
      const out = tidy(() => noGrad(() => {
        const ids = tensor(tokens.slice(start, start + length), [1, length], { dtype: 'int32', ...(backend ? { backend } : {}) });
        const r = model.forward(ids, state);
        return { result: compute(r.logits, start, length), state: r.state };
      }));
      releaseModelState(state, out.state);
      state = out.state;
      const values = await out.result.data();
      out.result.dispose();
      checkFinite(values, `scoring tokens ${start}..${start + length}`);
      consume(values, start, length);
    }
  } finally {
    releaseModelState(state);
  }
}

export function asScoringModel(model: LanguageModel, options: AdapterOptions = {}): ScoringModel {
  const chunkLength = Math.max(1, options.chunkLength ?? 512);
  return {
    name: options.name ?? model.config.architecture,
    async logProbs(tokens: Int32Array): Promise<Float32Array> {
      const out = new Float32Array(Math.max(0, tokens.length - 1));
      if (tokens.length < 2) return out;
      const backend = backendOf(model);
      await scan(
        model, tokens.subarray(0, tokens.length - 1), chunkLength,
        (logits, start, length) => {
          const targets = tensor(tokens.slice(start + 1, start + 1 + length), [1, length], { dtype: 'int32', ...(backend ? { backend } : {}) });
          return crossEntropy(logits, targets, { reduction: 'none' });
        },
        (nll, start, length) => {
          for (let i = 0; i < length; i++) out[start + i] = -nll[i]!;
        },
      );
      return out;
    },
  };
}

export function asNextTokenModel(model: LanguageModel, options: AdapterOptions = {}): NextTokenModel {
  const chunkLength = Math.max(1, options.chunkLength ?? 512);
  return {
    name: options.name ?? model.config.architecture,
    async predictNext(tokens: Int32Array): Promise<Int32Array> {
      const out = new Int32Array(tokens.length);
      await scan(model, tokens, chunkLength, (logits) => argmax(logits, -1), (best, start, length) => {
        for (let i = 0; i < length; i++) out[start + i] = best[i]!;
      });
      return out;
    },
  };
}
