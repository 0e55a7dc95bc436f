// Evaluations the CLI runs on a trained model: perplexity and bits per byte on a corpus
// split, and thin wrappers over @titans/eval's harnesses (passkey retrieval over (length,
// depth) cells, S-NIAH, BABILong, MQAR) with progress display.
import { loadCorpus, type CorpusDocument, type CorpusName, type Split, type Tokenizer } from '@titans/data';
import {
  evaluatePasskey as evaluatePasskeyGrid, evaluatePerplexity, heatmapSvg, passkeyAccuracyMatrix,
  type PasskeyPrompt, type PasskeyPromptOptions, type PasskeyResult, type PerplexityResult,
} from '@titans/eval';
import { NonFiniteOutputError, asGenerativeModel, releaseModelState, type LanguageModel } from '@titans/models';
import { crossEntropy, noGrad, tensor, tidy } from '@titans/tensor';
import { UsageError } from './command.js';
import { createProgress } from './progress.js';

export type { PasskeyPrompt, PasskeyPromptOptions, PasskeyResult } from '@titans/eval';

export interface PasskeyEvalOptions {
  readonly model: LanguageModel;
  readonly name: string;
  readonly tokenizer: Tokenizer;
  readonly lengths: readonly number[];
  readonly depths: readonly number[];
  readonly samplesPerCell: number;
  readonly digits: number;
  readonly seed: number;
  /** Label of the progress display (default 'passkey <name>'). */
  readonly label?: string;
  /** The prompts (default: @titans/data's generatePasskeySample, the long passkey format). */
  readonly prompt?: (options: PasskeyPromptOptions) => PasskeyPrompt;
}

/**
 * Passkey retrieval (@titans/eval's evaluatePasskey): the prompt is prefilled through the
 * model's streaming state (so prompts longer than the attention window reach the memory),
 * then the answer is decoded greedily; correct when the passkey appears in the continuation.
 */
export async function evaluatePasskey(options: PasskeyEvalOptions): Promise<PasskeyResult> {
  const { tokenizer, lengths, depths, samplesPerCell, digits, seed } = options;
  const progress = createProgress(options.label ?? `passkey ${options.name}`, lengths.length * depths.length * samplesPerCell);
  const result = await evaluatePasskeyGrid({
    model: asGenerativeModel(options.model, { name: options.name, chunkLength: 256 }), tokenizer, lengths, depths, samplesPerCell, digits, seed,
    onProgress: (p) => progress.update(p.done, p.cell), ...(options.prompt ? { prompt: options.prompt } : {}),
  });
  progress.finish();
  return result;
}

export function passkeyHeatmapSvg(result: PasskeyResult, title: string): string {
  return heatmapSvg({
    title,
    values: passkeyAccuracyMatrix(result),
    rowLabels: result.depths.map((d) => `${Math.round(d * 100)}%`),
    columnLabels: result.lengths.map(String),
    rowTitle: 'passkey depth',
    columnTitle: 'prompt length (bytes)',
    legendTitle: 'accuracy %',
  });
}

/** The first `count + 1` tokens of a corpus split (or of the given documents), documents in order, joined with EOS. */
export function corpusTokens(corpus: CorpusName | readonly CorpusDocument[], split: Split, tokenizer: Tokenizer, count: number): Int32Array {
  const out: number[] = [];
  for (const doc of typeof corpus === 'string' ? loadCorpus(corpus, { split }) : corpus) {
    out.push(...tokenizer.encode(doc.text));
    if (tokenizer.eosId !== undefined) out.push(tokenizer.eosId);
    if (out.length > count) break;
  }
  return Int32Array.from(out.slice(0, count + 1));
}

export interface CorpusPerplexityOptions {
  readonly model: LanguageModel;
  readonly name: string;
  readonly tokenizer: Tokenizer;
  /** A corpus name, or documents to score (e.g. the held-out tail of the user's text files). */
  readonly corpus: CorpusName | readonly CorpusDocument[];
  /** The corpus's split (ignored for documents). */
  readonly split: Split;
  /** Predictions to score. */
  readonly tokens: number;
  /** Tokens per forward pass (the state carries across passes). */
  readonly chunkLength?: number;
  readonly bucketSize?: number;
}

/** ln p(tokens[i+1] | tokens[..i]) for every i, one stream through the model's state, `chunkLength` tokens per pass. */
export async function streamLogProbs(model: LanguageModel, tokens: Int32Array, chunkLength: number, onProgress?: (done: number) => void): Promise<Float32Array> {
  const out = new Float32Array(Math.max(0, tokens.length - 1));
  let state = model.initialState(1);
  try {
    for (let start = 0; start < out.length; start += chunkLength) {
      const length = Math.min(chunkLength, out.length - start);
      const step = tidy(() => noGrad(() => {
        const ids = tensor(tokens.slice(start, start + length), [1, length], { dtype: 'int32' });
        const targets = tensor(tokens.slice(start + 1, start + 1 + length), [1, length], { dtype: 'int32' });
        const forward = model.forward(ids, state);
        return { nll: crossEntropy(forward.logits, targets, { reduction: 'none' }), state: forward.state };
      }));
      releaseModelState(state, step.state);
      state = step.state;
      const nll = await step.nll.data();
      step.nll.dispose();
      for (let i = 0; i < length; i++) {
        if (!Number.isFinite(nll[i]!)) throw new NonFiniteOutputError(`perplexity: the model's loss at token ${start + i} is ${nll[i]}; its weights are corrupt or overflow`);
      }
      for (let i = 0; i < length; i++) out[start + i] = -nll[i]!;
      onProgress?.(start + length);
    }
  } finally {
    releaseModelState(state);
  }
  return out;
}

/** Perplexity and bits per byte of a corpus split, scored as one long stream through the model's state. */
export async function evaluateCorpusPerplexity(options: CorpusPerplexityOptions): Promise<PerplexityResult> {
  const tokens = corpusTokens(options.corpus, options.split, options.tokenizer, options.tokens);
  if (tokens.length - 1 < options.tokens) {
    throw new UsageError(`--tokens ${options.tokens}: the ${options.corpus} ${options.split} split has ${tokens.length - 1} predictions to score (ask for at most that many)`);
  }
  const chunkLength = options.chunkLength ?? 256;
  const progress = createProgress(`perplexity ${options.name}`, tokens.length - 1);
  const model = {
    name: options.name,
    logProbs: (t: Int32Array): Promise<Float32Array> => streamLogProbs(options.model, t, chunkLength, (done) => progress.update(done)),
  };
  const result = await evaluatePerplexity({
    model, tokens, tokenizer: options.tokenizer, bucketSize: options.bucketSize ?? Math.max(64, Math.floor(tokens.length / 8)),
  });
  progress.finish();
  return result;
}
