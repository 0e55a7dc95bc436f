// The user's own text as a corpus: bytes checked to be UTF-8 text (not empty, not binary,
// not another encoding), then split into a training part and a held-out tail, one document
// per file, for TokenLoader and perplexity. No file system here (the caller reads the
// bytes), so it runs in the browser too.
import type { CorpusDocument } from './corpus.ts';

/** Why some bytes are not usable text; `message` is one line naming the source. */
export class TextInputError extends Error {
  override readonly name = 'TextInputError';
}

export interface DecodeTextOptions {
  /**
   * Largest share of control characters (C0 other than tab, line feed, carriage return and
   * form feed; DEL; C1) a text may have (default 0.01). Text has almost none; binary files
   * that happen to be valid UTF-8 have many.
   */
  readonly maxControlShare?: number;
}

/** Offset of the first byte that does not continue a well-formed UTF-8 sequence, or -1. */
export function firstInvalidUtf8Offset(bytes: Uint8Array): number {
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i]!;
    if (b < 0x80) {
      i++;
      continue;
    }
    let need: number;
    let min: number;
    if (b >= 0xc2 && b <= 0xdf) [need, min] = [1, 0x80];
    else if (b >= 0xe0 && b <= 0xef) [need, min] = [2, 0x800];
    else if (b >= 0xf0 && b <= 0xf4) [need, min] = [3, 0x10000];
    else return i;
    let code = b & (0x3f >> need);
    for (let k = 1; k <= need; k++) {
      const c = bytes[i + k];
      if (c === undefined || (c & 0xc0) !== 0x80) return i;
      code = (code << 6) | (c & 0x3f);
    }
    if (code < min || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) return i;
    i += need + 1;
  }
  return -1;
}

function isControl(code: number): boolean {
  if (code === 0x09 || code === 0x0a || code === 0x0d || code === 0x0c) return false;
  return code < 0x20 || (code >= 0x7f && code <= 0x9f);
}

/**
 * Decodes bytes that must be UTF-8 text; throws a TextInputError naming `source` when they
 * are empty (or only whitespace), hold a NUL byte, are not valid UTF-8, or have more control
 * characters than text does. A leading byte-order mark is dropped.
 */
export function decodeText(bytes: Uint8Array, source: string, options: DecodeTextOptions = {}): string {
  if (bytes.length === 0) throw new TextInputError(`${source}: the file is empty`);
  const nul = bytes.indexOf(0);
  if (nul >= 0) throw new TextInputError(`${source}: not a text file (NUL byte at offset ${nul}; binary data?)`);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    const at = firstInvalidUtf8Offset(bytes);
    throw new TextInputError(`${source}: not UTF-8 text (invalid byte 0x${(bytes[Math.max(0, at)] ?? 0).toString(16).padStart(2, '0')} at offset ${Math.max(0, at)}; convert it, e.g. iconv -f latin1 -t utf-8)`);
  }
  if (text.trim().length === 0) throw new TextInputError(`${source}: the file holds only whitespace`);
  const maxShare = options.maxControlShare ?? 0.01;
  let characters = 0;
  let controls = 0;
  for (const ch of text) {
    characters++;
    if (isControl(ch.codePointAt(0)!)) controls++;
  }
  if (controls / characters > maxShare) {
    throw new TextInputError(`${source}: not a text file (${((100 * controls) / characters).toFixed(1)}% control characters; binary data?)`);
  }
  return text;
}

export type TextSplit = 'train' | 'val' | 'all';

export interface SplitTextOptions {
  /** Share of the text held out at its end for validation (default 0.1). */
  readonly valFraction?: number;
}

/**
 * Where a text's held-out tail starts: the first line break at or after (1 - valFraction)
 * of its characters (so the tail starts on a new line), else exactly there (never inside a
 * surrogate pair). Throws when either part would be empty.
 */
export function textSplitPoint(text: string, source: string, options: SplitTextOptions = {}): number {
  const fraction = options.valFraction ?? 0.1;
  if (!(fraction > 0 && fraction < 1)) throw new RangeError(`valFraction must be in (0, 1), got ${fraction}`);
  let cut = Math.floor(text.length * (1 - fraction));
  const newline = text.indexOf('\n', cut);
  if (newline >= 0 && newline + 1 < text.length && newline - cut <= Math.max(200, 0.05 * text.length)) cut = newline + 1;
  const code = text.charCodeAt(cut - 1);
  if (code >= 0xd800 && code <= 0xdbff) cut++;
  if (text.slice(0, cut).trim().length === 0 || text.slice(cut).trim().length === 0) {
    throw new TextInputError(`${source}: too short to hold out ${Math.round(fraction * 100)}% for validation (${text.length} characters)`);
  }
  return cut;
}

/**
 * One document per text: its training part (before the held-out tail), its held-out tail
 * ('val'), or all of it. Document ids are `text/<source>`.
 */
export function textDocuments(texts: readonly { readonly source: string; readonly text: string }[], split: TextSplit, options: SplitTextOptions = {}): CorpusDocument[] {
  if (texts.length === 0) throw new TextInputError('no text files');
  return texts.map(({ source, text }) => {
    const id = `text/${source}`;
    if (split === 'all') return { id, text };
    const cut = textSplitPoint(text, source, options);
    return { id, text: split === 'train' ? text.slice(0, cut) : text.slice(cut) };
  });
}
