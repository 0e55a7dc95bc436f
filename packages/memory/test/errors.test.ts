// Bad inputs fail early with a message that names the argument and the shape it needed.
import { describe, expect, it } from 'vitest';
import { Rng, narrow, reshape, tidy, zeros } from '@titans/tensor';
import {
  NeuralMemory, deserializeMemoryState, initialState, linearArchitecture, scanLoop, scanParallel,
  type MemoryInputs, type MemoryRule, type MemoryState, type SerializedMemoryState,
} from '../src/index.js';
import { randomInputs, randomWeights, rule } from './helpers.js';

const dim = 6;
const mlp = { depth: 2, hidden: 10, activation: 'silu', residual: true, norm: true } as const;
const good = (): { r: MemoryRule; inputs: MemoryInputs; state: MemoryState } => {
  const r = rule({ architecture: mlp, chunkSize: 4 }, dim);
  return { r, inputs: randomInputs({ tokens: 10, dim }), state: initialState(randomWeights(mlp, dim), r) };
};

type Case = [string, (c: ReturnType<typeof good>) => ReturnType<typeof good>, RegExp];
const cases: Case[] = [
  ['a gate of the wrong length', (c) => ({ ...c, inputs: { ...c.inputs, theta: narrow(c.inputs.theta, -1, 0, 9) } }), /gate theta \[2, 2, 9\] must be \[2, 2, 10\]/],
  ['a gate without the batch axis', (c) => ({ ...c, inputs: { ...c.inputs, eta: narrow(c.inputs.eta, 0, 0, 1).reshape([2, 10]) } }), /gate eta \[2, 10\] must be \[2, 2, 10\]/],
  ['a gate with a trailing axis', (c) => ({ ...c, inputs: { ...c.inputs, alpha: reshape(c.inputs.alpha, [2, 2, 10, 1]) } }), /gate alpha \[2, 2, 10, 1\]/],
  ['values of another length', (c) => ({ ...c, inputs: { ...c.inputs, v: narrow(c.inputs.v, -2, 0, 8) } }), /v \[2, 2, 8, 6\] does not match k \[2, 2, 10, 6\]/],
  ['queries of another width', (c) => ({ ...c, inputs: { ...c.inputs, q: zeros([2, 2, 10, 5], { dtype: 'float64' }) } }), /q \[2, 2, 10, 5\] must have the key dimension 6/],
  ['keys without a token axis', (c) => ({ ...c, inputs: { ...c.inputs, k: zeros([6], { dtype: 'float64' }) } }), /k \[6\] must be \[\.\.\., tokens, dim\]/],
  ['weights of the wrong shape', (c) => ({ ...c, state: { ...c.state, weights: [c.state.weights[0]!, zeros([2, 6, 9], { dtype: 'float64' })] } }), /state\.weights\[1\] \[2, 6, 9\] must be \[\.\.\., 6, 10\]/],
  ['weights for other heads', (c) => ({ ...c, state: initialState(randomWeights(mlp, dim, { heads: 3 })) }), /state\.weights\[0\] \[3, 10, 6\] must be .* broadcastable to \[2, 2\]/],
  ['too few weight matrices', (c) => ({ ...c, state: initialState([c.state.weights[0]!]) }), /state\.weights has 1 matrices, the architecture \(depth 2\) needs 2/],
  ['a state made without the momentum order', (c) => ({ ...c, r: { ...c.r, momentumOrder: 2 } }), /state\.momentum has 2 tensors, momentumOrder 2 x 2 matrices needs 4 .*initialState\(weights, rule\)/],
  ['missing layer learning rates', (c) => ({ ...c, r: { ...c.r, layerLearningRates: true } }), /rule\.layerLearningRates is on but inputs\.layerLearningRates is missing/],
  ['Huber thresholds for an L2 bias', (c) => ({ ...c, inputs: { ...c.inputs, delta: c.inputs.theta } }), /inputs\.delta .* the bias is 'l2'/],
  ['a chunk size of 0', (c) => ({ ...c, r: { ...c.r, chunkSize: 0 } }), /chunkSize must be a positive integer, got 0/],
  ['a fractional momentum order', (c) => ({ ...c, r: { ...c.r, momentumOrder: 1.5 } }), /momentumOrder must be a positive integer, got 1.5/],
  ['an lp bias with p < 1', (c) => ({ ...c, r: { ...c.r, bias: { kind: 'lp', p: 0.5 } } }), /lp bias needs p >= 1, got 0.5/],
  ['values wider than a linear memory', (c) => ({ ...c, r: { ...c.r, architecture: linearArchitecture() }, state: initialState([zeros([6, 6], { dtype: 'float64' })]), inputs: { ...c.inputs, v: zeros([2, 2, 10, 4], { dtype: 'float64' }) } }), /v \[2, 2, 10, 4\] must have the memory's output dimension 6/],
];

describe('clear errors for bad shapes and rules', () => {
  for (const [name, breakIt, message] of cases) {
    for (const [path, scan] of [['scanParallel', scanParallel], ['scanLoop', scanLoop]] as const) {
      it(`${path}: ${name}`, () => {
        tidy(() => {
          const c = breakIt(good());
          expect(() => scan(c.r, c.inputs, c.state)).toThrow(message);
        });
      });
    }
  }

  it('NeuralMemory names the input it rejects', () => {
    const memory = new NeuralMemory(8, { heads: 2 });
    expect(() => memory.forward(new Rng(1).normal([2, 5, 6]))).toThrow(/input must be \[batch, tokens, 8\], got \[2, 5, 6\]/);
    expect(() => new NeuralMemory(10, { heads: 3 })).toThrow(/dim 10 is not divisible by heads 3/);
  });

  it('a malformed serialised state names the field at fault', () => {
    expect(() => deserializeMemoryState({ format: 'other' } as unknown as SerializedMemoryState)).toThrow(/unknown format "other"/);
    const broken = { format: 'titans-memory-state/v1', position: 0, weights: [{ shape: [2] }], momentum: [], pending: null, convCache: null } as unknown as SerializedMemoryState;
    expect(() => deserializeMemoryState(broken)).toThrow(/weights\[0\] is not a serialised tensor/);
  });
});

