// Endless, deterministic sentence streams that haystacks and backgrounds are cut from,
// plus cached per-tokenizer token counts so a haystack of any length can be sized by
// binary search without tokenizing it.

import { documentSentences } from '../corpora/sentences.ts';
import { loadCorpus, mobyDickText } from '../corpora/corpus.ts';
import { countTokens, type Tokenizer } from '../tokenizers/tokenizer.ts';

/** A finite list of sentences read cyclically: `sentence(i)` is sentence `i mod size`. */
export interface SentenceSource {
  readonly id: string;
  readonly size: number;
  sentence(index: number): string;
}

class ArraySentenceSource implements SentenceSource {
  readonly size: number;
  constructor(
    readonly id: string,
    private readonly sentences: readonly string[],
  ) {
    if (sentences.length === 0) throw new Error(`sentence source '${id}' is empty`);
    this.size = sentences.length;
  }
  sentence(index: number): string {
    const i = index % this.size;
    return this.sentences[i < 0 ? i + this.size : i]!;
  }
}

/** A source over given sentences (e.g. the repeated PK filler). */
export function sentenceSource(id: string, sentences: readonly string[]): SentenceSource {
  return new ArraySentenceSource(id, [...sentences]);
}

/** The PK haystack of RULER: five short sentences repeated. */
export const PK_FILLER_SENTENCES: readonly string[] = [
  'The grass is green.',
  'The sky is blue.',
  'The sun is yellow.',
  'Here we go.',
  'There and back again.',
];

export type HaystackName = 'repeat' | 'moby-dick' | 'sotu';

const sources = new Map<HaystackName, SentenceSource>();

/**
 * Named sentence sources: 'repeat' (the PK filler), 'moby-dick' (the whole novel, ~9.5K
 * sentences) and 'sotu' (every State of the Union address, oldest first).
 */
export function haystackSource(name: HaystackName): SentenceSource {
  let source = sources.get(name);
  if (source) return source;
  if (name === 'repeat') source = sentenceSource('repeat', PK_FILLER_SENTENCES);
  else if (name === 'moby-dick') source = sentenceSource('moby-dick', documentSentences(mobyDickText()));
  else if (name === 'sotu') source = sentenceSource('sotu', loadCorpus('sotu').flatMap((doc) => documentSentences(doc.text)));
  else throw new Error(`haystackSource: unknown haystack '${String(name)}' (known: repeat, moby-dick, sotu)`);
  sources.set(name, source);
  return source;
}

/**
 * Token counts of every sentence of a source under one tokenizer, each counted with the
 * single leading space it carries inside running text, and their prefix sums.
 */
export class SentenceTokenCounts {
  private readonly prefix: Float64Array;
  readonly total: number;

  private constructor(
    readonly source: SentenceSource,
    readonly tokenizer: Tokenizer,
  ) {
    this.prefix = new Float64Array(source.size + 1);
    for (let i = 0; i < source.size; i++) {
      this.prefix[i + 1] = this.prefix[i]! + countTokens(tokenizer, ' ' + source.sentence(i));
    }
    this.total = this.prefix[source.size]!;
  }

  private static readonly cache = new WeakMap<Tokenizer, Map<SentenceSource, SentenceTokenCounts>>();

  /** Cached per (tokenizer, source): the first call tokenizes the source once. */
  static of(source: SentenceSource, tokenizer: Tokenizer): SentenceTokenCounts {
    let perSource = SentenceTokenCounts.cache.get(tokenizer);
    if (!perSource) {
      perSource = new Map();
      SentenceTokenCounts.cache.set(tokenizer, perSource);
    }
    let counts = perSource.get(source);
    if (!counts) {
      counts = new SentenceTokenCounts(source, tokenizer);
      perSource.set(source, counts);
    }
    return counts;
  }

  /** Tokens of sentences [0, k) of the endless cyclic stream, all with leading spaces. */
  private cumulative(k: number): number {
    const size = this.source.size;
    return Math.floor(k / size) * this.total + this.prefix[k % size]!;
  }

  /** Tokens of `count` consecutive sentences starting at `start` (each with its space). */
  spacedSum(start: number, count: number): number {
    return this.cumulative(start + count) - this.cumulative(start);
  }
}
