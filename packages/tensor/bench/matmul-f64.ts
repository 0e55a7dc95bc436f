// Float64 batched matmul of the CPU backend: the WebAssembly SIMD kernel (cpu/matmul-f64.wat)
// and the register-blocked JavaScript kernel (cpu/matmul-f64.ts) against the general loop they
// replace (setMatmulF64Mode('off')), same bits, per shape, with the rounds of the three alternating. Shapes are those of the Atlas memory's Newton-Schulz
// (batched small Gram products), plain and with a transposed operand.
//
//   node --conditions=source --import tsx bench/matmul-f64.ts [rounds]   (default 5)
//
// Prints a table and a JSON line: microseconds per product (median of the rounds), old / new.
// One thread; the machine's other load shows up in every column alike (rounds alternate).
import { cpuBackend, type View } from '@titans/tensor';
import { setMatmulF64Mode } from '../src/cpu/matmul-f64.js';

const rounds = Number(process.argv[2] ?? 5);
// [batch, m, k, n, which operand is a transposed view: '' | 'a' | 'b']
const shapes: [number, number, number, number, string][] = [
  [256, 16, 16, 16, ''], [256, 16, 16, 16, 'b'], [256, 16, 16, 16, 'a'],
  [64, 32, 32, 32, ''], [64, 32, 32, 32, 'b'],
  [16, 64, 64, 64, ''], [16, 64, 64, 64, 'a'],
  [32, 16, 273, 16, 'b'], [32, 273, 16, 11, 'a'],
  // the Atlas MQAR step (1 memory head of width 32, phi 1,057 wide, chunk 8 + window 4 - 1 = 11 sources, batch 16):
  // Newton-Schulz products over the chunk's 128 tokens, and the Gram pieces S0 X^T, X X^T and their backward
  [128, 32, 32, 32, ''], [128, 32, 32, 32, 'a'], [128, 32, 32, 32, 'b'], [128, 32, 32, 11, 'b'],
  [16, 1057, 32, 11, 'a'], [16, 32, 1057, 11, 'b'], [16, 11, 1057, 11, 'b'],
];

function view(batch: number, rows: number, cols: number, transposed: boolean): View {
  const data = Float64Array.from({ length: batch * rows * cols }, (_, i) => Math.sin(i * 0.7311) * 2);
  const storage = cpuBackend.fromArray(data, 'float64');
  return transposed
    ? { storage, shape: [batch, rows, cols], strides: [rows * cols, 1, rows], offset: 0 }
    : { storage, shape: [batch, rows, cols], strides: [rows * cols, cols, 1], offset: 0 };
}

function timed(fn: () => void): number {
  let n = 1;
  for (;;) {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) fn();
    const ms = performance.now() - t0;
    if (ms > 100) return (ms * 1000) / n;
    n *= 2;
  }
}
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const rows: { shape: string; oldUs: number; jsUs: number; wasmUs: number; oldOverJs: number; oldOverWasm: number }[] = [];
for (const [batch, m, k, n, t] of shapes) {
  const a = view(batch, m, k, t === 'a');
  const b = view(batch, k, n, t === 'b');
  const run = (): void => { cpuBackend.dispose(cpuBackend.matmul(a, b)); };
  const olds: number[] = [];
  const jss: number[] = [];
  const wasms: number[] = [];
  for (let r = 0; r < rounds; r++) {
    setMatmulF64Mode('off'); olds.push(timed(run));
    setMatmulF64Mode('js'); jss.push(timed(run));
    setMatmulF64Mode('wasm'); wasms.push(timed(run));
  }
  const shape = `${batch}x${m}x${k}@${batch}x${k}x${n}${t ? ` (${t}^T)` : ''}`;
  const oldUs = median(olds);
  const jsUs = median(jss);
  const wasmUs = median(wasms);
  rows.push({ shape, oldUs, jsUs, wasmUs, oldOverJs: oldUs / jsUs, oldOverWasm: oldUs / wasmUs });
  const us = (x: number): string => x.toFixed(0).padStart(7);
  console.log(`${shape.padEnd(28)} old ${us(oldUs)} us  js ${us(jsUs)} us (${(oldUs / jsUs).toFixed(2)}x)  wasm ${us(wasmUs)} us (${(oldUs / wasmUs).toFixed(2)}x)`);
}
console.log(JSON.stringify({ date: new Date().toISOString(), rounds, rows }));
