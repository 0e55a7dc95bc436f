// Delta Gradient Descent (hope-dgd.ts) against a float64 per-token loop written here with
// plain arrays (linear and two-layer MLP memories), streaming in pieces against one pass,
// and autograd through the recurrence against finite differences (float64).
import { describe, expect, it } from 'vitest';
import { spotCheckGradients } from '@titans/test-utils';
import { Rng, concat, gradients, l2Normalize, matmul, mul, narrow, nn, noGrad, sum, tensor, tidy, transpose, type Tensor } from '@titans/tensor';
import { dgdLoop, dgdScan, linearArchitecture, mlpArchitecture, type DgdInputs, type DgdState, type MemoryArchitecture } from '../src/index.js';
import { dgdStep as dgdStepOf, dgdUpdate } from '../src/hope-dgd.js';
import { forward } from '../src/network.js';
import { dgdStep, matVec, sigmoid, toMatrix, type Matrix } from './plain.js';
import { maxAbsDiff } from './helpers.js';

const D = 4;
const H = 5;
const T = 9;

function inputs(seed: number, lead: number[] = [2]): DgdInputs {
  const rng = new Rng(seed);
  const o = { dtype: 'float64' as const };
  return {
    k: l2Normalize(rng.normal([...lead, T, D], 0, 1, o), -1),
    v: rng.normal([...lead, T, D], 0, 1, o),
    q: l2Normalize(rng.normal([...lead, T, D], 0, 1, o), -1),
    eta: rng.uniform([...lead, T], 0.05, 0.4, o),
    alpha: rng.uniform([...lead, T], 0.85, 1, o),
  };
}

function initial(arch: MemoryArchitecture, seed: number): DgdState {
  const rng = new Rng(seed);
  const shapes: [number, number][] = arch.depth === 1 ? [[D, D]] : [[H, D], [D, H]];
  return { weights: shapes.map(([o, i]) => rng.normal([o, i], 0, 1 / Math.sqrt(i), { dtype: 'float64' })), position: 0 };
}

/** yPost rows of DGD, token by token, in float64 with plain arrays (lead axis of size B). */
function reference(arch: MemoryArchitecture, x: DgdInputs, s: DgdState): number[] {
  const [B] = x.k.shape as [number];
  const [k, v, q, eta, alpha] = [x.k, x.v, x.q, x.eta, x.alpha].map((t) => t.dataSync());
  const out: number[] = [];
  for (let b = 0; b < B; b++) {
    let ws = s.weights.map(toMatrix);
    const row = (data: ArrayLike<number>, t: number): number[] => Array.from({ length: D }, (_, i) => data[(b * T + t) * D + i]!);
    const net = (w: Matrix[], x0: number[]): { out: number[]; z: number[]; a: number[] } => {
      if (arch.depth === 1) return { out: matVec(w[0]!, x0), z: [], a: [] };
      const z = matVec(w[0]!, x0);
      const a = z.map((zi) => zi * sigmoid(zi));
      const f = matVec(w[1]!, a);
      return { out: arch.residual ? f.map((fi, i) => fi + x0[i]!) : f, z, a };
    };
    for (let t = 0; t < T; t++) {
      const kt = row(k!, t);
      const { out: y, z, a } = net(ws, kt);
      const e = y.map((yi, i) => yi - row(v!, t)[i]!);
      const et = eta![b * T + t]!;
      const al = alpha![b * T + t]!;
      if (arch.depth === 1) ws = [dgdStep(ws[0]!, kt, e, et, al)];
      else {
        const d1 = z.map((zj, j) => e.reduce((acc, ei, i) => acc + ei * ws[1]![i]![j]!, 0) * sigmoid(zj) * (1 + zj * (1 - sigmoid(zj))));
        ws = [dgdStep(ws[0]!, kt, d1, et, al), dgdStep(ws[1]!, a, e, et, al)];
      }
      out.push(...net(ws, row(q!, t)).out);
    }
  }
  return out;
}

const slice = (x: DgdInputs, at: number, n: number): DgdInputs => ({
  k: narrow(x.k, -2, at, n), v: narrow(x.v, -2, at, n), q: narrow(x.q, -2, at, n), eta: narrow(x.eta, -1, at, n), alpha: narrow(x.alpha, -1, at, n),
});

const ARCHS: [string, MemoryArchitecture][] = [
  ['linear', linearArchitecture()],
  ['mlp', mlpArchitecture(H, { depth: 2, residual: false, norm: false })],
  ['residual mlp', mlpArchitecture(H, { depth: 2, residual: true, norm: false })],
];
const WITH_NORM: [string, MemoryArchitecture][] = [...ARCHS, ['residual mlp with norm', mlpArchitecture(H, { depth: 2, residual: true, norm: true })]];

