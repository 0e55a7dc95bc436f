// The op table the shared suite runs: each case names an op, its inputs and (where it
// matters) a plain-JS reference for the forward values. Every floating-point input is
// differentiated: by finite differences in float64, or against the CPU backend in float32.
import * as ops from '@titans/tensor';
import { Rng, type Tensor } from '@titans/tensor';
import { randomShape, type InputKind, type InputSpec } from './inputs.js';
import * as ref from './reference.js';
import type { Arr } from './reference.js';

export interface OpCase {
  name: string;
  inputs: InputSpec[];
  f: (...xs: Tensor[]) => Tensor;
  /** float64 reference of the forward value. */
  reference?: (...xs: Arr[]) => Arr;
  /** Check first derivatives (default true; false for comparisons, argmax, ...). */
  grads?: boolean;
  /** Tolerances for the finite-difference check. */
  fd?: { rtol?: number; atol?: number; eps?: number };
}

const spec = (shape: readonly number[], kind?: InputKind): InputSpec => (kind === undefined ? { shape } : { shape, kind });
const scalarArr = (v: number): Arr => ref.arr([v], []);

const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));
const geluTanh = (x: number): number => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));

export interface CaseOptions {
  /** Small shapes for slow devices. */
  small: boolean;
}

function unaryCases(small: boolean, rng: Rng): OpCase[] {
  const table: [string, (x: Tensor) => Tensor, (x: number) => number, InputKind?][] = [
    ['neg', ops.neg, (x) => -x],
    ['exp', ops.exp, Math.exp],
    ['log', ops.log, Math.log, 'positive'],
    ['sqrt', ops.sqrt, Math.sqrt, 'positive'],
    ['rsqrt', ops.rsqrt, (x) => 1 / Math.sqrt(x), 'positive'],
    ['abs', ops.abs, Math.abs, 'nonzero'],
    ['tanh', ops.tanh, Math.tanh],
    ['sigmoid', ops.sigmoid, sigmoid],
    ['relu', ops.relu, (x) => Math.max(0, x), 'nonzero'],
    ['erf', ops.erf, ref.erfRef],
    ['reciprocal', ops.reciprocal, (x) => 1 / x, 'nonzero'],
    ['sin', ops.sin, Math.sin],
    ['cos', ops.cos, Math.cos],
    ['softplus', ops.softplus, (x) => Math.log1p(Math.exp(x))],
    ['square', ops.square, (x) => x * x],
    ['silu', ops.silu, (x) => x * sigmoid(x)],
    ['gelu (erf)', (x) => ops.gelu(x), (x) => 0.5 * x * (1 + ref.erfRef(x / Math.SQRT2))],
    ['gelu (tanh)', (x) => ops.gelu(x, 'tanh'), geluTanh],
  ];
  const out: OpCase[] = [];
  for (const [name, f, r, kind] of table) {
    const shapes = small ? [randomShape(rng, 2, [1, 3])] : [[], randomShape(rng, 3)];
    for (const shape of shapes) {
      out.push({ name: `${name} [${shape.join(', ')}]`, inputs: [spec(shape, kind)], f, reference: (x) => ref.map(x, r) });
    }
  }
  out.push(
    { name: 'tanh of a transposed view', inputs: [spec([3, 4])], f: (x) => ops.tanh(ops.transpose(x)), reference: (x) => ref.map(ref.transposeLast(x), Math.tanh) },
    { name: 'softplus over a wide range', inputs: [spec([9])], f: (x) => ops.softplus(ops.mul(x, 25)), reference: (x) => ref.map(x, (v) => (25 * v > 30 ? 25 * v : Math.log1p(Math.exp(25 * v)))), fd: { rtol: 1e-4 } },
    { name: 'erf in the tails', inputs: [spec([7])], f: (x) => ops.erf(ops.mul(x, 3)), reference: (x) => ref.map(x, (v) => ref.erfRef(3 * v)) },
    { name: 'sign (forward)', inputs: [spec([2, 5], 'small-int')], f: ops.sign, reference: (x) => ref.map(x, Math.sign), grads: false },
    { name: 'floor (forward)', inputs: [spec([2, 5])], f: (x) => ops.floor(ops.mul(x, 3)), reference: (x) => ref.map(x, (v) => Math.floor(3 * v)), grads: false },
  );
  return out;
}

