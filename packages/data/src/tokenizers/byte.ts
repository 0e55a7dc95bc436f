// Byte-level tokenizer: ids 0-255 are the UTF-8 bytes of the text, then three specials.
// Needs no vocabulary file and round-trips any well-formed string exactly.

import type { Tokenizer } from './tokenizer.ts';

const utf8Encoder = new TextEncoder();

export class ByteTokenizer implements Tokenizer {
  readonly name = 'byte';
  static readonly BOS = 256;
  static readonly EOS = 257;
  static readonly PAD = 258;
  readonly vocabSize = 259;
  readonly bosId = ByteTokenizer.BOS;
  readonly eosId = ByteTokenizer.EOS;
  readonly padId = ByteTokenizer.PAD;

  encode(text: string): number[] {
    return Array.from(utf8Encoder.encode(text));
  }

  /** The UTF-8 bytes as a Uint8Array, for callers that want a typed array. */
  encodeBytes(text: string): Uint8Array {
    return utf8Encoder.encode(text);
  }

  decode(ids: ArrayLike<number>): string {
    const bytes = new Uint8Array(ids.length);
    let n = 0;
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      if (id >= 0 && id < 256) bytes[n++] = id;
    }
    // A fresh decoder per call: a cut multi-byte character becomes U+FFFD instead of
    // leaking into the next call.
    return new TextDecoder('utf-8').decode(bytes.subarray(0, n));
  }

  countTokens(text: string): number {
    return utf8ByteLength(text);
  }
}

/** UTF-8 length of a string without allocating its bytes. */
export function utf8ByteLength(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x80) bytes += 1;
    else if (code < 0x800) bytes += 2;
    else if (code >= 0xd800 && code <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        bytes += 4;
        i++;
      } else bytes += 3;
    } else bytes += 3; // BMP character, or a lone surrogate that the encoder writes as U+FFFD
  }
  return bytes;
}
