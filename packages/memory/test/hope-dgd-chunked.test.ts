// The chunk-parallel DGD of a linear memory (dgdChunked, hope-dgd.ts) against the readable
// per-token loop (dgdLoop): float64 to 1e-12 and float32 to float32 rounding, on odd
// shapes, chunk sizes that do and do not divide the length, non-unit keys and retention
// gates of exactly 0 and 1; streaming in pieces; outer-loop gradients against the loop's
// and against float64 central differences.
import { describe, expect, it } from 'vitest';
import { Rng, concat, gradients, mul, narrow, nn, sum, tensor, tidy, type Tensor } from '@titans/tensor';
import { dgdChunked, dgdLoop, linearArchitecture, mlpArchitecture, type DgdInputs, type DgdState } from '../src/index.js';

const lin = linearArchitecture();

function inputs(seed: number, lead: number[], t: number, d: number, dtype: 'float32' | 'float64' = 'float64'): DgdInputs {
  const rng = new Rng(seed);
  const o = { dtype };
  return {
    // Keys are not unit: the chunked form must not assume it.
    k: rng.normal([...lead, t, d], 0, 0.6, o),
    v: rng.normal([...lead, t, d], 0, 1, o),
    q: rng.normal([...lead, t, d], 0, 1, o),
    eta: rng.uniform([...lead, t], 0.02, 0.3, o),
    alpha: rng.uniform([...lead, t], 0.6, 1, o),
  };
}

function initial(seed: number, lead: number[], dv: number, dk: number, dtype: 'float32' | 'float64' = 'float64'): DgdState {
  return { weights: [new Rng(seed).normal([...lead, dv, dk], 0, 1 / Math.sqrt(dk), { dtype })], position: 3 };
}

/** Largest |a - b| relative to the largest |b| (at least 1). */
function relDiff(a: Tensor, b: Tensor): number {
  expect(a.shape).toEqual(b.shape);
  const x = a.dataSync();
  const y = b.dataSync();
  let d = 0;
  let scale = 1;
  for (let i = 0; i < x.length; i++) {
    d = Math.max(d, Math.abs(x[i]! - y[i]!));
    scale = Math.max(scale, Math.abs(y[i]!));
  }
  return d / scale;
}

function expectSame(a: ReturnType<typeof dgdLoop>, b: ReturnType<typeof dgdLoop>, tol: number): void {
  expect(relDiff(a.yPre, b.yPre)).toBeLessThanOrEqual(tol);
  expect(relDiff(a.yPost, b.yPost)).toBeLessThanOrEqual(tol);
  expect(relDiff(a.state.weights[0]!, b.state.weights[0]!)).toBeLessThanOrEqual(tol);
  expect(a.state.position).toBe(b.state.position);
}

