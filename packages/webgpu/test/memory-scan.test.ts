// Backend.memoryScan on WebGPU (one kernel per scan) against the CPU reference kernel on random
// shapes: one memory and several, one token, token counts that are and are not multiples of the
// chunk, chunk 1 and chunks longer than the sequence, odd widths (1, 3, 5, 7), linear and
// 2-layer memories (SiLU and GELU), with and without residual and LayerNorm, with and without
// y_pre. The reference is the CPU kernel in float64; WebGPU runs float32 throughout, so the
// packed outputs agree to the float32 rounding of the recurrence (ACCUMULATED: 1e-4 relative,
// 1e-5 absolute). With LayerNorm the output is divided by its standard deviation, which
// amplifies that rounding (the CPU's own float32 SIMD path is 1.4e-5 off float64 on a
// [4, 8], [8, 4] memory where GPU is 1.8e-5 off): those cases get NORMED (1e-3, 1e-4). The
// spec's golden vectors (outputs to 1e-4) run through this kernel in packages/memory's
// golden-webgpu test. Bad inputs are errors naming the input.
import { cpuBackend, type MemoryScanDims, type MemoryScanInputs, type Storage } from '@titans/tensor';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WebGPUBackend } from '../src/index.js';
import { ACCUMULATED, Random, expectClose, makeBackend, type Tolerance } from './helpers.js';

const NORMED: Tolerance = { rtol: 1e-3, atol: 1e-4 };

let gpu: WebGPUBackend;
beforeAll(async () => {
  gpu = await makeBackend();
});
afterAll(() => gpu?.destroy());

interface Case extends MemoryScanDims {
  readonly seed: number;
}

function arrays(c: Case): { [K in keyof MemoryScanInputs]: K extends 'weights' | 'momentum' ? Float32Array[] : Float32Array } {
  const r = new Random(c.seed);
  const { memories: m, tokens: t, layers } = c;
  const din = layers[0]![1];
  const dout = layers[layers.length - 1]![0];
  return {
    k: r.uniform(m * t * din, -1, 1),
    v: r.uniform(m * t * dout, -1, 1),
    q: r.uniform(m * t * din, -1, 1),
    theta: r.uniform(m * t, 0.01, 0.2),
    eta: r.uniform(m * t, 0.5, 0.95),
    alpha: r.uniform(m * t, 0, 0.1),
    weights: layers.map(([o, i]) => r.uniform(m * o * i, -0.4, 0.4)),
    momentum: layers.map(([o, i]) => r.uniform(m * o * i, -0.05, 0.05)),
  };
}

async function compare(c: Case): Promise<void> {
  const a = arrays(c);
  const on = (put: (x: Float32Array) => Storage): MemoryScanInputs => ({
    k: put(a.k), v: put(a.v), q: put(a.q), theta: put(a.theta), eta: put(a.eta), alpha: put(a.alpha),
    weights: a.weights.map(put), momentum: a.momentum.map(put),
  });
  const cpuIn = on((x) => cpuBackend.fromArray(Float64Array.from(x), 'float64'));
  const gpuIn = on((x) => gpu.fromArray(x, 'float32'));
  const expected = cpuBackend.readSync(cpuBackend.memoryScan!(cpuIn, c));
  const out = gpu.memoryScan(gpuIn, c);
  const actual = await gpu.read(out);
  expectClose(actual, expected, c.norm ? NORMED : ACCUMULATED, `memoryScan ${JSON.stringify(c)}`);
  gpu.dispose(out);
  for (const s of [gpuIn.k, gpuIn.v, gpuIn.q, gpuIn.theta, gpuIn.eta, gpuIn.alpha, ...gpuIn.weights, ...gpuIn.momentum]) gpu.dispose(s);
}

describe('memoryScan on WebGPU', () => {
  it('a linear memory equals the CPU kernel (edge shapes)', async () => {
    const base = { activation: 'silu', residual: false, norm: false } as const;
    const cases: Case[] = [
      { ...base, seed: 1, memories: 1, tokens: 1, chunk: 1, layers: [[1, 1]] },
      { ...base, seed: 2, memories: 1, tokens: 7, chunk: 3, layers: [[3, 5]] },
      { ...base, seed: 3, memories: 3, tokens: 8, chunk: 4, layers: [[4, 4]] },
      { ...base, seed: 4, memories: 2, tokens: 5, chunk: 8, layers: [[5, 3]] },
      { ...base, seed: 5, memories: 2, tokens: 9, chunk: 1, layers: [[7, 7]], yPre: false },
      { ...base, seed: 6, memories: 1, tokens: 13, chunk: 4, layers: [[70, 67]] },
    ];
    for (const c of cases) await compare(c);
  });

  it('norm, residual and deeper memories equal the CPU kernel (random shapes)', async () => {
    const r = new Random(42);
    for (let n = 0; n < 10; n++) {
      const din = r.int(1, 8);
      const depth = r.int(1, 4);
      const residual = r.next() < 0.4;
      const layers: [number, number][] = [];
      let width = din;
      for (let l = 0; l < depth; l++) {
        const out = l === depth - 1 && residual ? din : r.int(1, 9);
        layers.push([out, width]);
        width = out;
      }
      await compare({
        seed: 100 + n,
        memories: r.int(1, 4),
        tokens: r.int(1, 12),
        chunk: r.int(1, 6),
        layers,
        activation: r.next() < 0.5 ? 'silu' : 'gelu',
        residual,
        norm: r.next() < 0.5,
        yPre: r.next() < 0.7,
      });
    }
  });

  it('bad inputs are errors naming the input', () => {
    const one = (n: number): Storage => gpu.fromArray(new Float32Array(n), 'float32');
    const dims: MemoryScanDims = { memories: 1, tokens: 2, chunk: 1, layers: [[2, 2]], activation: 'silu', residual: false, norm: false };
    const inputs: MemoryScanInputs = { k: one(4), v: one(4), q: one(3), theta: one(2), eta: one(2), alpha: one(2), weights: [one(4)], momentum: [one(4)] };
    expect(() => gpu.memoryScan(inputs, dims)).toThrow(/q has 3 elements, expected 4/);
    expect(() => gpu.memoryScan({ ...inputs, q: inputs.k }, { ...dims, chunk: 0 })).toThrow(/chunk must be a positive integer/);
    expect(() => gpu.memoryScan({ ...inputs, q: inputs.k }, { ...dims, layers: [[2, 2], [3, 3]] })).toThrow(/layer 1 takes 3 inputs/);
  });
});