const cast32 = (x: DgdInputs): DgdInputs => ({ k: x.k.cast('float32'), v: x.v.cast('float32'), q: x.q.cast('float32'), eta: x.eta.cast('float32'), alpha: x.alpha.cast('float32') });

describe('Delta Gradient Descent (Hope)', () => {
  it.each(ARCHS)('%s memory: equals a float64 per-token loop', (_, arch) => {
    tidy(() => noGrad(() => {
      const x = inputs(1);
      const s = initial(arch, 2);
      const got = dgdScan(arch, x, s);
      expect(maxAbsDiff(got.yPost.dataSync(), reference(arch, x, s))).toBeLessThan(1e-12);
      expect(got.state.position).toBe(T);
    }));
  });

  // dgdScan (one 3-row forward and one outer product per matrix and token) is the fast form
  // of dgdLoop (dgdStep and two reads per token): outputs, weights and gradients agree.
  it.each(WITH_NORM)('%s memory: the fast scan equals the readable loop (float64 and float32, outputs, weights, gradients)', (_, arch) => {
    tidy(() => {
      for (const n of [T, 1]) {
        const x64 = slice(inputs(21), 0, n);
        const s64 = initial(arch, 22);
        for (const [x, s, tol] of [[x64, s64, 1e-12], [cast32(x64), { weights: s64.weights.map((w) => w.cast('float32')), position: 3 }, 2e-5]] as const) {
          const fast = noGrad(() => dgdScan(arch, x, s));
          const slow = noGrad(() => dgdLoop(arch, x, s));
          expect(maxAbsDiff(fast.yPre.dataSync(), slow.yPre.dataSync())).toBeLessThan(tol);
          expect(maxAbsDiff(fast.yPost.dataSync(), slow.yPost.dataSync())).toBeLessThan(tol);
          expect(fast.yPost.shape).toEqual(slow.yPost.shape);
          fast.state.weights.forEach((w, l) => expect(maxAbsDiff(w.dataSync(), slow.state.weights[l]!.dataSync())).toBeLessThan(tol));
          expect(fast.state.position).toBe(slow.state.position);
        }
        const params = { k: nn.parameter(x64.k), v: nn.parameter(x64.v), q: nn.parameter(x64.q), eta: nn.parameter(x64.eta), alpha: nn.parameter(x64.alpha) };
        const w = s64.weights.map((t) => nn.parameter(t));
        const r = new Rng(23).normal([2, n, D], 0, 1, { dtype: 'float64' });
        const loss = (scan: typeof dgdScan): Tensor => {
          const o = scan(arch, params, { weights: w, position: 0 });
          return sum(mul(o.yPost, r)).add(sum(mul(o.yPre, o.yPre))).add(sum(mul(o.state.weights[0]!, o.state.weights[0]!)));
        };
        const list = [...Object.values(params), ...w];
        const gFast = gradients(loss(dgdScan), list);
        const gSlow = gradients(loss(dgdLoop), list);
        gFast.forEach((g, i) => {
          const scale = 1 + Array.from(gSlow[i]!.dataSync()).reduce((m, y) => Math.max(m, Math.abs(y)), 0);
          expect(maxAbsDiff(g.dataSync(), gSlow[i]!.dataSync()) / scale).toBeLessThan(1e-11);
        });
      }
    });
  });

  it('a linear memory takes W <- alpha W - 2 eta (W k) k^T + eta v k^T (alpha = 1: the delta rule with beta = 2 eta writing v / 2)', () => {
    tidy(() => noGrad(() => {
      const arch = linearArchitecture();
      const x = inputs(3, [1]);
      const s = initial(arch, 4);
      let w = s.weights[0]!;
      const rows: Tensor[] = [];
      for (let t = 0; t < T; t++) {
        const k = narrow(x.k, -2, t, 1).reshape([D, 1]);
        const v = narrow(x.v, -2, t, 1).reshape([D, 1]);
        const eta = x.eta.dataSync()[t]!;
        const alpha = x.alpha.dataSync()[t]!;
        // W <- alpha W + 2 eta (v/2 - W k) k^T = alpha W - 2 eta W k k^T + eta v k^T
        w = w.mul(alpha).sub(w.matmul(k).matmul(k.reshape([1, D])).mul(2 * eta)).add(v.matmul(k.reshape([1, D])).mul(eta));
        rows.push(w.matmul(narrow(x.q, -2, t, 1).reshape([D, 1])).reshape([1, D]));
      }
      expect(maxAbsDiff(dgdScan(arch, x, s).yPost.reshape([T, D]).dataSync(), concat(rows, 0).dataSync())).toBeLessThan(1e-12);
    }));
  });

  it.each(ARCHS)('%s memory: pieces equal one pass', (_, arch) => {
    tidy(() => noGrad(() => {
      const x = inputs(5);
      const whole = dgdScan(arch, x, initial(arch, 6));
      let state = initial(arch, 6);
      const parts: Tensor[] = [];
      let at = 0;
      for (const n of [2, 0, 4, 3]) {
        const r = dgdScan(arch, slice(x, at, n), state);
        parts.push(r.yPre);
        state = r.state;
        at += n;
      }
      expect(maxAbsDiff(concat(parts, -2).dataSync(), whole.yPre.dataSync())).toBeLessThan(1e-12);
      state.weights.forEach((w, l) => expect(maxAbsDiff(w.dataSync(), whole.state.weights[l]!.dataSync())).toBeLessThan(1e-12));
    }));
  });

  it('autograd through the recurrence agrees with finite differences (float64)', () => {
    tidy(() => {
      const arch = mlpArchitecture(H, { depth: 2, residual: true, norm: false });
      const raw = inputs(7, [1]);
      const x = { k: nn.parameter(raw.k), v: nn.parameter(raw.v), q: nn.parameter(raw.q), eta: nn.parameter(raw.eta), alpha: nn.parameter(raw.alpha) };
      const s0 = initial(arch, 8);
      const w = s0.weights.map((t) => nn.parameter(t));
      const r = new Rng(9).normal([1, T, D], 0, 1, { dtype: 'float64' });
      const loss = (): Tensor => sum(mul(dgdScan(arch, x, { weights: w, position: 0 }).yPost, r));
      const targets: [string, Tensor][] = [...Object.entries(x), ['w0', w[0]!], ['w1', w[1]!]];
      const grads = gradients(loss(), targets.map(([, t]) => t));
      spotCheckGradients(loss, targets, grads, { rng: new Rng(10), elements: 2 });
    });
  });

  // The normalised step (normalizeStep, used by the self-modifying Titans): eta / max(1, ||a||^2)
  // per matrix, so the self term alpha - 2 eta ||a||^2 along a non-unit input stays in
  // [alpha - 2 eta, alpha] instead of growing with the input's energy.
  it('the normalised step keeps the self term in [alpha - 2 eta, alpha] for inputs of any norm', () => {
    tidy(() => noGrad(() => {
      const arch = linearArchitecture();
      const o = { dtype: 'float64' as const };
      const w = new Rng(21).normal([D, D], 0, 1, o);
      for (const scale of [0.5, 1, 3]) {
        const a = mul(l2Normalize(new Rng(22).normal([1, D], 0, 1, o), -1), scale); // ||a|| = scale
        const zero = tensor(new Float64Array(D), [1, D], o);
        const eta = tensor([0.3], [1, 1], o);
        const alpha = tensor([0.9], [1, 1], o);
        const wa = matmul(w, transpose(a, -1, -2));
        // Target 0: W' a = (alpha - 2 eta_l ||a||^2) W a, with eta_l = eta / max(1, ||a||^2) when normalised.
        for (const normalize of [false, true]) {
          const gain = 0.9 - 2 * (normalize ? 0.3 / Math.max(1, scale * scale) : 0.3) * scale * scale;
          const readable = dgdStepOf(arch, [w], a, zero, eta, alpha, normalize)[0]!;
          const fast = dgdUpdate(arch, [w], forward(arch, [w], a), zero, eta, alpha, normalize)[0]!;
          for (const next of [readable, fast]) {
            expect(maxAbsDiff(matmul(next, transpose(a, -1, -2)).dataSync(), mul(wa, gain).dataSync())).toBeLessThan(1e-12);
          }
          if (normalize) expect(gain).toBeGreaterThanOrEqual(0.9 - 2 * 0.3 - 1e-12);
        }
      }
    }));
  });

  it('rejects mismatched inputs with clear errors', () => {
    const arch = linearArchitecture();
    const x = inputs(11);
    expect(() => dgdScan(arch, { ...x, v: narrow(x.v, -2, 0, 3) }, initial(arch, 1))).toThrow(/v \[2, 3, 4\] must have the shape of k/);
    expect(() => dgdScan(arch, { ...x, eta: narrow(x.eta, -1, 0, 3) }, initial(arch, 1))).toThrow(/eta \[2, 3\] must end with the 9 tokens/);
  });
});
