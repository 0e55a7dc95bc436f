// causalConvHeads (src/ops/conv-heads.ts) and the CPU backend's fused primitive
// (Backend.causalConvHeads, src/cpu/conv-heads.ts) against the ops it replaces, causalConv then
// headRows (a CPU backend without the fused primitive): bit for bit on random shapes with
// single, odd and empty sizes, in float32 and float64, with and without SiLU, bias and
// history, on dense and on strided inputs (a slice of wider rows, read in place), eagerly and
// compiled; with a gradient recorded the op is the two ops, so values and gradients equal theirs.
import { describe, expect, it, vi } from 'vitest';
import { compositeBackend } from './fast-path.js';
import { cpuBackend, type CpuBackend } from '../src/cpu/backend.js';
import { causalConvHeadsKernel } from '../src/cpu/conv-heads.js';
import {
  Rng, causalConv, causalConvHeads, compile, gradients, headRows, mul, narrow, noGrad, sum, tensor, tidy, transpose, withBackend,
  type Tensor,
} from '../src/index.js';

const unfusedBackend = compositeBackend(['causalConvHeads']);
const rng = new Rng(2141);

type Case = { batch: number; tokens: number; channels: number; kernel: number; past: number; heads: number; headDim: number; extra: number };

/** [batch, tokens, heads, headDim, kernel, past, extra columns around the convolved ones (0: dense)]. */
const SHAPES: [number, number, number, number, number, number, number][] = [
  [1, 1, 1, 1, 1, 0, 0], [1, 1, 1, 4, 4, 0, 3], [2, 5, 3, 1, 4, 0, 0], [1, 7, 2, 3, 3, 2, 5], [3, 2, 1, 4, 4, 3, 0],
  [2, 1, 2, 2, 4, 3, 1], [1, 70, 2, 8, 4, 1, 4], [2, 33, 3, 4, 5, 0, 2], [1, 0, 2, 4, 4, 3, 0], [1, 65, 4, 4, 2, 7, 12],
];

function cases(): Case[] {
  return SHAPES.map(([batch, tokens, heads, headDim, kernel, past, extra]) => ({ batch, tokens, channels: 3 * heads * headDim, kernel, past, heads, headDim, extra }));
}

function values(n: number, scale = 1.5): Float64Array {
  return Float64Array.from(rng.normalArray(n), (x) => x * scale + 0.2);
}

interface Data { x: Float64Array; weight: Float64Array; bias: Float64Array; history: Float64Array }

function data(c: Case): Data {
  return {
    x: values(c.batch * c.tokens * (c.channels + c.extra)), weight: values(c.channels * c.kernel, 0.7),
    bias: values(c.channels, 0.5), history: values(c.batch * c.past * c.channels),
  };
}

/** x [batch, tokens, channels]: a slice of wider rows when c.extra > 0 (columns [1, 1 + channels) or [0, channels)). */
function xOf(c: Case, d: Data, dtype: 'float32' | 'float64'): Tensor {
  const wide = tensor(d.x, [c.batch, c.tokens, c.channels + c.extra], { dtype });
  return c.extra > 0 ? narrow(wide, 2, c.extra > 1 ? 1 : 0, c.channels) : wide;
}

function run(backend: CpuBackend, c: Case, d: Data, dtype: 'float32' | 'float64', act: boolean, withBias: boolean): number[][] {
  return withBackend(backend, () => tidy(() => noGrad(() => {
    const outs = causalConvHeads(xOf(c, d, dtype), tensor(d.weight, [c.channels, c.kernel], { dtype }), withBias ? tensor(d.bias, [c.channels], { dtype }) : null, [
      { offset: 0, heads: c.heads, headDim: c.headDim, l2: true },
      { offset: c.heads * c.headDim, heads: c.heads, headDim: c.headDim, l2: true },
      { offset: 2 * c.heads * c.headDim, heads: c.heads, headDim: c.headDim },
    ], { silu: act, history: c.past > 0 ? tensor(d.history, [c.batch, c.past, c.channels], { dtype }) : null });
    return outs.map((o) => {
      expect(o.shape).toEqual([c.batch, c.heads, c.tokens, c.headDim]);
      expect(o.isContiguous()).toBe(true);
      return Array.from(o.dataSync());
    });
  })));
}

