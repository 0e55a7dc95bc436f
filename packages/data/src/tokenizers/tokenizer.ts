// The one interface every tokenizer in the project implements, so tasks, loaders and
// harnesses can be written once and run with bytes, GPT-2 BPE or DNA characters.

export interface Tokenizer {
  /** Short stable name, recorded in results ('byte', 'gpt2', 'dna'). */
  readonly name: string;
  /** Number of distinct ids, specials included: every id is in [0, vocabSize). */
  readonly vocabSize: number;
  /** End-of-sequence id, placed between packed documents. */
  readonly eosId?: number;
  /** Beginning-of-sequence id, where the tokenizer has one. */
  readonly bosId?: number;
  /** Text to ids. Special-token strings in the text are encoded as ordinary text. */
  encode(text: string): number[];
  /** Ids to text. Special ids are dropped. */
  decode(ids: ArrayLike<number>): string;
  /** Token count of `encode(text)`, when the tokenizer can compute it more cheaply. */
  countTokens?(text: string): number;
}

/** `tokenizer.countTokens(text)` when available, else the length of the encoding. */
export function countTokens(tokenizer: Tokenizer, text: string): number {
  return tokenizer.countTokens ? tokenizer.countTokens(text) : tokenizer.encode(text).length;
}
