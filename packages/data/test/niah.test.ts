import { describe, expect, it } from 'vitest';
import { ByteTokenizer, countTokens, evenlySpacedDepths, generateNiahSample, Gpt2Tokenizer, haystackSource, niahTemplates, type NiahSample, type Tokenizer } from '../src/index.ts';

const byte = new ByteTokenizer();
const gpt2 = await Gpt2Tokenizer.load();

/** Tokens one more haystack sentence would have added. */
function nextSentenceTokens(sample: NiahSample, tokenizer: Tokenizer): number {
  const source = haystackSource(sample.haystack);
  return countTokens(tokenizer, ' ' + source.sentence(sample.haystackStart + sample.haystackSentences));
}

function expectFitted(sample: NiahSample, tokenizer: Tokenizer): void {
  expect(sample.length).toBeLessThanOrEqual(sample.targetLength);
  expect(sample.targetLength - sample.length).toBeLessThan(nextSentenceTokens(sample, tokenizer) + 2);
}

describe('S-NIAH templates', () => {
  it('uses the task definition texts exactly', () => {
    const t = niahTemplates('number', 'curious-lantern', '1234567');
    expect(t.intro).toBe('A special magic number is hidden within the following text. Make sure to memorize it. I will quiz you about the number afterwards.');
    expect(t.needle).toBe('One of the special magic numbers for curious-lantern is: 1234567.');
    expect(t.question).toBe('What is the special magic number for curious-lantern mentioned in the provided text?');
    expect(t.answerPrefix).toBe(' The special magic number for curious-lantern mentioned in the provided text is');
    expect(niahTemplates('uuid', 'k', 'v').needle).toBe('One of the special magic uuids for k is: v.');
  });

  it('builds the prompt as intro, haystack with needle, question, answer prefix', () => {
    const sample = generateNiahSample({ task: 'pk', tokenizer: byte, length: 1024, depth: 0.5, seed: 1 });
    const text = sample.text();
    const t = niahTemplates('number', sample.key, sample.value);
    expect(text.startsWith(`${t.intro}\nThe grass is green. The sky is blue. The sun is yellow. Here we go. There and back again.`)).toBe(true);
    expect(text.endsWith(`There and back again.\n${t.question}${t.answerPrefix}`) || text.endsWith(`.\n${t.question}${t.answerPrefix}`)).toBe(true);
    expect(text.split(t.needle)).toHaveLength(2);
    expect(sample.key).toMatch(/^[a-z]+-[a-z]+$/);
    expect(sample.value).toMatch(/^\d{7}$/);
  });

  it('uses natural text and uuids for W', () => {
    const sample = generateNiahSample({ task: 'w', tokenizer: byte, length: 2048, depth: 0.3, seed: 4 });
    expect(sample.value).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(sample.text()).not.toContain('The grass is green.');
    expect(sample.haystack).toBe('moby-dick');
  });
});

describe('S-NIAH with a State of the Union haystack', () => {
  it('draws haystack sentences from the speeches', () => {
    const sample = generateNiahSample({ task: 'w', tokenizer: byte, length: 4096, depth: 0.5, seed: 2, haystack: 'sotu' });
    expect(sample.haystack).toBe('sotu');
    expectFitted(sample, byte);
    const source = haystackSource('sotu');
    expect(sample.text()).toContain(source.sentence(sample.haystackStart));
    expect(source.size).toBeGreaterThan(50_000);
  });
});

describe('S-NIAH determinism', () => {
  it('gives the same sample for the same seed and a different one for another seed', () => {
    const a = generateNiahSample({ task: 'n', tokenizer: gpt2, length: 1024, depth: 0.25, seed: 9 });
    const b = generateNiahSample({ task: 'n', tokenizer: gpt2, length: 1024, depth: 0.25, seed: 9 });
    const c = generateNiahSample({ task: 'n', tokenizer: gpt2, length: 1024, depth: 0.25, seed: 10 });
    expect(b.text()).toBe(a.text());
    expect(Array.from(b.tokens())).toEqual(Array.from(a.tokens()));
    expect(c.value).not.toBe(a.value);
    expect(c.text()).not.toBe(a.text());
  });
});

