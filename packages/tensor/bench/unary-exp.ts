// Eager float32 exp, sigmoid, silu and the silu gradient on the CPU backend: the JavaScript
// kernels (before) against the WebAssembly SIMD kernels of src/cpu/unary-exp.ts (after), in one
// process, alternating round by round (the machine may be shared), with the results checked
// bit for bit against each other.
//
//   cd packages/tensor && node --conditions=source --import tsx bench/unary-exp.ts [--quick]
//
// Writes bench-results/unary-exp.json; prints ns per element and the speedup (median of rounds).
// Both run on the calling thread.
import { mkdirSync, writeFileSync } from 'node:fs';
import type { Storage, View } from '../src/backend.js';
import { cpuBackend } from '../src/index.js';
import { setUnaryExpF32 } from '../src/cpu/backend.js';
import { MIN_ELEMENTS, useSimdExpKernels } from '../src/cpu/unary-exp.js';
import { random } from './random.js';

const quick = process.argv.includes('--quick');
const SIZES = [MIN_ELEMENTS, 4096, 16384, 65536, 4096 * 256];
const OPS = ['exp', 'sigmoid', 'silu', 'siluBackward'] as const;
type Op = (typeof OPS)[number];

function data(size: number, seed: number): Storage {
  const r = random(size, seed);
  const x = new Float32Array(size);
  for (let i = 0; i < size; i++) x[i] = 16 * r[i]!;
  return cpuBackend.fromArray(x, 'float32');
}

function runOp(op: Op, x: Storage, g: Storage, size: number): Storage {
  if (op === 'silu') return cpuBackend.silu(x);
  if (op === 'siluBackward') return cpuBackend.siluBackward(x, g);
  const view: View = { storage: x, shape: [size], strides: [1], offset: 0 };
  return cpuBackend.unary(op, view, 'float32');
}

/** Milliseconds per call: the best of a few timed batches (at least `minMs` each). */
function timeCall(f: () => void, minMs: number): number {
  let best = Infinity;
  for (let batch = 0; batch < 3; batch++) {
    let calls = 0;
    const t0 = performance.now();
    let t = t0;
    do {
      f();
      calls++;
      t = performance.now();
    } while (t - t0 < minMs);
    best = Math.min(best, (t - t0) / calls);
  }
  return best;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

const rounds = quick ? 3 : 7;
const minMs = quick ? 15 : 40;
interface Row { op: Op; size: number; jsNsPerElement: number; simdNsPerElement: number; speedup: number; identical: boolean }
const rows: Row[] = [];
for (const op of OPS) {
  for (const size of SIZES) {
    const x = data(size, 1 + size);
    const g = data(size, 2 + size);
    const js: number[] = [];
    const simd: number[] = [];
    let identical = true;
    for (let round = 0; round < rounds; round++) {
      for (const on of round % 2 === 0 ? [false, true] : [true, false]) {
        if (on) useSimdExpKernels();
        else setUnaryExpF32(null, null);
        const ms = timeCall(() => { cpuBackend.dispose(runOp(op, x, g, size)); }, minMs);
        (on ? simd : js).push((ms * 1e6) / size);
      }
    }
    setUnaryExpF32(null, null);
    const a = cpuBackend.readSync(runOp(op, x, g, size));
    useSimdExpKernels();
    const b = cpuBackend.readSync(runOp(op, x, g, size));
    const ua = new Uint32Array(a.buffer, a.byteOffset, size);
    const ub = new Uint32Array(b.buffer, b.byteOffset, size);
    for (let i = 0; i < size; i++) if (ua[i] !== ub[i]) identical = false;
    const row = { op, size, jsNsPerElement: median(js), simdNsPerElement: median(simd), speedup: median(js) / median(simd), identical };
    rows.push(row);
    console.log(`${op.padEnd(13)} ${String(size).padStart(8)}  js ${row.jsNsPerElement.toFixed(2).padStart(6)} ns/el  simd ${row.simdNsPerElement.toFixed(2).padStart(6)} ns/el  ${row.speedup.toFixed(2)}x${identical ? '' : '  BITS DIFFER'}`);
  }
}
mkdirSync('bench-results', { recursive: true });
writeFileSync('bench-results/unary-exp.json', `${JSON.stringify({ minElements: MIN_ELEMENTS, rounds, rows }, null, 2)}\n`);
console.log('wrote bench-results/unary-exp.json');
if (rows.some((r) => !r.identical)) process.exitCode = 1;
