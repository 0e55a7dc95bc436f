// Float32 GEMM on one thread at the shapes of issue 21 (the memory module's and a Transformer++
// block's products): the exact WebAssembly SIMD kernel (the default), the same kernel with its
// previous loop (one depth step per pass, same bits: `previous`), the opt-in relaxed-SIMD FMA
// kernel (configureCpu({ fma: true })) and PyTorch (one thread, OpenBLAS), alternating in the
// same run:
//
//   cd packages/tensor && nice -n 5 node --experimental-wasm-relaxed-simd --conditions=source --import tsx bench/gemm.ts [--rounds=N]
//
// (Without the flag, Node 20 gets relaxed SIMD from fma.ts turning it on at run time.) Shapes:
// 4096x256 @ 256x768 as A B, A^T B and A B^T (the backward's products), a batch of 4 with a
// broadcast B, 64x32 @ 32x32 and some of bench/small-matmul.ts's shapes. Each figure is the best of repeated calls, timed
// both by the wall clock and by this process's CPU time (on a shared machine the CPU time is
// the steadier one: it leaves out the time the thread waited for a core). PyTorch runs in a
// child process per round (/usr/bin/python3, LD_LIBRARY_PATH at OpenBLAS; "peer not
// installed" where torch does not import). Writes bench-results/gemm.json atomically.
import { execFileSync } from 'node:child_process';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import type { View } from '../src/backend.js';
import { configureCpu, cpuBackend, cpuInfo } from '../src/index.js';
import { matmulF32, setGemmOneStep } from '../src/cpu/wasm/matmul.js';
import { random } from './random.js';

const rounds = Number(process.argv.find((x) => x.startsWith('--rounds='))?.slice(9) ?? 3);

/** batch, m, k, n; ta: A is a view of a [batch, k, m] array, tb: B of a [n, k] one; bb: B broadcast over the batch. */
interface Shape { readonly name: string; readonly batch: number; readonly m: number; readonly k: number; readonly n: number; readonly ta?: boolean; readonly tb?: boolean; readonly bb?: boolean }
const SHAPES: Shape[] = [
  { name: '4096x256 @ 256x768', batch: 1, m: 4096, k: 256, n: 768 },
  { name: 'A^T B (A stored 256x4096)', batch: 1, m: 4096, k: 256, n: 768, ta: true },
  { name: 'A B^T (B stored 768x256)', batch: 1, m: 4096, k: 256, n: 768, tb: true },
  { name: '4 x 1024x256 @ 256x768 (B broadcast)', batch: 4, m: 1024, k: 256, n: 768, bb: true },
  { name: '64x32 @ 32x32', batch: 1, m: 64, k: 32, n: 32 },
  // some of bench/small-matmul.ts's shapes
  { name: '8 x 24x16 @ 16x48', batch: 8, m: 24, k: 16, n: 48 },
  { name: '256x48 @ 48x128', batch: 1, m: 256, k: 48, n: 128 },
  { name: '4 x 64x64 @ (64x64)^T', batch: 4, m: 64, k: 64, n: 64, tb: true },
  { name: '256x256 @ 256x256', batch: 1, m: 256, k: 256, n: 256 },
  { name: '64x1024 @ 1024x64', batch: 1, m: 64, k: 1024, n: 64 },
];

function operands(s: Shape): { a: View; A: Float32Array; b: View; B: Float32Array } {
  const { batch, m, k, n } = s;
  const A = random(batch * m * k, 1);
  const bBatches = s.bb ? 1 : batch;
  const B = random(bBatches * k * n, 2);
  const a: View = { storage: cpuBackend.fromArray(A, 'float32'), shape: [batch, m, k], strides: s.ta ? [m * k, 1, m] : [m * k, k, 1], offset: 0 };
  const sbb = s.bb ? 0 : k * n;
  const b: View = { storage: cpuBackend.fromArray(B, 'float32'), shape: [batch, k, n], strides: s.tb ? [sbb, 1, k] : [sbb, n, 1], offset: 0 };
  return { a, A, b, B };
}

interface Best { wall: number; cpu: number }

/** Best wall and CPU milliseconds of `f` over at least 5 calls and `budgetMs`, after 2 warm-up calls. */
function best(f: () => unknown, budgetMs: number): Best {
  f(); f();
  const out = { wall: Infinity, cpu: Infinity };
  const start = performance.now();
  for (let runs = 0; runs < 5 || performance.now() - start < budgetMs; runs++) {
    const c0 = process.cpuUsage();
    const t = performance.now();
    f();
    out.wall = Math.min(out.wall, performance.now() - t);
    const c = process.cpuUsage(c0);
    out.cpu = Math.min(out.cpu, (c.user + c.system) / 1000);
  }
  return out;
}

const TORCH = `
import json, resource, time, torch
torch.set_num_threads(1)
def cpu(): r = resource.getrusage(resource.RUSAGE_SELF); return r.ru_utime + r.ru_stime
out = {}
for name, batch, m, k, n, ta, tb, bb in json.loads('${JSON.stringify(SHAPES.map((s) => [s.name, s.batch, s.m, s.k, s.n, !!s.ta, !!s.tb, !!s.bb]))}'):
    a = (torch.rand(batch, k, m) - 0.5).transpose(1, 2) if ta else torch.rand(batch, m, k) - 0.5
    b = torch.rand(1 if bb else batch, k, n) - 0.5 if not tb else (torch.rand(1 if bb else batch, n, k) - 0.5).transpose(1, 2)
    if bb: b = b.expand(batch, k, n)
    for _ in range(2): torch.matmul(a, b)
    wall, cput, start, runs = float('inf'), float('inf'), time.perf_counter(), 0
    reps = max(1, int(2e7 // (2 * batch * m * k * n)))
    while runs < 5 or time.perf_counter() - start < 0.5:
        c0 = cpu(); t = time.perf_counter()
        for _ in range(reps): torch.matmul(a, b)
        wall = min(wall, (time.perf_counter() - t) / reps); cput = min(cput, (cpu() - c0) / reps); runs += 1
    out[name] = {"wall": wall * 1e3, "cpu": cput * 1e3}
print(json.dumps({"ms": out, "torch": torch.__version__}))
`;

