// nn modules: parameters as a named tree, state dicts, and every layer's shapes and gradients.
import { describe, expect, test } from 'vitest';
import * as ops from '@titans/tensor';
import { Rng, gradients, nn, tensor, tidy, type Tensor } from '@titans/tensor';
import { checkParameterGradients } from '@titans/test-utils';

const f64 = { dtype: 'float64' } as const;

class Block extends nn.Module {
  readonly norm = new nn.RMSNorm(4, 1e-6, f64);
  readonly layers = [new nn.Linear(4, 6, { rng: new Rng(1), ...f64 }), new nn.Linear(6, 4, { rng: new Rng(2), bias: false, ...f64 })];
  readonly drop = new nn.Dropout(0.5, 7);
  forward(x: Tensor): Tensor {
    return this.drop.forward(this.layers[1]!.forward(ops.silu(this.layers[0]!.forward(this.norm.forward(x)))));
  }
}

class Model extends nn.Module {
  readonly embed = new nn.Embedding(10, 4, { rng: new Rng(3), std: 0.5, ...f64 });
  readonly block = new Block();
  readonly head: nn.Linear;
  constructor(seed: number) {
    super();
    this.head = new nn.Linear(4, 10, { rng: new Rng(seed), ...f64 });
  }
  forward(ids: Tensor): Tensor {
    return this.head.forward(this.block.forward(this.embed.forward(ids)));
  }
}

const ids = (): Tensor => tensor([[1, 2, 3], [4, 2, 9]], [2, 3], { dtype: 'int32' });

describe('Module', () => {
  test('named parameters walk fields, child modules and arrays in order', () => {
    const model = new Model(5);
    expect(model.namedParameters().map(([n]) => n)).toEqual([
      'embed.weight', 'block.norm.weight', 'block.layers.0.weight', 'block.layers.0.bias', 'block.layers.1.weight', 'head.weight', 'head.bias',
    ]);
    expect(model.parameterCount()).toBe(40 + 4 + 24 + 6 + 24 + 40 + 10);
    expect(model.parameters().every((p) => p.requiresGrad && p.isParameter)).toBe(true);
  });

  test('train() and eval() reach every submodule', () => {
    const model = new Model(5);
    expect(model.modules().every((m) => m.training)).toBe(true);
    model.eval();
    expect(model.modules().every((m) => !m.training)).toBe(true);
    model.train();
    expect(model.block.drop.training).toBe(true);
  });

  test('state dict round trip: a model loaded from another computes the same outputs', () => {
    const a = new Model(5).eval();
    const b = new Model(6).eval();
    const before = tidy(() => ops.sub(a.forward(ids()), b.forward(ids())).abs().max().item());
    expect(before).toBeGreaterThan(1e-3);
    // Through plain arrays, as a checkpoint would store them.
    const saved = Object.entries(a.stateDict()).map(([name, t]) => [name, t.toArray(), [...t.shape]] as const);
    const restored = Object.fromEntries(saved.map(([name, values, shape]) => [name, tensor(values, shape, f64)]));
    b.loadStateDict(restored);
    expect(b.forward(ids())).toBeAllclose(a.forward(ids()), { rtol: 0, atol: 0 });
    // loadStateDict copies: changing the source afterwards leaves the model alone.
    restored['head.bias']!.assign(ops.zeros([10], f64));
    expect(b.head.bias!).toBeAllclose(a.head.bias!, { rtol: 0, atol: 0 });
  });

  test('loadStateDict casts dtypes and reports missing, unexpected and mis-shaped entries', () => {
    const model = new nn.Linear(3, 2);
    const state = { weight: ops.ones([2, 3], f64), bias: ops.zeros([2], f64) };
    model.loadStateDict(state);
    expect(model.weight.dtype).toBe('float32');
    expect(model.weight).toBeAllclose(1);
    expect(() => model.loadStateDict({ weight: ops.ones([2, 3]) })).toThrow('loadStateDict: missing ["bias"], unexpected []');
    expect(() => model.loadStateDict({ ...state, extra: ops.ones([1]) })).toThrow('loadStateDict: missing [], unexpected ["extra"]');
    expect(() => model.loadStateDict({ weight: ops.ones([3, 2]), bias: ops.zeros([2]) })).toThrow("loadStateDict: 'weight' has shape [3, 2], the model expects [2, 3]");
    model.loadStateDict({ bias: ops.full([2], 7), extra: ops.ones([1]) }, { strict: false });
    expect(model.bias!).toBeAllclose([7, 7]);
    expect(model.weight).toBeAllclose(1);
  });
});

