// Child process of cpu-fma.test.ts (started with and without --experimental-wasm-relaxed-simd):
// runs float32 matmuls with configureCpu({ fma: false }) and ({ fma: true }) on random shapes
// and layouts and prints one JSON line comparing them.
import { fmaSupported } from '../src/cpu/wasm/fma.js';
import { Rng, configureCpu, cpuConfig, cpuInfo, matmul, startCpuWorkers, tensor, transpose, type Tensor } from '../src/index.js';

const rng = new Rng(20261207);

function random(shape: readonly number[]): Tensor {
  const size = shape.reduce((x, y) => x * y, 1);
  const draws = rng.uniformArray(size);
  const data = new Float32Array(size);
  for (let i = 0; i < size; i++) data[i] = 2 * draws[i]! - 1;
  return tensor(data, shape);
}

/** A [..batch, rows, cols] operand, stored transposed (a strided view) when `t`. */
function operand(batch: number[], rows: number, cols: number, t: boolean): Tensor {
  return t ? transpose(random([...batch, cols, rows])) : random([...batch, rows, cols]);
}

function product(a: Tensor, b: Tensor, fma: boolean): Float32Array {
  configureCpu({ fma });
  return matmul(a, b).dataSync() as Float32Array;
}

// [batch of A, batch of B, m, k, n, A transposed, B transposed]
type Case = [number[], number[], number, number, number, boolean, boolean];
const cases: Case[] = [
  [[], [], 0, 5, 3, false, false],
  [[], [], 4, 0, 3, false, false],
  [[], [], 1, 1, 1, false, false],
  [[], [], 1, 7, 1, true, false],
  [[], [], 3, 5, 7, false, true],
  [[], [], 17, 33, 9, true, true],
  [[], [], 65, 300, 31, false, false], // depth past one 256 block
  [[], [], 130, 129, 263, true, false], // several tiles along m and n
  [[2], [2], 7, 19, 13, false, true],
  [[3], [], 33, 65, 17, true, false], // B broadcast over the batch
  [[2, 2], [2, 2], 5, 40, 11, true, true],
  [[], [], 128, 512, 96, false, false],
];

configureCpu({ threads: 1, wasmMinFlops: 0 });
const eps = 2 ** -24;
let worst = 0; // max |fused - exact| / (2 (k + 1) eps sum_p |a_ip b_pj|)
let differing = 0;
let identical = 0;
let elements = 0;
for (const [ba, bb, m, k, n, ta, tb] of cases) {
  const a = operand(ba, m, k, ta);
  const b = operand(bb, k, n, tb);
  const exact = product(a, b, false);
  const fused = product(a, b, true);
  if (exact.length !== fused.length) throw new Error('length mismatch');
  const av = a.dataSync();
  const bv = b.dataSync();
  const batch = exact.length / Math.max(1, m * n);
  const aBatch = ba.length === 0 ? 1 : av.length / (m * k);
  const bBatch = bb.length === 0 ? 1 : bv.length / (k * n);
  for (let q = 0; q < batch && m * n > 0; q++) {
    const ao = (aBatch === 1 ? 0 : q) * m * k;
    const bo = (bBatch === 1 ? 0 : q) * k * n;
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let scale = 0;
        for (let p = 0; p < k; p++) scale += Math.abs(av[ao + i * k + p]! * bv[bo + p * n + j]!);
        const at = (q * m + i) * n + j;
        const diff = Math.abs(fused[at]! - exact[at]!);
        const ratio = diff === 0 ? 0 : diff / (2 * (k + 1) * eps * scale);
        if (!(ratio <= worst)) worst = ratio; // NaN-safe
        if (Object.is(fused[at], exact[at])) identical++; else differing++;
        elements++;
      }
    }
  }
}

// 1 x 2 @ 2 x 1 whose last product, 1 + 2^-11 + 2^-24, rounds to 1 + 2^-11 in float32: the
// exact kernel sums -(1 + 2^-11) + (1 + 2^-11) = 0, a fused multiply-add keeps 2^-24.
const probeA = tensor(new Float32Array([-(1 + 2 ** -11), 1 + 2 ** -12]), [1, 2]);
const probeB = tensor(new Float32Array([1, 1 + 2 ** -12]), [2, 1]);
const probeExact = product(probeA, probeB, false)[0];
const probeFused = product(probeA, probeB, true)[0];
const info = cpuInfo();
const fmaSetting = cpuConfig().fma;

// Split across worker threads: with fma on, every thread runs the relaxed-SIMD kernels, so the
// split product equals the one-thread product bit for bit, on shapes with 0, 1 and odd sizes
// and strided operands.
const splitCases: Case[] = [
  [[], [], 0, 9, 5, false, false],
  [[], [], 1, 1, 1, false, false],
  [[], [], 1, 301, 3, true, false],
  [[], [], 96, 200, 80, false, false],
  [[], [], 131, 67, 97, true, true],
  [[3], [], 45, 129, 33, false, true],
  [[2], [2], 77, 300, 51, true, false],
];
const splitInputs = splitCases.map(([ba, bb, m, k, n, ta, tb]) => [operand(ba, m, k, ta), operand(bb, k, n, tb)] as const);
const oneThread = splitInputs.map(([x, y]) => product(x, y, true));
const oneThreadExact = splitInputs.map(([x, y]) => product(x, y, false));
configureCpu({ threads: 2, parallelMinFlops: 0 });
const workers = startCpuWorkers(20000);
let splitIdentical = true;
let splitExactIdentical = true;
let splitDiffersFromExact = 0;
for (let c = 0; c < splitInputs.length; c++) {
  const [x, y] = splitInputs[c]!;
  const fused = product(x, y, true);
  // The pool restarts (with the relaxed-SIMD kernels) when fma is turned on: wait for it.
  startCpuWorkers(20000);
  const again = product(x, y, true);
  const exact = product(x, y, false);
  if (fused.length !== oneThread[c]!.length) splitIdentical = false;
  splitIdentical &&= fused.every((v, i) => Object.is(v, oneThread[c]![i])) && again.every((v, i) => Object.is(v, oneThread[c]![i]));
  splitExactIdentical &&= exact.every((v, i) => Object.is(v, oneThreadExact[c]![i]));
  splitDiffersFromExact += fused.filter((v, i) => !Object.is(v, exact[i])).length;
}
const splitWorkers = cpuInfo().workersReady;

console.log(JSON.stringify({
  supported: fmaSupported(), info, fmaSetting, worst, differing, identical, elements,
  probeExact, probeFused, workers, splitWorkers, splitIdentical, splitExactIdentical, splitDiffersFromExact,
}));
