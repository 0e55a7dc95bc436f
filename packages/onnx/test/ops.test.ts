// Tensor code traced into ONNX graphs: each case runs the same function on the CPU backend
// and, exported, in onnxruntime-node, and the results must agree. Together the cases touch
// every primitive of the Backend interface and every way a strided view maps to ONNX.
import { describe, expect, it } from 'vitest';
import * as ort from 'onnxruntime-node';
import * as T from '@titans/tensor';
import { cpuBackend, type Tensor } from '@titans/tensor';
import { decodeModel, exportFunction, OnnxTracer, type InputSpec, type TracedOutputs } from '../src/index.js';
import { relativeError } from './helpers.js';

/** Runs `fn` on CPU tensors and its export in onnxruntime; returns the worst relative error per output. */
async function compare(fn: (...xs: Tensor[]) => TracedOutputs, inputs: readonly Tensor[]): Promise<Record<string, number>> {
  const specs: InputSpec[] = inputs.map((x, i) => ({ name: `x${i}`, shape: x.shape, dtype: x.dtype }));
  const bytes = exportFunction(fn, specs);
  const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1 });
  const feeds = Object.fromEntries(inputs.map((x, i) => [`x${i}`, new ort.Tensor(x.dtype, x.dataSync() as Float32Array, [...x.shape])]));
  const out = await session.run(feeds);
  const expected = T.noGrad(() => fn(...inputs));
  const named: Record<string, Tensor> = expected instanceof T.Tensor ? { output: expected } : { ...expected };
  const errors: Record<string, number> = {};
  for (const [name, t] of Object.entries(named)) {
    expect(out[name]!.dims, name).toEqual(t.shape);
    errors[name] = relativeError(Array.from(out[name]!.data as ArrayLike<number>), t.dataSync());
  }
  await session.release();
  return errors;
}

const rng = new T.Rng(3);
const normal = (shape: number[]): Tensor => rng.normal(shape);
const positive = (shape: number[]): Tensor => T.add(T.abs(rng.normal(shape)), 0.1);

