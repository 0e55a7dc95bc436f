// Special values: every unary, binary and reduction primitive (and the composite ops built
// on them: logsumexp, softmax, logSoftmax, mean) on WebGPU against the CPU reference at 0,
// -0, +-1, +-Inf, NaN, the float32 extremes and denormals. The CPU computes JavaScript's Math
// functions in float64 and rounds once; WebGPU must give the same value, NaN for NaN,
// infinities and signed zeros exactly, finite values within a few ulps.
//
// The differences allowed are listed in ALLOWED below, each with the reason; nothing else may
// differ.
import {
  cpuBackend, log, logSoftmax, logsumexp, max, mean, softmax, sum, tensor, type BinaryOp, type ReduceOp, type Tensor, type UnaryOp,
} from '@titans/tensor';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WebGPUBackend } from '../src/index.js';
import { makeBackend, view } from './helpers.js';

let gpu: WebGPUBackend;
beforeAll(async () => {
  gpu = await makeBackend();
});
afterAll(() => gpu?.destroy());

const F32_MAX = 3.4028234663852886e38;
const MIN_NORMAL = 1.1754943508222875e-38;
const MIN_DENORMAL = 1.401298464324817e-45;

/** The special values, float32-exact. */
const VALUES = Float32Array.from([
  0, -0, 1, -1, 0.5, -2.5, 100, -100, Infinity, -Infinity, NaN, F32_MAX, -F32_MAX, MIN_NORMAL, -MIN_NORMAL, MIN_DENORMAL, -1e-40,
  // The edges of the kernels' branches: exp overflow and underflow, softplus, tanh, erf, sin/cos, pow's integer test.
  88.7, 88.8, -87.4, -103.9, -104.5, 30, -30, 15.5, 6.5, 1e-30, -3e-5, 8191.5, 16777217, 0.75,
  // Huge arguments of sin and cos (exact argument reduction).
  8192.5, -123456.7, 1e10, 2 ** 100, -1e38,
]);

const isDenormal = (x: number): boolean => x !== 0 && Math.abs(x) < MIN_NORMAL;
const ftz = (x: number): number => (isDenormal(x) ? (x < 0 ? -0 : 0) : x);

/**
 * The differences WebGPU is allowed, and why. A case that none of these covers must agree
 * with the CPU exactly in kind (NaN, +-Inf, signed zero) and within ELEMENT_RTOL otherwise.
 */
const ALLOWED = {
  denormals:
    'WGSL lets a device flush float32 denormals to zero (SwiftShader does): a denormal input may act as a zero ' +
    '(of either sign), and a denormal result may come back as a zero or as the flushed input.',
  accumulation:
    'sum and prod accumulate in float32 on WebGPU (in float64 on the CPU): where a float32 partial result overflows, ' +
    'WebGPU may give +-Inf or NaN (Inf - Inf) where the CPU is finite or has the other infinity.',
} as const;

const ELEMENT_RTOL = 4e-6;

/** Exact in kind; finite non-zero values within rtol. */
function agrees(actual: number, expected: number, rtol = ELEMENT_RTOL, signedZero = true): boolean {
  if (Number.isNaN(expected) || Number.isNaN(actual)) return Number.isNaN(expected) && Number.isNaN(actual);
  if (!Number.isFinite(expected) || !Number.isFinite(actual) || expected === 0 || actual === 0) {
    return signedZero ? Object.is(actual, expected) : actual === expected;
  }
  return Math.abs(actual - expected) <= rtol * Math.abs(expected);
}

/** Agreement with the CPU, or with one of the allowed differences for denormals. */
function agreesAllowingDenormals(actual: number, inputs: readonly number[], reference: (xs: number[]) => number, rtol?: number): boolean {
  const expected = reference([...inputs]);
  if (agrees(actual, expected, rtol)) return true;
  if (!inputs.some(isDenormal) && !isDenormal(expected) && !isDenormal(actual)) return false;
  const candidates = [expected, reference(inputs.map(ftz)), reference(inputs.map((x) => (isDenormal(x) ? (x < 0 ? 0 : -0) : x)))];
  return candidates.some((c) => agrees(ftz(actual), ftz(c), rtol, false));
}

