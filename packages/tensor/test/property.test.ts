// Property-based tests: random programs of 3-8 public ops over random shapes (size 0, size 1,
// odd sizes) and input layouts (contiguous, transposed, sliced, broadcast views), checked for
// first and second derivatives against float64 finite differences and float32 against
// float64. fast-check shrinks a failure to a minimal program, printed as code.
//
// CI runs a fixed seed; for a longer local run:
//   TITANS_PROPERTY_SEED=7 TITANS_PROPERTY_RUNS=20 npx vitest run test/property.test.ts
// (RUNS multiplies every property's run count).
import { cpuBackend, gradients, mul, noGrad, sum, tidy, type Tensor } from '@titans/tensor';
import { allclose, checkGradients, checkSecondDerivatives } from '@titans/test-utils';
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import {
  ALL_OPS, describeProgram, programArbitrary, programInputs, propertyParameters, runProgram, type Program,
} from './property/programs.js';

/** Runs a property; a failure names the shrunk program. */
function check(name: string, arbitrary: fc.Arbitrary<Program>, runs: number, body: (p: Program) => void): void {
  const params = propertyParameters(runs);
  test(`${name} (seed ${params.seed}, ${params.numRuns} programs)`, () => {
    fc.assert(
      fc.property(arbitrary, (p) => {
        try {
          tidy(() => body(p));
        } catch (error) {
          if (fc.PreconditionFailure.isFailure(error)) throw error;
          throw new Error(`${(error as Error).message}\nprogram:\n${describeProgram(p)}`);
        }
      }),
      { ...params, includeErrorInReport: true },
    );
  }, 120_000);
}

function finiteOutput(p: Program, inputs: Tensor[]): boolean {
  return noGrad(() => runProgram(p, inputs[0]!, inputs[1]!).dataSync().every(Number.isFinite));
}

describe('random programs', () => {
  check('first derivatives agree with float64 finite differences', programArbitrary(), 150, (p) => {
    const inputs = programInputs(p, 'float64', cpuBackend);
    // A non-finite output (logsumexp over an empty axis is -Inf) has no finite differences.
    fc.pre(finiteOutput(p, inputs));
    checkGradients((x, y) => runProgram(p, x!, y!), inputs, { rtol: 1e-5, atol: 1e-6 });
  });

  check('second derivatives agree with finite differences of the first', programArbitrary({ maxSteps: 6, maxDim: 3 }), 60, (p) => {
    const inputs = programInputs(p, 'float64', cpuBackend);
    fc.pre(finiteOutput(p, inputs));
    checkSecondDerivatives((x, y) => runProgram(p, x!, y!), inputs, { rtol: 1e-4, atol: 1e-5 });
  });

  check('float32 agrees with float64 (every op, kinks included)', programArbitrary({ ops: ALL_OPS }), 300, (p) => {
    const [x64, y64] = programInputs(p, 'float64', cpuBackend);
    const [x32, y32] = programInputs(p, 'float32', cpuBackend);
    const { reference, actual } = noGrad(() => ({
      reference: runProgram(p, x64!, y64!),
      actual: runProgram(p, x32!, y32!),
    }));
    expect(actual.dtype).toBe('float32');
    expect(actual.shape).toEqual(reference.shape);
    const result = allclose(actual, reference, { rtol: 2e-3, atol: 2e-4, equalNan: true });
    if (!result.ok) throw new Error(`float32 vs float64: ${result.message}`);
  });

  check('float32 gradients agree with float64 gradients', programArbitrary(), 150, (p) => {
    const grads = (dtype: 'float32' | 'float64'): Float64Array[] => {
      const [x, y] = programInputs(p, dtype, cpuBackend);
      x!.requiresGrad = true;
      y!.requiresGrad = true;
      const out = runProgram(p, x!, y!);
      const w = programInputs({ ...p, shape: out.shape, layouts: ['contiguous', 'contiguous'], seed: p.seed + 1 }, dtype, cpuBackend)[0]!;
      return gradients(sum(mul(out, w)), [x!, y!]).map((g) => Float64Array.from(g.dataSync()));
    };
    const reference = grads('float64');
    fc.pre(reference.every((g) => g.every(Number.isFinite)));
    grads('float32').forEach((g, i) => {
      const result = allclose(g, reference[i]!, { rtol: 5e-3, atol: 5e-4 });
      if (!result.ok) throw new Error(`float32 vs float64 gradient of input ${i}: ${result.message}`);
    });
  });
});

describe('the program generator', () => {
  test('covers size 0, size 1, odd sizes and every layout within the CI runs', () => {
    const programs = fc.sample(programArbitrary({ ops: ALL_OPS }), { seed: propertyParameters(1).seed, numRuns: 200 });
    const dims = new Set(programs.flatMap((p) => p.shape));
    for (const d of [0, 1, 3, 5]) expect(dims.has(d)).toBe(true);
    const layouts = new Set(programs.flatMap((p) => p.layouts));
    expect(layouts.size).toBe(4);
    const used = new Set(programs.flatMap((p) => p.steps.map((s) => s.op)));
    expect(ALL_OPS.filter((op) => !used.has(op))).toEqual([]);
  });

  test('a failing property shrinks to a small program and prints it', () => {
    // A deliberately false property: no program ends in a scalar.
    const params = { seed: 1, numRuns: 200 };
    let message = '';
    try {
      fc.assert(fc.property(programArbitrary({ ops: ALL_OPS }), (p) => {
        const [x, y] = programInputs(p, 'float32', cpuBackend);
        const out: Tensor = noGrad(() => runProgram(p, x!, y!));
        if (out.ndim === 0) throw new Error(`scalar output\n${describeProgram(p)}`);
      }), { ...params, includeErrorInReport: true });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toMatch(/Shrunk \d+ time/);
    expect(message).toMatch(/scalar output/);
    expect(message).toMatch(/v2 = /);
  });
});
