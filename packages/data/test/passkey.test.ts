import { describe, expect, it } from 'vitest';
import { ByteTokenizer, generatePasskeySample, PASSKEY_QUESTION, passkeyTrainingExample } from '../src/index.ts';

const byte = new ByteTokenizer();

describe('passkey', () => {
  it('hides the pass key in repeated filler and asks for it at the end', () => {
    const sample = generatePasskeySample({ tokenizer: byte, length: 512, depth: 0.5, seed: 2 });
    const text = sample.text();
    expect(sample.passkey).toMatch(/^\d{5}$/);
    expect(text).toContain(`The pass key is ${sample.passkey}. Remember it. ${sample.passkey} is the pass key.`);
    expect(text.endsWith(`\n${PASSKEY_QUESTION}`)).toBe(true);
    expect(text).toContain('The grass is green. The sky is blue.');
    expect(sample.length).toBeLessThanOrEqual(512);
    expect(sample.length).toBeGreaterThan(512 - 25);
    const needle = `The pass key is ${sample.passkey}. Remember it. ${sample.passkey} is the pass key.`;
    const at = sample.passkeyTokenOffset;
    expect(byte.decode(sample.tokens().subarray(at, at + needle.length + 1))).toBe(` ${needle}`);
  });

  it('is deterministic and trains on prompt + answer', () => {
    const a = passkeyTrainingExample({ tokenizer: byte, length: 256, seed: 5, digits: 3 });
    const b = passkeyTrainingExample({ tokenizer: byte, length: 256, seed: 5, digits: 3 });
    expect(Array.from(a.tokens)).toEqual(Array.from(b.tokens));
    expect(a.passkey).toMatch(/^\d{3}$/);
    expect(byte.decode(a.tokens.subarray(a.answerStart))).toBe(` ${a.passkey}.`);
    expect(byte.decode(a.tokens.subarray(a.answerStart - PASSKEY_QUESTION.length, a.answerStart))).toBe(PASSKEY_QUESTION);
  });
});