describe('S-NIAH length fitting', () => {
  for (const [name, tokenizer] of [['byte', byte], ['gpt2', gpt2]] as const) {
    for (const task of ['pk', 'n', 'w'] as const) {
      for (const length of [1024, 16384]) {
        it(`${task} with ${name} fills ${length} tokens to within one sentence`, () => {
          const sample = generateNiahSample({ task, tokenizer, length, depth: 0.4, seed: 3 });
          expectFitted(sample, tokenizer);
          const tokens = sample.tokens();
          expect(tokens.length).toBe(sample.length);
          // Piecewise tokenization is the tokenization of the whole text.
          expect(tokenizer.encode(sample.text())).toEqual(Array.from(tokens));
        });
      }
    }
  }

  it('rejects a length shorter than the bare prompt', () => {
    expect(() => generateNiahSample({ task: 'pk', tokenizer: gpt2, length: 40, depth: 0, seed: 1 })).toThrow(/shorter than the prompt/);
  });
});

describe('S-NIAH needle depth', () => {
  it('gives evenly spaced depths', () => {
    expect(evenlySpacedDepths(5)).toEqual([0, 0.25, 0.5, 0.75, 1]);
    expect(evenlySpacedDepths(1)).toEqual([0.5]);
  });

  for (const depth of evenlySpacedDepths(5)) {
    it(`places the needle at depth ${depth} on a sentence boundary`, () => {
      const sample = generateNiahSample({ task: 'n', tokenizer: gpt2, length: 4096, depth, seed: 6 });
      const tokens = sample.tokens();
      const needleTokens = gpt2.encode(' ' + sample.needle).length;
      const decoded = gpt2.decode(tokens.subarray(sample.needleTokenOffset, sample.needleTokenOffset + needleTokens));
      expect(decoded.trim()).toBe(sample.needle);
      const longest = 200; // a 600-character sentence is well under 200 GPT-2 tokens
      const background = sample.length - gpt2.encode(sample.text().replace(/\n[\s\S]*\n/, '\n\n')).length;
      expect(background).toBeGreaterThan(3000);
      expect(Math.abs(sample.needleTokenDepth - depth)).toBeLessThan(longest / background);
      // The needle is its own sentence: preceded by '.\n' or '<sentence end> '.
      const text = sample.text();
      const at = text.indexOf(sample.needle);
      expect(text[at - 1] === '\n' || /[.!?’”"')] $/.test(text.slice(at - 2, at))).toBe(true);
    });
  }
});

describe('S-NIAH at 1M tokens', () => {
  it('streams a 1M-token byte-level sample in bounded chunks with the needle where measured', () => {
    const sample = generateNiahSample({ task: 'n', tokenizer: byte, length: 1_000_000, depth: 0.7, seed: 12 });
    expectFitted(sample, byte);
    let count = 0;
    let largest = 0;
    let needleFound = false;
    const needleBytes = byte.encode(' ' + sample.needle);
    for (const chunk of sample.chunks({ maxTokens: 4096 })) {
      largest = Math.max(largest, chunk.tokens.length);
      const local = sample.needleTokenOffset - count;
      if (local >= 0 && local + needleBytes.length <= chunk.tokens.length) {
        needleFound = Array.from(chunk.tokens.subarray(local, local + needleBytes.length)).every((t, i) => t === needleBytes[i]);
      }
      count += chunk.tokens.length;
    }
    expect(count).toBe(sample.length);
    expect(sample.length).toBeGreaterThan(999_000);
    expect(largest).toBeLessThan(4096 + 700); // one chunk never holds more than a sentence past the limit
    expect(needleFound).toBe(true);
    expect(Math.abs(sample.needleTokenDepth - 0.7)).toBeLessThan(0.001);
  });
});
