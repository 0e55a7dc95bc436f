// The CMS step bound (cms.ts header): a chunk update whose step energy sum_t eta_t ||a_t||^2
// exceeds maxStepEnergy is scaled down to it. Without it a level fed large inputs runs away
// to NaN (what Hope's slowest level did past 10x its training length); inside the bound the
// step is the plain gradient step bit for bit; gradients flow through the scaling.
import { describe, expect, it } from 'vitest';
import { spotCheckGradients } from '@titans/test-utils';
import { Rng, gradients, mul, nn, noGrad, sum, tensor, tidy, type Tensor } from '@titans/tensor';
import { CMS_MAX_STEP_ENERGY, ContinuumMemory, cmsChunkGradient } from '../src/index.js';

const DIM = 4;
const HIDDEN = 5;

function cms(maxStepEnergy: number | undefined, lrMax: number): ContinuumMemory {
  return new ContinuumMemory(DIM, { periods: [2, 4], hidden: HIDDEN, lrMax, lrBias: 3, seed: 11, dtype: 'float64', ...(maxStepEnergy === undefined ? {} : { maxStepEnergy }) });
}

const x = (tokens: number, scale: number, seed: number): Tensor => mul(new Rng(seed).normal([2, tokens, DIM], 0, 1, { dtype: 'float64' }), scale);

function maxAbs(values: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < values.length; i++) {
    const a = Math.abs(values[i]!);
    if (!(a <= m)) m = a;
  }
  return m;
}

describe('CMS step bound', () => {
  it('keeps a level with a too-large step finite where the plain step runs away to NaN', () => {
    tidy(() => noGrad(() => {
      const input = x(64, 3, 1);
      const plain = cms(Infinity, 0.05).forward(input);
      const bounded = cms(undefined, 0.05).forward(input);
      expect(Array.from(plain.output.dataSync()).some((v) => Number.isNaN(v))).toBe(true);
      const out = bounded.output.dataSync();
      expect(Array.from(out).every(Number.isFinite)).toBe(true);
      // Bounded per matrix, not in W1's curvature through W2 (cms.ts header): finite, not small.
      expect(maxAbs(out)).toBeLessThan(1e3);
      for (const level of bounded.state.levels) for (const w of level.weights) expect(Array.from(w.dataSync()).every(Number.isFinite)).toBe(true);
    }));
  });

  it('is the plain gradient step bit for bit while the step energy is inside the bound', () => {
    tidy(() => noGrad(() => {
      const input = x(13, 1, 2);
      const a = cms(Infinity, 0.02).forward(input).output.dataSync();
      const b = cms(undefined, 0.02).forward(input).output.dataSync();
      expect(Array.from(b)).toEqual(Array.from(a));
      expect(CMS_MAX_STEP_ENERGY).toBe(2);
    }));
  });

  it('scales each matrix step to the bound exactly, per batch row', () => {
    tidy(() => noGrad(() => {
      const rng = new Rng(5);
      const weights: [Tensor, Tensor] = [rng.normal([HIDDEN, DIM], 0, 1, { dtype: 'float64' }), rng.normal([DIM, HIDDEN], 0, 1, { dtype: 'float64' })];
      const rows = x(3, 1, 6); // [2, 3, DIM]
      const v = x(3, 1, 7);
      // Row 0: tiny steps (inside the bound), row 1: large ones.
      const etaValues = [1e-4, 2e-4, 3e-4, 0.9, 0.7, 0.8];
      const eta = tensor(etaValues, [2, 3], { dtype: 'float64' });
      const plain = cmsChunkGradient(weights, rows, v, eta, Infinity);
      const bounded = cmsChunkGradient(weights, rows, v, eta, 2);
      const energy = (b: number): number => {
        let e = 0;
        const xs = rows.dataSync();
        for (let t = 0; t < 3; t++) for (let j = 0; j < DIM; j++) e += etaValues[b * 3 + t]! * xs[(b * 3 + t) * DIM + j]! ** 2;
        return e;
      };
      expect(energy(0)).toBeLessThan(2);
      expect(energy(1)).toBeGreaterThan(2);
      const p1 = plain[0].dataSync();
      const b1 = bounded[0].dataSync();
      const per = HIDDEN * DIM;
      for (let i = 0; i < per; i++) {
        expect(b1[i]).toBe(p1[i]); // row 0 unchanged
        expect(b1[per + i]!).toBeCloseTo(p1[per + i]! * (2 / energy(1)), 12);
      }
    }));
  });

  it('autograd through bounded updates agrees with finite differences (float64)', () => {
    tidy(() => {
      const memory = cms(undefined, 0.5);
      const input = nn.parameter(x(8, 3, 3));
      const r = new Rng(4).normal([2, 8, DIM], 0, 1, { dtype: 'float64' });
      const loss = (i: Tensor): Tensor => sum(mul(memory.forward(i).output, r));
      const named = memory.namedParameters();
      const params = named.map(([, p]) => p);
      const grads = gradients(loss(input), [...params, input]);
      const rng = new Rng(9);
      spotCheckGradients(() => loss(input), named, grads.slice(0, params.length), { rng, elements: 2, nonZero: true });
      spotCheckGradients(() => loss(input), [['x', input]], [grads[params.length]!], { rng, elements: 4 });
    });
  });

  it('rejects a bound that is not positive', () => {
    expect(() => cms(0, 0.1)).toThrow(/maxStepEnergy must be positive/);
    expect(() => cms(Number.NaN, 0.1)).toThrow(/maxStepEnergy must be positive/);
  });
});
