// Tokens/s of Hope's parts at the memory benchmark's shape (bench/run.ts: batch 1, d = 256 as
// 4 heads of 64, float32, the CPU backend), forward only (no gradient graph):
//   - Delta Gradient Descent (dgdScan) on a linear 64x64 and an MLP 64-256-64 memory per head,
//     token by token, and the exact chunk-parallel DGD of the linear memory (dgdChunked,
//     chunks of 32 and 64), then dgdScan against dgdChunked alternating in one process
//     (median of 5 each, at 8x the tokens for dgdChunked);
//   - the Continuum Memory System (ContinuumMemory) on width 256, hidden 1024, levels with
//     periods 16/32/64 and 64/128/256;
//   - the self-modifying Titans recurrence (selfModifyingScan), 4 heads of 64, hidden 128.
// Writes bench-results/hope.json atomically.
//
// Run: node --conditions=source --import tsx bench/hope.ts [tokens] (default 256). Shared
// machines are noisy: the load average is recorded with the results, and CPU seconds (user +
// system of this process) are reported beside the wall clock.
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Rng, l2Normalize, noGrad, tensor, tidy } from '@titans/tensor';
import {
  ContinuumMemory, SELF_MODIFYING_MEMORIES, dgdChunked, dgdScan, linearArchitecture, selfModifyingScan, selfModifyingShapes,
  type MemoryArchitecture, type SelfModifyingState,
} from '../src/index.js';

const tokens = Number(process.argv[2] ?? 256);
if (!Number.isInteger(tokens) || tokens < 1) throw new Error(`tokens must be a positive integer, got ${process.argv[2]}`);
const heads = 4;
const dim = 64;
const rng = new Rng(1);

interface Case {
  readonly name: string;
  readonly shape: string;
  /** Runs `count` tokens, forward only. */
  readonly run: (count: number) => void;
}

const mlp: MemoryArchitecture = { depth: 2, hidden: 4 * dim, activation: 'silu', residual: false, norm: false };
/** DGD on `arch`, by dgdScan or (linear memories) dgdChunked with chunks of `chunk` tokens. */
const dgdCase = (name: string, arch: MemoryArchitecture, shapes: [number, number][], chunk?: number): Case => {
  const weights = shapes.map(([o, i]) => rng.normal([heads, o, i], 0, 1 / Math.sqrt(i)));
  return {
    name, shape: arch.depth === 1 ? `linear ${dim}x${dim}` : `MLP ${dim}-${4 * dim}-${dim}`,
    run: (count) => tidy(() => noGrad(() => {
      const r = new Rng(2);
      const rows = [1, heads, count, dim];
      const inputs = {
        k: l2Normalize(r.normal(rows), -1), v: r.normal(rows), q: l2Normalize(r.normal(rows), -1),
        eta: r.uniform([1, heads, count], 0.05, 0.4), alpha: r.uniform([1, heads, count], 0.9, 1),
      };
      const out = chunk === undefined ? dgdScan(arch, inputs, { weights, position: 0 }) : dgdChunked(arch, inputs, { weights, position: 0 }, chunk);
      out.yPost.dataSync();
    })),
  };
};

const cmsCase = (periods: number[]): Case => {
  const cms = new ContinuumMemory(heads * dim, { periods, hidden: 4 * heads * dim, lrMax: periods.map((p) => 1 / (heads * dim * p)), seed: 3 });
  return {
    name: `cms periods ${periods.join('/')}`, shape: `${periods.length} x MLP ${heads * dim}-${4 * heads * dim}-${heads * dim}`,
    run: (count) => tidy(() => noGrad(() => {
      cms.forward(new Rng(4).normal([1, count, heads * dim])).output.dataSync();
    })),
  };
};