function binaryCases(small: boolean): OpCase[] {
  const table: [string, (a: Tensor, b: Tensor) => Tensor, (a: number, b: number) => number, InputKind?, InputKind?][] = [
    ['add', ops.add, (a, b) => a + b],
    ['sub', ops.sub, (a, b) => a - b],
    ['mul', ops.mul, (a, b) => a * b],
    ['div', ops.div, (a, b) => a / b, 'normal', 'nonzero'],
    ['pow', ops.pow, (a, b) => a ** b, 'positive', 'normal'],
    ['maximum', ops.maximum, Math.max],
    ['minimum', ops.minimum, Math.min],
  ];
  const pairs: number[][][] = small
    ? [[[2, 1, 3], [2, 3]], [[3], []]]
    : [[[3, 1, 5], [4, 5]], [[2, 3], []], [[1], [7]], [[2, 1], [1, 3]], [[5], [5]]];
  const out: OpCase[] = [];
  for (const [name, f, r, ka, kb] of table) {
    for (const [sa, sb] of pairs) {
      out.push({ name: `${name} [${sa!.join(', ')}] with [${sb!.join(', ')}]`, inputs: [spec(sa!, ka), spec(sb!, kb)], f, reference: (a, b) => ref.zipWith([a, b], r) });
    }
  }
  out.push(
    { name: 'add a number', inputs: [spec([2, 3])], f: (x) => ops.add(x, 1.5), reference: (x) => ref.map(x, (v) => v + 1.5) },
    { name: 'number minus tensor', inputs: [spec([4])], f: (x) => ops.sub(2, x), reference: (x) => ref.map(x, (v) => 2 - v) },
    { name: 'number divided by tensor', inputs: [spec([4], 'nonzero')], f: (x) => ops.div(3, x), reference: (x) => ref.map(x, (v) => 3 / v) },
    { name: 'pow with an integer exponent and negative bases', inputs: [spec([5])], f: (x) => ops.pow(x, 3), reference: (x) => ref.map(x, (v) => v ** 3) },
  );
  const comparisons: [string, (a: Tensor, b: Tensor) => Tensor, (a: number, b: number) => boolean][] = [
    ['eq', ops.eq, (a, b) => a === b], ['ne', ops.ne, (a, b) => a !== b], ['lt', ops.lt, (a, b) => a < b],
    ['le', ops.le, (a, b) => a <= b], ['gt', ops.gt, (a, b) => a > b], ['ge', ops.ge, (a, b) => a >= b],
  ];
  for (const [name, f, r] of comparisons) {
    out.push({ name: `${name} (forward, broadcast)`, inputs: [spec([3, 1, 4], 'small-int'), spec([2, 4], 'small-int')], f, reference: (a, b) => ref.zipWith([a, b], (x, y) => (r(x, y) ? 1 : 0)), grads: false });
  }
  out.push(
    { name: 'where with broadcasting', inputs: [spec([3, 1], 'mask'), spec([3, 4]), spec([4])], f: (c, a, b) => ops.where(c, a, b), reference: (c, a, b) => ref.zipWith([c, a, b], (x, y, z) => (x !== 0 ? y : z)) },
    { name: 'where with a number', inputs: [spec([2, 3], 'mask'), spec([2, 3])], f: (c, a) => ops.where(c, a, -2), reference: (c, a) => ref.zipWith([c, a], (x, y) => (x !== 0 ? y : -2)) },
    { name: 'where on a float condition', inputs: [spec([5]), spec([5])], f: (c, a) => ops.where(ops.gt(ops.detach(c), 0), a, c), reference: (c, a) => ref.zipWith([c, a], (x, y) => (x > 0 ? y : x)) },
  );
  return out;
}

function reductionCases(small: boolean): OpCase[] {
  const shape = small ? [2, 3, 3] : [3, 4, 5];
  type Axis = number | number[] | undefined;
  const axes: [Axis, boolean][] = small ? [[undefined, false], [-1, true]] : [[undefined, false], [1, false], [-1, true], [[0, 2], false]];
  const label = (axis: Axis, keep: boolean): string => `axis ${JSON.stringify(axis) ?? 'all'}${keep ? ', keepDims' : ''}`;
  const out: OpCase[] = [];
  const table: [string, (x: Tensor, axis: Axis, keep: boolean) => Tensor, (v: number[]) => number, InputKind?][] = [
    ['sum', (x, a, k) => ops.sum(x, a, k), ref.sumOf],
    ['mean', (x, a, k) => ops.mean(x, a, k), ref.meanOf],
    ['max', (x, a, k) => ops.max(x, a, k), (v) => Math.max(...v)],
    ['min', (x, a, k) => ops.min(x, a, k), (v) => Math.min(...v)],
    ['var', (x, a, k) => ops.variance(x, a, k), ref.varOf],
    ['logsumexp', (x, a, k) => ops.logsumexp(x, a, k), ref.logSumExpOf],
  ];
  for (const [name, f, r, kind] of table) {
    for (const [axis, keep] of axes) {
      out.push({ name: `${name} ${label(axis, keep)}`, inputs: [spec(shape, kind)], f: (x) => f(x, axis, keep), reference: (x) => ref.reduce(x, axis, r, keep) });
    }
  }
  out.push(
    { name: 'prod axis 1', inputs: [spec([2, 3, 2], 'nonzero')], f: (x) => ops.prod(x, 1), reference: (x) => ref.reduce(x, 1, (v) => v.reduce((p, y) => p * y, 1)) },
    { name: 'prod of everything', inputs: [spec([2, 3], 'nonzero')], f: (x) => ops.prod(x), reference: (x) => ref.reduce(x, undefined, (v) => v.reduce((p, y) => p * y, 1)) },
    { name: 'var with correction 1', inputs: [spec([3, 5])], f: (x) => ops.variance(x, -1, false, 1), reference: (x) => ref.reduce(x, -1, (v) => (ref.varOf(v) * v.length) / (v.length - 1)) },
    { name: 'sum over a size-1 axis', inputs: [spec([3, 1, 2])], f: (x) => ops.sum(x, 1), reference: (x) => ref.reduce(x, 1, ref.sumOf) },
    { name: 'max of a permuted view', inputs: [spec([3, 4])], f: (x) => ops.max(ops.transpose(x), -1), reference: (x) => ref.reduce(x, 0, (v) => Math.max(...v)) },
    { name: 'argmax (forward)', inputs: [spec([3, 5])], f: (x) => ops.argmax(x, -1), reference: (x) => ref.reduce(x, -1, (v) => v.indexOf(Math.max(...v))), grads: false },
    { name: 'argmax axis 0 keepDims (forward)', inputs: [spec([4, 3])], f: (x) => ops.argmax(x, 0, true), reference: (x) => ref.reduce(x, 0, (v) => v.indexOf(Math.max(...v)), true), grads: false },
    { name: 'argmin (forward)', inputs: [spec([2, 3, 4])], f: (x) => ops.argmin(x, 1), reference: (x) => ref.reduce(x, 1, (v) => v.indexOf(Math.min(...v))), grads: false },
    { name: 'mean of a scalar', inputs: [spec([])], f: (x) => ops.mean(x), reference: (x) => x },
  );
  return out;
}

