// The default NeuralMemory is numerically stable: the README's example (an untrained
// `new NeuralMemory(64, { heads: 4, rule: 'titans' })` streaming 256-token pieces) gives the
// same per-token surprises on the WebAssembly and the JavaScript CPU kernels, to float32
// tolerance, over 10,240 tokens, and stays within float32 tolerance of a float64 run. With
// the earlier gate init (every gate near 0.5, `gateBias: null`) the two kernel paths part
// within a couple of thousand tokens: that case shows the comparison can fail. The
// derivation is in the README ("Numerical stability"); the CPU-vs-WebGPU check is in
// stability-webgpu.test.ts.
import { afterEach, describe, expect, it } from 'vitest';
import { Rng, configureCpu, cpuConfig, tidy, type DType } from '@titans/tensor';
import { DEFAULT_GATE_BIAS, NeuralMemory, type NeuralMemoryOptions } from '../src/index.js';
import { readmeSurprises } from './stability-helpers.js';

const initial = cpuConfig();
afterEach(() => {
  configureCpu({ wasm: initial.wasm });
});

function worstRelative(a: Float64Array, b: Float64Array): number {
  expect(a.length).toBe(b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!) / Math.max(1, Math.abs(b[i]!)));
  return worst;
}

function run(options: { wasm: boolean; pieces: number; dtype?: DType; memory?: NeuralMemoryOptions }): Float64Array {
  configureCpu({ wasm: options.wasm });
  return readmeSurprises({ pieces: options.pieces, ...(options.dtype ? { dtype: options.dtype } : {}), ...(options.memory ? { memory: options.memory } : {}) });
}

describe('the default NeuralMemory is numerically stable', () => {
  it('defaults the forget gate near retain (DEFAULT_GATE_BIAS) and leaves the other gates at their init', () => {
    const memory = new NeuralMemory(16, { heads: 2, seed: 5 });
    const plain = new NeuralMemory(16, { heads: 2, seed: 5, gateBias: null });
    const bias = Array.from(memory.gates.bias!.dataSync());
    expect(DEFAULT_GATE_BIAS).toEqual({ alpha: -8 });
    expect(bias.slice(4, 6)).toEqual([-8, -8]);
    expect(bias.slice(0, 4)).toEqual(Array.from(plain.gates.bias!.dataSync()).slice(0, 4));
    const alpha = tidy(() => memory.forward(new Rng(1).normal([1, 16, 16])).surprise.alpha.max().item());
    expect(alpha).toBeLessThan(2e-3);
  });

  it('WASM and JavaScript CPU kernels give the same surprises over 10,240 tokens (README example)', () => {
    const wasm = run({ wasm: true, pieces: 40 });
    const js = run({ wasm: false, pieces: 40 });
    expect(wasm.length).toBe(40 * 4 * 256);
    expect(worstRelative(wasm, js)).toBeLessThan(2e-5);
  });

  it('float32 stays within float32 tolerance of float64 over 4,096 tokens', () => {
    const single = run({ wasm: true, pieces: 16 });
    const double = run({ wasm: true, pieces: 16, dtype: 'float64' });
    expect(worstRelative(single, double)).toBeLessThan(2e-5);
  });

  it('with the earlier gate init (gateBias: null) the kernel paths part within 2,048 tokens', () => {
    const wasm = run({ wasm: true, pieces: 8, memory: { gateBias: null } });
    const js = run({ wasm: false, pieces: 8, memory: { gateBias: null } });
    expect(worstRelative(wasm, js)).toBeGreaterThan(1e-2);
  });
});
