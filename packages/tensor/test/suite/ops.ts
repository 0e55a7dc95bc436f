// The op suite as reusable functions: packages/tensor runs it on the CPU backend in
// float64 (finite-difference checks); packages/webgpu runs the same bodies on its backend
// in float32 with small shapes, comparing forward values with the plain-JS references and
// gradients with the CPU backend.
import { describe, expect, test } from 'vitest';
import * as ops from '@titans/tensor';
import {
  Tensor, cpuBackend, gradients, grad, hvp, tensor, tidy, valueAndGrad, vjp, type Backend, type DType,
} from '@titans/tensor';
import {
  allclose, checkAgainstBackend, checkGradients, checkSecondDerivatives, readValues,
} from '@titans/test-utils';
import { attentionVariants, opCases, secondOrderCases, type OpCase } from './cases.js';
import { makeInputs } from './inputs.js';
import { arr, type Arr } from './reference.js';

export interface SuiteOptions {
  /** The backend stores float64: check gradients by finite differences in float64. */
  float64: boolean;
  /** Small shapes and fewer variants (slow emulated devices). */
  small?: boolean;
}

/** A stable per-name seed, so each case always sees the same inputs. */
export function seedOf(name: string): number {
  let h = 2166136261;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 16777619) >>> 0;
  return h;
}

async function toArr(t: Tensor): Promise<Arr> {
  return arr(await readValues(t), t.shape);
}

/** Closeness with an absolute tolerance relative to the largest expected magnitude. */
export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, rtol: number, atol: number, label: string): void {
  let scale = 1;
  for (let i = 0; i < expected.length; i++) if (Number.isFinite(expected[i]!)) scale = Math.max(scale, Math.abs(expected[i]!));
  const result = allclose(Float64Array.from(actual), Float64Array.from(expected), { rtol, atol: atol * scale, equalNan: true });
  if (!result.ok) throw new Error(`${label}: ${result.message}`);
}

function tolerances(float64: boolean): { rtol: number; atol: number } {
  return float64 ? { rtol: 1e-9, atol: 1e-10 } : { rtol: 2e-4, atol: 2e-5 };
}

async function checkForward(c: OpCase, inputs: Tensor[], float64: boolean): Promise<void> {
  if (!c.reference) return;
  const out = tidy(() => c.f(...inputs));
  try {
    const expected = c.reference(...(await Promise.all(inputs.map(toArr))));
    expect([...out.shape], `${c.name}: output shape`).toEqual(expected.shape);
    const { rtol, atol } = tolerances(float64);
    expectClose(await readValues(out), expected.data, rtol, atol, `${c.name}: forward values vs the plain-JS reference`);
  } finally {
    out.dispose();
  }
}

