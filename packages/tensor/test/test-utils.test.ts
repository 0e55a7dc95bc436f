// The test utilities themselves: a checker that cannot fail proves nothing.
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import * as ops from '@titans/tensor';
import { cpuBackend, tensor, type Tensor } from '@titans/tensor';
import {
  allclose, sameBits, checkAgainstBackend, checkGradients, checkSecondDerivatives, goldenDir, goldenTensor, hasGoldenNeuralMemory,
  listGoldenNeuralMemory, loadAllGoldenNeuralMemory, loadGoldenNeuralMemory, spotCheckGradients, testBackends,
} from '@titans/test-utils';

describe('sameBits', () => {
  test('Object.is per element: -0 differs from 0, NaN equals NaN; the first difference is named', () => {
    expect(sameBits(new Float32Array([1, NaN, -0]), [1, NaN, -0]).ok).toBe(true);
    const zero = sameBits(new Float32Array([1, 0, 2, 3]), new Float32Array([1, -0, 2, 4]));
    expect(zero).toEqual({ ok: false, differing: 2, first: 1, message: '2 of 4 elements differ, the first at 1: 0 vs -0' });
    expect(sameBits([1 + 2 ** -52], [1]).ok).toBe(false);
  });

  test('shapes and sizes first', () => {
    expect(sameBits(tensor([1, 2, 3, 4], [2, 2]), [1, 2, 3, 4]).message).toBe('shape mismatch: actual [2, 2] vs expected [4]');
    expect(sameBits(new Float64Array(2), new Float64Array(3)).message).toBe('size mismatch: actual has 2 elements, expected 3');
    expect(sameBits(tensor([1, 2, 3, 4], [2, 2]), new Float32Array([1, 2, 3, 4])).ok).toBe(true);
  });
});

describe('allclose and toBeAllclose', () => {
  test('NumPy semantics: atol + rtol * |expected|', () => {
    expect(allclose([1, 2], [1 + 1e-6, 2], { rtol: 1e-5 }).ok).toBe(true);
    expect(allclose([1e-9], [0], { atol: 1e-8 }).ok).toBe(true);
    expect(allclose([1e-7], [0], { atol: 1e-8 }).ok).toBe(false);
    expect(allclose([NaN], [NaN]).ok).toBe(false);
    expect(allclose([NaN], [NaN], { equalNan: true }).ok).toBe(true);
    expect(allclose([Infinity, -Infinity], [Infinity, -Infinity]).ok).toBe(true);
  });

  test('shapes are compared when both sides have one; a number broadcasts', () => {
    expect(allclose(tensor([1, 2, 3, 4], [2, 2]), [[1, 2], [3, 4]]).ok).toBe(true);
    expect(allclose(tensor([1, 2, 3, 4], [2, 2]), [1, 2, 3, 4]).message).toBe('shape mismatch: actual [2, 2] vs expected [4]');
    expect(allclose(tensor([1, 2, 3, 4], [2, 2]), new Float32Array([1, 2, 3, 4])).ok).toBe(true);
    expect(allclose(tensor([0, 0, 0], [3]), 0).ok).toBe(true);
    expect(allclose([1, 2], [1, 2, 3]).message).toBe('shape mismatch: actual [2] vs expected [3]');
    expect(allclose(new Float64Array(2), new Float64Array(3)).message).toBe('size mismatch: actual has 2 elements, expected 3');
  });

  test('the failure message names the worst element with its index', () => {
    const result = allclose(tensor([1, 2, 3, 4], [2, 2]), [[1, 2], [3, 4.5]], { rtol: 0, atol: 0.1 });
    expect(result.ok).toBe(false);
    expect(result.message).toContain('1 of 4 elements differ');
    expect(result.message).toContain('worst at [1, 1] (flat 3): actual 4 vs expected 4.5');
    expect(() => expect(tensor([1, 2])).toBeAllclose([1, 3])).toThrow(/expected values to be allclose: 1 of 2 elements differ/);
    expect(tensor([1, 2])).not.toBeAllclose([1, 3]);
  });
});

