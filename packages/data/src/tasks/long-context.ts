// A long prompt described, not stored: header + background sentences (with inserted
// sentences such as a needle or bAbI facts at chosen sentence boundaries) + footer. Its exact
// token length and the token offset of every insertion are computed from cached
// per-sentence counts, and its text and tokens are produced on demand in bounded chunks, so
// a 1M-token sample costs no more memory than one chunk.
//
// Tokenization is piecewise: header, then every sentence (a single space before all but
// the first), then footer, each encoded on its own. For the byte tokenizer this is exactly
// `encode(text())`; for GPT-2 it is too, because each piece starts where GPT-2's
// pre-tokenizer would start a new word anyway.

import { countTokens, type Tokenizer } from '../tokenizers/tokenizer.ts';
import { SentenceTokenCounts, type SentenceSource } from './sentence-source.ts';

/** A sentence placed before background sentence `position` (0 = first, n = after last). */
export interface Insertion {
  readonly position: number;
  readonly text: string;
}

export interface LongContextSpec {
  readonly tokenizer: Tokenizer;
  readonly source: SentenceSource;
  readonly header: string;
  readonly footer: string;
  /** Index of the first background sentence in the (cyclic) source. */
  readonly start: number;
  /** Number of background sentences. */
  readonly sentences: number;
  /** Insertions; kept in the given order among equal positions. */
  readonly insertions: readonly Insertion[];
}

/** A piece of a streamed prompt: its text and exactly the tokens of that text. */
export interface TextChunk {
  readonly text: string;
  readonly tokens: Int32Array;
}

export interface ChunkOptions {
  /** A chunk is emitted once it holds at least this many tokens (default 4096). */
  maxTokens?: number;
}

/** Token count of a long context built from `spec`, without tokenizing the background. */
function measure(spec: LongContextSpec): { length: number; insertionOffsets: number[]; headerTokens: number; backgroundTokens: number } {
  const { tokenizer, source, start, sentences } = spec;
  const counts = SentenceTokenCounts.of(source, tokenizer);
  const headerTokens = countTokens(tokenizer, spec.header);
  let offset = headerTokens;
  let backgroundTokens = 0;
  let first = true; // the first piece after the header has no leading space
  let consumed = 0; // background sentences already accounted for
  const advanceBackground = (to: number): void => {
    const count = to - consumed;
    if (count <= 0) return;
    let tokens: number;
    if (first) {
      tokens = countTokens(tokenizer, source.sentence(start + consumed)) + counts.spacedSum(start + consumed + 1, count - 1);
      first = false;
    } else {
      tokens = counts.spacedSum(start + consumed, count);
    }
    offset += tokens;
    backgroundTokens += tokens;
    consumed = to;
  };
  const insertionOffsets: number[] = [];
  for (const insertion of spec.insertions) {
    advanceBackground(Math.min(insertion.position, sentences));
    insertionOffsets.push(offset);
    offset += countTokens(tokenizer, first ? insertion.text : ' ' + insertion.text);
    first = false;
  }
  advanceBackground(sentences);
  return { length: offset + countTokens(tokenizer, spec.footer), insertionOffsets, headerTokens, backgroundTokens };
}

export class LongContext {
  /** Exact number of tokens of the whole prompt. */
  readonly length: number;
  /** Tokens of the header (the context starts at this offset). */
  readonly headerTokens: number;
  /** Tokens of background sentences only. */
  readonly backgroundTokens: number;
  /** Token offset of the first token of each insertion, in `spec.insertions` order. */
  readonly insertionOffsets: readonly number[];

  constructor(readonly spec: LongContextSpec) {
    for (let i = 1; i < spec.insertions.length; i++) {
      if (spec.insertions[i]!.position < spec.insertions[i - 1]!.position) {
        throw new Error('LongContext: insertions must be sorted by position');
      }
    }
    const m = measure(spec);
    this.length = m.length;
    this.headerTokens = m.headerTokens;
    this.backgroundTokens = m.backgroundTokens;
    this.insertionOffsets = m.insertionOffsets;
  }

