// Exact vs opt-in FMA (relaxed-SIMD) float32 GEMM, one thread, with PyTorch (one thread) as the
// reference, alternating in the same run:
//
//   cd packages/tensor && node --experimental-wasm-relaxed-simd --conditions=source --import tsx bench/fma.ts [--rounds=N]
//
// (Node 22+ / Chrome 114+ need no flag.) Each round times the exact kernel, the FMA kernel and a
// PyTorch child process (/usr/bin/python3 with LD_LIBRARY_PATH pointing at OpenBLAS; skipped if
// torch is missing) at 512^3 and 4096x256x256, best of repeated runs. Writes
// bench-results/fma.json (atomically).
import { execFileSync } from 'node:child_process';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import type { View } from '../src/backend.js';
import { configureCpu, cpuBackend, cpuInfo } from '../src/index.js';
import { matmulF32 } from '../src/cpu/wasm/matmul.js';
import { random } from './random.js';

const rounds = Number(process.argv.find((x) => x.startsWith('--rounds='))?.slice(9) ?? 3);
const SHAPES = [
  { name: '512x512x512', m: 512, k: 512, n: 512 },
  { name: '4096x256x256', m: 4096, k: 256, n: 256 },
] as const;

function view(rows: number, cols: number, data: Float32Array): View {
  return { storage: cpuBackend.fromArray(data, 'float32'), shape: [1, rows, cols], strides: [rows * cols, cols, 1], offset: 0 };
}

/** Best milliseconds of `f` over at least 5 runs and `budgetMs`, after 2 warm-up runs. */
function best(f: () => unknown, budgetMs = 600): number {
  f(); f();
  let min = Infinity;
  const start = performance.now();
  for (let runs = 0; runs < 5 || performance.now() - start < budgetMs; runs++) {
    const t = performance.now();
    f();
    min = Math.min(min, performance.now() - t);
  }
  return min;
}

const TORCH = `
import json, time, torch
torch.set_num_threads(1)
out = {}
for name, m, k, n in ${JSON.stringify(SHAPES.map((s) => [s.name, s.m, s.k, s.n]))}:
    a = torch.rand(m, k) - 0.5
    b = torch.rand(k, n) - 0.5
    for _ in range(2): a @ b
    best, start, runs = float('inf'), time.perf_counter(), 0
    while runs < 5 or time.perf_counter() - start < 0.6:
        t = time.perf_counter(); a @ b; best = min(best, time.perf_counter() - t); runs += 1
    out[name] = best * 1e3
print(json.dumps({"ms": out, "torch": torch.__version__}))
`;

function torchRound(): { ms: Record<string, number>; torch: string } | null {
  try {
    const text = execFileSync('/usr/bin/python3', ['-c', TORCH], {
      encoding: 'utf8', timeout: 120_000,
      env: { ...process.env, LD_LIBRARY_PATH: '/usr/lib/x86_64-linux-gnu/openblas-openmp', OMP_NUM_THREADS: '1' },
    });
    return JSON.parse(text.trim()) as { ms: Record<string, number>; torch: string };
  } catch {
    return null;
  }
}

configureCpu({ threads: 1, fma: true });
const info = cpuInfo();
if (!info.fma) {
  console.error('FMA GEMM unavailable here (run with --experimental-wasm-relaxed-simd on Node 20)');
  process.exit(1);
}

const gflops = (s: (typeof SHAPES)[number], ms: number): number => (2 * s.m * s.k * s.n) / (ms * 1e6);
const bestMs: Record<string, { exact: number; fma: number; torch: number }> = {};
for (const s of SHAPES) bestMs[s.name] = { exact: Infinity, fma: Infinity, torch: Infinity };
let torchVersion: string | null = null;
const operands = SHAPES.map((s) => ({ a: view(s.m, s.k, random(s.m * s.k, 1)), b: view(s.k, s.n, random(s.k * s.n, 2)), A: random(s.m * s.k, 1), B: random(s.k * s.n, 2) }));
for (let r = 0; r < rounds; r++) {
  SHAPES.forEach((s, i) => {
    const { a, b, A, B } = operands[i]!;
    for (const fma of r % 2 === 0 ? [false, true] : [true, false]) {
      configureCpu({ fma });
      const ms = best(() => matmulF32(a, A, b, B));
      const slot = bestMs[s.name]!;
      if (fma) slot.fma = Math.min(slot.fma, ms); else slot.exact = Math.min(slot.exact, ms);
    }
  });
  const torch = torchRound();
  if (torch) {
    torchVersion = torch.torch;
    for (const s of SHAPES) bestMs[s.name]!.torch = Math.min(bestMs[s.name]!.torch, torch.ms[s.name] ?? Infinity);
  }
}

const rows = SHAPES.map((s) => {
  const t = bestMs[s.name]!;
  const torch = Number.isFinite(t.torch) ? gflops(s, t.torch) : null;
  return {
    shape: s.name,
    exactGflops: gflops(s, t.exact),
    fmaGflops: gflops(s, t.fma),
    torchGflops: torch,
    fmaOverExact: t.exact / t.fma,
    fmaOverTorch: torch === null ? null : gflops(s, t.fma) / torch,
  };
});
const result = {
  date: new Date().toISOString(),
  node: process.version,
  torch: torchVersion,
  threads: 1,
  rounds,
  loadavg: loadavg(),
  command: 'node --experimental-wasm-relaxed-simd --conditions=source --import tsx bench/fma.ts',
  rows,
};
console.table(rows);
mkdirSync('bench-results', { recursive: true });
writeFileSync('bench-results/fma.json.tmp', `${JSON.stringify(result, null, 2)}\n`);
renameSync('bench-results/fma.json.tmp', 'bench-results/fma.json');
console.log('wrote bench-results/fma.json');
