// Per-op overhead of tiny ops, eager against compile(fn), on the CPU backend with one
// thread: the same four measurements as the PyTorch peer (a + b on 32x32, silu(a * b + a)
// per op, 64x32 @ 32x32, and the forward+backward of silu(x @ p).sum() per op).
//
//   node --conditions=source --import tsx bench/compile.ts     (BENCH_QUICK=1: shorter)
//
// Standalone it writes the figures into bench-results/tensor.json under `compile` (keeping
// the rest of that file); bench/run.ts calls benchCompile() and does the same.
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Rng, compile, configureCpu, grad, keep, silu, tidy, type Compiled, type Tensor } from '@titans/tensor';
import { setChainExpPaths } from '../src/compile/simd.js';

export interface OverheadRow {
  /** Stable name, matching the PyTorch peer's key. */
  readonly name: string;
  readonly description: string;
  /** Primitive ops the figure is divided by (1 for single ops). */
  readonly opsPerCall: number;
  /** Wall-clock microseconds per op (median round). */
  readonly eagerUsPerOp: number;
  readonly compiledUsPerOp: number;
  /**
   * CPU time of this process per op (user + system, median round): steadier than wall time
   * when other processes share the cores.
   */
  readonly eagerCpuUsPerOp: number;
  readonly compiledCpuUsPerOp: number;
  /** Compiled with `simd: false` (fused chains as generated JavaScript only), same run. */
  readonly compiledJsUsPerOp: number;
  readonly compiledJsCpuUsPerOp: number;
  /**
   * Chains with exp-based ops only: compiled with the previous form of their SIMD kernels (exp's
   * fast and general paths chosen by a branch per op, setChainExpPaths('branch')), same run,
   * timed alternately with the current form; null for the other rows.
   */
  readonly compiledBranchUsPerOp: number | null;
  readonly compiledBranchCpuUsPerOp: number | null;
  /** The compiled plan: backend calls per replay, fused groups, arena bytes. */
  readonly plan: { readonly kernels: number; readonly fusedGroups: number; readonly simdGroups: number; readonly simdMatmuls: number; readonly tracedCalls: number; readonly arenaBytes: number };
}

export interface CompileBench {
  readonly threads: number;
  readonly rows: readonly OverheadRow[];
}

/**
 * Microseconds per call, wall and CPU: medians of `rounds` timed loops of `n` calls, after a
 * warm-up of at least 500 calls and `warmMs` of calls. The time matters, not the count: V8
 * compiles the hot code on background threads for 0.1-0.7 s, and until then the calls run
 * baseline code and the compiler threads' time lands in the process CPU figure (the
 * side-by-side runner's op-overhead.ts and its PyTorch peer warm up the same way).
 */
function perCall(fn: () => void, n: number, rounds: number, warmMs: number): { wall: number; cpu: number } {
  for (let i = 0; i < Math.min(n, 500); i++) fn();
  const warmUntil = performance.now() + warmMs;
  while (performance.now() < warmUntil) for (let i = 0; i < 10; i++) fn();
  const wall: number[] = [];
  const cpu: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    for (let i = 0; i < n; i++) fn();
    wall.push(((performance.now() - t0) * 1000) / n);
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / n);
  }
  const median = (xs: number[]): number => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  return { wall: median(wall), cpu: median(cpu) };
}

