// The module's projection path on the fused CPU primitives (Backend.causalConv: SiLU +
// causal depthwise convolution over the cached rows; Backend.headRows: the head split with
// q/k L2-normalisation) against the same module with those primitives removed, which runs
// the composite ops the module used before (silu, concat, causalConv1d, narrow, splitHeads,
// l2Normalize): outputs, streamed states (pieces shorter and longer than the convolution's
// cache, T = 1) and the outer gradients, float64 and float32 (bit-identical but for the float32
// SIMD SiLU of the convolution).
import { afterEach, describe, expect, it } from 'vitest';
import { Rng, cpuBackend, gradients, mul, narrow, sum, tidy, type Tensor } from '@titans/tensor';
import { NeuralMemory, memoryPreset, type NeuralMemoryOptions, type NeuralMemoryState } from '../src/index.js';

const PRIMITIVES = ['causalConv', 'headRows'] as const;

/** Runs fn with the CPU backend's projection primitives removed (the composite path). */
function composite<T>(fn: () => T): T {
  for (const name of PRIMITIVES) Object.defineProperty(cpuBackend, name, { value: undefined, configurable: true, writable: true });
  try {
    return fn();
  } finally {
    for (const name of PRIMITIVES) delete (cpuBackend as unknown as Record<string, unknown>)[name];
  }
}

/** Runs fn counting the calls of the CPU backend's projection primitives. */
function counted<T>(fn: () => T): { result: T; calls: Record<(typeof PRIMITIVES)[number], number> } {
  const calls = { causalConv: 0, headRows: 0 };
  for (const name of PRIMITIVES) {
    const original = (cpuBackend[name] as (...a: unknown[]) => unknown).bind(cpuBackend);
    Object.defineProperty(cpuBackend, name, { value: (...a: unknown[]) => { calls[name]++; return original(...a); }, configurable: true, writable: true });
  }
  try {
    return { result: fn(), calls };
  } finally {
    for (const name of PRIMITIVES) delete (cpuBackend as unknown as Record<string, unknown>)[name];
  }
}

afterEach(() => {
  for (const name of PRIMITIVES) expect(typeof cpuBackend[name], `${name} restored`).toBe('function');
});

interface Run { outputs: number[][]; states: number[][]; grads: number[][] }

/** Streams x through the module in pieces; every output, the final conv cache, and the gradients of a weighted sum of the outputs. */
function stream(memory: NeuralMemory, x: Tensor, pieces: number[]): Run {
  return tidy(() => {
    const params = memory.parameters();
    let state: NeuralMemoryState = memory.initialState();
    let at = 0;
    const outs: Tensor[] = [];
    for (const n of pieces) {
      const r = memory.forward(narrow(x, 1, at, n), state);
      outs.push(r.output);
      state = r.state;
      at += n;
    }
    let loss = sum(mul(outs[0]!, outs[0]!));
    for (const o of outs.slice(1)) loss = loss.add(sum(mul(o, new Rng(o.size).normal(o.shape, 0, 1, { dtype: o.dtype }))));
    const grads = gradients(loss, params);
    const arr = (t: Tensor): number[] => Array.from(t.dataSync(), Number);
    return {
      outputs: outs.map(arr),
      states: [...(state.convCache ? [arr(state.convCache)] : []), ...state.memory.weights.map(arr)],
      grads: grads.map(arr),
    };
  });
}

function maxRel(a: number[], b: number[]): number {
  let diff = 0;
  let scale = 1e-30;
  for (let i = 0; i < b.length; i++) {
    diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
    scale = Math.max(scale, Math.abs(b[i]!));
  }
  return diff / scale;
}

const CASES: { name: string; dim: number; options: NeuralMemoryOptions; tokens: number; pieces: number[] }[] = [
  { name: 'titans, 3 heads, odd pieces', dim: 24, options: { heads: 3, rule: memoryPreset('titans', 8, { chunkSize: 4 }) }, tokens: 11, pieces: [2, 7, 1, 1] },
  { name: 'titans-linear, one pass', dim: 16, options: { heads: 2, rule: memoryPreset('titans-linear', 8, { chunkSize: 4 }) }, tokens: 9, pieces: [9] },
  { name: 'kernel 2, T = 1 pieces', dim: 12, options: { heads: 1, convKernel: 2, rule: memoryPreset('titans-linear', 12, { chunkSize: 2 }) }, tokens: 4, pieces: [1, 1, 2] },
  { name: 'kernel 5, no output gate', dim: 10, options: { heads: 2, convKernel: 5, outputGate: false, rule: memoryPreset('titans', 5, { chunkSize: 3 }) }, tokens: 8, pieces: [3, 5] },
  { name: 'no convolution', dim: 8, options: { heads: 2, convKernel: 0, rule: memoryPreset('titans-linear', 4, { chunkSize: 4 }) }, tokens: 6, pieces: [6] },
];

describe('NeuralMemory projection path: fused primitives equal the composite ops', () => {
  for (const c of CASES) {
    for (const dtype of ['float64', 'float32'] as const) {
      it(`${c.name} (${dtype})`, () => {
        const memory = new NeuralMemory(c.dim, { ...c.options, seed: 5, dtype });
        const x = new Rng(11).normal([2, c.tokens, c.dim], 0, 1, { dtype });
        const { result: fused, calls } = counted(() => stream(memory, x, c.pieces));
        // The fused path did run: one convolution and three head splits per piece.
        expect(calls).toEqual({ causalConv: c.options.convKernel === 0 ? 0 : c.pieces.length, headRows: 3 * c.pieces.length });
        const reference = composite(() => stream(memory, x, c.pieces));
        // The forward arithmetic is the composite's, operation for operation: bit-identical values;
        // except the float32 SIMD convolution (3 dim in fours), whose SiLU exp is a polynomial
        // within a few float32 ulps of Math.exp: equal to float32 rounding.
        const simd = dtype === 'float32' && c.options.convKernel !== 0 && (3 * c.dim) % 4 === 0;
        if (simd) {
          fused.outputs.forEach((o, i) => expect(maxRel(o, reference.outputs[i]!), `output ${i}`).toBeLessThan(2e-5));
          fused.states.forEach((s, i) => expect(maxRel(s, reference.states[i]!), `state ${i}`).toBeLessThan(2e-5));
        } else {
          expect(fused.outputs).toEqual(reference.outputs);
          expect(fused.states).toEqual(reference.states);
        }
        // The gradients run the same composite rules (re-derived); equal to rounding.
        const tol = dtype === 'float64' ? 1e-12 : simd ? 1e-4 : 1e-5;
        expect(fused.grads.length).toBe(reference.grads.length);
        fused.grads.forEach((g, i) => expect(maxRel(g, reference.grads[i]!), `grad ${i}`).toBeLessThan(tol));
      });
    }
  }
});
