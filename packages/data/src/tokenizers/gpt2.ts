// GPT-2's byte-level BPE (50,257 ids, the `r50k_base` ranks shipped by the npm package
// gpt-tokenizer). Loaded on demand because the rank table takes a moment to build.

import type { Tokenizer } from './tokenizer.ts';

interface R50kModule {
  encode(text: string, options?: { disallowedSpecial?: Set<string> }): number[];
  decode(ids: Iterable<number>): string;
}

let modulePromise: Promise<R50kModule> | undefined;

export class Gpt2Tokenizer implements Tokenizer {
  readonly name = 'gpt2';
  readonly vocabSize = 50257;
  /** `<|endoftext|>`, GPT-2's only special token; also used as BOS. */
  readonly eosId = 50256;
  readonly bosId = 50256;
  private static readonly noSpecials = new Set<string>();

  private constructor(private readonly bpe: R50kModule) {}

  /** Loads the BPE ranks (once per process) and returns a tokenizer. */
  static async load(): Promise<Gpt2Tokenizer> {
    modulePromise ??= import('gpt-tokenizer/encoding/r50k_base');
    return new Gpt2Tokenizer(await modulePromise);
  }

  encode(text: string): number[] {
    // `<|endoftext|>` inside data is just text: an empty disallow set stops the library
    // from throwing, and nothing is in the allow set, so it is split like any string.
    return this.bpe.encode(text, { disallowedSpecial: Gpt2Tokenizer.noSpecials });
  }

  decode(ids: ArrayLike<number>): string {
    const kept: number[] = [];
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      if (id >= 0 && id < this.eosId) kept.push(id);
    }
    return this.bpe.decode(kept);
  }
}