const selfModifyingCase = (): Case => {
  const hidden = 2 * dim;
  const shapes = selfModifyingShapes(dim, hidden);
  const weights = Object.fromEntries(SELF_MODIFYING_MEMORIES.map((n) => [n, shapes[n].map(([o, i]) => rng.normal([heads, o, i], 0, 1 / Math.sqrt(i)))]));
  const state: SelfModifyingState = { weights: weights as unknown as SelfModifyingState['weights'], position: 0 };
  return {
    name: 'self-modifying titans (5 memories, DGD)', shape: `3 x MLP ${dim}-${hidden}-${dim} + 2 x linear 1x${dim}`,
    run: (count) => tidy(() => noGrad(() => {
      const r = new Rng(5);
      const rows = [1, heads, count, dim];
      const bias = (v: number) => tensor(new Array<number>(heads).fill(v), [heads, 1, 1]);
      selfModifyingScan(hidden, 0.5, { x: l2Normalize(r.normal(rows), -1), q: l2Normalize(r.normal(rows), -1), etaBias: bias(-2), alphaBias: bias(4) }, state).y.dataSync();
    })),
  };
};

const cases: Case[] = [
  dgdCase('dgd', linearArchitecture(), [[dim, dim]]),
  dgdCase('dgd chunked (chunk 32)', linearArchitecture(), [[dim, dim]], 32),
  dgdCase('dgd chunked (chunk 64)', linearArchitecture(), [[dim, dim]], 64),
  dgdCase('dgd', mlp, [[4 * dim, dim], [dim, 4 * dim]]),
  cmsCase([16, 32, 64]),
  cmsCase([64, 128, 256]),
  selfModifyingCase(),
];

const results: Record<string, unknown>[] = [];
for (const c of cases) {
  c.run(Math.min(tokens, 32)); // warm-up (kernels, caches)
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  c.run(tokens);
  const wall = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  const row = { rule: c.name, memory: c.shape, heads, headDim: dim, tokens, wallSeconds: wall, cpuSeconds, tokensPerSecond: tokens / wall, tokensPerCpuSecond: tokens / cpuSeconds };
  results.push(row);
  console.log(`${c.name.padEnd(42)} ${c.shape.padEnd(36)}: ${row.tokensPerSecond.toFixed(0)} tok/s wall, ${row.tokensPerCpuSecond.toFixed(0)} tok/CPU-s`);
}

// dgdScan against dgdChunked (chunk 64) on the linear memory, alternating, median of 5: the
// chunked form runs 8x the tokens (a recurrence's tokens/s does not depend on the length).
const scanLinear = cases[0]!;
const chunkedLinear = cases[2]!;
const measure = (c: Case, count: number): number => {
  const cpu0 = process.cpuUsage();
  c.run(count);
  const cpu = process.cpuUsage(cpu0);
  return count / ((cpu.user + cpu.system) / 1e6);
};
const alternating = { scan: [] as number[], chunked: [] as number[] };
for (let i = 0; i < 5; i++) {
  alternating.scan.push(measure(scanLinear, tokens));
  alternating.chunked.push(measure(chunkedLinear, 8 * tokens));
}
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const comparison = {
  rule: 'dgd linear 64x64: dgdScan vs dgdChunked (chunk 64), alternating, tokens per CPU-second, median of 5',
  scanTokens: tokens, chunkedTokens: 8 * tokens, scan: median(alternating.scan), chunked: median(alternating.chunked), ratio: median(alternating.chunked) / median(alternating.scan),
  runs: alternating,
};
console.log(`dgdScan ${comparison.scan.toFixed(0)} vs dgdChunked ${comparison.chunked.toFixed(0)} tok/CPU-s (median of 5, alternating): x${comparison.ratio.toFixed(2)}`);

const outDir = fileURLToPath(new URL('../bench-results/', import.meta.url));
mkdirSync(outDir, { recursive: true });
const file = `${outDir}hope.json`;
const report = { benchmark: 'Hope parts (DGD, CMS, self-modifying Titans), forward, float32, CPU backend', batch: 1, tokens, cpu: cpus()[0]?.model, cores: cpus().length, loadAverage: loadavg(), results, dgdChunkedVsScan: comparison };
writeFileSync(`${file}.tmp`, `${JSON.stringify(report, null, 2)}\n`);
renameSync(`${file}.tmp`, file);
console.log(`wrote ${file}`);
