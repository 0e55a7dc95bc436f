// The random-program property of @titans/tensor run on WebGPU against the CPU: the same
// programs (3-8 public ops, shapes with size 0, size 1 and odd sizes, transposed, sliced and
// broadcast input views) in float32 on both backends, forward values and first derivatives.
// A smaller budget than the CPU suite (SwiftShader compiles a pipeline per new kernel).
//   TITANS_PROPERTY_SEED=7 TITANS_PROPERTY_RUNS=4 npx vitest run test/property.test.ts
import { cpuBackend, gradients, sum, mul, type Backend, type Tensor } from '@titans/tensor';
import { allclose } from '@titans/test-utils';
import { afterAll, beforeAll, describe, test } from 'vitest';
import {
  ALL_OPS, describeProgram, fc, programArbitrary, programInputs, propertyParameters, runProgram, type Program,
} from '../../tensor/test/property/programs.js';
import type { WebGPUBackend } from '../src/index.js';
import { makeBackend } from './helpers.js';

let gpu: WebGPUBackend;
beforeAll(async () => {
  gpu = await makeBackend();
});
afterAll(() => gpu?.destroy());

/** The program's output and the gradients of sum(output * w) for a fixed w, read back. */
async function evaluate(p: Program, backend: Backend, withGrad: boolean): Promise<Float64Array[]> {
  const [x, y] = programInputs(p, 'float32', backend);
  x!.requiresGrad = withGrad;
  y!.requiresGrad = withGrad;
  const out: Tensor = runProgram(p, x!, y!);
  const results = [Float64Array.from(await out.data())];
  if (withGrad && out.requiresGrad) {
    const w = programInputs({ ...p, shape: out.shape, layouts: ['contiguous', 'contiguous'], seed: p.seed + 1 }, 'float32', backend)[0]!;
    for (const g of gradients(sum(mul(out, w)), [x!, y!])) results.push(Float64Array.from(await g.data()));
  }
  return results;
}

function property(name: string, runs: number, withGrad: boolean): void {
  const params = propertyParameters(runs);
  test(`${name} (seed ${params.seed}, ${params.numRuns} programs)`, async () => {
    await fc.assert(
      fc.asyncProperty(programArbitrary({ ops: withGrad ? undefined : ALL_OPS, maxDim: 4 }), async (p) => {
        const actual = await evaluate(p, gpu, withGrad);
        const expected = await evaluate(p, cpuBackend, withGrad);
        const what = ['output', 'gradient of input 0', 'gradient of input 1'];
        if (actual.length !== expected.length) throw new Error(`WebGPU gave ${actual.length} results, the CPU ${expected.length}\n${describeProgram(p)}`);
        expected.forEach((e, i) => {
          const r = allclose(actual[i]!, e, { rtol: 2e-3, atol: 2e-4, equalNan: true });
          if (!r.ok) throw new Error(`${what[i]}: WebGPU vs CPU: ${r.message}\nprogram:\n${describeProgram(p)}`);
        });
      }),
      { ...params, includeErrorInReport: true },
    );
  }, 300_000);
}

describe('random programs: WebGPU agrees with the CPU', () => {
  property('forward values, every op', 25, false);
  property('forward values and first derivatives, smooth ops', 20, true);
});
