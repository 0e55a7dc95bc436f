// Hope's parts on WebGPU against the CPU backend (float32 both): Delta Gradient Descent,
// the Continuum Memory System and the self-modifying Titans recurrence, on odd sizes, one
// token and no tokens; outputs, the carried state and outer-loop gradients. Runs on
// SwiftShader here; without an adapter the test fails, never skips.
import { describe, it } from 'vitest';
import { Rng, gradients, l2Normalize, mul, sum, tensor, valueAndGrad, withBackend, type Backend, type Tensor } from '@titans/tensor';
import {
  ContinuumMemory, SELF_MODIFYING_MEMORIES, dgdScan, mlpArchitecture, selfModifyingScan, selfModifyingShapes,
  type DgdInputs, type SelfModifyingState,
} from '../src/index.js';
import { outerGrads } from './helpers.js';
import { expectSameOutputs, host, runOn, useWebGPUBackend, type HostTensors } from './webgpu.js';




const ARCH = mlpArchitecture(6, { depth: 2, residual: true, norm: false });

function dgdProblem(lead: number[], tokens: number, dim: number, seed: number): HostTensors {
  const rng = new Rng(seed);
  const rows = [...lead, tokens, dim];
  const heads = [lead[lead.length - 1]!];
  return {
    k: host(l2Normalize(rng.normal(rows), -1)), v: host(rng.normal(rows)), q: host(l2Normalize(rng.normal(rows), -1)),
    eta: host(rng.uniform([...lead, tokens], 0.05, 0.4)), alpha: host(rng.uniform([...lead, tokens], 0.85, 1)),
    W0: host(rng.normal([...heads, 6, dim], 0, 1 / Math.sqrt(dim))), W1: host(rng.normal([...heads, dim, 6], 0, 1 / Math.sqrt(6))),
  };
}

const dgd = (withGrads: boolean) => (x: Record<string, Tensor>): Record<string, Tensor> => {
  const forward = (v: Record<string, Tensor>): ReturnType<typeof dgdScan> => dgdScan(ARCH, v as unknown as DgdInputs, { weights: [v.W0!, v.W1!], position: 0 });
  const out = forward(x);
  const result: Record<string, Tensor> = { yPre: out.yPre, yPost: out.yPost, weights0: out.state.weights[0]!, weights1: out.state.weights[1]! };
  if (withGrads) Object.assign(result, outerGrads(forward, x));
  return result;
};

describe('Hope on WebGPU vs the CPU (float32)', () => {
  const backend = useWebGPUBackend();

  for (const [name, lead, tokens, dim] of [['dgd, 7 tokens, lead [2, 3], d 5', [2, 3], 7, 5], ['dgd, one token', [1], 1, 3], ['dgd, no tokens', [2], 0, 4]] as const) {
    it(name, async () => {
      const p = dgdProblem([...lead], tokens, dim, name.length);
      expectSameOutputs(await runOn(p, undefined, dgd(tokens > 0)), await runOn(p, backend(), dgd(tokens > 0)));
    });
  }

  it('continuum memory system: periods 1/3/4 over 9 tokens, outputs, weights and gradients', async () => {
    const x = { x: host(new Rng(3).normal([2, 9, 5])) };
    const make = (b: Backend | undefined): ContinuumMemory => {
      const build = (): ContinuumMemory => new ContinuumMemory(5, { periods: [1, 3, 4], hidden: 7, lrMax: [0.2, 0.1, 0.05], seed: 4 });
      return b ? withBackend(b, build) : build();
    };
    const cms = (m: ContinuumMemory) => (v: Record<string, Tensor>): Record<string, Tensor> => {
      const out = m.forward(v.x!);
      const result: Record<string, Tensor> = { output: out.output };
      out.state.levels.forEach((l, i) => { result[`level${i}.w1`] = l.weights[0]; });
      const [, grads] = valueAndGrad((p: Tensor[]) => {
        const o = m.forward(p[0]!).output;
        return sum(mul(o, o));
      })([v.x!]);
      const o = m.forward(v.x!).output;
      const named = m.namedParameters();
      gradients(sum(mul(o, o)), named.map(([, t]) => t)).forEach((g, i) => { result[`grad.${named[i]![0]}`] = g; });
      result['grad.x'] = grads[0]!;
      return result;
    };
    const cpuModel = make(undefined);
    const gpuModel = make(backend());
    expectSameOutputs(await runOn(x, undefined, cms(cpuModel)), await runOn(x, backend(), cms(gpuModel)));
  });

  it('self-modifying Titans: 6 tokens, 2 heads of 4, outputs, memories and gradients', async () => {
    const rng = new Rng(5);
    const shapes = selfModifyingShapes(4, 5);
    const p: HostTensors = { x: host(l2Normalize(rng.normal([1, 2, 6, 4]), -1)), q: host(l2Normalize(rng.normal([1, 2, 6, 4]), -1)), etaBias: host(tensor([0, -1], [2, 1, 1])), alphaBias: host(tensor([2, 3], [2, 1, 1])) };
    for (const n of SELF_MODIFYING_MEMORIES) shapes[n].forEach(([o, i], l) => { p[`${n}${l}`] = host(rng.normal([2, o, i], 0, 1 / Math.sqrt(i))); });
    const fn = (v: Record<string, Tensor>): Record<string, Tensor> => {
      const forward = (w: Record<string, Tensor>): ReturnType<typeof selfModifyingScan> => {
        const weights = Object.fromEntries(SELF_MODIFYING_MEMORIES.map((n) => [n, shapes[n].map((_, l) => w[`${n}${l}`]!)]));
        return selfModifyingScan(5, 0.5, { x: w.x!, q: w.q!, etaBias: w.etaBias!, alphaBias: w.alphaBias! }, { weights: weights as unknown as SelfModifyingState['weights'], position: 0 });
      };
      const out = forward(v);
      const result: Record<string, Tensor> = { y: out.y, memory0: out.state.weights.memory[0]!, eta0: out.state.weights.eta[0]! };
      const [, grads] = valueAndGrad((w: Record<string, Tensor>) => {
        const y = forward(w).y;
        return sum(mul(y, y));
      })(v);
      for (const [name, g] of Object.entries(grads)) result[`grad.${name}`] = g;
      return result;
    };
    expectSameOutputs(await runOn(p, undefined, fn), await runOn(p, backend(), fn));
  });
});
