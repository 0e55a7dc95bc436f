// Tokenizer registry: names to instances.

import { ByteTokenizer } from './byte.ts';
import { Gpt2Tokenizer } from './gpt2.ts';
import { DnaTokenizer } from '../dna/dna-tokenizer.ts';
import type { Tokenizer } from './tokenizer.ts';

export type TokenizerName = 'byte' | 'gpt2' | 'dna';
export const tokenizerNames: readonly TokenizerName[] = ['byte', 'gpt2', 'dna'];

/** Returns the named tokenizer; 'gpt2' loads its BPE ranks on first use. */
export async function loadTokenizer(name: TokenizerName): Promise<Tokenizer> {
  switch (name) {
    case 'byte':
      return new ByteTokenizer();
    case 'gpt2':
      return Gpt2Tokenizer.load();
    case 'dna':
      return new DnaTokenizer();
    default:
      throw new Error(`loadTokenizer: unknown tokenizer '${String(name)}' (known: ${tokenizerNames.join(', ')})`);
  }
}
