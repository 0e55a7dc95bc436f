// The Omega-rule memory's parallel form on WebGPU against the CPU backend on random shapes
// (odd sizes, one token, no tokens, windows wider than the chunk, Muon, polynomial features),
// float32 both, outputs and the carried state; and its outer-loop gradients (the surprise
// bound included). Runs on
// SwiftShader here; without an adapter the test fails, never skips.
import { describe, it } from 'vitest';
import { Rng, l2Normalize, tensor, tidy, type Backend, type Tensor } from '@titans/tensor';
import {
  expTaylorCoefficients, omegaInitialState, omegaParallel, omegaWeightShapes, type OmegaInputs, type OmegaRule,
} from '../src/index.js';
import { outerGrads } from './helpers.js';
import { expectSameOutputs, readBack, useWebGPUBackend } from './webgpu.js';

interface Problem { inputs: Record<string, Float32Array>; shapes: Record<string, number[]>; weights: { data: Float32Array; shape: number[] }[] }

function problem(rule: OmegaRule, lead: number[], tokens: number, dim: number, seed: number): Problem {
  const rng = new Rng(seed);
  const host = (x: Tensor): Float32Array => Float32Array.from(x.dataSync());
  const rows = [...lead, tokens, dim];
  const gateShape = [...lead, tokens];
  const inputs: Record<string, Float32Array> = {
    k: host(l2Normalize(rng.normal(rows), -1)), v: host(rng.normal(rows)), q: host(l2Normalize(rng.normal(rows), -1)),
    theta: host(rng.uniform(gateShape, 0.02, 0.2)), eta: host(rng.uniform(gateShape, 0.3, 0.9)), alpha: host(rng.uniform(gateShape, 0, 0.1)),
    gamma: host(rng.uniform([...lead, tokens, rule.window], 0.2, 1)),
  };
  const shapes: Record<string, number[]> = { k: rows, v: rows, q: rows, theta: gateShape, eta: gateShape, alpha: gateShape, gamma: [...lead, tokens, rule.window] };
  if (rule.feature.kind === 'poly') {
    inputs.coef = Float32Array.from(expTaylorCoefficients(rule.feature.degree));
    shapes.coef = [rule.feature.degree + 1];
  }
  if (rule.optimizer.kind === 'muon') {
    inputs.lr = host(rng.uniform(gateShape, 0.01, 0.1));
    shapes.lr = gateShape;
  }
  const heads = lead.length > 0 ? [lead[lead.length - 1]!] : [];
  const weights = omegaWeightShapes(rule, dim).map(([o, i]) => ({ data: host(rng.normal([...heads, o, i], 0, 1 / Math.sqrt(i))), shape: [...heads, o, i] }));
  return { inputs, shapes, weights };
}

/** Runs the problem on a backend; returns outputs, final state and (optionally) gradients as host arrays. */
async function run(rule: OmegaRule, p: Problem, backend: Backend | undefined, withGrads: boolean): Promise<Record<string, Float32Array>> {
  const opts = backend ? { backend } : {};
  const kept = tidy(() => {
    const values: Record<string, Tensor> = Object.fromEntries(Object.entries(p.inputs).map(([name, data]) => [name, tensor(data, p.shapes[name], opts)]));
    p.weights.forEach((w, l) => { values[`W${l}`] = tensor(w.data, w.shape, opts); });
    const forward = (x: Record<string, Tensor>): ReturnType<typeof omegaParallel> =>
      omegaParallel(rule, x as unknown as OmegaInputs, omegaInitialState(p.weights.map((_, l) => x[`W${l}`]!)));
    const out = forward(values);
    const result: Record<string, Tensor> = { yPre: out.yPre, yPost: out.yPost, loss: out.loss };
    out.state.weights.forEach((w, l) => { result[`weights${l}`] = w; });
    out.state.momentum.forEach((s, l) => { result[`momentum${l}`] = s; });
    if (withGrads) Object.assign(result, outerGrads(forward, values));
    return result;
  });
  return readBack(kept);
}

const MLP = { depth: 2, hidden: 6, activation: 'silu', residual: false, norm: false } as const;
const LINEAR = { depth: 1, hidden: 0, activation: 'silu', residual: false, norm: false } as const;
const base = { chunkSize: 4, feature: { kind: 'identity' }, optimizer: { kind: 'momentum' }, momentum: true, forgetting: true } as const;
const cases: [string, OmegaRule, number[], number, number][] = [
  ['linear, c 3, momentum, 13 tokens, lead [2, 3]', { ...base, architecture: LINEAR, window: 3 }, [2, 3], 13, 5],
  ['mlp, c 5 > chunk 3, poly 2, muon, 11 tokens', { ...base, architecture: MLP, window: 5, chunkSize: 3, feature: { kind: 'poly', degree: 2 }, optimizer: { kind: 'muon', nsSteps: 5 } }, [1, 2], 11, 3],
  // (Muon with a single token from zero momentum is invariant to theta's scale: d/d theta is
  // rounding noise on both backends, so the one-token case uses momentum.)
  ['mlp, c 2, momentum, one token', { ...base, architecture: MLP, window: 2 }, [3], 1, 4],
  ['linear, c 4, poly 1, no tokens', { ...base, architecture: LINEAR, window: 4, feature: { kind: 'poly', degree: 1 } }, [2], 0, 3],
  // The surprise bound (maxSurpriseNorm), on the OmegaNet shape and on the diagonal window.
  ['linear, c 4 > chunk 3, poly 2, momentum, no forgetting, bound 0.5, 13 tokens', { ...base, architecture: LINEAR, window: 4, chunkSize: 3, feature: { kind: 'poly', degree: 2 }, forgetting: false, maxSurpriseNorm: 0.5 }, [1, 2], 13, 3],
  ['mlp, c 1, momentum, bound 0.5, 9 tokens', { ...base, architecture: MLP, window: 1, maxSurpriseNorm: 0.5 }, [2], 9, 4],
];

describe('omega memory on WebGPU vs the CPU (float32, random shapes)', () => {
  const backend = useWebGPUBackend();

  for (const [name, rule, lead, tokens, dim] of cases) {
    it(name, async () => {
      const p = problem(rule, lead, tokens, dim, name.length);
      const withGrads = tokens > 0;
      const cpu = await run(rule, p, undefined, withGrads);
      const gpu = await run(rule, p, backend(), withGrads);
      expectSameOutputs(cpu, gpu);
    });
  }
});