describe('primitives', () => {
  it('unary and binary elementwise ops, comparisons and where', async () => {
    const errors = await compare((a, b) => ({
      neg: T.neg(a), exp: T.exp(a), log: T.log(b), sqrt: T.sqrt(b), rsqrt: T.rsqrt(b), abs: T.abs(a), sign: T.sign(a),
      tanh: T.tanh(a), sigmoid: T.sigmoid(a), relu: T.relu(a), erf: T.erf(a), recip: T.reciprocal(b), sin: T.sin(a),
      cos: T.cos(a), floor: T.floor(T.mul(a, 3)), softplus: T.softplus(a), square: T.square(a),
      add: T.add(a, b), sub: T.sub(a, b), mul: T.mul(a, b), div: T.div(a, b), pow: T.pow(b, a), max: T.maximum(a, b),
      min: T.minimum(a, b), eq: T.eq(a, a), ne: T.ne(a, b), lt: T.lt(a, b), le: T.le(a, b), gt: T.gt(a, b), ge: T.ge(a, b),
      where: T.where(T.gt(a, 0), a, T.mul(b, -1)),
    }), [normal([3, 5]), positive([3, 5])]);
    for (const [name, error] of Object.entries(errors)) expect(error, name).toBeLessThan(1e-6);
  });

  it('broadcasting, casts and int32 arithmetic', async () => {
    const errors = await compare((a, row, ids) => ({
      broadcast: T.mul(a, row),
      scalar: T.add(T.mul(a, 2), 1),
      toInt: T.cast(T.mul(a, 10), 'int32'),
      intMath: T.add(T.mul(ids, 3), T.div(ids, 2)),
      intExp: T.neg(T.abs(ids)),
      back: T.cast(ids, 'float32'),
    }), [normal([2, 3, 4]), normal([4]), T.tensor([1, -2, 3, 7, 9, -5], [2, 3], { dtype: 'int32' })]);
    for (const [name, error] of Object.entries(errors)) expect(error, name).toBeLessThan(1e-6);
  });

  it('reductions over any axes, arg reductions', async () => {
    const errors = await compare((a) => ({
      sum: T.sum(a, -1), sumMid: T.sum(a, 1, true), sumAll: T.sum(a), max: T.max(a, 0), min: T.min(a, [0, 2]),
      prod: T.prod(T.add(T.mul(a, 0.1), 1), 1), mean: T.mean(a, -1), argmax: T.argmax(a, -1), argmin: T.argmin(a, 1),
      logsumexp: T.logsumexp(a, -1),
    }), [normal([3, 4, 5])]);
    for (const [name, error] of Object.entries(errors)) expect(error, name).toBeLessThan(1e-6);
  });

  it('matmul: batched, broadcast, transposed, vectors', async () => {
    const errors = await compare((a, b, w, v) => ({
      batched: T.matmul(a, b),
      shared: T.matmul(a, w),
      transposed: T.matmul(T.transpose(b), T.transpose(a)),
      heads: T.matmul(T.reshape(a, [2, 1, 3, 4]), T.expand(T.reshape(w, [1, 1, 4, 6]), [2, 5, 4, 6])),
      vector: T.matmul(a, v),
      dot: T.matmul(v, v),
    }), [normal([2, 3, 4]), normal([2, 4, 3]), normal([4, 6]), normal([4])]);
    for (const [name, error] of Object.entries(errors)) expect(error, name).toBeLessThan(1e-6);
  });

  it('scans: cumsum, cumprod and the linear recurrence, short (unrolled) and long (log-depth), both directions', async () => {
    const errors = await compare((a, g, long, longGate) => ({
      cumsum: T.cumsum(a, 1), cumsumReverse: T.cumsum(a, -1, true),
      cumprod: T.cumprod(g, -1), cumprodLong: T.cumprod(T.add(T.mul(longGate, 0.02), 0.99), -1),
      scan: T.linearScan(g, a, -1), scanReverse: T.linearScan(g, a, 1, true),
      scanLong: T.linearScan(longGate, long, -1), scanLongReverse: T.linearScan(longGate, long, -1, true),
    }), [normal([2, 3, 5]), T.sigmoid(normal([2, 3, 5])), normal([2, 100]), T.sigmoid(normal([2, 100]))]);
    for (const [name, error] of Object.entries(errors)) expect(error, name).toBeLessThan(1e-5);
  });

  it('views: slices, permutes, expands, concat, stack, pad, gather and scatter', async () => {
    const errors = await compare((a, ids) => ({
      narrow: T.narrow(a, 2, 1, 3),
      inner: T.add(T.narrow(T.transpose(a, 0, 2), 1, 1, 2), 1),
      concat: T.concat([a, T.exp(a)], 1),
      concatLast: T.concat([T.narrow(a, 2, 0, 2), T.narrow(a, 2, 3, 3)], -1),
      stack: T.stack([a, a], 0),
      pad: T.pad(a, [[1, 0], [0, 2]]),
      gather: T.indexSelect(a, 1, ids),
      rows: T.indexSelect(T.reshape(a, [6, 6]), 0, ids),
      scatter: T.scatterAdd(T.reshape(T.narrow(a, 2, 0, 3), [6, 3]), T.tensor([0, 2, 0, 1, 2, 2], [6], { dtype: 'int32' }), 4),
      split: T.split(a, 2, 2)[1]!,
    }), [normal([2, 3, 6]), T.tensor([2, 0, 2], [3], { dtype: 'int32' })]);
    for (const [name, error] of Object.entries(errors)) expect(error, name).toBeLessThan(1e-6);
  });

  it('attention: causal, sliding window, always-visible prefix, queries after a cache', async () => {
    const errors = await compare((q, k, v) => ({
      causal: T.attention(q, k, v),
      window: T.attention(q, k, v, { window: 3 }),
      prefix: T.attention(q, k, v, { window: 2, prefix: 2 }),
      cached: T.attention(T.narrow(q, 2, 4, 3), k, v),
    }), [normal([2, 2, 7, 4]), normal([2, 2, 7, 4]), normal([2, 2, 7, 4])]);
    for (const [name, error] of Object.entries(errors)) expect(error, name).toBeLessThan(1e-6);
  });

  it('composites in float64: softmax, norms, gelu, conv, rope', async () => {
    const errors = await compare((a, w) => ({
      softmax: T.softmax(a, -1), layerNorm: T.layerNorm(a), rmsNorm: T.rmsNorm(a, { weight: T.narrow(w, 0, 0, 1).reshape([4]) }),
      geluTanh: T.gelu(a, 'tanh'), conv: T.causalConv1d(a, T.transpose(T.narrow(w, 0, 0, 3))), rope: T.rope(a, 5),
      // onnxruntime has no float64 Erf: it runs in float32.
      gelu: T.gelu(a),
    }), [normal([2, 6, 4]).cast('float64'), normal([3, 4]).cast('float64')]);
    const { gelu, ...exact } = errors;
    for (const [name, error] of Object.entries(exact)) expect(error, name).toBeLessThan(1e-12);
    expect(gelu).toBeLessThan(1e-6);
  });
});