function matmulCases(small: boolean): OpCase[] {
  const shapes: [string, number[], number[], ((a: Tensor, b: Tensor) => Tensor)?, ((a: Arr, b: Arr) => Arr)?][] = [
    ['2-D', [3, 5], [5, 4]],
    ['size 1', [1, 1], [1, 1]],
    ['row times column', [1, 7], [7, 1]],
    ['batched', [2, 3, 5], [2, 5, 4]],
    ['broadcast matrix by batch', [3, 5], [2, 5, 3]],
    ['broadcast batch axes', [2, 1, 3, 5], [3, 5, 2]],
    ['vector by matrix', [5], [5, 3]],
    ['matrix by vector', [3, 5], [5]],
    ['vector by vector', [5], [5]],
    ['batch by vector', [2, 3, 4], [4]],
    ['transposed a', [5, 3], [5, 4], (a, b) => ops.matmul(ops.transpose(a), b), (a, b) => ref.matmul(ref.transposeLast(a), b)],
    ['transposed b', [3, 5], [4, 5], (a, b) => ops.matmul(a, b.T), (a, b) => ref.matmul(a, ref.transposeLast(b))],
    ['both transposed, batched', [2, 5, 3], [2, 4, 5], (a, b) => ops.matmul(a.T, b.T), (a, b) => ref.matmul(ref.transposeLast(a), ref.transposeLast(b))],
    ['narrowed rows of a', [6, 5], [5, 3], (a, b) => ops.matmul(ops.narrow(a, 0, 2, 3), b), (a, b) => ref.matmul(ref.arr(a.data.subarray(10, 25), [3, 5]), b)],
    ['odd sizes', [7, 9], [9, 5]],
    ['tall (four-row blocks plus a tail)', [13, 3], [3, 2]],
  ];
  const list = small ? shapes.filter(([n]) => ['2-D', 'batched', 'broadcast matrix by batch', 'vector by vector', 'transposed b'].includes(n)) : shapes;
  return list.map(([name, sa, sb, f, r]) => ({
    name: `matmul ${name} [${sa.join(', ')}] @ [${sb.join(', ')}]`,
    inputs: [spec(sa), spec(sb)],
    f: f ?? ((a, b) => ops.matmul(a, b)),
    reference: r ?? ref.matmul,
  }));
}

