// Plain-JavaScript float64 references for forward values: small, obviously-correct loops
// over flat arrays, independent of the library's strided kernels.

export interface Arr {
  data: Float64Array;
  shape: number[];
}

export function arr(data: ArrayLike<number>, shape: readonly number[]): Arr {
  return { data: Float64Array.from(data), shape: [...shape] };
}

export function sizeOf(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function stridesOf(shape: readonly number[]): number[] {
  const out = new Array<number>(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    out[i] = s;
    s *= shape[i]!;
  }
  return out;
}

export function unravel(index: number, shape: readonly number[]): number[] {
  const out = new Array<number>(shape.length);
  for (let d = shape.length - 1; d >= 0; d--) {
    out[d] = index % shape[d]!;
    index = Math.floor(index / shape[d]!);
  }
  return out;
}

export function ravel(index: readonly number[], shape: readonly number[]): number {
  let flat = 0;
  for (let d = 0; d < shape.length; d++) flat = flat * shape[d]! + index[d]!;
  return flat;
}

export function at(a: Arr, index: readonly number[]): number {
  return a.data[ravel(index, a.shape)]!;
}

export function map(a: Arr, fn: (x: number, i: number) => number): Arr {
  return { data: a.data.map(fn), shape: [...a.shape] };
}

export function broadcastShape(a: readonly number[], b: readonly number[]): number[] {
  const n = Math.max(a.length, b.length);
  return Array.from({ length: n }, (_, i) => {
    const x = a[a.length - n + i] ?? 1;
    const y = b[b.length - n + i] ?? 1;
    return x === 1 ? y : x;
  });
}

/** The element of `a` that position `index` of the broadcast shape reads. */
function broadcastRead(a: Arr, index: readonly number[]): number {
  const lead = index.length - a.shape.length;
  return at(a, a.shape.map((d, i) => (d === 1 ? 0 : index[lead + i]!)));
}

export function zipWith(arrays: readonly Arr[], fn: (...xs: number[]) => number): Arr {
  const shape = arrays.map((x) => x.shape).reduce((s, t) => broadcastShape(s, t), [] as number[]);
  const data = new Float64Array(sizeOf(shape));
  for (let i = 0; i < data.length; i++) {
    const index = unravel(i, shape);
    data[i] = fn(...arrays.map((x) => broadcastRead(x, index)));
  }
  return { data, shape };
}

/** Reduces `axes` (all when undefined) with `fn` over the list of values of each output position. */
export function reduce(a: Arr, axes: number | readonly number[] | undefined, fn: (values: number[]) => number, keepDims = false): Arr {
  const list = axes === undefined ? a.shape.map((_, i) => i) : (typeof axes === 'number' ? [axes] : [...axes]).map((x) => (x < 0 ? x + a.shape.length : x));
  const keptShape = a.shape.map((d, i) => (list.includes(i) ? 1 : d));
  const groups: number[][] = Array.from({ length: sizeOf(keptShape) }, () => []);
  for (let i = 0; i < a.data.length; i++) {
    const index = unravel(i, a.shape).map((v, d) => (list.includes(d) ? 0 : v));
    groups[ravel(index, keptShape)]!.push(a.data[i]!);
  }
  const shape = keepDims ? keptShape : a.shape.filter((_, i) => !list.includes(i));
  return { data: Float64Array.from(groups.map(fn)), shape };
}

export const sumOf = (v: number[]): number => v.reduce((s, x) => s + x, 0);
export const meanOf = (v: number[]): number => sumOf(v) / v.length;
export const varOf = (v: number[]): number => {
  const m = meanOf(v);
  return meanOf(v.map((x) => (x - m) ** 2));
};
export const logSumExpOf = (v: number[]): number => {
  const m = Math.max(...v);
  return m + Math.log(sumOf(v.map((x) => Math.exp(x - m))));
};

/** Applies `fn` to every 1-D line along `axis` (the line is replaced by fn's output of equal length). */
export function alongAxis(a: Arr, axis: number, fn: (line: number[]) => number[]): Arr {
  const ax = axis < 0 ? axis + a.shape.length : axis;
  const out = new Float64Array(a.data.length);
  const n = a.shape[ax]!;
  const stride = stridesOf(a.shape)[ax]!;
  for (let i = 0; i < a.data.length; i++) {
    if (unravel(i, a.shape)[ax] !== 0) continue;
    const line = Array.from({ length: n }, (_, j) => a.data[i + j * stride]!);
    fn(line).forEach((v, j) => { out[i + j * stride] = v; });
  }
  return { data: out, shape: [...a.shape] };
}

export function softmaxLine(line: number[]): number[] {
  const lse = logSumExpOf(line);
  return line.map((x) => Math.exp(x - lse));
}

export function transposeLast(a: Arr): Arr {
  const n = a.shape.length;
  const shape = [...a.shape];
  [shape[n - 2], shape[n - 1]] = [shape[n - 1]!, shape[n - 2]!];
  const data = new Float64Array(a.data.length);
  for (let i = 0; i < data.length; i++) {
    const index = unravel(i, shape);
    [index[n - 2], index[n - 1]] = [index[n - 1]!, index[n - 2]!];
    data[i] = at(a, index);
  }
  return { data, shape };
}

/** NumPy matmul semantics: 1-D operands promoted, batch axes broadcast. */
export function matmul(a: Arr, b: Arr): Arr {
  const a2 = a.shape.length === 1 ? { data: a.data, shape: [1, a.shape[0]!] } : a;
  const b2 = b.shape.length === 1 ? { data: b.data, shape: [b.shape[0]!, 1] } : b;
  const m = a2.shape[a2.shape.length - 2]!;
  const k = a2.shape[a2.shape.length - 1]!;
  const n = b2.shape[b2.shape.length - 1]!;
  const batch = broadcastShape(a2.shape.slice(0, -2), b2.shape.slice(0, -2));
  const shape = [...batch, m, n];
  const data = new Float64Array(sizeOf(shape));
  for (let i = 0; i < data.length; i++) {
    const index = unravel(i, shape);
    const lead = index.slice(0, -2);
    const [r, c] = index.slice(-2) as [number, number];
    let acc = 0;
    for (let p = 0; p < k; p++) {
      const ai = [...lead.slice(lead.length - (a2.shape.length - 2)), r, p].map((v, d) => (a2.shape[d] === 1 ? 0 : v));
      const bi = [...lead.slice(lead.length - (b2.shape.length - 2)), p, c].map((v, d) => (b2.shape[d] === 1 ? 0 : v));
      acc += at(a2, ai) * at(b2, bi);
    }
    data[i] = acc;
  }
  let outShape = shape;
  if (a.shape.length === 1) outShape = outShape.filter((_, d) => d !== outShape.length - 2);
  if (b.shape.length === 1) outShape = outShape.slice(0, -1);
  return { data, shape: outShape };
}

/** erf by Simpson's rule on 2/sqrt(pi) exp(-t^2) (independent of the library's series). */
export function erfRef(x: number): number {
  const n = 2000;
  const h = x / n;
  let s = 1 + Math.exp(-x * x);
  for (let i = 1; i < n; i++) s += (i % 2 === 1 ? 4 : 2) * Math.exp(-((i * h) ** 2));
  return (2 / Math.sqrt(Math.PI)) * (h / 3) * s;
}

/** Attention for one head: q [tq, d], k [tk, d], v [tk, dv] with the shared mask rule. */
export function attentionHead(
  q: number[][], k: number[][], v: number[][], options: { scale: number; causal: boolean; window: number; prefix: number },
): number[][] {
  const tq = q.length;
  const tk = k.length;
  return q.map((qi, i) => {
    const position = i + tk - tq;
    const scores: number[] = [];
    const keys: number[] = [];
    for (let j = 0; j < tk; j++) {
      const visible = j < options.prefix || ((!options.causal || j <= position) && (options.window === 0 || j > position - options.window));
      if (!visible) continue;
      keys.push(j);
      scores.push(options.scale * qi.reduce((s, x, c) => s + x * k[j]![c]!, 0));
    }
    const dv = v[0]?.length ?? 0;
    if (keys.length === 0) return new Array<number>(dv).fill(0);
    const p = softmaxLine(scores);
    return Array.from({ length: dv }, (_, c) => keys.reduce((s, j, n) => s + p[n]! * v[j]![c]!, 0));
  });
}

export function toRows(a: Arr): number[][][] {
  const [t, d] = a.shape.slice(-2) as [number, number];
  const heads = a.data.length / (t * d);
  return Array.from({ length: heads }, (_, h) => Array.from({ length: t }, (_, i) => Array.from(a.data.subarray((h * t + i) * d, (h * t + i + 1) * d))));
}
