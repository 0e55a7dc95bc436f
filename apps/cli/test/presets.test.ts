// The tiny-<arch> presets are the models package's tinyConfig, and their vocabulary covers
// every id the byte tokenizer emits (the specials included), so a preset trains on its data.
import { describe, expect, it } from 'vitest';
import { ByteTokenizer } from '@titans/data';
import { ARCHITECTURES, tinyConfig } from '@titans/models';
import { presetConfig, presetNames } from '../src/run-config.js';

describe('tiny presets', () => {
  it('are tinyConfig exactly, for every architecture', () => {
    for (const architecture of ARCHITECTURES) {
      expect(presetNames()).toContain(`tiny-${architecture}`);
      expect(presetConfig(`tiny-${architecture}`)).toEqual(tinyConfig(architecture));
    }
  });

  it('embed every byte tokenizer id, BOS, EOS and PAD included', () => {
    const tokenizer = new ByteTokenizer();
    const largestId = Math.max(tokenizer.bosId, tokenizer.eosId, tokenizer.padId, ...tokenizer.encode('\u{10FFFF}ÿ'));
    for (const architecture of ARCHITECTURES) {
      expect(presetConfig(`tiny-${architecture}`).vocabSize).toBe(tokenizer.vocabSize);
      expect(largestId).toBeLessThan(presetConfig(`tiny-${architecture}`).vocabSize);
    }
  });
});
