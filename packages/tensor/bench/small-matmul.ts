// Float32 matmuls of a compiled plan: the generated SIMD kernel (compile/simd-matmul.ts) against
// the backend's packed GEMM (the same plan compiled with `simd: false`), same bits, per shape,
// with the rounds of the two alternating. It is where simd-matmul.ts's size limits come from.
//
//   node --conditions=source --import tsx bench/small-matmul.ts [threads]   (default 1)
//
// Prints a table and a JSON line: microseconds per product, wall and CPU time of this process
// (CPU time counts worker threads too), and whether the plan used the generated kernel.
import { Rng, compile, configureCpu, keep, type Tensor } from '@titans/tensor';

const threads = Number(process.argv[2] ?? 1);
configureCpu({ threads });
const rng = new Rng(3);
// [batch, m, k, n, b transposed (a view of a [batch, n, k] tensor, as x @ w^T in a backward pass)]
const shapes: [number, number, number, number, boolean?][] = [
  [8, 24, 16, 48], [1, 256, 48, 128], [4, 64, 64, 64], [1, 256, 64, 256], [1, 256, 256, 256],
  [4, 64, 64, 256], [1, 256, 512, 64], [1, 512, 256, 128], [2, 256, 256, 256], [1, 64, 1024, 64],
  [4, 64, 64, 64, true], [1, 256, 64, 64, true], [1, 256, 256, 64, true],
  // Few rows against a transposed weight (x @ w^T of a short sequence): the gather of w^T into
  // rows is a large share of these.
  [1, 8, 256, 256, true], [1, 16, 64, 64, true],
];
const rounds = 5;

function timed(fn: () => void, n: number): { wall: number; cpu: number } {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < n; i++) fn();
  const wall = ((performance.now() - t0) * 1000) / n;
  const c = process.cpuUsage(c0);
  return { wall, cpu: (c.user + c.system) / n };
}
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const rows = [];
for (const [batch, m, k, n, transposed = false] of shapes) {
  const a = keep(rng.normal([batch, m, k]));
  const b = keep(rng.normal(transposed ? [batch, n, k] : [batch, k, n]));
  const flops = 2 * batch * m * n * k;
  const f = (x: Tensor, y: Tensor): Tensor => x.matmul(transposed ? y.transpose(-1, -2) : y);
  const simd = compile(f);
  const backend = compile(f, { simd: false });
  const calls = Math.max(5, Math.min(2000, Math.round(2e8 / flops)));
  for (let i = 0; i < 3; i++) {
    simd(a, b).dispose();
    backend(a, b).dispose();
  }
  const s = { wall: [] as number[], cpu: [] as number[] };
  const g = { wall: [] as number[], cpu: [] as number[] };
  for (let r = 0; r < rounds; r++) {
    const x = timed(() => simd(a, b).dispose(), calls);
    const y = timed(() => backend(a, b).dispose(), calls);
    s.wall.push(x.wall);
    s.cpu.push(x.cpu);
    g.wall.push(y.wall);
    g.cpu.push(y.cpu);
  }
  const row = {
    shape: `${batch}x${m}x${k}@${n}${transposed ? 'T' : ''}`, flops, generated: simd.stats().plan.simdMatmuls > 0,
    generatedUs: { wall: median(s.wall), cpu: median(s.cpu) }, backendUs: { wall: median(g.wall), cpu: median(g.cpu) },
  };
  rows.push(row);
  const f1 = (v: number): string => v.toFixed(1).padStart(8);
  console.log(`${row.shape.padEnd(16)} 2^${Math.log2(flops).toFixed(1).padEnd(5)} ${row.generated ? 'generated' : 'backend  '}  wall ${f1(row.generatedUs.wall)} vs ${f1(row.backendUs.wall)} us   cpu ${f1(row.generatedUs.cpu)} vs ${f1(row.backendUs.cpu)} us   (cpu ratio ${(row.backendUs.cpu / row.generatedUs.cpu).toFixed(2)}x)`);
  simd.dispose();
  backend.dispose();
  a.dispose();
  b.dispose();
}
console.log(JSON.stringify({ bench: 'small-matmul', threads, rows }));