export function defineOpSuite(getBackend: () => Backend, options: SuiteOptions): void {
  const small = options.small ?? false;
  const dtype: DType = options.float64 ? 'float64' : 'float32';

  describe('ops: forward values and first derivatives', () => {
    for (const c of opCases({ small })) {
      test(c.name, async () => {
        const inputs = makeInputs(c.inputs, dtype, getBackend(), seedOf(c.name));
        try {
          await checkForward(c, inputs, options.float64);
          if (c.grads === false) return;
          if (options.float64) checkGradients(c.f, inputs, c.fd ?? {});
          else await checkAgainstBackend(c.f, inputs, { reference: cpuBackend });
        } finally {
          inputs.forEach((t) => t.dispose());
        }
      });
    }
  });

  describe('ops: second derivatives (grad of grad)', () => {
    for (const c of secondOrderCases({ small })) {
      test(c.name, async () => {
        const inputs = makeInputs(c.inputs, dtype, getBackend(), seedOf(c.name));
        try {
          if (options.float64) checkSecondDerivatives(c.f, inputs, c.fd ?? {});
          else await checkAgainstBackend(c.f, inputs, { reference: cpuBackend, secondOrder: true, rtol: 2e-3 });
        } finally {
          inputs.forEach((t) => t.dispose());
        }
      });
    }
  });

  describe('ops: fused attention matches the composite form', () => {
    for (const variant of attentionVariants(small)) {
      test(variant.name, async () => {
        const [q, k, v] = makeInputs([{ shape: variant.q }, { shape: variant.k }, { shape: variant.v }], dtype, getBackend(), seedOf(variant.name));
        const results = tidy(() => {
          const loss = (f: typeof ops.attention) => (x: Tensor[]): Tensor => {
            const out = f(x[0]!, x[1]!, x[2]!, variant.options);
            return ops.sum(ops.mul(out, ops.cos(ops.reshape(ops.arange(0, out.size, 1, { dtype }), out.shape))));
          };
          const fused = valueAndGrad(loss(ops.attention))([q!, k!, v!]);
          const naive = valueAndGrad(loss(ops.naiveAttention))([q!, k!, v!]);
          return [fused[0], ...fused[1], naive[0], ...naive[1]];
        });
        const values = await Promise.all(results.map((t) => readValues(t)));
        const tol = options.float64 ? { rtol: 1e-10, atol: 1e-12 } : { rtol: 1e-3, atol: 1e-5 };
        ['loss', 'dq', 'dk', 'dv'].forEach((label, i) => expectClose(values[i]!, values[i + 4]!, tol.rtol, tol.atol, `fused vs naive ${label}`));
        [...results, q!, k!, v!].forEach((t) => t.dispose());
      });
    }
  });

  describe('autograd transforms', () => {
    const tol = options.float64 ? { rtol: 1e-10, atol: 1e-12 } : { rtol: 1e-4, atol: 1e-5 };
    const close = async (actual: Tensor, expected: readonly number[] | number, label: string): Promise<void> => {
      expectClose(await readValues(actual), typeof expected === 'number' ? [expected] : expected, tol.rtol, tol.atol, label);
    };
    const t = (values: number[] | number, shape?: number[]): Tensor => tensor(typeof values === 'number' ? [values] : values, shape ?? (typeof values === 'number' ? [] : [values.length]), { dtype });

    test('grad(grad(f)) of a scalar function matches the analytic second derivative', async () => {
      const f = (x: Tensor): Tensor => ops.add(ops.pow(x, 3), ops.sin(x));
      const d2 = grad(grad(f));
      const x = 0.7;
      await close(d2(t(x)), 6 * x - Math.sin(x), "f''(x) of x^3 + sin x");
      await close(grad(grad(grad((y: Tensor) => ops.pow(y, 4))))(t(1.5)), 24 * 1.5, "f'''(x) of x^4");
    });

    test('hvp equals the analytic Hessian-vector product', async () => {
      // f(x) = (x.x)^2: H = 4 (x.x) I + 8 x x^T.
      const xs = [0.3, -1.2, 0.5];
      const vs = [1, 0.5, -2];
      const s = xs.reduce((a, x) => a + x * x, 0);
      const xv = xs.reduce((a, x, i) => a + x * vs[i]!, 0);
      const expected = xs.map((x, i) => 4 * s * vs[i]! + 8 * x * xv);
      await close(hvp((x) => ops.square(ops.sum(ops.square(x))), t(xs), t(vs)), expected, 'hvp');
    });

    test('vjp maps a cotangent through the function', async () => {
      const [out, back] = vjp((x: Tensor) => ops.mul(x, x), t([1, -2, 3]));
      await close(out, [1, 4, 9], 'vjp output');
      await close(back(t([1, 10, 100])), [2, -40, 600], 'vjp cotangent');
    });

    test('valueAndGrad over a tree of parameters', async () => {
      const params = { w: t([1, 2, 3, 4], [2, 2]), b: t([0.5, -0.5]) };
      const x = t([1, 2], [1, 2]);
      const [value, grads] = valueAndGrad((p: { w: Tensor; b: Tensor }) => ops.sum(ops.square(ops.add(ops.matmul(x, p.w), p.b))))(params);
      // y = x w + b = [7.5, 9.5]; dL/dy = 2y; dL/dw = x^T 2y; dL/db = 2y.
      await close(value, 7.5 ** 2 + 9.5 ** 2, 'value');
      await close(grads.w, [15, 19, 30, 38], 'dL/dw');
      await close(grads.b, [15, 19], 'dL/db');
    });

    test('gradients accumulate over repeated uses and give zeros for unused inputs', async () => {
      const x = t([1, 2, 3]);
      const unused = t([5, 5]);
      x.requiresGrad = true;
      unused.requiresGrad = true;
      const [gx, gu] = gradients(ops.sum(ops.add(ops.mul(x, x), ops.mul(x, 3))), [x, unused]);
      await close(gx!, [5, 7, 9], 'd/dx (x^2 + 3x)');
      await close(gu!, [0, 0], 'unused input');
    });

    test('gradOutput seeds a non-scalar output; createGraph records the backward pass', async () => {
      const x = t([0.5, 1.5]);
      x.requiresGrad = true;
      const y = ops.exp(x);
      const [g] = gradients(y, [x], { gradOutput: t([2, 3]), createGraph: true });
      await close(g!, [2 * Math.exp(0.5), 3 * Math.exp(1.5)], 'vjp of exp');
      expect(g!.requiresGrad).toBe(true);
      const [gg] = gradients(ops.sum(g!), [x]);
      await close(gg!, [2 * Math.exp(0.5), 3 * Math.exp(1.5)], 'd/dx of the recorded gradient');
    });

    test('gradients flow through views into the base tensor', async () => {
      const x = t([1, 2, 3, 4, 5, 6], [2, 3]);
      const g = grad((y: Tensor) => ops.sum(ops.mul(ops.narrow(y.T, 0, 1, 2), t([1, 10], [1, 2]))))(x);
      await close(g, [0, 1, 1, 0, 10, 10], 'gradient through transpose + narrow');
    });

    test('noGrad records nothing', () => {
      const x = t([1, 2]);
      x.requiresGrad = true;
      const y = ops.noGrad(() => ops.mul(x, 2));
      expect(y.requiresGrad).toBe(false);
      expect(y.node).toBe(null);
    });
  });
}