describe('layers: shapes and gradients (finite differences in float64)', () => {
  const x = (shape: number[], seed = 1): Tensor => new Rng(seed).normal(shape, 0, 1, f64);

  test('Linear', () => {
    const layer = new nn.Linear(4, 3, { rng: new Rng(9), ...f64 });
    const input = x([2, 5, 4]);
    expect(layer.forward(input).shape).toEqual([2, 5, 3]);
    // PyTorch's default init: weights and biases within 1/sqrt(fanIn).
    expect(Math.max(...Array.from(layer.weight.dataSync(), Math.abs))).toBeLessThanOrEqual(0.5);
    const r = x([2, 5, 3], 2);
    checkParameterGradients(layer.parameters(), () => ops.sum(ops.mul(layer.forward(input), r)));
    expect(new nn.Linear(4, 3, { bias: false }).parameters()).toHaveLength(1);
  });

  test('Embedding: rows gathered, gradients of repeated ids accumulate', () => {
    const layer = new nn.Embedding(5, 3, { rng: new Rng(2), ...f64 });
    const tokens = tensor([[0, 2, 2], [4, 2, 0]], [2, 3], { dtype: 'int32' });
    const out = layer.forward(tokens);
    expect(out.shape).toEqual([2, 3, 3]);
    expect(ops.narrow(ops.reshape(out, [6, 3]), 0, 1, 1)).toBeAllclose(ops.narrow(layer.weight, 0, 2, 1));
    const [g] = gradients(ops.sum(out), [layer.weight]);
    expect(g!).toBeAllclose([[2, 2, 2], [0, 0, 0], [3, 3, 3], [0, 0, 0], [1, 1, 1]]);
    const r = x([2, 3, 3], 3);
    checkParameterGradients(layer.parameters(), () => ops.sum(ops.mul(ops.square(layer.forward(tokens)), r)));
  });

  test('RMSNorm and LayerNorm', () => {
    const input = x([3, 6]);
    const rms = new nn.RMSNorm(6, 1e-6, f64);
    const rmsOut = rms.forward(input);
    expect(rmsOut.shape).toEqual([3, 6]);
    expect(ops.mean(ops.square(rmsOut), -1)).toBeAllclose([1, 1, 1], { rtol: 1e-4 });
    const ln = new nn.LayerNorm(6, f64);
    const lnOut = ln.forward(input);
    expect(ops.mean(lnOut, -1)).toBeAllclose(0, { atol: 1e-12 });
    expect(ops.variance(lnOut, -1)).toBeAllclose([1, 1, 1], { rtol: 1e-3 });
    expect(new nn.LayerNorm(6, { affine: false }).parameters()).toHaveLength(0);
    // Non-trivial affine parameters so their gradients are generic.
    rms.weight.assign(x([6], 4));
    ln.weight!.assign(x([6], 5));
    ln.bias!.assign(x([6], 6));
    const r = x([3, 6], 7);
    checkParameterGradients(rms.parameters(), () => ops.sum(ops.mul(rms.forward(input), r)));
    checkParameterGradients(ln.parameters(), () => ops.sum(ops.mul(ops.square(ln.forward(input)), r)));
  });

  test('CausalConv1d: shapes, causality and gradients', () => {
    const conv = new nn.CausalConv1d(3, 4, { rng: new Rng(4), ...f64 });
    conv.bias!.assign(x([3], 8));
    const input = x([2, 7, 3]);
    expect(conv.forward(input).shape).toEqual([2, 7, 3]);
    // Output step 2 must not depend on inputs after step 2.
    input.requiresGrad = true;
    const [g] = gradients(ops.sum(ops.narrow(conv.forward(input), 1, 2, 1)), [input]);
    const perStep = ops.sum(ops.abs(g!), [0, 2]).dataSync();
    expect(Array.from(perStep.slice(3))).toEqual([0, 0, 0, 0]);
    expect(perStep[0]).toBeGreaterThan(0);
    input.requiresGrad = false;
    const r = x([2, 7, 3], 9);
    checkParameterGradients(conv.parameters(), () => ops.sum(ops.mul(conv.forward(input), r)));
  });

  test('SwiGLU', () => {
    const mlp = new nn.SwiGLU(4, 6, { rng: new Rng(5), ...f64 });
    const input = x([2, 4]);
    expect(mlp.forward(input).shape).toEqual([2, 4]);
    expect(mlp.namedParameters().map(([n]) => n)).toEqual(['gate.weight', 'up.weight', 'down.weight']);
    const r = x([2, 4], 10);
    checkParameterGradients(mlp.parameters(), () => ops.sum(ops.mul(mlp.forward(input), r)));
  });

  test('Dropout: inverted scaling when training, identity in eval, seeded', () => {
    const input = ops.ones([50, 40]);
    const drop = new nn.Dropout(0.25, 3);
    const out = drop.forward(input).dataSync();
    const kept = out.filter((v) => v !== 0);
    expect(kept.every((v) => Math.abs(v - 1 / 0.75) < 1e-6)).toBe(true);
    expect(kept.length / out.length).toBeGreaterThan(0.7);
    expect(kept.length / out.length).toBeLessThan(0.8);
    expect(new nn.Dropout(0.25, 3).forward(input)).toBeAllclose(out);
    drop.eval();
    expect(drop.forward(input)).toBe(input);
    expect(() => new nn.Dropout(1)).toThrow('Dropout: p must be in [0, 1), got 1');
    // Gradients flow through kept units only, with the same scale.
    const x0 = ops.ones([4, 5]);
    x0.requiresGrad = true;
    const train = new nn.Dropout(0.5, 1);
    const y = train.forward(x0);
    const [g] = gradients(ops.sum(y), [x0]);
    expect(g!).toBeAllclose(y.dataSync());
  });
});

describe('init', () => {
  test('initialisers respect their bounds and are seeded', () => {
    const w = nn.xavierUniform(new Rng(1), [30, 20]);
    const bound = Math.sqrt(6 / 50);
    expect(Array.from(w.dataSync()).every((v) => Math.abs(v) <= bound)).toBe(true);
    expect(nn.xavierUniform(new Rng(1), [30, 20])).toBeAllclose(w, { rtol: 0, atol: 0 });
    const k = nn.kaimingUniform(new Rng(2), [100], 16);
    expect(Array.from(k.dataSync()).every((v) => Math.abs(v) <= 0.25)).toBe(true);
    const n = nn.normalInit(new Rng(3), [4000], 0.02).dataSync();
    const std = Math.sqrt(Array.from(n).reduce((s, v) => s + v * v, 0) / n.length);
    expect(std).toBeGreaterThan(0.019);
    expect(std).toBeLessThan(0.021);
    expect(nn.zerosInit([2])).toBeAllclose(0);
    expect(nn.onesInit([2], f64).dtype).toBe('float64');
  });
});
