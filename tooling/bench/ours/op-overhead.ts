// Per-op overhead of @titans/tensor on tiny tensors, eager and compiled (compile(fn)): the
// same four workloads as ../peers/op_overhead.py (32x32 add; silu(a * b + a) per op; 64x32 @
// 32x32; forward and backward of matmul, silu, sum per op).
// usage: THREADS=1 node --import tsx op-overhead.ts [--calls N] [--warm-ms MS]
// Top-level keys: eager wall-clock figures (medians of 5 rounds, as the peer); `compiled`: the
// same workloads as compiled functions; `cpu`: process CPU time per op of both (steadier than
// wall-clock time when other processes share the cores), under `cpu.eager` and `cpu.compiled`.
// Both sides warm every workload up the same way (at least `warmup` calls and --warm-ms, default
// 1000, of calls) before the timed rounds: see `timed`. `warmup` records what those untimed
// calls cost on average (wall microseconds per op, compile's traces included): the price of
// the first second, which a loop of calls pays once.
import { Rng, add, compile, gradients, keep, matmul, mul, silu, sum, tidy, type Tensor } from '../../../packages/tensor/src/index.js';
import { arg, emit, round, setThreads } from './common.js';

setThreads();
const calls = arg('--calls', 20000);
const rng = new Rng(7);
const a = keep(rng.normal([32, 32]));
const b = keep(rng.normal([32, 32]));
const x = keep(rng.normal([64, 32]));

const ROUNDS = 5;
/**
 * Milliseconds of untimed calls before each workload's timed rounds (--warm-ms; the runner
 * passes the same value to the peer). V8 compiles hot code on background threads (TurboFan,
 * 0.1-0.7 s per function on a loaded 2-core machine, for the replay path, the planner and
 * tsx's loader alike) and runs baseline code until that finishes: a warm-up of a hundred
 * calls (under a millisecond) timed the first second of the process instead of the steady
 * state a loop of calls pays, and counted those compiler threads in the CPU figure (CPU time
 * came out at up to twice the wall time).
 */
const warmMs = arg('--warm-ms', 1000);
const median = (xs: number[]): number => [...xs].sort((p, q) => p - q)[Math.floor(xs.length / 2)]!;

/**
 * Wall and CPU microseconds of one call: medians over ROUNDS timed loops that share `n`
 * calls, after at least `warmup` calls and `warmMs` of calls (a median shrugs off a
 * garbage collection or a descheduling).
 */
function timed(fn: () => void, n: number, warmup = 100): { wall: number; cpu: number; warmup: number } {
  const w0 = performance.now();
  for (let i = 0; i < warmup; i++) fn();
  const warmUntil = w0 + warmMs;
  let warmCalls = warmup;
  while (performance.now() < warmUntil) {
    for (let i = 0; i < 10; i++) fn();
    warmCalls += 10;
  }
  const warmUs = ((performance.now() - w0) * 1000) / warmCalls;
  const per = Math.max(1, Math.round(n / ROUNDS));
  const wall: number[] = [];
  const cpu: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    for (let i = 0; i < per; i++) fn();
    wall.push(((performance.now() - t0) * 1000) / per);
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / per);
  }
  return { wall: median(wall), cpu: median(cpu), warmup: warmUs };
}

const chain = (p: Tensor, q: Tensor): Tensor => silu(add(mul(p, q), p));
const fwdBwd = (p0: Tensor): Tensor => {
  const p = p0.clone();
  p.requiresGrad = true;
  return gradients(sum(silu(matmul(x, p))), [p])[0]!;
};
const compiledAdd = compile((p: Tensor, q: Tensor) => add(p, q));
const compiledChain = compile(chain);
const compiledMatmul = compile((p: Tensor, q: Tensor) => matmul(p, q));
const compiledFwdBwd = compile(fwdBwd);

// [key, ops per call, calls, warm-up, eager, compiled]
const workloads: [string, number, number, number, () => void, () => void][] = [
  ['add_32x32_us', 1, calls, 100, () => add(a, b).dispose(), () => compiledAdd(a, b).dispose()],
  // Three ops as the peer counts them (mul, add, silu), reported per op.
  ['chain3_32x32_us_per_op', 3, Math.max(1, calls >> 2), 100, () => tidy(() => { chain(a, b); }), () => compiledChain(a, b).dispose()],
  ['matmul_64x32x32_us', 1, calls, 100, () => matmul(x, a).dispose(), () => compiledMatmul(x, a).dispose()],
  // matmul, silu, sum forward and their backward: reported per op (6), as the peer does.
  ['fwd_bwd_3ops_us_per_op', 6, Math.max(1, calls >> 3), 50, () => tidy(() => { fwdBwd(a); }), () => compiledFwdBwd(a).dispose()],
];
const eager: Record<string, number> = {};
const compiled: Record<string, number> = {};
const cpuEager: Record<string, number> = {};
const cpuCompiled: Record<string, number> = {};
const warmEager: Record<string, number> = {};
const warmCompiled: Record<string, number> = {};
// The compiled functions first: eager's garbage would be collected during their loops.
for (const [key, ops, n, warmup, , compiledFn] of workloads) {
  const c = timed(compiledFn, n, Math.max(warmup, 200));
  compiled[key] = round(c.wall / ops, 3);
  cpuCompiled[key] = round(c.cpu / ops, 3);
  warmCompiled[key] = round(c.warmup / ops, 3);
}
for (const [key, ops, n, warmup, eagerFn] of workloads) {
  const e = timed(eagerFn, n, warmup);
  eager[key] = round(e.wall / ops, 3);
  cpuEager[key] = round(e.cpu / ops, 3);
  warmEager[key] = round(e.warmup / ops, 3);
}
emit({ ...eager, compiled, cpu: { eager: cpuEager, compiled: cpuCompiled }, warmup: { eager: warmEager, compiled: warmCompiled } });
