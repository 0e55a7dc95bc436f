// Float64 batched matmul of the CPU backend: the register-blocked kernel (cpu/matmul-f64.ts)
// against the general loop it replaces (setMatmulF64Fast(false)), same bits, per shape, with
// the rounds of the two alternating. Shapes are those of the Atlas memory's Newton-Schulz
// (batched small Gram products), plain and with a transposed operand.
//
//   node --conditions=source --import tsx bench/matmul-f64.ts [rounds]   (default 5)
//
// Prints a table and a JSON line: microseconds per product (median of the rounds), old / new.
import { cpuBackend, type View } from '@titans/tensor';
import { setMatmulF64Fast } from '../src/cpu/matmul-f64.js';

const rounds = Number(process.argv[2] ?? 5);
// [batch, m, k, n, which operand is a transposed view: '' | 'a' | 'b']
const shapes: [number, number, number, number, string][] = [
  [256, 16, 16, 16, ''], [256, 16, 16, 16, 'b'], [256, 16, 16, 16, 'a'],
  [64, 32, 32, 32, ''], [64, 32, 32, 32, 'b'],
  [16, 64, 64, 64, ''], [16, 64, 64, 64, 'a'],
  [32, 16, 273, 16, 'b'], [32, 273, 16, 11, 'a'],
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

const rows: { shape: string; oldUs: number; newUs: number; ratio: number }[] = [];
for (const [batch, m, k, n, t] of shapes) {
  const a = view(batch, m, k, t === 'a');
  const b = view(batch, k, n, t === 'b');
  const run = (): void => { cpuBackend.dispose(cpuBackend.matmul(a, b)); };
  const olds: number[] = [];
  const news: number[] = [];
  for (let r = 0; r < rounds; r++) {
    setMatmulF64Fast(false); olds.push(timed(run));
    setMatmulF64Fast(true); news.push(timed(run));
  }
  const shape = `${batch}x${m}x${k}@${batch}x${k}x${n}${t ? ` (${t}^T)` : ''}`;
  const oldUs = median(olds);
  const newUs = median(news);
  rows.push({ shape, oldUs, newUs, ratio: oldUs / newUs });
  console.log(`${shape.padEnd(28)} old ${oldUs.toFixed(0).padStart(8)} us  new ${newUs.toFixed(0).padStart(8)} us  ${(oldUs / newUs).toFixed(2)}x`);
}
console.log(JSON.stringify({ date: new Date().toISOString(), rounds, rows }));
