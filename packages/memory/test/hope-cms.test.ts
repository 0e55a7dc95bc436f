// The Continuum Memory System (cms.ts) against a float64 per-token loop written here with
// plain arrays, streaming in pieces against one pass, and autograd through the level
// updates against finite differences (float64).
import { describe, expect, it } from 'vitest';
import { spotCheckGradients } from '@titans/test-utils';
import { Rng, concat, gradients, mul, narrow, nn, noGrad, sum, tensor, tidy, type Tensor } from '@titans/tensor';
import {
  ContinuumMemory, deserializeContinuumMemoryState, serializeContinuumMemoryState, type ContinuumMemoryState, type SerializedContinuumMemoryState,
} from '../src/index.js';
import { matVec, sigmoid, toMatrix } from './plain.js';
import { maxAbsDiff } from './helpers.js';

const DIM = 5;
const HIDDEN = 6;
const PERIODS = [1, 3, 4];

function makeCms(periods: readonly number[] = PERIODS): ContinuumMemory {
  // A large step-size bias so the updates move the outputs visibly.
  return new ContinuumMemory(DIM, { periods, hidden: HIDDEN, lrMax: [0.2, 0.1, 0.05], lrBias: 0, seed: 7, dtype: 'float64' });
}

function randomX(batch: number, tokens: number, seed: number): Tensor {
  return new Rng(seed).normal([batch, tokens, DIM], 0, 1, { dtype: 'float64' });
}

/** The CMS token by token in float64: Eq. 70-71 with our level loss (see cms.ts). */
function referenceCms(cms: ContinuumMemory, x: Tensor): number[] {
  const [batch, tokens] = x.shape as [number, number, number];
  const xs = x.dataSync();
  const out: number[] = [];
  const levels = cms.levels.map((l) => ({
    period: l.period, lrMax: l.lrMax, wv: toMatrix(l.value.weight), gw: Array.from(l.lr.weight.dataSync()), gb: l.lr.bias!.dataSync()[0]!,
  }));
  const perBatch = Array.from({ length: batch }, () => cms.levels.map((l) => ({ w1: toMatrix(l.w1), w2: toMatrix(l.w2), pending: [] as number[][] })));
  const rows: number[][][] = Array.from({ length: batch }, () => []);
  for (let b = 0; b < batch; b++) {
    for (let t = 0; t < tokens; t++) {
      let h = Array.from(xs.slice((b * tokens + t) * DIM, (b * tokens + t + 1) * DIM));
      const total = new Array<number>(DIM).fill(0);
      levels.forEach((spec, l) => {
        const s = perBatch[b]![l]!;
        const f = matVec(s.w2, matVec(s.w1, h).map((z) => z * sigmoid(z)));
        s.pending.push(h);
        if (s.pending.length === spec.period) {
          const g1 = s.w1.map((r) => r.map(() => 0));
          const g2 = s.w2.map((r) => r.map(() => 0));
          // Step energies sum_t eta_t ||a_t||^2 of W1 (inputs p) and W2 (inputs silu(W1 p)): the step bound (cms.ts).
          let e1 = 0;
          let e2 = 0;
          for (const p of s.pending) {
            const z = matVec(s.w1, p);
            const a = z.map((zi) => zi * sigmoid(zi));
            const y = matVec(s.w2, a);
            const v = matVec(spec.wv, p);
            const eta = spec.lrMax * sigmoid(spec.gw.reduce((acc, w, j) => acc + w * p[j]!, spec.gb));
            const e = y.map((yi, i) => eta * (yi - v[i]!));
            e1 += eta * p.reduce((acc, pi) => acc + pi * pi, 0);
            e2 += eta * a.reduce((acc, ai) => acc + ai * ai, 0);
            for (let i = 0; i < DIM; i++) for (let j = 0; j < HIDDEN; j++) g2[i]![j]! += e[i]! * a[j]!;
            for (let j = 0; j < HIDDEN; j++) {
              const back = e.reduce((acc, ei, i) => acc + ei * s.w2[i]![j]!, 0) * sigmoid(z[j]!) * (1 + z[j]! * (1 - sigmoid(z[j]!)));
              for (let k = 0; k < DIM; k++) g1[j]![k]! += back * p[k]!;
            }
          }
          const d1 = Math.max(1, e1 / cms.levels[l]!.maxStepEnergy);
          const d2 = Math.max(1, e2 / cms.levels[l]!.maxStepEnergy);
          s.w1 = s.w1.map((r, i) => r.map((w, j) => w - g1[i]![j]! / d1));
          s.w2 = s.w2.map((r, i) => r.map((w, j) => w - g2[i]![j]! / d2));
          s.pending = [];
        }
        h = h.map((hi, i) => hi + f[i]!);
        f.forEach((fi, i) => { total[i]! += fi; });
      });
      rows[b]!.push(total);
    }
  }
  for (let b = 0; b < batch; b++) for (const r of rows[b]!) out.push(...r);
  return out;
}

function inPieces(cms: ContinuumMemory, x: Tensor, lengths: readonly number[]): { output: Tensor; state: ContinuumMemoryState } {
  let state = cms.initialState();
  const parts: Tensor[] = [];
  let at = 0;
  for (const length of lengths) {
    const r = cms.forward(narrow(x, 1, at, length), state);
    parts.push(r.output);
    state = r.state;
    at += length;
  }
  return { output: concat(parts, 1), state };
}