export function benchCompile(quick = process.env['BENCH_QUICK'] === '1'): CompileBench {
  configureCpu({ threads: 1 });
  const rng = new Rng(1);
  const a = keep(rng.normal([32, 32]));
  const b = keep(rng.normal([32, 32]));
  const x = keep(rng.normal([64, 32]));
  const scale = quick ? 0.2 : 1;
  const rounds = quick ? 3 : 7;
  const warmMs = quick ? 100 : 1000;
  const rows: OverheadRow[] = [];

  const measure = <A extends Tensor[]>(
    name: string, description: string, opsPerCall: number, n: number, fn: (...args: A) => Tensor, args: A, eagerInTidy: boolean, branchToo = false,
  ): void => {
    const compiled: Compiled<A, Tensor> = compile(fn);
    const compiledJs: Compiled<A, Tensor> = compile(fn, { simd: false });
    const eager = eagerInTidy ? (): void => tidy(() => { fn(...args); }) : (): void => fn(...args).dispose();
    const replay = (): void => compiled(...args).dispose();
    const replayJs = (): void => compiledJs(...args).dispose();
    const calls = Math.max(50, Math.round(n * scale));
    const eagerUs = perCall(eager, calls, rounds, warmMs);
    const compiledJsUs = perCall(replayJs, calls, rounds, warmMs);
    let compiledUs = perCall(replay, calls, rounds, warmMs);
    let branchUs: { wall: number; cpu: number } | null = null;
    if (branchToo) {
      // The previous kernel form (planned under 'branch'), alternating with the current one.
      const previous = setChainExpPaths('branch');
      const compiledBranch: Compiled<A, Tensor> = compile(fn);
      for (let i = 0; i < 3; i++) compiledBranch(...args).dispose(); // traced and verified under 'branch'
      setChainExpPaths(previous);
      const replayBranch = (): void => compiledBranch(...args).dispose();
      const pairs = [perCall(replayBranch, calls, rounds, warmMs), perCall(replay, calls, rounds, warmMs), perCall(replayBranch, calls, rounds, warmMs)];
      branchUs = { wall: Math.min(pairs[0]!.wall, pairs[2]!.wall), cpu: Math.min(pairs[0]!.cpu, pairs[2]!.cpu) };
      compiledUs = { wall: Math.min(compiledUs.wall, pairs[1]!.wall), cpu: Math.min(compiledUs.cpu, pairs[1]!.cpu) };
      compiledBranch.dispose();
    }
    const plan = compiled.stats().plan;
    rows.push({
      name, description, opsPerCall,
      eagerUsPerOp: eagerUs.wall / opsPerCall,
      compiledUsPerOp: compiledUs.wall / opsPerCall,
      eagerCpuUsPerOp: eagerUs.cpu / opsPerCall,
      compiledCpuUsPerOp: compiledUs.cpu / opsPerCall,
      compiledJsUsPerOp: compiledJsUs.wall / opsPerCall,
      compiledJsCpuUsPerOp: compiledJsUs.cpu / opsPerCall,
      compiledBranchUsPerOp: branchUs === null ? null : branchUs.wall / opsPerCall,
      compiledBranchCpuUsPerOp: branchUs === null ? null : branchUs.cpu / opsPerCall,
      plan: { kernels: plan.kernels, fusedGroups: plan.fusedGroups, simdGroups: plan.simdGroups, simdMatmuls: plan.simdMatmuls, tracedCalls: plan.tracedCalls, arenaBytes: plan.arenaBytes },
    });
    compiled.dispose();
    compiledJs.dispose();
  };

  measure('add_32x32_us', 'a + b, 32x32 float32', 1, 20000, (p: Tensor, q: Tensor) => p.add(q), [a, b], false);
  measure('mul_add_silu_chain_us_per_op', 'silu(a * b + a), 32x32 float32, per op (3 ops)', 3, 5000, (p: Tensor, q: Tensor) => silu(p.mul(q).add(p)), [a, b], true, true);
  measure('matmul_64x32x32_us', '64x32 @ 32x32 float32', 1, 20000, (p: Tensor, q: Tensor) => p.matmul(q), [x, a], false);
  const lossOf = (p: Tensor): Tensor => silu(x.matmul(p)).sum();
  measure('fwd_bwd_3ops_us_per_op', 'gradient of silu(x @ p).sum() w.r.t. p, per op (3 forward + 3 backward)', 6, 3000, (p: Tensor) => grad(lossOf)(p), [a], true);
  for (const t of [a, b, x]) t.dispose();
  return { threads: 1, rows };
}

export function printCompileBench(result: CompileBench): void {
  console.log('per-op overhead, CPU backend, 1 thread (microseconds per op, median; wall / process CPU time):');
  for (const r of result.rows) {
    const f = (x: number): string => x.toFixed(2).padStart(6);
    const branch = r.compiledBranchUsPerOp === null ? '' : `   (previous exp form ${f(r.compiledBranchUsPerOp)} / ${f(r.compiledBranchCpuUsPerOp!)})`;
    console.log(`  ${r.name.padEnd(30)} eager ${f(r.eagerUsPerOp)} / ${f(r.eagerCpuUsPerOp)}   compiled ${f(r.compiledUsPerOp)} / ${f(r.compiledCpuUsPerOp)}   (simd: false ${f(r.compiledJsUsPerOp)} / ${f(r.compiledJsCpuUsPerOp)})${branch}   (${r.plan.tracedCalls} traced calls -> ${r.plan.kernels} kernels, ${r.plan.fusedGroups} fused, ${r.plan.simdGroups} simd chains, ${r.plan.simdMatmuls} simd matmuls)`);
  }
}

/** Sets `compile` in bench-results/tensor.json (written atomically, other keys kept). */
export function writeCompileBench(result: CompileBench, packageDir: string): string {
  const dir = join(packageDir, 'bench-results');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'tensor.json');
  const existing: Record<string, unknown> = existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown> : { benchmark: '@titans/tensor' };
  existing['compile'] = { date: new Date().toISOString(), ...result };
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(existing, null, 2)}\n`);
  renameSync(tmp, file);
  return file;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const result = benchCompile();
  printCompileBench(result);
  const file = writeCompileBench(result, join(dirname(fileURLToPath(import.meta.url)), '..'));
  console.log(`wrote ${file} (compile)`);
  process.exit(0);
}