function torchRound(): { ms: Record<string, Best>; torch: string } | null {
  try {
    const text = execFileSync('/usr/bin/python3', ['-c', TORCH], {
      encoding: 'utf8', timeout: 300_000, stdio: ['ignore', 'pipe', 'ignore'],
      env: { ...process.env, LD_LIBRARY_PATH: '/usr/lib/x86_64-linux-gnu/openblas-openmp', OMP_NUM_THREADS: '1' },
    });
    return JSON.parse(text.trim()) as { ms: Record<string, Best>; torch: string };
  } catch {
    return null;
  }
}

configureCpu({ threads: 1, fma: true });
const fmaAvailable = cpuInfo().fma;
const impls: readonly string[] = fmaAvailable ? ['previous', 'exact', 'fma'] : ['previous', 'exact'];
const results = new Map<string, Record<string, Best>>();
const min = (x: Best | undefined, y: Best): Best => ({ wall: Math.min(x?.wall ?? Infinity, y.wall), cpu: Math.min(x?.cpu ?? Infinity, y.cpu) });
const data = SHAPES.map(operands);
let torchVersion: string | null = null;
for (let r = 0; r < rounds; r++) {
  SHAPES.forEach((s, i) => {
    const { a, A, b, B } = data[i]!;
    const flops = 2 * s.batch * s.m * s.k * s.n;
    const reps = Math.max(1, Math.floor(2e7 / flops));
    const slot = results.get(s.name) ?? {};
    for (const impl of r % 2 === 0 ? impls : [...impls].reverse()) {
      configureCpu({ fma: impl === 'fma' });
      setGemmOneStep(impl === 'previous');
      const t = best(() => { for (let q = 0; q < reps; q++) matmulF32(a, A, b, B); }, 400);
      slot[impl] = min(slot[impl], { wall: t.wall / reps, cpu: t.cpu / reps });
    }
    results.set(s.name, slot);
  });
  const torch = torchRound();
  if (torch) {
    torchVersion = torch.torch;
    for (const s of SHAPES) {
      const t = torch.ms[s.name];
      if (t) results.get(s.name)!['torch'] = min(results.get(s.name)!['torch'], t);
    }
  }
}

const gflops = (s: Shape, ms: number | undefined): number | null =>
  ms === undefined || !Number.isFinite(ms) ? null : +((2 * s.batch * s.m * s.k * s.n) / (ms * 1e6)).toFixed(2);
const ratio = (x: number | null, y: number | null): number | null => (x === null || y === null ? null : +(x / y).toFixed(3));
const rows = SHAPES.map((s) => {
  const t = results.get(s.name)!;
  const g = (impl: string, clock: keyof Best): number | null => gflops(s, t[impl]?.[clock]);
  return {
    shape: s.name,
    previousCpu: g('previous', 'cpu'), exactCpu: g('exact', 'cpu'), fmaCpu: g('fma', 'cpu'), torchCpu: g('torch', 'cpu'),
    previousWall: g('previous', 'wall'), exactWall: g('exact', 'wall'), fmaWall: g('fma', 'wall'), torchWall: g('torch', 'wall'),
    exactOverPreviousCpu: ratio(g('exact', 'cpu'), g('previous', 'cpu')),
    exactOverTorchCpu: ratio(g('exact', 'cpu'), g('torch', 'cpu')),
    fmaOverTorchCpu: ratio(g('fma', 'cpu'), g('torch', 'cpu')),
    fmaOverExactCpu: ratio(g('fma', 'cpu'), g('exact', 'cpu')),
  };
});
const result = {
  bench: 'gemm',
  date: new Date().toISOString(),
  node: process.version,
  torch: torchVersion ?? 'peer not installed',
  fma: fmaAvailable ? 'relaxed SIMD available' : 'relaxed SIMD unavailable: FMA columns empty',
  threads: 1,
  rounds,
  loadavg: loadavg(),
  units: 'GFLOP/s, best of repeated calls; *Cpu from process CPU time, *Wall from the wall clock',
  command: 'nice -n 5 node --experimental-wasm-relaxed-simd --conditions=source --import tsx bench/gemm.ts',
  rows,
};
setGemmOneStep(false);
console.table(rows.map((r) => ({
  shape: r.shape, previous: r.previousCpu, exact: r.exactCpu, fma: r.fmaCpu, torch: r.torchCpu,
  'exact/previous': r.exactOverPreviousCpu, 'exact/torch': r.exactOverTorchCpu, 'fma/torch': r.fmaOverTorchCpu,
})));
mkdirSync('bench-results', { recursive: true });
writeFileSync('bench-results/gemm.json.tmp', `${JSON.stringify(result, null, 2)}\n`);
renameSync('bench-results/gemm.json.tmp', 'bench-results/gemm.json');
console.log(JSON.stringify(result));
