// The compact byte-level passkey of `titans reproduce` (PASSKEY_RECIPE): filler sentences
// drawn at random, the needle "The pass key is NNNNN." at a sentence boundary, then the
// question " The pass key is"; the answer is " NNNNN.". Short enough (64-256 bytes) for
// models of a few tens of thousands of parameters to learn in CPU minutes, and free of
// Node built-ins, so the docs site builds the same prompts in the browser.

import { deriveSeed, SeededRandom } from '../random.ts';
import { PK_FILLER_SENTENCES } from './sentence-source.ts';

export interface CompactPasskeyOptions {
  /** Most bytes of prompt + answer (at least 1 byte of slack is kept). */
  readonly length: number;
  readonly seed: number;
  /** Depth of the needle in [0, 1] (the nearest sentence boundary); random when omitted. */
  readonly depth?: number;
  /** Digits of the passkey (default 5). */
  readonly digits?: number;
}

export interface CompactPasskey {
  /** Filler with the needle, then " The pass key is". */
  readonly prompt: string;
  /** " 12345." */
  readonly answer: string;
  readonly passkey: string;
}

/** The question that ends every compact passkey prompt. */
export const COMPACT_PASSKEY_QUESTION = ' The pass key is';

/**
 * A byte-level passkey sample of at most `length` bytes (prompt + answer): filler sentences
 * drawn at random, the needle at the sentence boundary nearest to `depth` (random if omitted).
 */
export function compactPasskey(options: CompactPasskeyOptions): CompactPasskey {
  const digits = options.digits ?? 5;
  const random = new SeededRandom(deriveSeed(options.seed, 'compact-passkey', options.length, digits));
  const passkey = String(random.int(10 ** (digits - 1), 10 ** digits));
  const needle = `The pass key is ${passkey}.`;
  const answer = ` ${passkey}.`;
  const budget = options.length - needle.length - COMPACT_PASSKEY_QUESTION.length - answer.length - 1;
  if (budget < 0) throw new RangeError(`compactPasskey: length ${options.length} is too short (need ${options.length - budget - 1})`);
  const filler: string[] = [];
  for (let used = 0; ;) {
    const sentence = PK_FILLER_SENTENCES[random.int(0, PK_FILLER_SENTENCES.length)]!;
    if (used + sentence.length + 1 > budget) break;
    filler.push(sentence);
    used += sentence.length + 1;
  }
  const at = Math.round((options.depth ?? random.next()) * filler.length);
  const prompt = [...filler.slice(0, at), needle, ...filler.slice(at)].join(' ') + COMPACT_PASSKEY_QUESTION;
  return { prompt, answer, passkey };
}
