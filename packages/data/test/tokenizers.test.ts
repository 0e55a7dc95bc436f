import { describe, expect, it } from 'vitest';
import { ByteTokenizer, countTokens, Gpt2Tokenizer, loadTokenizer, utf8ByteLength } from '../src/index.ts';

const samples = [
  '',
  'hello world',
  'Tabs\tand\nnewlines\r\n  spaces  ',
  'naïve café, Zürich — “quotes” ‘single’',
  'emoji 😀👩🏽‍🚀🇺🇸 and CJK 漢字かな 한국어',
  'special <|endoftext|> text stays text',
  'numbers 1234567 and a uuid 3f2a9c1e-8b4d-4e6f-9a0b-1c2d3e4f5a6b.',
];

describe('ByteTokenizer', () => {
  const tokenizer = new ByteTokenizer();

  it('round-trips any well-formed string exactly', () => {
    for (const text of samples) expect(tokenizer.decode(tokenizer.encode(text))).toBe(text);
  });

  it('uses UTF-8 bytes as ids and counts them without encoding', () => {
    expect(tokenizer.encode('aé😀')).toEqual([0x61, 0xc3, 0xa9, 0xf0, 0x9f, 0x98, 0x80]);
    for (const text of samples) expect(utf8ByteLength(text)).toBe(tokenizer.encode(text).length);
    expect(utf8ByteLength('\ud800x')).toBe(new TextEncoder().encode('\ud800x').length);
  });

  it('drops special ids when decoding', () => {
    expect(tokenizer.decode([ByteTokenizer.BOS, 0x68, 0x69, ByteTokenizer.EOS])).toBe('hi');
    expect(tokenizer.vocabSize).toBe(259);
  });
});

describe('Gpt2Tokenizer', async () => {
  const tokenizer = await Gpt2Tokenizer.load();

  it('matches GPT-2 ids for known strings', () => {
    expect(tokenizer.encode('hello world')).toEqual([31373, 995]);
    expect(tokenizer.encode(' The grass is green.')).toEqual([383, 8701, 318, 4077, 13]);
    expect(tokenizer.vocabSize).toBe(50257);
    expect(tokenizer.eosId).toBe(50256);
  });

  it('round-trips exactly, special-token text included', () => {
    for (const text of samples) expect(tokenizer.decode(tokenizer.encode(text))).toBe(text);
    expect(tokenizer.encode('<|endoftext|>')).not.toContain(50256);
  });

  it('is what loadTokenizer returns, and countTokens agrees with encode', async () => {
    const loaded = await loadTokenizer('gpt2');
    expect(loaded.name).toBe('gpt2');
    expect(countTokens(loaded, samples[3]!)).toBe(loaded.encode(samples[3]!).length);
    expect((await loadTokenizer('byte')).name).toBe('byte');
    expect((await loadTokenizer('dna')).vocabSize).toBe(6);
    // @ts-expect-error unknown names are rejected at run time too
    await expect(loadTokenizer('llama')).rejects.toThrow(/unknown tokenizer/);
  });
});
