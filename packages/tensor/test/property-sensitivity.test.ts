// The property suite is not vacuous: with the composite-backward defect of issue 24 put back
// (a composite rule differentiating at its inputs instead of fresh aliases, so attention(x,
// x, x) returned the total gradient to each slot under createGraph), the second-derivative
// property fails and shrinks to a program that uses self-attention. (Its own file: vitest
// isolates test files, so the broken rule never reaches another suite.)
import { cpuBackend, gradients, setVjpImpl, vjp, type Tensor } from '@titans/tensor';
import { checkSecondDerivatives } from '@titans/test-utils';
import { describe, expect, test } from 'vitest';
import { describeProgram, fc, programArbitrary, programInputs, runProgram } from './property/programs.js';

describe('the second-derivative property finds the attention defect', () => {
  test('and passes again with the correct rule', () => {
    const property = fc.property(programArbitrary({ ops: ['attentionSelf', 'tanh', 'sin', 'add', 'sum'], maxDim: 3 }), (p) => {
      try {
        checkSecondDerivatives((x, y) => runProgram(p, x!, y!), programInputs(p, 'float64', cpuBackend), { rtol: 1e-4, atol: 1e-5 });
      } catch (error) {
        throw new Error(`${(error as Error).message}\n${describeProgram(p)}`);
      }
    });
    // The defect: gradients taken at the inputs themselves.
    setVjpImpl((f, inputs, g) => gradients(f(...inputs), inputs, { gradOutput: g, createGraph: true }));
    const broken = fc.check(property, { seed: 5, numRuns: 100 });
    expect(broken.failed).toBe(true);
    const shrunk = broken.counterexample![0];
    expect(shrunk.steps.some((s) => s.op === 'attentionSelf')).toBe(true);
    // The fix: one alias per argument slot (the public vjp does that).
    setVjpImpl((f, inputs, g) => vjp((xs: Tensor[]) => f(...xs), inputs)[1](g));
    expect(fc.check(property, { seed: 5, numRuns: 100 }).failed).toBe(false);
  }, 120_000);
});
