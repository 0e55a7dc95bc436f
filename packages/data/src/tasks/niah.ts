// S-NIAH (single needle in a haystack) in the three RULER variants the Titans paper
// reports: PK (repeated filler, number value), N (natural text, number value) and
// W (natural text, UUID value). Templates are exactly those of the task definition.

import { deriveSeed, SeededRandom } from '../random.ts';
import type { Tokenizer } from '../tokenizers/tokenizer.ts';
import { ADJECTIVES, NOUNS } from './words.ts';
import { boundaryAtTokenFraction, fitCount, LongContext, type ChunkOptions, type TextChunk } from './long-context.ts';
import { haystackSource, type HaystackName } from './sentence-source.ts';

export type NiahTask = 'pk' | 'n' | 'w';
export type NiahValueType = 'number' | 'uuid';

export interface NiahOptions {
  task: NiahTask;
  tokenizer: Tokenizer;
  /** Target prompt length in tokens (intro + haystack + question + answer prefix). */
  length: number;
  /**
   * Needle depth in [0, 1] as a fraction of haystack tokens: 0 = before the first sentence,
   * 1 = after the last. The needle goes to the nearest sentence boundary.
   */
  depth: number;
  seed: number;
  /** Natural-text haystack for N and W (default 'moby-dick'); PK always uses the filler. */
  haystack?: Exclude<HaystackName, 'repeat'>;
}

export interface NiahSample {
  readonly task: NiahTask;
  readonly type: NiahValueType;
  readonly key: string;
  readonly value: string;
  readonly needle: string;
  readonly question: string;
  readonly answerPrefix: string;
  readonly targetLength: number;
  /** Exact prompt length in tokens (<= targetLength, short of it by less than a sentence). */
  readonly length: number;
  readonly depth: number;
  /** Which haystack source was used, its first sentence index, and its sentence count. */
  readonly haystack: HaystackName;
  readonly haystackStart: number;
  readonly haystackSentences: number;
  /** How many haystack sentences precede the needle. */
  readonly needleSentenceIndex: number;
  /** Token offset of the needle's first token in the prompt. */
  readonly needleTokenOffset: number;
  /** Fraction of haystack tokens that precede the needle. */
  readonly needleTokenDepth: number;
  chunks(options?: ChunkOptions): Generator<TextChunk>;
  text(): string;
  tokens(): Int32Array;
}

export const niahTaskSpecs: Readonly<Record<NiahTask, { type: NiahValueType; haystack: 'repeat' | 'natural' }>> = {
  pk: { type: 'number', haystack: 'repeat' },
  n: { type: 'number', haystack: 'natural' },
  w: { type: 'uuid', haystack: 'natural' },
};

/** A random adjective-noun key such as 'curious-lantern'. */
export function randomKey(random: SeededRandom): string {
  return `${random.pick(ADJECTIVES)}-${random.pick(NOUNS)}`;
}

/** A 7-digit number as a string (1000000-9999999). */
export function randomSevenDigitNumber(random: SeededRandom): string {
  return String(random.int(1_000_000, 10_000_000));
}

/** A UUID in version-4 form (random bits from the seeded generator). */
export function randomUuid4(random: SeededRandom): string {
  const hex = (n: number): string => {
    let s = '';
    for (let i = 0; i < n; i++) s += random.int(0, 16).toString(16);
    return s;
  };
  const variant = '89ab'[random.int(0, 4)]!;
  return `${hex(8)}-${hex(4)}-4${hex(3)}-${variant}${hex(3)}-${hex(12)}`;
}

/** The task's texts for one key/value. */
export function niahTemplates(type: NiahValueType, key: string, value: string): { intro: string; needle: string; question: string; answerPrefix: string } {
  const plural = type === 'number' ? 'numbers' : 'uuids';
  return {
    intro: `A special magic ${type} is hidden within the following text. Make sure to memorize it. I will quiz you about the ${type} afterwards.`,
    needle: `One of the special magic ${plural} for ${key} is: ${value}.`,
    question: `What is the special magic ${type} for ${key} mentioned in the provided text?`,
    answerPrefix: ` The special magic ${type} for ${key} mentioned in the provided text is`,
  };
}

/** `count` depths evenly spaced from 0 to 1 inclusive (one depth: 0.5). */
export function evenlySpacedDepths(count: number): number[] {
  if (!Number.isInteger(count) || count < 1) throw new RangeError(`evenlySpacedDepths: count must be a positive integer, got ${count}`);
  if (count === 1) return [0.5];
  return Array.from({ length: count }, (_, i) => i / (count - 1));
}

/**
 * One S-NIAH sample whose prompt is as long as possible without exceeding `length`
 * tokens: the number of haystack sentences is found by binary search, the needle is
 * placed at the sentence boundary nearest to `depth`.
 */
export function generateNiahSample(options: NiahOptions): NiahSample {
  const { task, tokenizer, length: targetLength, depth, seed } = options;
  const spec = niahTaskSpecs[task];
  if (!spec) throw new Error(`generateNiahSample: unknown task '${String(task)}' (known: pk, n, w)`);
  if (!(depth >= 0 && depth <= 1)) throw new RangeError(`generateNiahSample: depth must be in [0, 1], got ${depth}`);
  const random = new SeededRandom(deriveSeed(seed, 'niah', task, targetLength, depth));
  const key = randomKey(random);
  const value = spec.type === 'number' ? randomSevenDigitNumber(random) : randomUuid4(random);
  const t = niahTemplates(spec.type, key, value);
  const source = haystackSource(spec.haystack === 'repeat' ? 'repeat' : (options.haystack ?? 'moby-dick'));
  const start = spec.haystack === 'repeat' ? 0 : random.int(0, source.size);
  const header = `${t.intro}\n`;
  const footer = `\n${t.question}${t.answerPrefix}`;
  const needlePosition = (sentences: number): number => boundaryAtTokenFraction(source, tokenizer, start, sentences, depth);
  const build = (sentences: number): LongContext =>
    new LongContext({ tokenizer, source, header, footer, start, sentences, insertions: [{ position: needlePosition(sentences), text: t.needle }] });
  const sentences = fitCount(targetLength, (n) => build(n).length);
  if (sentences < 0) {
    const minimum = build(0).length;
    throw new RangeError(`generateNiahSample: length ${targetLength} is shorter than the prompt without haystack (${minimum} ${tokenizer.name} tokens); use a length of at least ${minimum}`);
  }
  const context = build(sentences);
  const needleTokenOffset = context.insertionOffsets[0]!;
  const beforeNeedle = needleTokenOffset - context.headerTokens;
  return {
    task,
    type: spec.type,
    key,
    value,
    needle: t.needle,
    question: t.question,
    answerPrefix: t.answerPrefix,
    targetLength,
    length: context.length,
    depth,
    haystack: source.id as HaystackName,
    haystackStart: start,
    haystackSentences: sentences,
    needleSentenceIndex: needlePosition(sentences),
    needleTokenOffset,
    needleTokenDepth: context.backgroundTokens === 0 ? depth : beforeNeedle / context.backgroundTokens,
    chunks: (o?: ChunkOptions) => context.chunks(o),
    text: () => context.text(),
    tokens: () => context.tokens(),
  };
}
