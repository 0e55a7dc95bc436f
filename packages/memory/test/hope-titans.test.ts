// The self-modifying Titans (hope-titans.ts) against a float64 per-token loop written here
// with plain arrays, streaming in pieces against one pass, and autograd through the
// recurrence against finite differences (float64).
import { describe, expect, it } from 'vitest';
import { spotCheckGradients } from '@titans/test-utils';
import { Rng, concat, gradients, l2Normalize, mul, narrow, nn, noGrad, sum, tensor, tidy, type Tensor } from '@titans/tensor';
import {
  SELF_MODIFYING_MEMORIES, SelfModifyingTitans, deserializeSelfModifyingState, serializeSelfModifyingState, type SerializedSelfModifyingState, selfModifyingLoop, selfModifyingScan, selfModifyingShapes, type SelfModifyingMemory, type SelfModifyingState,
} from '../src/index.js';
import { dgdStep, matVec, sigmoid, toMatrix, unit, type Matrix } from './plain.js';
import { maxAbsDiff } from './helpers.js';

const D = 4;
const HID = 6;
const T = 7;
const ETA_MAX = 1 / 3;

const isMlp = (name: SelfModifyingMemory): boolean => name === 'k' || name === 'v' || name === 'memory';
function net(name: SelfModifyingMemory, ws: Matrix[], x: number[]): { out: number[]; z: number[]; a: number[] } {
  if (!isMlp(name)) return { out: matVec(ws[0]!, x), z: [], a: [] };
  const z = matVec(ws[0]!, x);
  const a = z.map((zi) => zi * sigmoid(zi));
  return { out: matVec(ws[1]!, a).map((f, i) => f + x[i]!), z, a };
}
/** The normalised step of a matrix with input a: eta / max(1, ||a||^2). */
const stepOf = (eta: number, a: readonly number[]): number => eta / Math.max(1, a.reduce((s, v) => s + v * v, 0));
function dgd(name: SelfModifyingMemory, ws: Matrix[], k: number[], target: number[], eta: number, alpha: number): Matrix[] {
  const { out, z, a } = net(name, ws, k);
  const e = out.map((o, i) => o - target[i]!);
  if (!isMlp(name)) return [dgdStep(ws[0]!, k, e, stepOf(eta, k), alpha)];
  const d1 = z.map((zj, j) => e.reduce((s, ei, i) => s + ei * ws[1]![i]![j]!, 0) * sigmoid(zj) * (1 + zj * (1 - sigmoid(zj))));
  return [dgdStep(ws[0]!, k, d1, stepOf(eta, k), alpha), dgdStep(ws[1]!, a, e, stepOf(eta, a), alpha)];
}

/** y rows of the recurrence for lead axis [B] in float64, plain arrays. */
function reference(x: Tensor, q: Tensor, etaBias: number, alphaBias: number, s: SelfModifyingState): number[] {
  const [B] = x.shape as [number];
  const xs = x.dataSync();
  const qs = q.dataSync();
  const out: number[] = [];
  for (let b = 0; b < B; b++) {
    let ws = Object.fromEntries(SELF_MODIFYING_MEMORIES.map((n) => [n, s.weights[n].map(toMatrix)])) as Record<SelfModifyingMemory, Matrix[]>;
    const row = (d: ArrayLike<number>, t: number): number[] => Array.from({ length: D }, (_, i) => d[(b * T + t) * D + i]!);
    for (let t = 0; t < T; t++) {
      const xt = row(xs, t);
      const k = unit(net('k', ws.k, xt).out);
      const v = unit(net('v', ws.v, xt).out);
      const eta = ETA_MAX * sigmoid(net('eta', ws.eta, xt).out[0]! + etaBias);
      const alpha = sigmoid(net('alpha', ws.alpha, xt).out[0]! + alphaBias);
      out.push(...net('memory', ws.memory, row(qs, t)).out);
      ws = Object.fromEntries(SELF_MODIFYING_MEMORIES.map((n) => [n, dgd(n, ws[n], k, net(n, ws[n], v).out, eta, alpha)])) as Record<SelfModifyingMemory, Matrix[]>;
    }
  }
  return out;
}

function state(seed: number): SelfModifyingState {
  const rng = new Rng(seed);
  const shapes = selfModifyingShapes(D, HID);
  const weights = Object.fromEntries(SELF_MODIFYING_MEMORIES.map((n) => [n, shapes[n].map(([o, i]) => rng.normal([o, i], 0, 1 / Math.sqrt(i), { dtype: 'float64' }))]));
  return { weights: weights as unknown as SelfModifyingState['weights'], position: 0 };
}

