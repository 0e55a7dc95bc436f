// The must-show properties of an architecture: causality, token-by-token decoding and
// streaming in pieces equal one parallel pass, finite gradients, and autograd agreeing with
// finite differences of the loss (float64). Run by titans.test.ts and baselines.test.ts.
import { describe, expect, it } from 'vitest';
import { Rng, concat, gradients, narrow, noGrad, tensor, tidy, type Tensor } from '@titans/tensor';
import { createModel, type ArchitectureName, type ModelState, type TitansLanguageModel } from '../src/index.js';
import { changedFrom, maxAbsDiff, randomIds, testConfig } from './helpers.js';

const T = 24;

/** Runs ids through the model in pieces of the given lengths, carrying the state. */
function forwardInPieces(model: TitansLanguageModel, ids: Tensor, lengths: readonly number[]): { logits: Tensor; state: ModelState } {
  let state = model.initialState(ids.shape[0]!);
  const parts: Tensor[] = [];
  let at = 0;
  for (const length of lengths) {
    const out = model.forward(narrow(ids, 1, at, length), state);
    parts.push(out.logits);
    state = out.state;
    at += length;
  }
  if (at !== ids.shape[1]) throw new Error('pieces do not cover the sequence');
  return { logits: concat(parts, 1), state };
}

/** The loss at one element of a parameter moved to `value`. */
function lossWith(model: TitansLanguageModel, p: Tensor, index: number, value: number, ids: Tensor, targets: Tensor): number {
  const original = Float64Array.from(p.dataSync());
  const moved = original.slice();
  moved[index] = value;
  return noGrad(() => {
    p.assign(tensor(moved, p.shape, { dtype: p.dtype }));
    const loss = model.loss(ids, targets).item();
    p.assign(tensor(original, p.shape, { dtype: p.dtype }));
    return loss;
  });
}

/** One parameter of each kind the architecture has (first block's where per-block). */
const CHECKED = [/^embedding/, /attention\.query/, /persistent/, /memory\.qkv/, /memory\.gates\.weight/, /memory\.initWeights\.0/, /gate\.gateNorm/, /mlp\.mlp\.up/, /^head/, /titans\.initMemory\.0/, /titans\.etaBias/, /cms\.levels\.0\.w1/];

export function describeArchitecture(architecture: ArchitectureName): void {
  describe(architecture, () => {
    const model = createModel(testConfig(architecture));
    const ids = randomIds(2, T, 11);

    it('is causal: changing tokens after t never changes the logits at t', () => {
      tidy(() => noGrad(() => {
        const base = model.forward(ids).logits;
        for (const t of [2, 5, 11, 17]) {
          const changed = model.forward(changedFrom(ids, t + 1, t)).logits;
          expect(maxAbsDiff(narrow(changed, 1, 0, t + 1), narrow(base, 1, 0, t + 1))).toBeLessThan(1e-12);
          // ...while the later logits do change, so the check is not vacuous.
          expect(maxAbsDiff(narrow(changed, 1, t + 1, T - t - 1), narrow(base, 1, t + 1, T - t - 1))).toBeGreaterThan(1e-6);
        }
      }));
    });

    it('decoding token by token gives the logits of one parallel forward', () => {
      tidy(() => noGrad(() => {
        const whole = model.forward(ids);
        const stepped = forwardInPieces(model, ids, Array.from({ length: T }, () => 1));
        expect(whole.logits.dtype).toBe('float64');
        expect(maxAbsDiff(stepped.logits, whole.logits)).toBeLessThan(1e-9);
        expect(stepped.state.position).toBe(T);
      }));
    });

    it('a forward pass in pieces continues exactly where the last one stopped', () => {
      tidy(() => noGrad(() => {
        const whole = model.forward(ids).logits;
        for (const lengths of [[7, 1, 9, 7], [3, 3, 12, 2, 4]]) {
          expect(maxAbsDiff(forwardInPieces(model, ids, lengths).logits, whole)).toBeLessThan(1e-9);
        }
      }));
    });

    it('has finite gradients for every parameter', () => {
      tidy(() => {
        const targets = randomIds(2, T, 12);
        const params = model.parameters();
        const grads = gradients(model.loss(ids, targets), params);
        let nonZero = 0;
        grads.forEach((g) => {
          const values = g.dataSync();
          expect(values.every(Number.isFinite)).toBe(true);
          if (values.some((v) => v !== 0)) nonZero++;
        });
        // Every parameter takes part (the memory's initial weights and gates included).
        expect(nonZero).toBe(params.length);
      });
    });

    it('autograd agrees with finite differences of the loss (float64)', () => {
      tidy(() => {
        const short = narrow(ids, 1, 0, 12);
        const targets = randomIds(2, 12, 13);
        const named = model.namedParameters();
        const picked = CHECKED.map((re) => named.find(([name]) => re.test(name))).filter((x): x is [string, Tensor] => x !== undefined);
        expect(picked.length).toBeGreaterThanOrEqual(4);
        const grads = gradients(model.loss(short, targets), picked.map(([, p]) => p));
        // A small step: a learning memory makes the loss strongly curved at small scales
        // (Yaad's Huber bias even has kinks in its second derivative).
        const h = 1e-7;
        const rng = new Rng(5);
        picked.forEach(([name, p], n) => {
          const g = grads[n]!.dataSync();
          let largest = 0;
          for (let i = 1; i < g.length; i++) if (Math.abs(g[i]!) > Math.abs(g[largest]!)) largest = i;
          for (const index of name.startsWith('embedding') ? [largest] : [largest, rng.int(g.length)]) {
            const x = p.dataSync()[index]!;
            const f = (dx: number): number => lossWith(model, p, index, x + dx, short, targets);
            const numeric = (f(h) - f(-h)) / (2 * h);
            const analytic = g[index]!;
            expect(Math.abs(analytic - numeric), `${name}[${index}]: autograd ${analytic}, finite differences ${numeric}`).toBeLessThan(1e-6 + 1e-5 * Math.abs(numeric));
          }
        });
      });
    });
  });
}