describe('strided views the frontend does not make', () => {
  // Views handed to the backend directly: strides that no slicing explains fall back to a
  // Gather of constant offsets; a window that ends inside a partial row is sliced flat first.
  const cases = [
    { name: 'strides that do not divide', size: 15, shape: [3, 2], strides: [5, 2], offset: 1 },
    { name: 'a partial last row', size: 10, shape: [2, 3], strides: [4, 1], offset: 3 },
    { name: 'a flat prefix', size: 10, shape: [2, 2], strides: [4, 1], offset: 1 },
    { name: 'a broadcast axis inside', size: 12, shape: [3, 2, 4], strides: [4, 0, 1], offset: 0 },
    { name: 'a single element', size: 12, shape: [], strides: [], offset: 7 },
  ];
  it.each(cases)('$name', async ({ size, shape, strides, offset }) => {
    const data = Float32Array.from({ length: size }, (_, i) => i * 1.5 - 3);
    const tracer = new OnnxTracer();
    const x = tracer.input('x', [size], 'float32');
    const copied = tracer.unary('copy', { storage: x.view().storage, shape, strides, offset }, 'float32') as import('../src/index.js').TraceStorage;
    tracer.graph.output('y', copied.value!);
    const bytes = (await import('../src/proto.js')).encodeModel(tracer.graph.build({ graphName: 'view', opset: 17, producerVersion: 'test' }));
    const session = await ort.InferenceSession.create(bytes);
    const out = await session.run({ x: new ort.Tensor('float32', data, [size]) });
    const cpuStorage = cpuBackend.fromArray(data, 'float32');
    const expected = cpuBackend.readSync(cpuBackend.unary('copy', { storage: cpuStorage, shape, strides, offset }, 'float32'));
    expect(Array.from(out.y!.data as Float32Array)).toEqual(Array.from(expected));
  });
});

describe('tracing', () => {
  it('folds everything computed from constants: only the input-dependent part is in the graph', () => {
    const bytes = exportFunction((x) => {
      const mask = T.tril(4); // built from arange, compared and cast: all folded
      const table = T.softmax(T.mul(T.arange(0, 16).reshape([4, 4]), 0.1), -1);
      return T.mul(x, T.mul(mask, table));
    }, [{ name: 'x', shape: [4, 4] }]);
    const ops = decodeModel(bytes).graph.node.map((n) => n.opType);
    expect(ops).toEqual(['Mul', 'Identity']);
  });

  it('refuses data-dependent control flow', () => {
    expect(() => exportFunction((x) => (T.sum(x).item() > 0 ? x : T.neg(x)), [{ name: 'x', shape: [3] }]))
      .toThrow(/data-dependent control flow/);
  });
});
