// Language-modelling harness: perplexity, bits per byte and perplexity per position
// bucket over one long token sequence (does memory help the later tokens?).

import type { Tokenizer } from '@titans/data';
import { bitsPerByte, bucketedPerplexity, perplexity, type PositionBucket } from '../metrics.ts';
import type { ScoringModel } from '../model.ts';

export interface PerplexityEvalOptions {
  model: ScoringModel;
  tokens: Int32Array;
  /** Predictions per position bucket (default 1024). */
  bucketSize?: number;
  /** UTF-8 bytes of the predicted text (tokens[1..]); computed from `tokenizer` when omitted. */
  byteCount?: number;
  tokenizer?: Tokenizer;
  /** Score in independent segments of this many tokens (default: the whole sequence at once). */
  segmentLength?: number;
  /** Keep the per-token NLL (for surprise plots; default false). */
  keepPerToken?: boolean;
}

export interface PerplexityResult {
  readonly kind: 'perplexity';
  readonly model: string;
  /** Number of predicted tokens. */
  readonly predictions: number;
  readonly sumNll: number;
  readonly meanNll: number;
  readonly perplexity: number;
  readonly bitsPerByte: number | null;
  readonly byteCount: number | null;
  readonly bucketSize: number;
  readonly buckets: readonly PositionBucket[];
  readonly perTokenNll: number[] | null;
  readonly seconds: number;
}

export async function evaluatePerplexity(options: PerplexityEvalOptions): Promise<PerplexityResult> {
  const { model, tokens } = options;
  const bucketSize = options.bucketSize ?? 1024;
  if (tokens.length < 2) throw new RangeError('evaluatePerplexity: need at least two tokens');
  const started = performance.now();
  const segment = options.segmentLength ?? tokens.length;
  if (!Number.isInteger(segment) || segment < 2) throw new RangeError(`evaluatePerplexity: segmentLength must be an integer >= 2, got ${segment}`);
  const nll = new Float64Array(tokens.length - 1);
  // Segments overlap by one token so every token after the first is predicted exactly once.
  for (let start = 0; start + 1 < tokens.length; start += segment - 1) {
    const piece = tokens.subarray(start, Math.min(tokens.length, start + segment));
    const logProbs = await model.logProbs(piece);
    if (logProbs.length !== piece.length - 1) throw new Error(`evaluatePerplexity: ${model.name} returned ${logProbs.length} log-probs for ${piece.length} tokens`);
    for (let i = 0; i < logProbs.length; i++) {
      const lp = logProbs[i]!;
      if (!Number.isFinite(lp) || lp > 1e-6) throw new Error(`evaluatePerplexity: ${model.name} returned an invalid log-prob ${lp} at position ${start + i}`);
      nll[start + i] = -lp;
    }
  }
  let sumNll = 0;
  for (const v of nll) sumNll += v;
  const byteCount = options.byteCount ?? (options.tokenizer ? new TextEncoder().encode(options.tokenizer.decode(tokens.subarray(1))).length : null);
  return {
    kind: 'perplexity',
    model: model.name,
    predictions: nll.length,
    sumNll,
    meanNll: sumNll / nll.length,
    perplexity: perplexity(sumNll, nll.length),
    bitsPerByte: byteCount ? bitsPerByte(sumNll, byteCount) : null,
    byteCount,
    bucketSize,
    buckets: bucketedPerplexity(nll, bucketSize),
    perTokenNll: options.keepPerToken ? Array.from(nll) : null,
    seconds: (performance.now() - started) / 1000,
  };
}
