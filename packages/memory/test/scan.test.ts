// The chunked parallel form against the per-token loop, at the scan level, in float64:
// every memory kind, chunk sizes 1, 2, 16 and 64, a length that is not a multiple of the
// chunk, and streams cut into random pieces (pending chunks included).
import { describe, expect, it } from 'vitest';
import { Rng, concat, narrow, tidy, type Tensor } from '@titans/tensor';
import {
  currentWeights, initialState, linearArchitecture, readMemory, scanLoop, scanParallel,
  type MemoryArchitecture, type MemoryInputs, type MemoryOutputs, type MemoryRule, type MemoryState,
} from '../src/index.js';
import { expectClose, expectLoopEqualsParallel, expectSameState, randomInputs, randomWeights, rule } from './helpers.js';

const dim = 6;
const hidden = 10;
const kinds: Record<string, MemoryArchitecture> = {
  linear: linearArchitecture(),
  mlp2: { depth: 2, hidden, activation: 'silu', residual: false, norm: false },
  mlp2_residual: { depth: 2, hidden, activation: 'silu', residual: true, norm: false },
  mlp2_residual_ln: { depth: 2, hidden, activation: 'silu', residual: true, norm: true },
  'mlp3 (depth 3)': { depth: 3, hidden, activation: 'silu', residual: true, norm: true },
  'mlp2 gelu': { depth: 2, hidden, activation: 'gelu', residual: true, norm: false },
};
// 70 tokens: not a multiple of 16 or 64, so the last chunk is partial (and stays pending).
const tokens = 70;
const tolerance = 1e-11;
// A 3-layer memory amplifies round-off: loop and parallel agree to 1e-15 on the first
// tokens and drift apart exponentially (to ~1e-9 by token 70 at chunk 1), as any two
// float64 orderings of the same chaotic recurrence do.
const toleranceOf = (name: string): number => (name.startsWith('mlp3') ? 1e-6 : tolerance);

describe('scanParallel equals scanLoop (float64)', () => {
  const inputs = randomInputs({ tokens, dim });
  for (const [name, architecture] of Object.entries(kinds)) {
    for (const chunkSize of [1, 2, 16, 64]) {
      it(`${name}, chunk ${chunkSize}, ${tokens} tokens`, () => {
        expectLoopEqualsParallel(rule({ architecture, chunkSize }, dim), inputs, randomWeights(architecture, dim), toleranceOf(name));
      });
    }
  }

  it('a sequence shorter than one chunk (everything pending)', () => {
    const architecture = kinds.mlp2_residual_ln!;
    expectLoopEqualsParallel(rule({ architecture, chunkSize: 16 }, dim), randomInputs({ tokens: 5, dim }), randomWeights(architecture, dim), tolerance);
  });

  it('readMemory of a state with a pending chunk reads P^(T): the last token\'s y_post', () => {
    tidy(() => {
      for (const momentumOrder of [1, 2]) {
        const architecture = kinds.mlp2!;
        const r = rule({ architecture, chunkSize: 16, momentumOrder }, dim);
        const inputs = randomInputs({ tokens: 21, dim });
        for (const scan of [scanParallel, scanLoop]) {
          const out = scan(r, inputs, initialState(randomWeights(architecture, dim), r));
          expect(out.state.pending?.k.shape[2]).toBe(5);
          const lastQuery = narrow(inputs.q, -2, 20, 1);
          expectClose(readMemory(r, out.state, lastQuery), narrow(out.yPost, -2, 20, 1), tolerance, `M(P^(T); q_T), order ${momentumOrder}`);
          expect(currentWeights(r, out.state).length).toBe(2);
        }
      }
    });
  });
});

/** Streams inputs through `scan` in pieces of the given sizes and concatenates the outputs. */
function streamInPieces(scan: typeof scanLoop, r: MemoryRule, inputs: MemoryInputs, weights: Tensor[], sizes: number[]): MemoryOutputs {
  let state: MemoryState = initialState(weights, r);
  const outs: MemoryOutputs[] = [];
  let at = 0;
  for (const size of sizes) {
    const piece = (x: Tensor, axis: number): Tensor => narrow(x, axis, at, size);
    const out = scan(r, {
      k: piece(inputs.k, -2), v: piece(inputs.v, -2), q: piece(inputs.q, -2),
      theta: piece(inputs.theta, -1), eta: piece(inputs.eta, -1), alpha: piece(inputs.alpha, -1),
    }, state);
    outs.push(out);
    state = out.state;
    at += size;
  }
  return { yPre: concat(outs.map((o) => o.yPre), -2), yPost: concat(outs.map((o) => o.yPost), -2), loss: concat(outs.map((o) => o.loss), -1), state };
}

function randomPieces(total: number, seed: number, maxPiece: number): number[] {
  const rng = new Rng(seed);
  const sizes: number[] = [];
  let left = total;
  while (left > 0) {
    // Zero-length pieces too: a call with no new tokens must leave the stream intact.
    const size = Math.min(left, rng.int(maxPiece + 1));
    sizes.push(size);
    left -= size;
  }
  return sizes;
}

describe('streaming in pieces of random sizes equals one pass (float64)', () => {
  const architecture = kinds.mlp2_residual_ln!;
  const inputs = randomInputs({ tokens: 45, dim, seed: 5 });
  for (const chunkSize of [1, 16]) {
    for (const [name, scan] of [['scanParallel', scanParallel], ['scanLoop', scanLoop]] as const) {
      it(`${name}, chunk ${chunkSize}`, () => {
        tidy(() => {
          const r = rule({ architecture, chunkSize }, dim);
          const sizes = randomPieces(45, 3 + chunkSize, 11);
          expect(sizes.reduce((a, b) => a + b, 0)).toBe(45);
          const pieces = streamInPieces(scan, r, inputs, randomWeights(architecture, dim), sizes);
          const whole = scanParallel(r, inputs, initialState(randomWeights(architecture, dim), r));
          expectClose(pieces.yPre, whole.yPre, tolerance, 'y_pre');
          expectClose(pieces.yPost, whole.yPost, tolerance, 'y_post');
          expectClose(pieces.loss, whole.loss, tolerance, 'loss');
          expectSameState(pieces.state, whole.state, tolerance);
          if (chunkSize === 16) expect(pieces.state.pending?.k.shape[2]).toBe(45 % 16);
        });
      });
    }
  }

  it('the loop and the parallel form continue each other\'s streams', () => {
    tidy(() => {
      const r = rule({ architecture, chunkSize: 16 }, dim);
      const whole = scanLoop(r, inputs, initialState(randomWeights(architecture, dim), r));
      const cut = (x: Tensor, axis: number, from: number, n: number): Tensor => narrow(x, axis, from, n);
      const part = (from: number, n: number): MemoryInputs => ({
        k: cut(inputs.k, -2, from, n), v: cut(inputs.v, -2, from, n), q: cut(inputs.q, -2, from, n),
        theta: cut(inputs.theta, -1, from, n), eta: cut(inputs.eta, -1, from, n), alpha: cut(inputs.alpha, -1, from, n),
      });
      const first = scanParallel(r, part(0, 19), initialState(randomWeights(architecture, dim), r));
      const second = scanLoop(r, part(19, 14), first.state);
      const third = scanParallel(r, part(33, 12), second.state);
      expectClose(concat([first.yPost, second.yPost, third.yPost], -2), whole.yPost, tolerance, 'y_post');
      expectSameState(third.state, whole.state, tolerance);
    });
  });
});