  /** The prompt as text pieces: header, sentences (space-joined), footer. */
  *pieces(): Generator<string> {
    const { source, start, sentences, insertions } = this.spec;
    yield this.spec.header;
    let first = true;
    let next = 0;
    for (let j = 0; j <= sentences; j++) {
      while (next < insertions.length && Math.min(insertions[next]!.position, sentences) === j) {
        yield first ? insertions[next]!.text : ' ' + insertions[next]!.text;
        first = false;
        next++;
      }
      if (j < sentences) {
        const sentence = source.sentence(start + j);
        yield first ? sentence : ' ' + sentence;
        first = false;
      }
    }
    yield this.spec.footer;
  }

  /** Streams the prompt as chunks of about `maxTokens` tokens (never splits a sentence). */
  *chunks(options: ChunkOptions = {}): Generator<TextChunk> {
    const maxTokens = options.maxTokens ?? 4096;
    const tokenizer = this.spec.tokenizer;
    let texts: string[] = [];
    let tokens: number[] = [];
    for (const piece of this.pieces()) {
      if (piece.length === 0) continue;
      texts.push(piece);
      const ids = tokenizer.encode(piece);
      for (let i = 0; i < ids.length; i++) tokens.push(ids[i]!);
      if (tokens.length >= maxTokens) {
        yield { text: texts.join(''), tokens: Int32Array.from(tokens) };
        texts = [];
        tokens = [];
      }
    }
    if (texts.length > 0) yield { text: texts.join(''), tokens: Int32Array.from(tokens) };
  }

  /** The whole prompt as one string (only for lengths that fit comfortably in memory). */
  text(): string {
    return Array.from(this.pieces()).join('');
  }

  /** The whole prompt as token ids. */
  tokens(): Int32Array {
    const out = new Int32Array(this.length);
    let at = 0;
    for (const chunk of this.chunks({ maxTokens: 65536 })) {
      if (at + chunk.tokens.length > out.length) throw new Error('LongContext: token stream longer than measured');
      out.set(chunk.tokens, at);
      at += chunk.tokens.length;
    }
    if (at !== out.length) throw new Error(`LongContext: token stream has ${at} tokens, measured ${out.length}`);
    return out;
  }
}

/**
 * Largest n in [0, ...) with `lengthOf(n) <= target`, by exponential then binary search.
 * `lengthOf` must be non-decreasing in n. Returns -1 when even n = 0 is too long.
 */
export function fitCount(target: number, lengthOf: (n: number) => number): number {
  if (lengthOf(0) > target) return -1;
  let low = 0; // lengthOf(low) <= target
  let high = 1;
  while (lengthOf(high) <= target) {
    low = high;
    high *= 2;
    if (high > 2 ** 40) throw new Error('fitCount: target too large');
  }
  while (high - low > 1) {
    const mid = Math.floor((low + high) / 2);
    if (lengthOf(mid) <= target) low = mid;
    else high = mid;
  }
  return low;
}

/**
 * The sentence boundary (0..sentences) whose token offset inside the background is nearest
 * to `fraction` of the background's tokens: depth measured in tokens, as RULER does, then
 * moved to a sentence boundary.
 */
export function boundaryAtTokenFraction(source: SentenceSource, tokenizer: Tokenizer, start: number, sentences: number, fraction: number): number {
  if (sentences === 0) return 0;
  const counts = SentenceTokenCounts.of(source, tokenizer);
  const goal = fraction * counts.spacedSum(start, sentences);
  let low = 0;
  let high = sentences; // find the first k with spacedSum(start, k) >= goal
  while (low < high) {
    const mid = Math.floor((low + high) / 2);
    if (counts.spacedSum(start, mid) >= goal) high = mid;
    else low = mid + 1;
  }
  if (low > 0 && goal - counts.spacedSum(start, low - 1) < counts.spacedSum(start, low) - goal) return low - 1;
  return low;
}
