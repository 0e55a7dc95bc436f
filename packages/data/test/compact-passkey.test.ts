import { describe, expect, it } from 'vitest';
import { COMPACT_PASSKEY_QUESTION, compactPasskey, PK_FILLER_SENTENCES } from '../src/index.ts';

describe('compactPasskey', () => {
  it('fits the length, hides the needle among filler sentences and ends with the question', () => {
    for (const length of [64, 128, 256]) {
      for (const depth of [0, 0.5, 1]) {
        const sample = compactPasskey({ length, depth, seed: 3 });
        expect(sample.passkey).toMatch(/^\d{5}$/);
        expect(sample.answer).toBe(` ${sample.passkey}.`);
        expect(sample.prompt.length + sample.answer.length).toBeLessThanOrEqual(length - 1);
        expect(sample.prompt.endsWith(COMPACT_PASSKEY_QUESTION)).toBe(true);
        expect(sample.prompt).toContain(`The pass key is ${sample.passkey}.`);
        const filler = sample.prompt.replace(`The pass key is ${sample.passkey}.`, '').slice(0, -COMPACT_PASSKEY_QUESTION.length).trim();
        for (const sentence of filler.split(/(?<=\.) +/).map((s) => s.trim()).filter(Boolean)) expect(PK_FILLER_SENTENCES).toContain(sentence);
      }
    }
    expect(compactPasskey({ length: 256, depth: 0, seed: 1 }).prompt.startsWith('The pass key is')).toBe(true);
  });

  it('is deterministic and rejects lengths too short for the needle', () => {
    expect(compactPasskey({ length: 128, seed: 9, digits: 3 })).toEqual(compactPasskey({ length: 128, seed: 9, digits: 3 }));
    expect(compactPasskey({ length: 128, seed: 9, digits: 3 }).passkey).toMatch(/^\d{3}$/);
    expect(() => compactPasskey({ length: 30, seed: 0 })).toThrow(RangeError);
  });
});