function nnCases(small: boolean): OpCase[] {
  const x3 = small ? [2, 3] : [2, 3, 5];
  const last = x3[x3.length - 1]!;
  const layerNormRef = (x: Arr, w?: Arr, b?: Arr): Arr => {
    const out = ref.alongAxis(x, -1, (line) => {
      const m = ref.meanOf(line);
      const v = ref.varOf(line);
      return line.map((y) => (y - m) / Math.sqrt(v + 1e-5));
    });
    return w && b ? ref.zipWith([out, w, b], (y, s, t) => y * s + t) : out;
  };
  const crossEntropyRef = (reduction: 'mean' | 'sum' | 'none', ignore: number) => (logits: Arr, targets: Arr): Arr => {
    const v = logits.shape[logits.shape.length - 1]!;
    const losses = Array.from(targets.data, (t, i) => {
      if (t === ignore) return 0;
      const row = Array.from(logits.data.subarray(i * v, (i + 1) * v));
      return ref.logSumExpOf(row) - row[t]!;
    });
    const count = Array.from(targets.data).filter((t) => t !== ignore).length;
    if (reduction === 'none') return ref.arr(losses, targets.shape);
    const total = ref.sumOf(losses);
    return scalarArr(reduction === 'sum' ? total : total / Math.max(count, 1));
  };
  const conv = (x: Arr, w: Arr, b?: Arr): Arr => {
    const [t, c] = x.shape.slice(-2) as [number, number];
    const k = w.shape[1]!;
    const out = new Float64Array(x.data.length);
    for (let base = 0; base < x.data.length; base += t * c) {
      for (let i = 0; i < t; i++) {
        for (let ch = 0; ch < c; ch++) {
          let acc = b ? b.data[ch]! : 0;
          for (let j = 0; j < k; j++) {
            const src = i - k + 1 + j;
            if (src >= 0) acc += w.data[ch * k + j]! * x.data[base + src * c + ch]!;
          }
          out[base + i * c + ch] = acc;
        }
      }
    }
    return ref.arr(out, x.shape);
  };
  return [
    { name: 'softmax last axis', inputs: [spec(x3)], f: (x) => ops.softmax(x), reference: (x) => ref.alongAxis(x, -1, ref.softmaxLine) },
    { name: 'softmax axis 0', inputs: [spec([3, 4])], f: (x) => ops.softmax(x, 0), reference: (x) => ref.alongAxis(x, 0, ref.softmaxLine) },
    { name: 'softmax of large logits', inputs: [spec([2, 4])], f: (x) => ops.softmax(ops.mul(x, 100)), reference: (x) => ref.alongAxis(ref.map(x, (v) => 100 * v), -1, ref.softmaxLine), fd: { rtol: 1e-4, atol: 1e-5 } },
    { name: 'logSoftmax', inputs: [spec(x3)], f: (x) => ops.logSoftmax(x), reference: (x) => ref.alongAxis(x, -1, (l) => l.map((v) => v - ref.logSumExpOf(l))) },
    { name: 'layerNorm', inputs: [spec(x3)], f: (x) => ops.layerNorm(x), reference: (x) => layerNormRef(x) },
    { name: 'layerNorm with weight and bias', inputs: [spec(x3), spec([last]), spec([last])], f: (x, w, b) => ops.layerNorm(x, { weight: w, bias: b }), reference: layerNormRef },
    {
      name: 'rmsNorm with weight', inputs: [spec(x3), spec([last])], f: (x, w) => ops.rmsNorm(x, { weight: w }),
      reference: (x, w) => ref.zipWith([ref.alongAxis(x, -1, (l) => l.map((v) => v / Math.sqrt(ref.meanOf(l.map((y) => y * y)) + 1e-6))), w], (a, b) => a * b),
    },
    { name: 'l2Normalize last axis', inputs: [spec(x3)], f: (x) => ops.l2Normalize(x), reference: (x) => ref.alongAxis(x, -1, (l) => l.map((v) => v / Math.hypot(...l))) },
    { name: 'l2Normalize axis 0', inputs: [spec([3, 2])], f: (x) => ops.l2Normalize(x, 0), reference: (x) => ref.alongAxis(x, 0, (l) => l.map((v) => v / Math.hypot(...l))) },
    { name: 'crossEntropy (mean, ignore index)', inputs: [spec([2, 3, 5]), spec([2, 3], { int: 5, ignoreEvery: 3 })], f: (l, t) => ops.crossEntropy(l, t), reference: crossEntropyRef('mean', -100) },
    { name: 'crossEntropy (sum)', inputs: [spec([4, 3]), spec([4], { int: 3 })], f: (l, t) => ops.crossEntropy(l, t, { reduction: 'sum' }), reference: crossEntropyRef('sum', -100) },
    { name: 'crossEntropy (none, ignoreIndex 1)', inputs: [spec([6, 3]), spec([6], { int: 3 })], f: (l, t) => ops.crossEntropy(l, t, { reduction: 'none', ignoreIndex: 1 }), reference: crossEntropyRef('none', 1) },
    { name: 'mseLoss', inputs: [spec([3, 4]), spec([3, 4])], f: ops.mseLoss, reference: (a, b) => scalarArr(ref.meanOf(Array.from(a.data, (v, i) => (v - b.data[i]!) ** 2))) },
    { name: 'linear', inputs: [spec([2, 3, 4]), spec([5, 4]), spec([5])], f: (x, w, b) => ops.linear(x, w, b), reference: (x, w, b) => ref.zipWith([ref.matmul(x, ref.transposeLast(w)), b], (p, q) => p + q) },
    { name: 'causalConv1d [2, 7, 3] kernel 4 with bias', inputs: [spec(small ? [1, 4, 2] : [2, 7, 3]), spec(small ? [2, 3] : [3, 4]), spec(small ? [2] : [3])], f: (x, w, b) => ops.causalConv1d(x, w, b), reference: conv },
    { name: 'causalConv1d kernel 1, 2-D input', inputs: [spec([5, 2]), spec([2, 1])], f: (x, w) => ops.causalConv1d(x, w), reference: (x, w) => conv(x, w) },
    { name: 'causalConv1d kernel longer than the sequence', inputs: [spec([2, 3]), spec([3, 4])], f: (x, w) => ops.causalConv1d(x, w), reference: (x, w) => conv(x, w) },
    {
      name: 'dropout with explicit noise', inputs: [spec([3, 4]), spec([3, 4], 'unit')], f: (x, u) => ops.dropout(x, 0.4, ops.detach(u)),
      reference: (x, u) => ref.zipWith([x, u], (a, n) => (n >= 0.4 ? a / 0.6 : 0)),
    },
  ];
}