describe('self-modifying Titans (Hope)', () => {
  it('the recurrence equals a float64 per-token loop', () => {
    tidy(() => noGrad(() => {
      const rng = new Rng(1);
      const x = l2Normalize(rng.normal([2, T, D], 0, 1, { dtype: 'float64' }), -1);
      const q = l2Normalize(rng.normal([2, T, D], 0, 1, { dtype: 'float64' }), -1);
      const s = state(2);
      const scalar = (v: number): Tensor => tensor([v], [1, 1], { dtype: 'float64' });
      const got = selfModifyingScan(HID, ETA_MAX, { x, q, etaBias: scalar(0.3), alphaBias: scalar(1.5) }, s);
      expect(maxAbsDiff(got.y.dataSync(), reference(x, q, 0.3, 1.5, s))).toBeLessThan(1e-12);
      expect(got.state.position).toBe(T);
      // The memories do change: the final main memory differs from the initial one.
      expect(maxAbsDiff(got.state.weights.memory[0]!.dataSync(), new Float64Array(2 * HID * D).map((_, i) => s.weights.memory[0]!.dataSync()[i % (HID * D)]!))).toBeGreaterThan(1e-3);
    }));
  });

  // selfModifyingScan (the memories stacked in two groups, one 2-row forward per group for
  // targets and steps) is the fast form of selfModifyingLoop (each memory on its own).
  it('the fast scan equals the readable loop (float64 and float32; outputs, state, gradients)', () => {
    tidy(() => {
      for (const n of [T, 1, 0]) {
        const rng = new Rng(11);
        const x64 = l2Normalize(rng.normal([2, n, D], 0, 1, { dtype: 'float64' }), -1);
        const q64 = l2Normalize(rng.normal([2, n, D], 0, 1, { dtype: 'float64' }), -1);
        const s64 = state(12);
        const bias = (v: number, dtype: 'float32' | 'float64'): Tensor => tensor([v, v + 0.5], [2, 1, 1], { dtype });
        for (const dtype of ['float64', 'float32'] as const) {
          const tol = dtype === 'float64' ? 1e-12 : 2e-5;
          const s: SelfModifyingState = { weights: Object.fromEntries(SELF_MODIFYING_MEMORIES.map((m) => [m, s64.weights[m].map((w) => w.cast(dtype))])) as unknown as SelfModifyingState['weights'], position: 2 };
          const args = { x: x64.cast(dtype), q: q64.cast(dtype), etaBias: bias(0.3, dtype), alphaBias: bias(1.5, dtype) };
          const fast = noGrad(() => selfModifyingScan(HID, ETA_MAX, args, s));
          const slow = noGrad(() => selfModifyingLoop(HID, ETA_MAX, args, s));
          expect(fast.y.shape).toEqual(slow.y.shape);
          expect(maxAbsDiff(fast.y.dataSync(), slow.y.dataSync())).toBeLessThan(tol);
          expect(fast.state.position).toBe(slow.state.position);
          for (const m of SELF_MODIFYING_MEMORIES) {
            fast.state.weights[m].forEach((w, l) => {
              expect(w.shape).toEqual(slow.state.weights[m][l]!.shape);
              expect(maxAbsDiff(w.dataSync(), slow.state.weights[m][l]!.dataSync())).toBeLessThan(tol);
            });
          }
        }
        if (n === 0) continue;
        const params = [x64, q64, bias(0.3, 'float64'), bias(1.5, 'float64'), ...SELF_MODIFYING_MEMORIES.flatMap((m) => s64.weights[m])].map((p) => nn.parameter(p));
        const [x, q, etaBias, alphaBias] = params as [Tensor, Tensor, Tensor, Tensor];
        let at = 4;
        const weights = Object.fromEntries(SELF_MODIFYING_MEMORIES.map((m) => [m, s64.weights[m].map(() => params[at++]!)])) as unknown as SelfModifyingState['weights'];
        const r = new Rng(13).normal([2, n, D], 0, 1, { dtype: 'float64' });
        const loss = (scan: typeof selfModifyingScan): Tensor => {
          const o = scan(HID, ETA_MAX, { x, q, etaBias, alphaBias }, { weights, position: 0 });
          return sum(mul(o.y, r)).add(sum(mul(o.state.weights.k[1]!, o.state.weights.eta[0]!.sum())));
        };
        const gFast = gradients(loss(selfModifyingScan), params);
        const gSlow = gradients(loss(selfModifyingLoop), params);
        gFast.forEach((g, i) => {
          const scale = 1 + Array.from(gSlow[i]!.dataSync()).reduce((m, y) => Math.max(m, Math.abs(y)), 0);
          expect(maxAbsDiff(g.dataSync(), gSlow[i]!.dataSync()) / scale).toBeLessThan(1e-11);
        });
      }
    });
  });

  const module = (): SelfModifyingTitans => new SelfModifyingTitans(8, { heads: 2, expansion: 1.5, seed: 3, dtype: 'float64', etaBias: 0, alphaBias: 2 });

  it('streams: pieces equal one pass', () => {
    tidy(() => noGrad(() => {
      const m = module();
      const x = new Rng(4).normal([2, 10, 8], 0, 1, { dtype: 'float64' });
      const whole = m.forward(x);
      let s = m.initialState();
      const parts: Tensor[] = [];
      let at = 0;
      for (const n of [3, 0, 1, 6]) {
        const r = m.forward(narrow(x, 1, at, n), s);
        parts.push(r.output);
        s = r.state;
        at += n;
      }
      expect(maxAbsDiff(concat(parts, 1).dataSync(), whole.output.dataSync())).toBeLessThan(1e-12);
      expect(s.position).toBe(10);
    }));
  });

  it('a state written as JSON resumes exactly', async () => {
    const m = module();
    const x = new Rng(8).normal([2, 9, 8], 0, 1, { dtype: 'float64' });
    const whole = noGrad(() => m.forward(x).output.dataSync());
    const first = noGrad(() => m.forward(narrow(x, 1, 0, 4)));
    const json = JSON.stringify(await serializeSelfModifyingState(first.state));
    const resumed = deserializeSelfModifyingState(JSON.parse(json) as SerializedSelfModifyingState);
    expect(resumed.position).toBe(4);
    const rest = noGrad(() => m.forward(narrow(x, 1, 4, 5), resumed).output);
    expect(maxAbsDiff(noGrad(() => concat([first.output, rest], 1).dataSync()), whole)).toBe(0);
    expect(() => deserializeSelfModifyingState({ format: 'x' } as unknown as SerializedSelfModifyingState)).toThrow(/unknown format "x"/);
    expect(() => deserializeSelfModifyingState({ format: 'titans-self-modifying-state/v1', position: 0, weights: {} } as unknown as SerializedSelfModifyingState)).toThrow(/weights.k must be an array/);
  });

  it('autograd through the recurrence agrees with finite differences (float64)', () => {
    tidy(() => {
      const m = module();
      const x = new Rng(5).normal([1, 6, 8], 0, 1, { dtype: 'float64' });
      const r = new Rng(6).normal([1, 6, 8], 0, 1, { dtype: 'float64' });
      const loss = (): Tensor => {
        const a = m.forward(narrow(x, 1, 0, 4));
        return sum(mul(concat([a.output, m.forward(narrow(x, 1, 4, 2), a.state).output], 1), r));
      };
      const named = m.namedParameters();
      // Every memory's initial weights are parameters (2 + 2 + 1 + 1 + 2), beside the three maps and two biases.
      expect(named.length).toBe(13);
      const grads = gradients(loss(), named.map(([, p]) => p));
      spotCheckGradients(loss, named, grads, { rng: new Rng(7), atol: 1e-8, nonZero: true });
    });
  });

  // Regression (the `hope` preset diverged on the full plan's passkey track, NaN loss from
  // step 68): memories whose maps expand (initial weights of std 2/sqrt(in) and 3/sqrt(in))
  // and steps near the bound. Unnormalised values fed back into the targets M(v_t) grew
  // without bound (float64 too, so not a float32 overflow) with etaMax 0.5; unit values,
  // the normalised step and etaMax 1/3 keep the reads bounded over 128 tokens.
  it('stays bounded when the memories expand (the preset\'s divergence)', () => {
    tidy(() => noGrad(() => {
      const etaMax = new SelfModifyingTitans(8).etaMax;
      expect(etaMax).toBeCloseTo(1 / 3, 15);
      const d = 8;
      const hidden = 16;
      const tokens = 128;
      for (const [gain, etaBias] of [[2, 0], [2, 2], [3, 0], [3, 2]] as const) {
        const rng = new Rng(40 + gain);
        const shapes = selfModifyingShapes(d, hidden);
        const weights = Object.fromEntries(SELF_MODIFYING_MEMORIES.map((n) => [n, shapes[n].map(([o, i]) => rng.normal([4, o, i], 0, gain / Math.sqrt(i), { dtype: 'float64' }))]));
        const x = l2Normalize(rng.normal([4, tokens, d], 0, 1, { dtype: 'float64' }), -1);
        const q = l2Normalize(rng.normal([4, tokens, d], 0, 1, { dtype: 'float64' }), -1);
        const bias = (v: number): Tensor => tensor([v], [1, 1, 1], { dtype: 'float64' });
        const r = selfModifyingScan(hidden, etaMax, { x, q, etaBias: bias(etaBias), alphaBias: bias(4) }, { weights: weights as unknown as SelfModifyingState['weights'], position: 0 });
        const y = Array.from(r.y.dataSync());
        expect(y.every(Number.isFinite)).toBe(true);
        // The reads at the initial weights are up to about 10 here; the recurrence must not grow far past them.
        expect(Math.max(...y.map(Math.abs))).toBeLessThan(100);
        for (const m of SELF_MODIFYING_MEMORIES) for (const w of r.state.weights[m]) expect(Array.from(w.dataSync()).every(Number.isFinite)).toBe(true);
      }
    }));
  });

  it('rejects bad options and inputs with clear errors', () => {
    expect(() => new SelfModifyingTitans(8, { heads: 3 })).toThrow(/not divisible by heads 3/);
    expect(() => new SelfModifyingTitans(8, { etaMax: 0 })).toThrow(/etaMax/);
    expect(() => module().forward(tensor(new Float64Array(6), [1, 2, 3], { dtype: 'float64' }))).toThrow(/\[batch, tokens, 8\]/);
  });
});
