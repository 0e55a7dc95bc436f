import { describe, expect, it } from 'vitest';
import { ByteTokenizer, TextInputError, TokenLoader, decodeText, firstInvalidUtf8Offset, textDocuments, textSplitPoint } from '../src/index.ts';

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);

describe('decodeText', () => {
  it('decodes UTF-8 text and drops a byte-order mark', () => {
    expect(decodeText(utf8('héllo wörld ✓ 𝄞\n\tline two\r\n'), 'a.txt')).toBe('héllo wörld ✓ 𝄞\n\tline two\r\n');
    expect(decodeText(new Uint8Array([0xef, 0xbb, 0xbf, ...utf8('hi')]), 'a.txt')).toBe('hi');
  });

  it('names the file and the problem for empty, whitespace-only, NUL, non-UTF-8 and control-heavy input', () => {
    const cases: [Uint8Array, RegExp][] = [
      [new Uint8Array(0), /^a\.txt: the file is empty$/],
      [utf8(' \n\t \n'), /^a\.txt: the file holds only whitespace$/],
      [new Uint8Array([0x68, 0x69, 0x00, 0x01]), /^a\.txt: not a text file \(NUL byte at offset 2; binary data\?\)$/],
      [new Uint8Array([0x63, 0x61, 0x66, 0xe9, 0x20]), /^a\.txt: not UTF-8 text \(invalid byte 0xe9 at offset 3; /],
      [utf8(`text${'\u0001\u0002\u0003'.repeat(10)}${'x'.repeat(100)}`), /^a\.txt: not a text file \(\d+\.\d% control characters; binary data\?\)$/],
    ];
    for (const [bytes, message] of cases) {
      let error: unknown;
      try {
        decodeText(bytes, 'a.txt');
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(TextInputError);
      expect((error as Error).message).toMatch(message);
      expect((error as Error).message).not.toContain('\n');
    }
  });

  it('accepts a few control characters (form feeds, an escape) in long text', () => {
    expect(decodeText(utf8(`${'word '.repeat(100)}\u001b[0m\f`), 'a.txt')).toContain('word');
  });
});

describe('firstInvalidUtf8Offset', () => {
  it('agrees with the fatal TextDecoder on valid and invalid sequences', () => {
    const samples: number[][] = [
      [0x41, 0xc3, 0xa9], [0xc0, 0x80], [0xe0, 0x80, 0x80], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xf0, 0x9d, 0x84, 0x9e],
      [0x41, 0xe2, 0x82], [0xff], [0x80], [0x41, 0x42, 0xc3],
    ];
    for (const sample of samples) {
      const bytes = Uint8Array.from(sample);
      let valid = true;
      try {
        new TextDecoder('utf-8', { fatal: true }).decode(bytes);
      } catch {
        valid = false;
      }
      expect(firstInvalidUtf8Offset(bytes) === -1, sample.join(',')).toBe(valid);
    }
    expect(firstInvalidUtf8Offset(Uint8Array.from([0x41, 0x42, 0xe9, 0x43]))).toBe(2);
  });
});

describe('textDocuments', () => {
  const text = Array.from({ length: 50 }, (_, i) => `Line ${i} of the user's own text.`).join('\n');

  it('holds out the tail from a line start; train + val = all', () => {
    const cut = textSplitPoint(text, 'a.txt');
    expect(text[cut - 1]).toBe('\n');
    expect(cut).toBeGreaterThanOrEqual(Math.floor(0.9 * text.length));
    const [train] = textDocuments([{ source: 'a.txt', text }], 'train');
    const [val] = textDocuments([{ source: 'a.txt', text }], 'val');
    expect(train!.text + val!.text).toBe(text);
    expect(val!.text.startsWith('Line ')).toBe(true);
    expect(train!.id).toBe('text/a.txt');
    expect(textDocuments([{ source: 'a.txt', text }], 'all')[0]!.text).toBe(text);
  });

  it('never splits a surrogate pair, and refuses a text too short to split', () => {
    const emoji = `a${'😀'.repeat(20)}`; // 41 code units: 90% falls inside a pair
    const cut = textSplitPoint(emoji, 'e.txt');
    expect(Math.floor(0.9 * emoji.length) % 2).toBe(0);
    expect(cut % 2).toBe(1);
    expect(emoji.slice(cut).startsWith('😀')).toBe(true);
    expect(() => textSplitPoint('x', 'tiny.txt')).toThrow(/^tiny\.txt: too short to hold out 10% for validation \(1 characters\)$/);
  });

  it('feeds TokenLoader (one document per file)', () => {
    const docs = textDocuments([{ source: 'a.txt', text }, { source: 'b.txt', text: text.toUpperCase() }], 'train');
    const loader = new TokenLoader({ documents: docs, tokenizer: new ByteTokenizer(), batchSize: 2, sequenceLength: 32, seed: 1 });
    const batch = loader.next();
    expect(batch.inputs.length).toBe(64);
  });
});