describe('ContinuumMemory (Hope CMS)', () => {
  it('equals a float64 per-token loop, and the updates change the outputs', () => {
    tidy(() => noGrad(() => {
      const cms = makeCms();
      const x = randomX(2, 13, 1);
      const got = cms.forward(x).output.dataSync();
      expect(Math.max(...Array.from(got, Math.abs))).toBeLessThan(10);
      expect(maxAbsDiff(got, referenceCms(cms, x))).toBeLessThan(1e-12);
      // Not vacuous: with periods longer than the sequence nothing updates and the outputs differ.
      const frozen = new ContinuumMemory(DIM, { periods: [100, 100, 100], hidden: HIDDEN, lrMax: 0.2, lrBias: 0, seed: 7, dtype: 'float64' });
      expect(maxAbsDiff(frozen.forward(x).output.dataSync(), got)).toBeGreaterThan(1e-3);
    }));
  });

  it('streams: pieces (pending tokens of unfinished chunks kept) equal one pass', () => {
    tidy(() => noGrad(() => {
      const cms = makeCms();
      const x = randomX(2, 17, 2);
      const whole = cms.forward(x);
      for (const lengths of [[1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1], [5, 2, 0, 7, 3], [16, 1]]) {
        const pieces = inPieces(cms, x, lengths);
        expect(maxAbsDiff(pieces.output.dataSync(), whole.output.dataSync())).toBeLessThan(1e-12);
        expect(pieces.state.position).toBe(17);
        pieces.state.levels.forEach((level, l) => {
          expect(level.pending?.shape[1] ?? 0).toBe(17 % PERIODS[l]!);
          expect(maxAbsDiff(level.weights[0].dataSync(), whole.state.levels[l]!.weights[0].dataSync())).toBeLessThan(1e-12);
        });
      }
    }));
  });

  it('a state written as JSON mid-chunk resumes exactly', async () => {
    const cms = makeCms();
    const x = randomX(2, 13, 7);
    const whole = noGrad(() => cms.forward(x).output.dataSync());
    const first = noGrad(() => cms.forward(narrow(x, 1, 0, 6)));
    // After 6 tokens the levels with periods 1, 3, 4 hold 0, 0 and 2 pending tokens.
    expect(first.state.levels.map((l) => l.pending?.shape[1] ?? 0)).toEqual([0, 0, 2]);
    const json = JSON.stringify(await serializeContinuumMemoryState(first.state));
    const resumed = deserializeContinuumMemoryState(JSON.parse(json) as SerializedContinuumMemoryState);
    const rest = noGrad(() => cms.forward(narrow(x, 1, 6, 7), resumed).output);
    const joined = noGrad(() => concat([first.output, rest], 1).dataSync());
    expect(maxAbsDiff(joined, whole)).toBe(0);
    expect(() => deserializeContinuumMemoryState({ format: 'other' } as unknown as SerializedContinuumMemoryState)).toThrow(/unknown format "other"/);
    expect(() => deserializeContinuumMemoryState({ format: 'titans-cms-state/v1', position: -1, levels: [] })).toThrow(/position must be a non-negative integer/);
  });

  it('autograd through the level updates agrees with finite differences (float64)', () => {
    tidy(() => {
      const cms = makeCms();
      const x = nn.parameter(randomX(1, 9, 3));
      const r = new Rng(4).normal([1, 9, DIM], 0, 1, { dtype: 'float64' });
      const loss = (input: Tensor): Tensor => {
        const pieces = inPieces(cms, input, [4, 5]);
        return sum(mul(pieces.output, r));
      };
      const named = cms.namedParameters();
      expect(named.map(([n]) => n)).toEqual(expect.arrayContaining(['levels.0.w1', 'levels.1.value.weight', 'levels.2.lr.bias']));
      const params = named.map(([, p]) => p);
      const grads = gradients(loss(x), [...params, x]);
      const rng = new Rng(9);
      // Every parameter takes part (nonZero), then the input, through every level's updates and the chain.
      spotCheckGradients(() => loss(x), named, grads.slice(0, params.length), { rng, elements: 2, nonZero: true });
      spotCheckGradients(() => loss(x), [['x', x]], [grads[params.length]!], { rng, elements: 4 });
    });
  });

  it('rejects bad periods and inputs with clear errors', () => {
    expect(() => new ContinuumMemory(DIM, { periods: [], hidden: 4 })).toThrow(/at least one level/);
    expect(() => new ContinuumMemory(DIM, { periods: [2, 0], hidden: 4 })).toThrow(/periods\[1\] must be a positive integer/);
    expect(() => new ContinuumMemory(DIM, { periods: [2], hidden: 0 })).toThrow(/hidden/);
    expect(() => new ContinuumMemory(DIM, { periods: [2, 4], hidden: 4, lrMax: [0.1] })).toThrow(/lists 1 values for 2 levels/);
    expect(() => new ContinuumMemory(DIM, { periods: [2], hidden: 4, lrMax: -1 })).toThrow(/lrMax\[0\] must be a positive/);
    const cms = makeCms();
    expect(() => cms.forward(tensor(new Float64Array(8), [1, 2, 4], { dtype: 'float64' }))).toThrow(/\[batch, tokens, 5\]/);
    const state = cms.forward(randomX(1, 2, 5)).state;
    expect(() => cms.forward(randomX(1, 1, 6), { ...state, position: 0 })).toThrow(/pending tokens at position 0/);
  });
});
