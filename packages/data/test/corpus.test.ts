import { describe, expect, it } from 'vitest';
import { documentOrdinal, documentSentences, loadCorpus, splitSentences } from '../src/index.ts';

describe('loadCorpus', () => {
  it('splits State of the Union speeches by year', () => {
    const train = loadCorpus('sotu', { split: 'train' });
    const val = loadCorpus('sotu', { split: 'val' });
    const test = loadCorpus('sotu', { split: 'test' });
    expect(train.every((d) => documentOrdinal(d.id) <= 1999)).toBe(true);
    expect(val.map((d) => documentOrdinal(d.id))).toEqual(expect.arrayContaining([2000, 2009]));
    expect(val.every((d) => documentOrdinal(d.id) >= 2000 && documentOrdinal(d.id) <= 2009)).toBe(true);
    expect(test.every((d) => documentOrdinal(d.id) >= 2010)).toBe(true);
    expect(test.some((d) => d.id.startsWith('sotu/2021_'))).toBe(true);
    expect(train.length + val.length + test.length).toBe(loadCorpus('sotu').length);
    expect(train[0]!.id).toBe('sotu/1790_george_washington_n');
    expect(train[0]!.text.length).toBeGreaterThan(1000);
  });

  it('reads Moby Dick as 135 chapters', () => {
    const chapters = loadCorpus('moby-dick');
    expect(chapters).toHaveLength(135);
    expect(chapters[0]!.text.startsWith('CHAPTER 1. Loomings.')).toBe(true);
    expect(chapters[0]!.text).toContain('Call me Ishmael.');
    expect(loadCorpus('moby-dick', { split: 'train' })).toHaveLength(115);
    expect(loadCorpus('moby-dick', { split: 'test' }).map((d) => d.id)[0]).toBe('moby-dick/chapter-126');
  });
});

describe('sentences', () => {
  it('splits at sentence ends followed by a capital, keeping closing quotes', () => {
    expect(splitSentences('Call me Ishmael. Some years\nago—never mind. “Is it?” he said. Yes!')).toEqual([
      'Call me Ishmael.',
      'Some years ago—never mind.',
      '“Is it?” he said.',
      'Yes!',
    ]);
    // A period before a lower-case word is not a sentence end.
    expect(splitSentences('He waited, i.e. he stood there. Then left.')).toEqual(['He waited, i.e. he stood there.', 'Then left.']);
  });

  it('filters headings and over-long sentences', () => {
    const text = 'CHAPTER 1. Loomings.\n\nCall me Ishmael, a sailor by trade. Then ' + 'word '.repeat(200) + 'end.';
    expect(documentSentences(text)).toEqual(['Call me Ishmael, a sailor by trade.']);
  });
});
