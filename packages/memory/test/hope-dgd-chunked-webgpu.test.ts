// The chunk-parallel DGD of a linear memory (dgdChunked) on WebGPU against the CPU backend
// (float32 both), on odd sizes, a partial last chunk, one token and no tokens: outputs, the
// carried weights and outer-loop gradients. Runs on SwiftShader here; without an adapter the
// test fails, never skips.
import { describe, it } from 'vitest';
import { Rng, type Tensor } from '@titans/tensor';
import { dgdChunked, linearArchitecture, type DgdInputs } from '../src/index.js';
import { outerGrads } from './helpers.js';
import { expectSameOutputs, host, runOn, useWebGPUBackend, type HostTensors } from './webgpu.js';



function problem(lead: number[], tokens: number, dim: number, seed: number): HostTensors {
  const rng = new Rng(seed);
  const rows = [...lead, tokens, dim];
  return {
    k: host(rng.normal(rows, 0, 0.6)), v: host(rng.normal(rows)), q: host(rng.normal(rows)),
    eta: host(rng.uniform([...lead, tokens], 0.02, 0.3)), alpha: host(rng.uniform([...lead, tokens], 0.6, 1)),
    W: host(rng.normal([lead[lead.length - 1]!, dim, dim], 0, 1 / Math.sqrt(dim))),
  };
}

const chunked = (chunk: number, withGrads: boolean) => (x: Record<string, Tensor>): Record<string, Tensor> => {
  const forward = (v: Record<string, Tensor>): ReturnType<typeof dgdChunked> => dgdChunked(linearArchitecture(), v as unknown as DgdInputs, { weights: [v.W!], position: 0 }, chunk);
  const out = forward(x);
  const result: Record<string, Tensor> = { yPre: out.yPre, yPost: out.yPost, weights: out.state.weights[0]! };
  if (withGrads) Object.assign(result, outerGrads(forward, x));
  return result;
};

describe('chunked DGD on WebGPU vs the CPU (float32)', () => {
  const backend = useWebGPUBackend();

  for (const [name, lead, tokens, dim, chunk] of [
    ['19 tokens in chunks of 8, lead [2, 3], d 5', [2, 3], 19, 5, 8], ['one token', [1], 1, 3, 4], ['no tokens', [2], 0, 4, 4],
  ] as const) {
    it(name, async () => {
      const p = problem([...lead], tokens, dim, name.length);
      const cpu = await runOn(p, undefined, chunked(chunk, tokens > 0));
      const gpu = await runOn(p, backend(), chunked(chunk, tokens > 0));
      expectSameOutputs(cpu, gpu);
    });
  }
});
