// Character-level DNA tokenizer: A, C, G, T, N, plus an end-of-sequence id. Lower-case
// (soft-masked) bases map to their upper-case ids; any other IUPAC code maps to N.

import type { Tokenizer } from '../tokenizers/tokenizer.ts';

const BASES = 'ACGTN';

export class DnaTokenizer implements Tokenizer {
  readonly name = 'dna';
  readonly vocabSize = 6;
  static readonly N = 4;
  readonly eosId = 5;

  encode(text: string): number[] {
    const ids: number[] = [];
    for (let i = 0; i < text.length; i++) {
      const ch = text[i]!;
      if (ch === '\n' || ch === '\r' || ch === ' ' || ch === '\t') continue;
      const id = BASES.indexOf(ch.toUpperCase());
      ids.push(id < 0 ? DnaTokenizer.N : id);
    }
    return ids;
  }

  /** Ids of a sequence as a compact typed array. */
  encodeBytes(sequence: string): Uint8Array {
    return Uint8Array.from(this.encode(sequence));
  }

  decode(ids: ArrayLike<number>): string {
    let out = '';
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      if (id >= 0 && id < BASES.length) out += BASES[id];
    }
    return out;
  }
}
