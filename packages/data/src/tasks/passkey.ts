// The classic passkey-retrieval task (a number hidden in repeated filler, then "What is
// the pass key? The pass key is"), sized in tokens of any tokenizer. Small enough with the
// byte tokenizer to train and test tiny models on.

import { deriveSeed, SeededRandom } from '../random.ts';
import type { Tokenizer } from '../tokenizers/tokenizer.ts';
import { boundaryAtTokenFraction, fitCount, LongContext, type ChunkOptions, type TextChunk } from './long-context.ts';
import { haystackSource } from './sentence-source.ts';

export interface PasskeyOptions {
  tokenizer: Tokenizer;
  /** Target prompt length in tokens. */
  length: number;
  /** Depth of the passkey sentence in [0, 1]; drawn uniformly when omitted. */
  depth?: number;
  /** Digits of the passkey (default 5). */
  digits?: number;
  seed: number;
}

export interface PasskeySample {
  readonly passkey: string;
  /** The text a model should produce after the prompt: ' ' + passkey + '.'. */
  readonly answer: string;
  readonly length: number;
  readonly depth: number;
  readonly passkeyTokenOffset: number;
  chunks(options?: ChunkOptions): Generator<TextChunk>;
  text(): string;
  tokens(): Int32Array;
}

export const PASSKEY_INTRO = 'There is an important info hidden inside a lot of irrelevant text. Find it and memorize it. I will quiz you about the important information there.';
export const PASSKEY_QUESTION = 'What is the pass key? The pass key is';

export function generatePasskeySample(options: PasskeyOptions): PasskeySample {
  const { tokenizer, length, seed } = options;
  const digits = options.digits ?? 5;
  if (!Number.isInteger(digits) || digits < 1 || digits > 15) throw new RangeError(`generatePasskeySample: digits must be 1-15, got ${digits}`);
  const random = new SeededRandom(deriveSeed(seed, 'passkey', length, digits));
  const depth = options.depth ?? random.next();
  if (!(depth >= 0 && depth <= 1)) throw new RangeError(`generatePasskeySample: depth must be in [0, 1], got ${depth}`);
  const passkey = String(random.int(10 ** (digits - 1), 10 ** digits));
  const needle = `The pass key is ${passkey}. Remember it. ${passkey} is the pass key.`;
  const source = haystackSource('repeat');
  const build = (sentences: number): LongContext =>
    new LongContext({
      tokenizer,
      source,
      header: `${PASSKEY_INTRO}\n`,
      footer: `\n${PASSKEY_QUESTION}`,
      start: 0,
      sentences,
      insertions: [{ position: boundaryAtTokenFraction(source, tokenizer, 0, sentences, depth), text: needle }],
    });
  const sentences = fitCount(length, (n) => build(n).length);
  if (sentences < 0) {
    const minimum = build(0).length;
    throw new RangeError(`generatePasskeySample: length ${length} is shorter than the prompt without filler (${minimum} tokens); use a length of at least ${minimum}`);
  }
  const context = build(sentences);
  return {
    passkey,
    answer: ` ${passkey}.`,
    length: context.length,
    depth,
    passkeyTokenOffset: context.insertionOffsets[0]!,
    chunks: (o?: ChunkOptions) => context.chunks(o),
    text: () => context.text(),
    tokens: () => context.tokens(),
  };
}

export interface PasskeyTrainingExample {
  /** Prompt followed by the answer tokens. */
  readonly tokens: Int32Array;
  /** Index of the first answer token: train (or score) only positions >= answerStart. */
  readonly answerStart: number;
  readonly passkey: string;
}

/** A prompt+answer sequence for supervised training of small models. */
export function passkeyTrainingExample(options: PasskeyOptions): PasskeyTrainingExample {
  const sample = generatePasskeySample(options);
  const prompt = sample.tokens();
  const answer = options.tokenizer.encode(sample.answer);
  const tokens = new Int32Array(prompt.length + answer.length);
  tokens.set(prompt);
  tokens.set(answer, prompt.length);
  return { tokens, answerStart: prompt.length, passkey: sample.passkey };
}