function scanCases(small: boolean): OpCase[] {
  const cum = (reverse: boolean, op: (acc: number, x: number) => number, init: number) => (line: number[]): number[] => {
    const out = new Array<number>(line.length);
    let acc = init;
    for (let i = 0; i < line.length; i++) {
      const j = reverse ? line.length - 1 - i : i;
      acc = op(acc, line[j]!);
      out[j] = acc;
    }
    return out;
  };
  const linear = (a: Arr, b: Arr, axis: number, reverse: boolean): Arr => {
    // Pack (a, b) pairs along the axis, scan, unpack: h = a h_prev + b.
    const idx = ref.alongAxis(ref.map(a, (_, i) => i), axis, (l) => l);
    return ref.alongAxis(idx, axis, (positions) => {
      let h = 0;
      const out = new Array<number>(positions.length);
      for (let i = 0; i < positions.length; i++) {
        const j = reverse ? positions.length - 1 - i : i;
        h = a.data[positions[j]!]! * h + b.data[positions[j]!]!;
        out[j] = h;
      }
      return out;
    });
  };
  const t = small ? 4 : 7;
  const cases: OpCase[] = [
    { name: 'cumsum last axis', inputs: [spec([3, t])], f: (x) => ops.cumsum(x), reference: (x) => ref.alongAxis(x, -1, cum(false, (s, v) => s + v, 0)) },
    { name: 'cumsum axis 0 reverse', inputs: [spec([t, 2])], f: (x) => ops.cumsum(x, 0, true), reference: (x) => ref.alongAxis(x, 0, cum(true, (s, v) => s + v, 0)) },
    { name: 'cumprod last axis', inputs: [spec([2, t], 'nonzero')], f: (x) => ops.cumprod(x), reference: (x) => ref.alongAxis(x, -1, cum(false, (s, v) => s * v, 1)) },
    { name: 'cumprod axis 1 reverse', inputs: [spec([2, 5, 2], 'nonzero')], f: (x) => ops.cumprod(x, 1, true), reference: (x) => ref.alongAxis(x, 1, cum(true, (s, v) => s * v, 1)) },
    { name: 'linearScan forward', inputs: [spec([3, t], 'unit'), spec([3, t])], f: (a, b) => ops.linearScan(a, b), reference: (a, b) => linear(a, b, -1, false) },
    { name: 'linearScan reverse', inputs: [spec([3, t], 'unit'), spec([3, t])], f: (a, b) => ops.linearScan(a, b, -1, true), reference: (a, b) => linear(a, b, -1, true) },
    { name: 'linearScan axis 0', inputs: [spec([5, 2, 3]), spec([5, 2, 3])], f: (a, b) => ops.linearScan(a, b, 0), reference: (a, b) => linear(a, b, 0, false) },
    { name: 'linearScan axis 1 reverse', inputs: [spec([2, 5, 3]), spec([2, 5, 3])], f: (a, b) => ops.linearScan(a, b, 1, true), reference: (a, b) => linear(a, b, 1, true) },
    { name: 'linearScan length 1', inputs: [spec([3, 1]), spec([3, 1])], f: (a, b) => ops.linearScan(a, b), reference: (a, b) => linear(a, b, -1, false) },
    { name: 'associativeScan of add = cumsum', inputs: [spec([t, 3])], f: (x) => ops.associativeScan(ops.add, x, 0), reference: (x) => ref.alongAxis(x, 0, cum(false, (s, v) => s + v, 0)) },
    { name: 'associativeScan of maximum (running max)', inputs: [spec([2, t])], f: (x) => ops.associativeScan(ops.maximum, x, 1), reference: (x) => ref.alongAxis(x, 1, cum(false, Math.max, -Infinity)) },
    {
      // (a, b) pairs compose as (a1 a2, a2 b1 + b2): the linear recurrence as an associative scan.
      name: 'associativeScan of affine maps = linearScan', inputs: [spec([t, 3], 'unit'), spec([t, 3])],
      f: (a, b) => {
        const combine = (e: Tensor, l: Tensor): Tensor => {
          const [ea, eb] = ops.split(e, 2, -1);
          const [la, lb] = ops.split(l, 2, -1);
          return ops.concat([ops.mul(ea!, la!), ops.add(ops.mul(la!, eb!), lb!)], -1);
        };
        const packed = ops.stack([a, b], -1);
        return ops.squeeze(ops.narrow(ops.associativeScan(combine, packed, 0), -1, 1, 1), -1);
      },
      reference: (a, b) => linear(a, b, 0, false),
    },
  ];
  return cases;
}