/** -0 printed as -0. */
const fmt = (x: number): string => (Object.is(x, -0) ? '-0' : String(x));
const fmtRow = (row: readonly number[]): string => `[${row.map(fmt).join(', ')}]`;

async function gpuUnary(op: UnaryOp, xs: Float32Array): Promise<Float32Array> {
  const s = gpu.fromArray(xs, 'float32');
  const out = gpu.unary(op, view(s, [xs.length]), 'float32');
  const values = (await gpu.read(out)) as Float32Array;
  gpu.dispose(out);
  gpu.dispose(s);
  return values;
}

function cpuUnary(op: UnaryOp, x: number): number {
  const s = cpuBackend.fromArray(Float32Array.of(x), 'float32');
  return cpuBackend.readSync(cpuBackend.unary(op, view(s, [1]), 'float32'))[0]!;
}

function cpuBinary(op: BinaryOp, x: number, y: number): number {
  const a = cpuBackend.fromArray(Float32Array.of(x), 'float32');
  const b = cpuBackend.fromArray(Float32Array.of(y), 'float32');
  return cpuBackend.readSync(cpuBackend.binary(op, view(a, [1]), view(b, [1]), 'float32'))[0]!;
}

const UNARY: readonly UnaryOp[] = [
  'neg', 'exp', 'log', 'sqrt', 'rsqrt', 'abs', 'sign', 'tanh', 'sigmoid', 'relu', 'erf', 'recip', 'sin', 'cos', 'floor', 'softplus', 'square', 'copy',
];
const BINARY: readonly BinaryOp[] = ['add', 'sub', 'mul', 'div', 'pow', 'maximum', 'minimum', 'eq', 'ne', 'lt', 'le', 'gt', 'ge'];

