// Configs: the analytic parameter count equals what the model allocates, the paper's sizes
// are counted without building them, and bad configs fail with a message naming the field.
import { describe, expect, it } from 'vitest';
import {
  ARCHITECTURES, PAPER_SIZES, architectureRevision, countParameters, createModel, defineConfig, paperConfig, parameterBreakdown, tinyConfig,
} from '../src/index.js';
import { NeuralMemory } from '@titans/memory';
import { testConfig } from './helpers.js';

describe('configs', () => {
  it.each(ARCHITECTURES)('%s: countParameters(config) equals the parameters createModel allocates', (architecture) => {
    for (const overrides of [{}, { tieEmbeddings: true, memory: { depth: 3, convKernel: 0, outputGate: false, heads: 1, ruleOverrides: { layerLearningRates: true } } }]) {
      const config = testConfig(architecture, overrides);
      const model = createModel(config);
      expect(countParameters(config)).toBe(model.parameterCount());
      expect(countParameters(model)).toBe(model.parameterCount());
    }
  });

  it('counts the paper sizes analytically (never instantiated)', () => {
    // Transformer++ 170M by hand: embedding + untied head, 12 x (attention 4d^2 + SwiGLU 3 d h + 2 norms), final norm.
    const d = 768;
    const h = 2048; // 8/3 * 768 rounded up to a multiple of 32
    expect(countParameters(paperConfig('transformer', '170M'))).toBe(2 * 32000 * d + 12 * (4 * d * d + 3 * d * h + 2 * d) + d);
    const mac = paperConfig('mac', '170M');
    expect(mac).toMatchObject({ layers: 12, dim: 768, heads: 16, segmentLength: 512, persistentTokens: 128, window: 2048 });
    expect(mac.memory).toMatchObject({ chunkSize: 16, expansion: 4, depth: 2, convKernel: 4 });
    const b = parameterBreakdown(mac);
    expect(b.total).toBe(b.embedding + b.head + b.finalNorm + 12 * b.perBlock);
    for (const [size, shape] of Object.entries(PAPER_SIZES)) {
      const c = paperConfig('mag', size as keyof typeof PAPER_SIZES);
      expect([c.layers, c.dim, c.heads]).toEqual([shape.layers, shape.dim, shape.heads]);
      // The baselines land near the nominal size; the hybrids carry attention and a memory per block.
      const nominal = { '170M': 170e6, '340M': 340e6, '760M': 760e6, '1.3B': 1.3e9 }[size]!;
      const transformer = countParameters(paperConfig('transformer', size as keyof typeof PAPER_SIZES));
      expect(transformer / nominal).toBeGreaterThan(0.75);
      expect(transformer / nominal).toBeLessThan(1.25);
      expect(countParameters(c)).toBeGreaterThan(transformer);
    }
  });

  it('tiny presets are byte-level and small enough for a CPU', () => {
    for (const architecture of ARCHITECTURES) {
      const c = tinyConfig(architecture);
      // The 256 bytes and the byte tokenizer's BOS, EOS, PAD (ids 256-258): the CLI's tiny-<arch>
      // presets train on those ids, and once had 259 while tinyConfig had 256.
      expect(c.vocabSize).toBe(259);
      expect(countParameters(c)).toBeLessThan(200_000);
    }
    // Untied embedding and head, width 48: 2 x 259 x 48 of the total (115,068 with 256).
    expect(countParameters(tinyConfig('mag'))).toBe(115_356);
    expect(countParameters(tinyConfig('mag', { vocabSize: 256 }))).toBe(115_068);
    expect(tinyConfig('deltanet').memory.depth).toBe(1);
    expect(tinyConfig('lmm').memory.depth).toBe(2);
  });

  it('rejects inconsistent configs, naming the field', () => {
    expect(() => defineConfig({ architecture: 'mac', dim: 30, heads: 4 })).toThrow(/dim 30 is not divisible by heads 4/);
    expect(() => defineConfig({ architecture: 'swa', dim: 15, heads: 3 })).toThrow(/head width 5 must be even/);
    expect(() => defineConfig({ architecture: 'lmm', segmentLength: 0 })).toThrow(/segmentLength/);
    expect(() => defineConfig({ architecture: 'nope' as 'lmm' })).toThrow(/unknown architecture/);
  });
});

describe('memory gateBias', () => {
  it('reaches every layer\'s memory and survives the config round trip', () => {
    const config = defineConfig({ architecture: 'mag', memory: { gateBias: { alpha: -4 } } });
    expect(config.memory.gateBias).toEqual({ alpha: -4 });
    expect(defineConfig({ architecture: 'mag' }).memory.gateBias).toBeUndefined();
    const model = createModel(defineConfig(JSON.parse(JSON.stringify(config)) as typeof config));
    const memories = model.modules().filter((m): m is NeuralMemory => m instanceof NeuralMemory);
    expect(memories).toHaveLength(config.layers);
    for (const m of memories) expect(Array.from(m.gates.bias!.dataSync()).slice(2 * m.heads)).toEqual(new Array(m.heads).fill(-4));
  });
});

describe('architectureRevision', () => {
  it('is 2 for MAC (residual in y, sigmoid on y), Hope (bounded self-modifying Titans) and OmegaNet (bounded Omega step), 1 for every other architecture', () => {
    expect(architectureRevision('mac')).toBe(2);
    expect(architectureRevision('hope')).toBe(2);
    expect(architectureRevision('omeganet')).toBe(2);
    for (const name of ARCHITECTURES.filter((a) => a !== 'mac' && a !== 'hope' && a !== 'omeganet')) expect(architectureRevision(name), name).toBe(1);
  });
});