function shapeCases(): OpCase[] {
  const viewRef = (outShape: number[], read: (index: number[]) => number): Arr => {
    const data = new Float64Array(ref.sizeOf(outShape));
    for (let i = 0; i < data.length; i++) data[i] = read(ref.unravel(i, outShape));
    return ref.arr(data, outShape);
  };
  return [
    {
      name: 'concat of three along axis 1', inputs: [spec([2, 1, 3]), spec([2, 2, 3]), spec([2, 3, 3])], f: (a, b, c) => ops.concat([a, b, c], 1),
      reference: (a, b, c) => viewRef([2, 6, 3], ([i, j, k]) => (j! < 1 ? ref.at(a, [i!, j!, k!]) : j! < 3 ? ref.at(b, [i!, j! - 1, k!]) : ref.at(c, [i!, j! - 3, k!]))),
    },
    { name: 'stack axis 0', inputs: [spec([2, 3]), spec([2, 3])], f: (a, b) => ops.stack([a, b]), reference: (a, b) => viewRef([2, 2, 3], ([s, i, j]) => ref.at(s === 0 ? a : b, [i!, j!])) },
    { name: 'stack last axis', inputs: [spec([3]), spec([3]), spec([3])], f: (a, b, c) => ops.stack([a, b, c], -1), reference: (a, b, c) => viewRef([3, 3], ([i, s]) => [a, b, c][s!]!.data[i!]!) },
    {
      name: 'split into sizes, scaled pieces', inputs: [spec([2, 5])],
      f: (x) => {
        const [p, q, r] = ops.split(x, [1, 2, 2], 1);
        return ops.concat([ops.mul(p!, 2), q!, ops.mul(r!, -1)], 1);
      },
      reference: (x) => viewRef([2, 5], ([i, j]) => ref.at(x, [i!, j!]) * (j! < 1 ? 2 : j! < 3 ? 1 : -1)),
    },
    { name: 'pad with a value', inputs: [spec([2, 3])], f: (x) => ops.pad(x, [[1, 2], [0, 1]], 0.5), reference: (x) => viewRef([5, 4], ([i, j]) => (i! >= 1 && i! < 3 && j! < 3 ? ref.at(x, [i! - 1, j!]) : 0.5)) },
    { name: 'narrow (negative start)', inputs: [spec([3, 5])], f: (x) => ops.narrow(x, 1, -3, 2), reference: (x) => viewRef([3, 2], ([i, j]) => ref.at(x, [i!, j! + 2])) },
    { name: 'slice', inputs: [spec([4, 5, 2])], f: (x) => ops.slice(x, [1, 0, 1], [2, -1, 1]), reference: (x) => viewRef([2, 5, 1], ([i, j]) => ref.at(x, [i! + 1, j!, 1])) },
    { name: 'reshape with -1', inputs: [spec([2, 3, 2])], f: (x) => ops.mul(ops.reshape(x, [3, -1]), ops.arange(0, 4, 1, { dtype: x.dtype })), reference: (x) => ref.arr(Array.from(x.data, (v, i) => v * (i % 4)), [3, 4]) },
    { name: 'reshape of a transposed view', inputs: [spec([2, 3])], f: (x) => ops.reshape(x.T, [6]), reference: (x) => ref.arr([0, 1, 2].flatMap((j) => [ref.at(x, [0, j]), ref.at(x, [1, j])]), [6]) },
    { name: 'permute', inputs: [spec([2, 3, 4])], f: (x) => ops.permute(x, [2, 0, 1]), reference: (x) => viewRef([4, 2, 3], ([k, i, j]) => ref.at(x, [i!, j!, k!])) },
    { name: 'expand', inputs: [spec([3, 1])], f: (x) => ops.mul(ops.expand(x, [2, 3, 4]), ops.arange(0, 24, 1, { dtype: x.dtype }).reshape([2, 3, 4])), reference: (x) => viewRef([2, 3, 4], (idx) => ref.at(x, [idx[1]!, 0]) * ref.ravel(idx, [2, 3, 4])) },
    { name: 'squeeze and unsqueeze', inputs: [spec([3, 1, 2])], f: (x) => ops.unsqueeze(ops.squeeze(x, 1), 0), reference: (x) => ref.arr(x.data, [1, 3, 2]) },
    {
      // The engine assembles the gradients of an input's slices with one concat when they are
      // disjoint along one axis, and pads and sums otherwise: exercise both, and gaps.
      name: 'overlapping slices on two axes', inputs: [spec([3, 4])],
      f: (x) => ops.add(ops.sum(ops.mul(ops.narrow(x, 0, 0, 2), ops.narrow(x, 0, 1, 2))), ops.sum(ops.square(ops.narrow(x, 1, 1, 2)))),
      reference: (x) => {
        let s = 0;
        for (let i = 0; i < 2; i++) for (let j = 0; j < 4; j++) s += ref.at(x, [i, j]) * ref.at(x, [i + 1, j]);
        for (let i = 0; i < 3; i++) for (let j = 1; j < 3; j++) s += ref.at(x, [i, j]) ** 2;
        return scalarArr(s);
      },
    },
    {
      name: 'disjoint slices with a gap, plus a dense use', inputs: [spec([2, 5])],
      f: (x) => ops.add(ops.add(ops.sum(ops.mul(ops.narrow(x, 1, 0, 1), 2)), ops.sum(ops.square(ops.narrow(x, 1, 3, 2)))), ops.sum(ops.mul(x, x))),
      reference: (x) => scalarArr(Array.from(x.data).reduce((s, v, i) => s + v * v + (i % 5 === 0 ? 2 * v : i % 5 >= 3 ? v * v : 0), 0)),
    },
    { name: 'slice of a slice', inputs: [spec([4, 5])], f: (x) => ops.square(ops.narrow(ops.narrow(x, 0, 1, 3), 1, 1, 2)), reference: (x) => viewRef([3, 2], ([i, j]) => ref.at(x, [i! + 1, j! + 1]) ** 2) },
    { name: 'contiguous copy of a view', inputs: [spec([3, 4])], f: (x) => ops.contiguous(ops.narrow(x.T, 0, 1, 2)), reference: (x) => viewRef([2, 3], ([i, j]) => ref.at(x, [j!, i! + 1])) },
  ];
}

