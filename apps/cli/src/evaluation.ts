// Evaluations the CLI runs on a trained model: passkey retrieval over (length, depth) cells,
// perplexity and bits per byte on a corpus split, and thin wrappers over @titans/eval's
// harnesses (S-NIAH, BABILong, MQAR) with progress display.
import { deriveSeed, generatePasskeySample, loadCorpus, type CorpusName, type Split, type Tokenizer } from '@titans/data';
import {
  accuracyStat, checkNiahAnswer, evaluatePerplexity, heatmapSvg, type AccuracyStat, type PerplexityResult,
} from '@titans/eval';
import { asGenerativeModel, releaseModelState, type LanguageModel } from '@titans/models';
import { crossEntropy, noGrad, tensor, tidy } from '@titans/tensor';
import { createProgress } from './progress.js';

export interface PasskeyCell extends AccuracyStat {
  readonly length: number;
  readonly depth: number;
  readonly meanPromptTokens: number;
}

export interface PasskeyRecord {
  readonly length: number;
  readonly depth: number;
  readonly sample: number;
  readonly promptTokens: number;
  readonly passkey: string;
  readonly output: string;
  readonly correct: boolean;
}

export interface PasskeyResult {
  readonly kind: 'passkey';
  readonly model: string;
  readonly lengths: readonly number[];
  readonly depths: readonly number[];
  readonly samplesPerCell: number;
  readonly digits: number;
  readonly cells: readonly PasskeyCell[];
  readonly overall: AccuracyStat;
  readonly records: readonly PasskeyRecord[];
  readonly seconds: number;
}

export interface PasskeyEvalOptions {
  readonly model: LanguageModel;
  readonly name: string;
  readonly tokenizer: Tokenizer;
  readonly lengths: readonly number[];
  readonly depths: readonly number[];
  readonly samplesPerCell: number;
  readonly digits: number;
  readonly seed: number;
  /** Label of the progress display (default 'passkey'). */
  readonly label?: string;
  /** The prompts (default: generatePasskeySample, the long passkey format). */
  readonly sample?: (options: { length: number; depth: number; digits: number; seed: number }) => PasskeyPrompt;
}

/** One passkey prompt: its tokens, the expected continuation and the passkey. */
export interface PasskeyPrompt {
  readonly tokens: Int32Array | number[];
  readonly answer: string;
  readonly passkey: string;
}

/**
 * Passkey retrieval: the prompt is prefilled through the model's streaming state (so prompts
 * longer than the attention window reach the memory), then the answer is decoded greedily;
 * correct when the passkey appears in the continuation.
 */
export async function evaluatePasskey(options: PasskeyEvalOptions): Promise<PasskeyResult> {
  const { tokenizer, lengths, depths, samplesPerCell, digits } = options;
  const generator = asGenerativeModel(options.model, { name: options.name, chunkLength: 256 });
  const started = performance.now();
  const total = lengths.length * depths.length * samplesPerCell;
  const progress = createProgress(options.label ?? `passkey ${options.name}`, total);
  const cells: PasskeyCell[] = [];
  const records: PasskeyRecord[] = [];
  let done = 0;
  let correctOverall = 0;
  for (const length of lengths) {
    for (const depth of depths) {
      let correct = 0;
      let promptTokens = 0;
      for (let i = 0; i < samplesPerCell; i++) {
        const seed = deriveSeed(options.seed, 'passkey-eval', length, depth, i);
        const sample = options.sample?.({ length, depth, digits, seed }) ?? longPasskeyPrompt(tokenizer, { length, depth, digits, seed });
        const prompt = sample.tokens;
        const maxNewTokens = tokenizer.encode(sample.answer).length + 2;
        const output = tokenizer.decode(await generator.generate(prompt, { maxNewTokens }));
        const ok = checkNiahAnswer(output, sample.passkey);
        if (ok) correct++;
        promptTokens += prompt.length;
        records.push({ length, depth, sample: i, promptTokens: prompt.length, passkey: sample.passkey, output, correct: ok });
        progress.update(++done, `length ${length} depth ${Math.round(depth * 100)}%`);
      }
      correctOverall += correct;
      cells.push({ length, depth, meanPromptTokens: promptTokens / samplesPerCell, ...accuracyStat(correct, samplesPerCell) });
    }
  }
  progress.finish();
  return {
    kind: 'passkey', model: options.name, lengths: [...lengths], depths: [...depths], samplesPerCell, digits, cells,
    overall: accuracyStat(correctOverall, total), records, seconds: (performance.now() - started) / 1000,
  };
}

function longPasskeyPrompt(tokenizer: Tokenizer, options: { length: number; depth: number; digits: number; seed: number }): PasskeyPrompt {
  const sample = generatePasskeySample({ tokenizer, ...options });
  return { tokens: sample.tokens(), answer: sample.answer, passkey: sample.passkey };
}

/** Accuracy matrix [depth][length] for heat maps. */
export function passkeyMatrix(result: PasskeyResult): number[][] {
  return result.depths.map((depth) => result.lengths.map((length) => result.cells.find((c) => c.length === length && c.depth === depth)?.accuracy ?? Number.NaN));
}

export function passkeyHeatmapSvg(result: PasskeyResult, title: string): string {
  return heatmapSvg({
    title,
    values: passkeyMatrix(result),
    rowLabels: result.depths.map((d) => `${Math.round(d * 100)}%`),
    columnLabels: result.lengths.map(String),
    rowTitle: 'passkey depth',
    columnTitle: 'prompt length (bytes)',
    legendTitle: 'accuracy %',
  });
}

/** Accuracy per length (all depths together). */
export function passkeyByLength(result: PasskeyResult): { length: number; stat: AccuracyStat }[] {
  return result.lengths.map((length) => {
    const cells = result.cells.filter((c) => c.length === length);
    return { length, stat: accuracyStat(cells.reduce((n, c) => n + c.correct, 0), cells.reduce((n, c) => n + c.total, 0)) };
  });
}

/** The first `count + 1` tokens of a corpus split, documents in order, joined with EOS. */
export function corpusTokens(corpus: CorpusName, split: Split, tokenizer: Tokenizer, count: number): Int32Array {
  const out: number[] = [];
  for (const doc of loadCorpus(corpus, { split })) {
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
  readonly corpus: CorpusName;
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