describe('gradient checks', () => {
  const x = (): Tensor => tensor([0.3, -0.7, 1.1], [3], { dtype: 'float64' });

  test('checkGradients passes a correct gradient and reports the error', () => {
    const report = checkGradients((t) => ops.mul(ops.sin(t), t), [x()]);
    expect(report.maxAbsError).toBeLessThan(1e-8);
    expect(report.inputs[0]!.analytic.length).toBe(3);
  });

  test('checkGradients catches a wrong gradient and names the input and element', () => {
    // x * detach(x) has value x^2 but autograd sees only one factor: gradient x instead of 2x.
    expect(() => checkGradients((t) => ops.mul(t, ops.detach(t)), [x()])).toThrow(/checkGradients: autograd \(actual\) disagrees with finite differences \(expected\):\n {2}input 0 \[3\]: 3 of 3 elements differ/);
  });

  test('checkGradients works from float32 inputs (checked in float64) and skips int32 inputs', () => {
    const table = tensor([1, 2, 3, 4, 5, 6], [3, 2]);
    const idx = tensor([2, 0], [2], { dtype: 'int32' });
    const report = checkGradients((t, i) => ops.square(ops.indexSelect(t, 0, i)), [table, idx]);
    expect(report.inputs.map((r) => r.index)).toEqual([0]);
  });

  test('checkSecondDerivatives catches a first derivative whose graph is wrong', () => {
    checkSecondDerivatives((t) => ops.pow(t, 3), [x()]);
    // Value x^3 and first derivative 3x^2 are right, but the derivative is a constant to autograd.
    const cubeWithFrozenSlope = (t: Tensor): Tensor => ops.add(ops.detach(ops.pow(t, 3)), ops.mul(ops.sub(t, ops.detach(t)), ops.detach(ops.mul(ops.square(t), 3))));
    checkGradients(cubeWithFrozenSlope, [x()]);
    expect(() => checkSecondDerivatives(cubeWithFrozenSlope, [x()])).toThrow(/checkSecondDerivatives: autograd \(actual\) disagrees/);
  });

  test('spotCheckGradients passes correct gradients and names a wrong one, or a tensor that takes no part', () => {
    const w = ops.nn.parameter(tensor([0.3, -0.7, 1.1], [3], { dtype: 'float64' }));
    const b = ops.nn.parameter(tensor([0.2, 0.4], [2], { dtype: 'float64' }));
    const named: [string, Tensor][] = [['w', w], ['b', b]];
    const right = (): Tensor => ops.add(ops.sum(ops.mul(ops.sin(w), w)), ops.sum(ops.square(b)));
    const grads = (loss: () => Tensor): Tensor[] => ops.gradients(loss(), [w, b]);
    spotCheckGradients(right, named, grads(right), { rng: new ops.Rng(1), elements: 3, nonZero: true });
    // w * detach(w) has value w^2 but autograd sees one factor: gradient w instead of 2w.
    const wrong = (): Tensor => ops.add(ops.sum(ops.mul(w, ops.detach(w))), ops.sum(ops.square(b)));
    expect(() => spotCheckGradients(wrong, named, grads(wrong), { rng: new ops.Rng(1) })).toThrow(/spotCheckGradients: w\[\d\]: autograd -?[\d.]+, finite differences/);
    // The values are restored after each probe.
    expect(Array.from(w.dataSync())).toEqual([0.3, -0.7, 1.1]);
    const unused = (): Tensor => ops.sum(ops.square(w));
    const zero = ops.gradients(ops.add(unused(), ops.mul(ops.sum(b), 0)), [w, b]);
    expect(() => spotCheckGradients(unused, named, zero, { rng: new ops.Rng(1), nonZero: true })).toThrow(/spotCheckGradients: b gets no gradient/);
    expect(() => spotCheckGradients(right, named, grads(right).slice(0, 1), { rng: new ops.Rng(1) })).toThrow(/2 tensors but 1 gradients/);
  });

  test('checkAgainstBackend compares float32 results with the float64 reference', async () => {
    const inputs = [tensor([0.5, -1, 2], [3]), tensor([[1, 2, 3], [4, 5, 6]], [2, 3])];
    await checkAgainstBackend((a, b) => ops.tanh(ops.matmul(b, a)), inputs, { reference: cpuBackend, secondOrder: true });
    // float32 rounding of a huge cancellation is caught at a tight tolerance.
    const big = [tensor([1e4 + 0.1234], [1])];
    await expect(checkAgainstBackend((a) => ops.sub(ops.square(a), 1e8), big, { rtol: 1e-9, atol: 1e-12 })).rejects.toThrow(/output: 1 of 1 elements differ/);
  });
});

describe('backend registry', () => {
  test('the CPU backend is always registered first, with float64', () => {
    const [first] = testBackends();
    expect(first!.name).toBe('cpu');
    expect(first!.float64).toBe(true);
    expect(first!.backend()).toBe(cpuBackend);
  });
});

describe('golden files', () => {
  const saved = process.env['TITANS_GOLDEN_DIR'];
  afterEach(() => {
    if (saved === undefined) delete process.env['TITANS_GOLDEN_DIR'];
    else process.env['TITANS_GOLDEN_DIR'] = saved;
  });

  test('the neural-memory golden files shipped with @titans/memory load as typed objects', () => {
    expect(hasGoldenNeuralMemory()).toBe(true);
    const names = listGoldenNeuralMemory();
    expect(names).toContain('mlp2-T16-b4-s1');
    const g = loadGoldenNeuralMemory('mlp2-T16-b4-s1');
    expect(g.name).toBe('mlp2-T16-b4-s1');
    expect([g.memory, g.dim, g.hidden, g.tokens, g.chunk]).toEqual(['mlp2', 4, 8, 16, 4]);
    expect(g.inputs.k).toHaveLength(16);
    expect(g.init['W1']).toHaveLength(8);
    expect(g.outer?.grads['P0.W2']).toHaveLength(4);
    expect(goldenTensor(g.inputs.theta).shape).toEqual([16]);
    expect(goldenTensor(g.outputs.y_pre).dtype).toBe('float64');
    const all = loadAllGoldenNeuralMemory((x) => x.tokens <= 16);
    expect(all.every((x) => x.outer !== undefined)).toBe(true);
  });

  test('TITANS_GOLDEN_DIR overrides the location; a wrong spec is rejected', () => {
    const dir = mkdtempSync(join(tmpdir(), 'golden-'));
    mkdirSync(join(dir, 'neural-memory'));
    writeFileSync(join(dir, 'neural-memory', 'bad.json'), JSON.stringify({ spec: 'neural-memory/v0', memory: 'linear' }));
    process.env['TITANS_GOLDEN_DIR'] = dir;
    expect(goldenDir()).toBe(dir);
    expect(listGoldenNeuralMemory()).toEqual(['bad']);
    expect(() => loadGoldenNeuralMemory('bad')).toThrow(/has spec "neural-memory\/v0", expected "neural-memory\/v1"/);
  });
});