function gatherCases(): OpCase[] {
  const pick = (x: Arr, rows: number[]): Arr => {
    const width = x.data.length / x.shape[0]!;
    return ref.arr(rows.flatMap((r) => Array.from(x.data.subarray(r * width, (r + 1) * width))), [rows.length, ...x.shape.slice(1)]);
  };
  return [
    { name: 'indexSelect axis 0 with repeats', inputs: [spec([5, 3]), spec([4], { int: 5 })], f: (x, i) => ops.indexSelect(x, 0, i), reference: (x, i) => pick(x, Array.from(i.data)) },
    {
      name: 'indexSelect axis 1 with 2-D indices', inputs: [spec([3, 4, 2]), spec([2, 2], { int: 4 })], f: (x, i) => ops.indexSelect(x, 1, i),
      reference: (x, i) => {
        const out: number[] = [];
        for (let a = 0; a < 3; a++) for (const j of i.data) for (let c = 0; c < 2; c++) out.push(ref.at(x, [a, j, c]));
        return ref.arr(out, [3, 2, 2, 2]);
      },
    },
    {
      name: 'scatterAdd with repeated indices', inputs: [spec([4, 3]), spec([4], { int: 3 })], f: (s, i) => ops.scatterAdd(s, i, 5),
      reference: (s, i) => {
        const out = new Float64Array(15);
        Array.from(i.data).forEach((r, k) => { for (let c = 0; c < 3; c++) out[r * 3 + c] += s.data[k * 3 + c]!; });
        return ref.arr(out, [5, 3]);
      },
    },
    {
      name: 'embedding lookup (indexSelect of a table by [2, 3] ids)', inputs: [spec([6, 4]), spec([2, 3], { int: 6 })],
      f: (w, ids) => ops.reshape(ops.indexSelect(w, 0, ops.reshape(ids, [6])), [2, 3, 4]),
      reference: (w, ids) => ref.arr(pick(w, Array.from(ids.data)).data, [2, 3, 4]),
    },
    {
      name: 'takeAlongLastAxis', inputs: [spec([2, 3, 5]), spec([2, 3, 2], { int: 5 })], f: (x, i) => ops.takeAlongLastAxis(x, i),
      reference: (x, i) => ref.arr(Array.from(i.data, (j, n) => x.data[Math.floor(n / 2) * 5 + j]!), [2, 3, 2]),
    },
    {
      name: 'oneHot (forward)', inputs: [spec([2, 3], { int: 4 })], f: (i) => ops.oneHot(i, 4), grads: false,
      reference: (i) => ref.arr(Array.from(i.data).flatMap((j) => [0, 1, 2, 3].map((c) => (c === j ? 1 : 0))), [2, 3, 4]),
    },
  ];
}

function ropeCases(): OpCase[] {
  const rope = (x: Arr, offset: number): Arr => {
    const [t, d] = x.shape.slice(-2) as [number, number];
    const half = d / 2;
    const out = new Float64Array(x.data.length);
    for (let base = 0; base < x.data.length; base += t * d) {
      for (let p = 0; p < t; p++) {
        for (let i = 0; i < half; i++) {
          const angle = (p + offset) * 10000 ** (-2 * i / d);
          const a = x.data[base + p * d + i]!;
          const b = x.data[base + p * d + half + i]!;
          out[base + p * d + i] = a * Math.cos(angle) - b * Math.sin(angle);
          out[base + p * d + half + i] = a * Math.sin(angle) + b * Math.cos(angle);
        }
      }
    }
    return ref.arr(out, x.shape);
  };
  return [
    { name: 'rope', inputs: [spec([2, 5, 6])], f: (x) => ops.rope(x), reference: (x) => rope(x, 0) },
    { name: 'rope with offset 3', inputs: [spec([3, 4])], f: (x) => ops.rope(x, 3), reference: (x) => rope(x, 3) },
  ];
}

export interface AttentionVariant {
  name: string;
  q: number[];
  k: number[];
  v: number[];
  options: ops.AttentionCallOptions;
}

export function attentionVariants(small: boolean): AttentionVariant[] {
  const t = small ? 4 : 6;
  const all: AttentionVariant[] = [
    { name: 'causal', q: [2, t, 4], k: [2, t, 4], v: [2, t, 3], options: {} },
    { name: 'causal, window 2', q: [2, t, 4], k: [2, t, 4], v: [2, t, 3], options: { window: 2 } },
    { name: 'causal, prefix 2', q: [1, t, 4], k: [1, t, 4], v: [1, t, 4], options: { prefix: 2 } },
    { name: 'causal, window 2 and prefix 1', q: [1, t, 4], k: [1, t, 4], v: [1, t, 2], options: { window: 2, prefix: 1 } },
    { name: 'not causal', q: [2, 3, 4], k: [2, 5, 4], v: [2, 5, 3], options: { causal: false } },
    { name: 'fewer queries than keys', q: [1, 3, 4], k: [1, t + 1, 4], v: [1, t + 1, 2], options: {} },
    { name: 'heads [2, 2], custom scale', q: [2, 2, 3, 2], k: [2, 2, 3, 2], v: [2, 2, 3, 2], options: { scale: 0.9 } },
  ];
  return small ? all.slice(0, 4) : all;
}

function attentionCases(small: boolean): OpCase[] {
  const out: OpCase[] = [];
  for (const variant of attentionVariants(small)) {
    const reference = (q: Arr, k: Arr, v: Arr): Arr => {
      const d = q.shape[q.shape.length - 1]!;
      const o = { scale: variant.options.scale ?? 1 / Math.sqrt(d), causal: variant.options.causal ?? true, window: variant.options.window ?? 0, prefix: variant.options.prefix ?? 0 };
      const qs = ref.toRows(q);
      const ks = ref.toRows(k);
      const vs = ref.toRows(v);
      const heads = qs.map((qh, h) => ref.attentionHead(qh, ks[h]!, vs[h]!, o));
      return ref.arr(heads.flat(2), [...q.shape.slice(0, -1), v.shape[v.shape.length - 1]!]);
    };
    const inputs = [spec(variant.q), spec(variant.k), spec(variant.v)];
    out.push(
      { name: `attention (fused) ${variant.name}`, inputs, f: (q, k, v) => ops.attention(q, k, v, variant.options), reference },
      { name: `naiveAttention ${variant.name}`, inputs, f: (q, k, v) => ops.naiveAttention(q, k, v, variant.options), reference },
    );
  }
  return out;
}