describe('causalConvHeads (Backend.causalConvHeads) against causalConv then headRows', () => {
  for (const dtype of ['float32', 'float64'] as const) {
    for (const c of cases()) {
      for (const act of [true, false]) {
        const label = `${dtype} [${c.batch}, ${c.tokens}, ${c.channels}(+${c.extra})] heads ${c.heads}x${c.headDim} k=${c.kernel} past=${c.past} silu=${act}`;
        it(label, () => {
          const d = data(c);
          const spy = vi.spyOn(cpuBackend, 'causalConvHeads');
          const unary = vi.spyOn(cpuBackend, 'unary');
          try {
            for (const withBias of [true, false]) {
              const fused = run(cpuBackend, c, d, dtype, act, withBias);
              const unfused = run(unfusedBackend, c, d, dtype, act, withBias);
              expect(fused, `${label} bias=${withBias}`).toEqual(unfused);
            }
            // The fused primitive ran, reading x in place (no copy of it); empty inputs take the two ops.
            expect(spy).toHaveBeenCalledTimes(c.tokens > 0 ? 2 : 0);
            if (c.tokens > 0) expect(unary.mock.calls.filter(([op]) => op === 'copy')).toEqual([]);
          } finally {
            spy.mockRestore();
            unary.mockRestore();
          }
        });
      }
    }
  }

  it('the kernel reads strided rows (rowStride, offset) as it reads a dense copy of them, and checks its sizes', () => {
    for (const c of cases().filter((k) => k.tokens > 0 && k.extra > 0)) {
      for (const dtype of ['float32', 'float64'] as const) {
        const A = dtype === 'float32' ? Float32Array : Float64Array;
        const d = data(c);
        const stride = c.channels + c.extra;
        const offset = c.extra > 1 ? 1 : 0;
        const dense = new A(c.batch * c.tokens * c.channels);
        for (let r = 0; r < c.batch * c.tokens; r++) dense.set(A.from(d.x.subarray(offset + r * stride, offset + r * stride + c.channels)), r * c.channels);
        const dims = {
          batch: c.batch, tokens: c.tokens, channels: c.channels, kernel: c.kernel, past: c.past, silu: true, rowStride: stride, offset, eps: 1e-12,
          blocks: [0, 1, 2].map((i) => ({ offset: i * c.heads * c.headDim, heads: c.heads, headDim: c.headDim, normalize: i < 2 })),
        };
        const history = c.past > 0 ? A.from(d.history) : null;
        const strided = dims.blocks.map(() => new A(c.batch * c.heads * c.tokens * c.headDim));
        causalConvHeadsKernel(A.from(d.x), A.from(d.weight), A.from(d.bias), history, dims, strided);
        const ref = dims.blocks.map(() => new A(c.batch * c.heads * c.tokens * c.headDim));
        causalConvHeadsKernel(dense, A.from(d.weight), A.from(d.bias), history, { ...dims, rowStride: c.channels, offset: 0 }, ref);
        strided.forEach((o, i) => expect(Array.from(o)).toEqual(Array.from(ref[i]!)));
        expect(() => causalConvHeadsKernel(dense, A.from(d.weight), null, history, dims, ref)).toThrow(/x has \d+ elements, the rows need/);
        expect(() => causalConvHeadsKernel(A.from(d.x), A.from(d.weight), null, history, dims, ref.slice(1))).toThrow(/3 blocks, 2 outputs/);
      }
    }
  });

  it('a transposed x (not rows of channels) is copied first, with the same result', () => {
    for (const dtype of ['float32', 'float64'] as const) {
      const [batch, tokens, heads, d] = [2, 13, 2, 4];
      const channels = 3 * heads * d;
      const xd = values(batch * channels * tokens);
      const wd = values(channels * 4, 0.7);
      const blocks = [0, 1, 2].map((i) => ({ offset: i * heads * d, heads, headDim: d, l2: i !== 2 }));
      const once = (backend: CpuBackend): number[][] => withBackend(backend, () => tidy(() => noGrad(() => {
        const x = transpose(tensor(xd, [batch, channels, tokens], { dtype }), 1, 2);
        return causalConvHeads(x, tensor(wd, [channels, 4], { dtype }), null, blocks, { silu: true }).map((o) => Array.from(o.dataSync()));
      })));
      expect(once(cpuBackend)).toEqual(once(unfusedBackend));
    }
  });

  it('refuses blocks outside the channels and bad head sizes, naming the problem', () => {
    const x = tensor(new Float32Array(2 * 3 * 8), [2, 3, 8]);
    const w = tensor(new Float32Array(8 * 4), [8, 4]);
    expect(() => causalConvHeads(x, w, null, [{ offset: 4, heads: 2, headDim: 4 }])).toThrow(/block 0's channels \[4, 12\) are outside/);
    expect(() => causalConvHeads(x, w, null, [{ offset: 0, heads: 0, headDim: 4 }])).toThrow(/block 0's heads must be a positive integer/);
    expect(() => causalConvHeads(x, tensor(new Float32Array(8), [2, 4]), null, [{ offset: 0, heads: 2, headDim: 4 }])).toThrow(/weight \[2, 4\] must be \[channels=8/);
  });

  it('compiled (the primitive replayed, x a slice read in place) equals eager', () => {
    const c: Case = { batch: 1, tokens: 70, channels: 3 * 2 * 8, kernel: 4, past: 0, heads: 2, headDim: 8, extra: 0 };
    const d = data(c);
    const w = tensor(d.weight, [c.channels, c.kernel]);
    const bias = tensor(d.bias, [c.channels]);
    const proj = tensor(values(20 * (c.channels + 4)), [20, c.channels + 4]);
    const f = (x: Tensor): Tensor[] => noGrad(() => {
      const all = mul(x, 1).matmul(proj); // [1, 70, channels + 4]
      return causalConvHeads(narrow(all, 2, 0, c.channels), w, bias, [
        { offset: 0, heads: c.heads, headDim: c.headDim, l2: true },
        { offset: c.heads * c.headDim, heads: c.heads, headDim: c.headDim, l2: true },
        { offset: 2 * c.heads * c.headDim, heads: c.heads, headDim: c.headDim },
      ], { silu: true });
    });
    const step = compile(f);
    for (let i = 0; i < 3; i++) {
      const x = tensor(values(70 * 20), [1, 70, 20]);
      const eager = tidy(() => f(x).map((o) => Array.from(o.dataSync())));
      const compiled = step(x);
      expect(compiled.map((o) => Array.from(o.dataSync()))).toEqual(eager);
      for (const o of compiled) o.dispose();
      x.dispose();
    }
    expect(step.stats().replays).toBeGreaterThan(0);
    step.dispose();
  });

  it('with a gradient recorded: the two ops, values and gradients equal theirs', () => {
    const c: Case = { batch: 2, tokens: 9, channels: 3 * 2 * 4, kernel: 4, past: 2, heads: 2, headDim: 4, extra: 0 };
    const d = data(c);
    const blocks = [
      { offset: 0, heads: c.heads, headDim: c.headDim, l2: true },
      { offset: 8, heads: c.heads, headDim: c.headDim, l2: true },
      { offset: 16, heads: c.heads, headDim: c.headDim },
    ];
    const grads = (fused: boolean): number[][] => withBackend(cpuBackend, () => tidy(() => {
      const xs = [tensor(d.x, [2, 9, 24]), tensor(d.weight, [24, 4]), tensor(d.bias, [24]), tensor(d.history, [2, 2, 24])];
      for (const t of xs) t.requiresGrad = true;
      const outs = fused
        ? causalConvHeads(xs[0]!, xs[1]!, xs[2]!, blocks, { silu: true, history: xs[3]! })
        : (() => {
          const h = causalConv(xs[0]!, xs[1]!, xs[2]!, { silu: true, history: xs[3]! });
          return blocks.map((b) => headRows(h, b.offset, b.heads, b.headDim, { l2: b.l2 === true }));
        })();
      const loss = outs.reduce((s, o, i) => s.add(sum(mul(o, transpose(o, 2, 3).sum().add(i + 1)))), sum(outs[0]!).mul(0));
      return [...outs.map((o) => Array.from(o.dataSync())), ...gradients(loss, xs).map((g) => Array.from(g.dataSync()))];
    }));
    expect(grads(true)).toEqual(grads(false));
  });
});
