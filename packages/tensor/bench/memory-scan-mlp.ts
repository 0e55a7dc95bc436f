// The fused memory scan kernel alone (memoryScanCpu) at the issue-21 comparison's MLP shape:
// 4 memories (heads) of a 64-256-64 SiLU MLP (ARCH=linear: 64 x 64), 4096 tokens, chunk 64, float32, y_post only.
// Prints wall and CPU ms (least of REPS runs) of each path named on the command line.
// Run: node --conditions=source --import tsx bench/memory-scan-mlp.ts [exact|scaled ...]; writes
// bench-results/memory-scan-mlp.json (or memory-scan-linear.json with ARCH=linear).
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { memoryScanCpu, type MemoryScanArrays } from '../src/cpu/memory-scan.js';
import type { MemoryScanDims } from '../src/backend.js';

const reps = Number(process.env.REPS ?? 7);
const tokens = Number(process.env.TOKENS ?? 4096);
const memories = 4;
const d = 64;
const h = 256;
/** ARCH=linear: the linear memory (64 x 64) instead. */
const linear = process.env.ARCH === 'linear';
let seed = 1;
const rand = (): number => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed / 2147483648; };
const normal = (n: number, scale: number): Float32Array => Float32Array.from({ length: n }, () => (rand() + rand() + rand() - 1.5) * 2 * scale);
const unitRows = (n: number): Float32Array => {
  const a = normal(n * d, 1);
  for (let r = 0; r < n; r++) {
    let s = 0;
    for (let j = 0; j < d; j++) s += a[r * d + j]! ** 2;
    const inv = 1 / Math.sqrt(s);
    for (let j = 0; j < d; j++) a[r * d + j]! *= inv;
  }
  return a;
};
const x: MemoryScanArrays = {
  k: unitRows(memories * tokens), q: unitRows(memories * tokens), v: normal(memories * tokens * d, 1),
  // THETA_HI=0.3: theta in [0.05, 0.3], the memory bench's earlier scan-alone inputs (the MLP memory then diverges).
  theta: Float32Array.from({ length: memories * tokens }, () => (process.env.THETA_HI ? 0.05 + (Number(process.env.THETA_HI) - 0.05) * rand() : 0.05 * rand())),
  eta: Float32Array.from({ length: memories * tokens }, () => 0.5 + 0.4 * rand()),
  alpha: Float32Array.from({ length: memories * tokens }, () => 0.02 * rand()),
  weights: linear ? [normal(memories * d * d, 1 / 8)] : [normal(memories * h * d, 1 / 8), normal(memories * d * h, 1 / 16)],
  momentum: linear ? [new Float32Array(memories * d * d)] : [new Float32Array(memories * h * d), new Float32Array(memories * d * h)],
};
const layers: [number, number][] = linear ? [[d, d]] : [[h, d], [d, h]];
const dims: MemoryScanDims = { memories, tokens, chunk: 64, layers, residual: false, norm: false, activation: 'silu', yPre: false };
type Opts = Parameters<typeof memoryScanCpu>[3];
const paths: Record<string, Opts> = { exact: { scaledFrame: false }, scaled: {} };
const names = process.argv.slice(2).filter((a) => a in paths);
const run = names.length ? names : Object.keys(paths);
const results: Record<string, { wall: number; cpu: number }> = {};
let ref: Float32Array | null = null;
for (const name of run) {
  const out = memoryScanCpu(x, dims, 'float32', paths[name]) as Float32Array;
  if (ref) {
    let diff = 0;
    for (let i = 0; i < memories * tokens * d; i++) diff = Math.max(diff, Math.abs(out[i]! - ref[i]!));
    console.log(`${name}: max |y - ${run[0]}| = ${diff}`);
  } else ref = out;
}
for (let r = 0; r < reps; r++) {
  for (const name of run) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    memoryScanCpu(x, dims, 'float32', paths[name]);
    const wall = performance.now() - t0;
    const c = process.cpuUsage(c0);
    const cpu = (c.user + c.system) / 1000;
    const best = results[name] ?? { wall: Infinity, cpu: Infinity };
    results[name] = { wall: Math.min(best.wall, wall), cpu: Math.min(best.cpu, cpu) };
  }
}
for (const name of run) {
  const r = results[name]!;
  console.log(`${name.padEnd(12)} wall ${r.wall.toFixed(1)} ms  cpu ${r.cpu.toFixed(1)} ms  ${Math.round(tokens / (r.wall / 1000))} tok/s wall`);
}
const file = `bench-results/memory-scan-${linear ? 'linear' : 'mlp'}.json`;
mkdirSync('bench-results', { recursive: true });
writeFileSync(`${file}.tmp`, `${JSON.stringify({
  setup: { memories, tokens, chunk: 64, layers, dtype: 'float32', yPre: false, reps, measure: 'least wall and least CPU ms of the runs' },
  load: loadavg(), results,
}, null, 2)}\n`);
renameSync(`${file}.tmp`, file);
console.log(`wrote ${file}`);