describe('dgdChunked (linear memory)', () => {
  it('equals the per-token loop in float64 to 1e-12 on odd shapes and chunk sizes', () => {
    const cases: { lead: number[]; t: number; d: number; chunk: number }[] = [
      { lead: [2, 3], t: 17, d: 5, chunk: 4 }, { lead: [2, 3], t: 17, d: 5, chunk: 64 }, { lead: [1], t: 64, d: 8, chunk: 16 },
      { lead: [3], t: 70, d: 6, chunk: 64 }, { lead: [2], t: 9, d: 3, chunk: 1 }, { lead: [2], t: 1, d: 4, chunk: 7 }, { lead: [], t: 13, d: 7, chunk: 5 },
    ];
    for (const [i, c] of cases.entries()) {
      tidy(() => {
        const x = inputs(10 + i, c.lead, c.t, c.d);
        const s = initial(20 + i, c.lead, c.d, c.d);
        expectSame(dgdChunked(lin, x, s, c.chunk), dgdLoop(lin, x, s), 1e-12);
      });
    }
  });

  it('keeps weights broadcast over the batch and retention gates of exactly 0 and 1', () => {
    tidy(() => {
      const x0 = inputs(3, [2, 2], 11, 4);
      const x = { ...x0, alpha: concat([tensor([0, 1, 1], [3], { dtype: 'float64' }).expand([2, 2, 3]), narrow(x0.alpha, -1, 3, 8)], -1) };
      const s: DgdState = { weights: [new Rng(4).normal([2, 1, 4, 4], 0, 0.5, { dtype: 'float64' })], position: 0 };
      expectSame(dgdChunked(lin, x, s, 4), dgdLoop(lin, x, s), 1e-12);
    });
  });

  it('equals the loop in float32 within float32 rounding', () => {
    tidy(() => {
      const x = inputs(5, [2, 4], 96, 16, 'float32');
      const s = initial(6, [2, 4], 16, 16, 'float32');
      expectSame(dgdChunked(lin, x, s, 32), dgdLoop(lin, x, s), 2e-5);
    });
  });

  it('gives the outputs and state of one pass when the stream is split anywhere (no pending tokens)', () => {
    tidy(() => {
      const x = inputs(7, [2], 23, 5);
      const s = initial(8, [2], 5, 5);
      const whole = dgdChunked(lin, x, s, 8);
      const cut = (from: number, n: number): DgdInputs => ({
        k: narrow(x.k, -2, from, n), v: narrow(x.v, -2, from, n), q: narrow(x.q, -2, from, n), eta: narrow(x.eta, -1, from, n), alpha: narrow(x.alpha, -1, from, n),
      });
      let state = s;
      const pre: Tensor[] = [];
      const post: Tensor[] = [];
      for (const [from, n] of [[0, 5], [5, 0], [5, 1], [6, 11], [17, 6]] as const) {
        const r = dgdChunked(lin, cut(from, n), state, 8);
        if (n > 0) { pre.push(r.yPre); post.push(r.yPost); }
        state = r.state;
      }
      expect(relDiff(concat(pre, -2), whole.yPre)).toBeLessThanOrEqual(1e-12);
      expect(relDiff(concat(post, -2), whole.yPost)).toBeLessThanOrEqual(1e-12);
      expect(relDiff(state.weights[0]!, whole.state.weights[0]!)).toBeLessThanOrEqual(1e-12);
      expect(state.position).toBe(whole.state.position);
    });
  });

  it('has the outer-loop gradients of the loop, and both agree with float64 central differences', () => {
    tidy(() => {
      const T = 10;
      const d = 3;
      const base = inputs(9, [2], T, d);
      const w0 = initial(10, [2], d, d).weights[0]!;
      const r = new Rng(11);
      const probe = { pre: r.normal([2, T, d], 0, 1, { dtype: 'float64' }), post: r.normal([2, T, d], 0, 1, { dtype: 'float64' }), w: r.normal([2, d, d], 0, 1, { dtype: 'float64' }) };
      const names = ['k', 'v', 'q', 'eta', 'alpha', 'w'] as const;
      const loss = (run: typeof dgdLoop, p: Record<(typeof names)[number], Tensor>): Tensor => {
        const out = run(lin, { k: p.k, v: p.v, q: p.q, eta: p.eta, alpha: p.alpha }, { weights: [p.w], position: 0 });
        return add3(sum(mul(out.yPre, probe.pre)), sum(mul(out.yPost, probe.post)), sum(mul(out.state.weights[0]!, probe.w)));
      };
      const params = { ...base, w: w0 } as Record<(typeof names)[number], Tensor>;
      const chunked = (l: typeof lin, x: DgdInputs, s: DgdState) => dgdChunked(l, x, s, 4);
      const grads = (run: typeof dgdLoop): Tensor[] => {
        const leaves = names.map((n) => nn.parameter(params[n]));
        const p = Object.fromEntries(names.map((n, i) => [n, leaves[i]!])) as Record<(typeof names)[number], Tensor>;
        return gradients(loss(run, p), leaves);
      };
      const gChunked = grads(chunked);
      const gLoop = grads(dgdLoop);
      names.forEach((n, i) => expect(relDiff(gChunked[i]!, gLoop[i]!), n).toBeLessThanOrEqual(1e-11));
      // Central differences on a few entries of every input.
      const h = 1e-6;
      names.forEach((n, i) => {
        const x = params[n];
        const data = Array.from(x.dataSync());
        for (const j of [0, Math.floor(data.length / 2), data.length - 1]) {
          const at = (delta: number): number => {
            const moved = data.slice();
            moved[j]! += delta;
            const p = { ...params, [n]: tensor(moved, x.shape, { dtype: 'float64' }) };
            return loss(chunked, p).item();
          };
          const fd = (at(h) - at(-h)) / (2 * h);
          const ad = gChunked[i]!.dataSync()[j]!;
          expect(Math.abs(fd - ad), `${n}[${j}]: ${fd} vs ${ad}`).toBeLessThanOrEqual(1e-6 * Math.max(1, Math.abs(fd)));
        }
      });
    });
  });

  it('refuses memories it cannot run exactly and bad chunk sizes', () => {
    const x = inputs(12, [1], 4, 3);
    const s = initial(13, [1], 3, 3);
    expect(() => dgdChunked(mlpArchitecture(5), x, s)).toThrow(/linear memory.*use dgdScan/);
    expect(() => dgdChunked(lin, x, s, 0)).toThrow(/chunkSize must be a positive integer/);
    expect(dgdChunked(lin, { k: narrow(x.k, -2, 0, 0), v: narrow(x.v, -2, 0, 0), q: narrow(x.q, -2, 0, 0), eta: narrow(x.eta, -1, 0, 0), alpha: narrow(x.alpha, -1, 0, 0) }, s).yPost.shape).toEqual([1, 0, 3]);
  });
});

function add3(a: Tensor, b: Tensor, c: Tensor): Tensor {
  return a.add(b).add(c);
}
