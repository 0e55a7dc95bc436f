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

type Order = 0 | 1 | 2;

/** A fixed random tensor of `shape` (the cotangent w, the direction v). */
function fixed(p: Program, shape: readonly number[], salt: number, backend: Backend): Tensor {
  return programInputs({ ...p, shape, layouts: ['contiguous', 'contiguous'], seed: p.seed + salt }, 'float32', backend)[0]!;
}

/**
 * The program's output, the gradients of L = sum(output * w) for a fixed w (order >= 1) and
 * the gradients of sum(grad L . v) for fixed v (order 2: grad of grad), read back.
 */
async function evaluate(p: Program, backend: Backend, order: Order): Promise<Float64Array[]> {
  const [x, y] = programInputs(p, 'float32', backend);
  x!.requiresGrad = order > 0;
  y!.requiresGrad = order > 0;
  const out: Tensor = runProgram(p, x!, y!);
  const results = [Float64Array.from(await out.data())];
  if (order === 0 || !out.requiresGrad) return results;
  const loss = sum(mul(out, fixed(p, out.shape, 1, backend)));
  const grads = gradients(loss, [x!, y!], { createGraph: order === 2 });
  for (const g of grads) results.push(Float64Array.from(await g.data()));
  if (order === 2) {
    const s = grads.map((g, i) => sum(mul(g, fixed(p, g.shape, 2 + i, backend)))).reduce((a, b) => a.add(b));
    if (s.requiresGrad) for (const h of gradients(s, [x!, y!])) results.push(Float64Array.from(await h.data()));
  }
  return results;
}

function property(name: string, runs: number, order: Order): void {
  const params = propertyParameters(runs);
  test(`${name} (seed ${params.seed}, ${params.numRuns} programs)`, async () => {
    await fc.assert(
      fc.asyncProperty(programArbitrary({ ops: order === 0 ? ALL_OPS : undefined, maxDim: order === 2 ? 3 : 4, maxSteps: order === 2 ? 6 : 8 }), async (p) => {
        const actual = await evaluate(p, gpu, order);
        const expected = await evaluate(p, cpuBackend, order);
        const what = ['output', 'gradient of input 0', 'gradient of input 1', 'second derivative (input 0)', 'second derivative (input 1)'];
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
  property('forward values, every op', 25, 0);
  property('forward values and first derivatives, smooth ops', 20, 1);
  property('second derivatives (grad of grad), smooth ops', 8, 2);
});