/** Every first-derivative / forward case of the suite. */
export function opCases(options: CaseOptions): OpCase[] {
  const rng = new Rng(2024);
  const small = options.small;
  return [
    ...unaryCases(small, rng),
    ...binaryCases(small),
    ...reductionCases(small),
    ...matmulCases(small),
    ...nnCases(small),
    ...scanCases(small),
    ...shapeCases(),
    ...gatherCases(),
    ...ropeCases(),
    ...attentionCases(small),
  ];
}

/** Nonlinear functions whose second derivatives (grad of grad) are checked. */
export function secondOrderCases(options: CaseOptions): OpCase[] {
  const small = options.small;
  const n = small ? 3 : 4;
  const cases: OpCase[] = [
    { name: 'matmul (bilinear)', inputs: [spec([3, n]), spec([n, 2])], f: (a, b) => ops.matmul(a, b) },
    { name: 'tanh of batched matmul', inputs: [spec([2, 3, n]), spec([n, 2])], f: (a, b) => ops.tanh(ops.matmul(a, b)) },
    { name: 'exp, log, sqrt, rsqrt', inputs: [spec([n], 'positive')], f: (x) => ops.add(ops.add(ops.exp(x), ops.log(x)), ops.add(ops.sqrt(x), ops.rsqrt(x))) },
    { name: 'tanh, sigmoid, erf, softplus', inputs: [spec([n])], f: (x) => ops.add(ops.add(ops.tanh(x), ops.sigmoid(x)), ops.add(ops.erf(x), ops.softplus(x))) },
    { name: 'silu and both gelu forms', inputs: [spec([n])], f: (x) => ops.add(ops.silu(x), ops.add(ops.gelu(x), ops.gelu(x, 'tanh'))) },
    { name: 'sin, cos, reciprocal, square', inputs: [spec([n], 'nonzero')], f: (x) => ops.add(ops.mul(ops.sin(x), ops.cos(x)), ops.add(ops.reciprocal(x), ops.square(x))) },
    { name: 'pow in both arguments', inputs: [spec([n], 'positive'), spec([n])], f: (a, b) => ops.pow(a, b) },
    { name: 'div and mul with broadcasting', inputs: [spec([2, n]), spec([n], 'nonzero')], f: (a, b) => ops.div(ops.mul(a, a), b) },
    { name: 'maximum times input', inputs: [spec([n]), spec([n])], f: (a, b) => ops.mul(ops.maximum(a, b), a) },
    { name: 'square of sum', inputs: [spec([2, n])], f: (x) => ops.square(ops.sum(x, 1)) },
    { name: 'square of mean', inputs: [spec([2, n])], f: (x) => ops.square(ops.mean(x)) },
    { name: 'max times input', inputs: [spec([2, n])], f: (x) => ops.mul(ops.max(x, -1, true), x) },
    { name: 'prod', inputs: [spec([2, n], 'nonzero')], f: (x) => ops.prod(x, -1) },
    { name: 'var', inputs: [spec([2, n])], f: (x) => ops.variance(x, -1) },
    { name: 'logsumexp', inputs: [spec([2, n])], f: (x) => ops.logsumexp(x, -1) },
    { name: 'softmax', inputs: [spec([2, n])], f: (x) => ops.softmax(x) },
    { name: 'logSoftmax', inputs: [spec([2, n])], f: (x) => ops.logSoftmax(x, 0) },
    { name: 'layerNorm with weight and bias', inputs: [spec([2, n]), spec([n]), spec([n])], f: (x, w, b) => ops.layerNorm(x, { weight: w, bias: b }) },
    { name: 'rmsNorm', inputs: [spec([2, n]), spec([n])], f: (x, w) => ops.rmsNorm(x, { weight: w }) },
    { name: 'l2Normalize', inputs: [spec([2, n])], f: (x) => ops.l2Normalize(x) },
    { name: 'linearScan', inputs: [spec([2, n + 1], 'unit'), spec([2, n + 1])], f: (a, b) => ops.linearScan(a, b) },
    { name: 'linearScan reverse on axis 0', inputs: [spec([n + 1, 2]), spec([n + 1, 2])], f: (a, b) => ops.square(ops.linearScan(a, b, 0, true)) },
    { name: 'cumsum squared', inputs: [spec([2, n])], f: (x) => ops.square(ops.cumsum(x)) },
    { name: 'cumprod', inputs: [spec([2, n], 'nonzero')], f: (x) => ops.cumprod(x) },
    { name: 'crossEntropy', inputs: [spec([3, n]), spec([3], { int: n })], f: (l, t) => ops.crossEntropy(l, t) },
    { name: 'causalConv1d (bilinear)', inputs: [spec([n, 2]), spec([2, 3])], f: (x, w) => ops.causalConv1d(x, w) },
    { name: 'overlapping and disjoint slices', inputs: [spec([3, n])], f: (x) => ops.add(ops.sum(ops.mul(ops.narrow(x, 0, 0, 2), ops.narrow(x, 0, 1, 2))), ops.sum(ops.pow(ops.narrow(x, 1, 1, 2), 3))) },
    { name: 'indexSelect squared', inputs: [spec([3, 2]), spec([4], { int: 3 })], f: (x, i) => ops.square(ops.indexSelect(x, 0, i)) },
    { name: 'attention (composite backward)', inputs: [spec([1, 3, 2]), spec([1, 3, 2]), spec([1, 3, 2])], f: (q, k, v) => ops.attention(q, k, v, { window: 2 }) },
  ];
  return small ? cases.filter((_, i) => i % 2 === 0) : cases;
}
