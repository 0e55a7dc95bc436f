// The float32 causal depthwise convolution gradient on WebAssembly (src/cpu/causal-conv-wasm.ts)
// against the JavaScript loop it stands in for (causalConvBackwardKernel in src/cpu/qkv-rows.ts),
// bit for bit, with and without the SiLU and history rows, on odd channel counts (the f64x2
// tail), one token, one channel, kernels longer than the sequence, and shared with a worker
// thread; and the sizes it declines (left to the loop).
import { afterAll, describe, expect, it } from 'vitest';
import type { CausalConvDims } from '../src/backend.js';
import { CONV_BACKWARD_WASM_MIN_ELEMENTS, causalConvBackwardF32 } from '../src/cpu/causal-conv-wasm.js';
import { causalConvBackwardKernel } from '../src/cpu/qkv-rows.js';
import { Rng, configureCpu, cpuConfig, startCpuWorkers, type CpuConfig } from '../src/index.js';
import { expectSameBits } from '@titans/test-utils';

const saved: CpuConfig = cpuConfig();
afterAll(() => { configureCpu(saved); });

const rng = new Rng(2101);

function random(n: number, scale = 1.5): Float32Array {
  const out = Float32Array.from(rng.normalArray(n), (x) => x * scale);
  if (n > 8) {
    out[2] = 0;
    out[4] = -0;
    out[6] = 40; // sigmoid saturates
    out[8] = -1e-30;
  }
  return out;
}

interface Case { batch: number; tokens: number; channels: number; kernel: number; past: number; history: boolean }
// One token with many channels, one channel with many tokens, odd channel counts, a kernel
// longer than the sequence, history rows (given, or zero without them), a shared-size job.
const CASES: Case[] = [
  { batch: 1, tokens: 1, channels: 1025, kernel: 4, past: 0, history: false },
  { batch: 1, tokens: 1100, channels: 1, kernel: 4, past: 3, history: true },
  { batch: 3, tokens: 37, channels: 13, kernel: 3, past: 0, history: false },
  { batch: 2, tokens: 5, channels: 131, kernel: 7, past: 2, history: true },
  { batch: 2, tokens: 33, channels: 24, kernel: 4, past: 3, history: false },
  { batch: 4, tokens: 64, channels: 144, kernel: 4, past: 0, history: false },
  { batch: 2, tokens: 301, channels: 129, kernel: 4, past: 3, history: true },
];

function run(c: Case, silu: boolean, x: Float32Array, w: Float32Array, h: Float32Array | null, g: Float32Array, wasm: boolean) {
  const dims: CausalConvDims = { batch: c.batch, tokens: c.tokens, channels: c.channels, kernel: c.kernel, past: c.past, silu };
  const n = c.batch * c.tokens * c.channels;
  // Outputs start dirty: every element must be written.
  const dx = new Float32Array(n).fill(7);
  const dw = new Float32Array(c.channels * c.kernel).fill(7);
  const db = new Float32Array(c.channels).fill(7);
  const dh = new Float32Array(c.batch * c.past * c.channels).fill(7);
  if (wasm) expect(causalConvBackwardF32(x, w, h, g, dims, dx, dw, db, dh)).toBe(true);
  else causalConvBackwardKernel(x, w, h, g, dims, dx, dw, db, dh);
  return { dx, dw, db, dh };
}

describe('float32 causal conv backward on WebAssembly', () => {
  for (const threads of [1, 2]) {
    it(`the JavaScript loop's bits (${threads} thread${threads > 1 ? 's' : ''})`, () => {
      configureCpu({ threads, wasm: true });
      if (threads > 1) expect(startCpuWorkers(20_000)).toBe(1);
      for (const c of CASES) {
        for (const silu of [false, true]) {
          const n = c.batch * c.tokens * c.channels;
          const x = random(n);
          const w = random(c.channels * c.kernel, 0.5);
          const h = c.history ? random(c.batch * c.past * c.channels) : null;
          const g = random(n);
          const got = run(c, silu, x, w, h, g, true);
          const want = run(c, silu, x, w, h, g, false);
          const label = `${JSON.stringify(c)} silu ${silu}`;
          expectSameBits(got.dx, want.dx, `${label} dx`);
          expectSameBits(got.dw, want.dw, `${label} dweight`);
          expectSameBits(got.db, want.db, `${label} dbias`);
          expectSameBits(got.dh, want.dh, `${label} dhistory`);
        }
      }
    });
  }

  it('declines small problems and WebAssembly switched off (the loop runs)', () => {
    const dims = (tokens: number): CausalConvDims => ({ batch: 1, tokens, channels: 4, kernel: 4, past: 0, silu: true });
    const call = (tokens: number): boolean => {
      const n = 4 * tokens;
      const out = new Float32Array(n);
      return causalConvBackwardF32(random(n), random(16), null, random(n), dims(tokens), out, new Float32Array(16), new Float32Array(4), new Float32Array(0));
    };
    configureCpu({ threads: 1, wasm: true });
    expect(call(0)).toBe(false);
    expect(call(1)).toBe(false);
    expect(call(CONV_BACKWARD_WASM_MIN_ELEMENTS / 4 - 1)).toBe(false);
    expect(call(CONV_BACKWARD_WASM_MIN_ELEMENTS / 4)).toBe(true);
    configureCpu({ wasm: false });
    expect(call(CONV_BACKWARD_WASM_MIN_ELEMENTS / 4)).toBe(false);
  });
});