describe('special values: WebGPU agrees with the CPU', () => {
  it('the values of the issue: log([0, -1, -Inf]) and logsumexp([-Inf, -Inf])', async () => {
    const x = tensor([0, -1, -Infinity], [3], { backend: gpu });
    expect(Array.from(await log(x).data())).toEqual([-Infinity, NaN, NaN]);
    expect(Array.from(await logsumexp(tensor([-Infinity, -Infinity], [2], { backend: gpu })).data())).toEqual([-Infinity]);
    expect(Array.from(await logsumexp(tensor([-Infinity, -Infinity], [1, 2], { backend: gpu }), -1).data())).toEqual([-Infinity]);
  });

  for (const op of UNARY) {
    it(`unary ${op}`, async () => {
      const actual = await gpuUnary(op, VALUES);
      const bad: string[] = [];
      VALUES.forEach((x, i) => {
        if (agreesAllowingDenormals(actual[i]!, [x], ([v]) => cpuUnary(op, v!))) return;
        bad.push(`${op}(${fmt(x)}) = ${fmt(actual[i]!)} on WebGPU, ${fmt(cpuUnary(op, x))} on the CPU`);
      });
      expect(bad, bad.join('\n')).toEqual([]);
    });
  }

  for (const op of BINARY) {
    it(`binary ${op} over every pair`, async () => {
      const n = VALUES.length;
      const xs = new Float32Array(n * n);
      const ys = new Float32Array(n * n);
      for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) { xs[i * n + j] = VALUES[i]!; ys[i * n + j] = VALUES[j]!; }
      const a = gpu.fromArray(xs, 'float32');
      const b = gpu.fromArray(ys, 'float32');
      const out = gpu.binary(op, view(a, [n * n]), view(b, [n * n]), 'float32');
      const actual = await gpu.read(out);
      for (const s of [a, b, out]) gpu.dispose(s);
      const bad: string[] = [];
      for (let k = 0; k < n * n; k++) {
        const ref = ([x, y]: number[]): number => cpuBinary(op, x!, y!);
        if (!agreesAllowingDenormals(actual[k]!, [xs[k]!, ys[k]!], ref)) bad.push(`${op}(${fmt(xs[k]!)}, ${fmt(ys[k]!)}) = ${fmt(actual[k]!)} on WebGPU, ${fmt(ref([xs[k]!, ys[k]!]))} on the CPU`);
      }
      expect(bad, bad.join('\n')).toEqual([]);
    });
  }

  // Rows of specials: short rows take the thread-per-row kernel, long ones (padded with the
  // op's identity) the workgroup tree.
  const ROWS: readonly number[][] = [
    [0, -0], [-0, -0], [1, -1], [Infinity, -Infinity], [-Infinity, -Infinity], [Infinity, Infinity], [NaN, 1], [1, NaN],
    [-Infinity, NaN], [F32_MAX, F32_MAX], [-F32_MAX, -F32_MAX], [F32_MAX, -Infinity], [MIN_NORMAL, MIN_NORMAL], [0, Infinity],
    [-100, 100, -Infinity], [2.5, -1, 0.5, 100], [MIN_DENORMAL, -1e-40], [-1e-40, 0],
  ];
  const identity: Record<ReduceOp, number> = { sum: 0, prod: 1, max: -Infinity, min: Infinity };
  for (const op of ['sum', 'prod', 'max', 'min'] as const) {
    for (const cols of [4, 70]) {
      it(`reduce ${op} over rows of ${cols}`, async () => {
        const data = new Float32Array(ROWS.length * cols).fill(identity[op]);
        ROWS.forEach((row, r) => row.forEach((v, c) => { data[r * cols + c] = v; }));
        const cpu = cpuBackend.readSync(cpuBackend.reduceRows(op, cpuBackend.fromArray(data, 'float32'), ROWS.length, cols));
        const s = gpu.fromArray(data, 'float32');
        const actual = await gpu.read(gpu.reduceRows(op, s, ROWS.length, cols));
        const bad: string[] = [];
        ROWS.forEach((row, r) => {
          const reference = (xs: number[]): number => {
            const d = new Float32Array(cols).fill(identity[op]);
            xs.forEach((v, c) => { d[c] = v; });
            return cpuBackend.readSync(cpuBackend.reduceRows(op, cpuBackend.fromArray(d, 'float32'), 1, cols))[0]!;
          };
          if (agreesAllowingDenormals(actual[r]!, row, reference, 1e-5)) return;
          // ALLOWED.accumulation: a float32 partial overflows.
          const overflows = (op === 'sum' || op === 'prod') && row.some((v) => Math.abs(v) >= F32_MAX) && !Number.isFinite(actual[r]!);
          if (overflows) return;
          bad.push(`${op}(${fmtRow(row)}) = ${fmt(actual[r]!)} on WebGPU, ${fmt(cpu[r]!)} on the CPU`);
        });
        expect(bad, bad.join('\n')).toEqual([]);
      });
      it(`argmax and argmin over rows of ${cols}`, async () => {
        for (const arg of ['argmax', 'argmin'] as const) {
          const data = new Float32Array(ROWS.length * cols).fill(arg === 'argmax' ? -Infinity : Infinity);
          ROWS.forEach((row, r) => row.forEach((v, c) => { data[r * cols + c] = v; }));
          const cpu = cpuBackend.readSync(cpuBackend.argReduceRows(arg, cpuBackend.fromArray(data, 'float32'), ROWS.length, cols));
          const actual = await gpu.read(gpu.argReduceRows(arg, gpu.fromArray(data, 'float32'), ROWS.length, cols));
          const bad = ROWS.flatMap((row, r) => {
            if (actual[r] === cpu[r]) return [];
            // ALLOWED.denormals: a flushed denormal ties with a zero.
            if (row.some(isDenormal) && ftz(row[actual[r]!] ?? NaN) === ftz(row[cpu[r]!] ?? NaN)) return [];
            return [`${arg}(${fmtRow(row)}) = ${actual[r]} on WebGPU, ${cpu[r]} on the CPU`];
          });
          expect(bad, bad.join('\n')).toEqual([]);
        }
      });
    }
  }

  it('logsumexp, softmax, logSoftmax, mean and max through the tensor API', async () => {
    const rows = ROWS.filter((row) => row.length === 2 && !row.some(isDenormal) && !row.some((v) => Math.abs(v) === F32_MAX));
    const flat = rows.flat();
    const run = async (backend: typeof gpu | typeof cpuBackend, f: (x: Tensor) => Tensor): Promise<Float32Array> => {
      const x = tensor(flat, [rows.length, 2], { backend });
      return Float32Array.from(await f(x).data());
    };
    const ops: [string, (x: Tensor) => Tensor][] = [
      ['logsumexp', (x) => logsumexp(x, -1)], ['softmax', (x) => softmax(x)], ['logSoftmax', (x) => logSoftmax(x)],
      ['mean', (x) => mean(x, -1)], ['max', (x) => max(x, -1)], ['sum', (x) => sum(x, -1)],
    ];
    for (const [name, f] of ops) {
      const actual = await run(gpu, f);
      const expected = await run(cpuBackend, f);
      const bad = Array.from(expected).flatMap((e, i) => (agrees(actual[i]!, e, 1e-5) ? [] : [`${name} element ${i}: ${fmt(actual[i]!)} on WebGPU, ${fmt(e)} on the CPU`]));
      expect(bad, bad.join('\n')).toEqual([]);
    }
  });

  it('cast to int32, where with a NaN or -0 condition, and scatterAdd of specials', async () => {
    const n = VALUES.length;
    const s = gpu.fromArray(VALUES, 'float32');
    const c = cpuBackend.fromArray(VALUES, 'float32');
    const v = view(s, [n]);
    const cv = view(c, [n]);
    const bad: string[] = [];
    const castGpu = await gpu.read(gpu.cast(v, 'int32'));
    const castCpu = cpuBackend.readSync(cpuBackend.cast(cv, 'int32'));
    VALUES.forEach((x, i) => { if (castGpu[i] !== castCpu[i] && !isDenormal(x)) bad.push(`cast(${fmt(x)}) = ${castGpu[i]} on WebGPU, ${castCpu[i]} on the CPU`); });
    const ones = Float32Array.from(VALUES, () => 1);
    const twos = Float32Array.from(VALUES, () => 2);
    const whereGpu = await gpu.read(gpu.where(v, view(gpu.fromArray(ones, 'float32'), [n]), view(gpu.fromArray(twos, 'float32'), [n])));
    const whereCpu = cpuBackend.readSync(cpuBackend.where(cv, view(cpuBackend.fromArray(ones, 'float32'), [n]), view(cpuBackend.fromArray(twos, 'float32'), [n])));
    VALUES.forEach((x, i) => { if (whereGpu[i] !== whereCpu[i] && !isDenormal(x)) bad.push(`where(${fmt(x)}, 1, 2) = ${whereGpu[i]} on WebGPU, ${whereCpu[i]} on the CPU`); });
    // Every value scattered into 3 rows in turn: each row sums specials in the CPU's order.
    const idx = Int32Array.from(VALUES, (_, i) => i % 3);
    const sumGpu = await gpu.read(gpu.scatterAddRows(s, 1, gpu.fromArray(idx, 'int32'), 3));
    const sumCpu = cpuBackend.readSync(cpuBackend.scatterAddRows(c, 1, cpuBackend.fromArray(idx, 'int32'), 3));
    for (let r = 0; r < 3; r++) if (!agrees(sumGpu[r]!, sumCpu[r]!)) bad.push(`scatterAdd row ${r} = ${fmt(sumGpu[r]!)} on WebGPU, ${fmt(sumCpu[r]!)} on the CPU`);
    expect(bad, bad.join('\n')).toEqual([]);
  });

  it('lists every allowed difference with a reason', () => {
    for (const reason of Object.values(ALLOWED)) expect(reason.length).toBeGreaterThan(40);
  });
});
