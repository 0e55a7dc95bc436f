// Shared helpers of our side's measurement scripts: arguments, thread settings, timing and
// the one JSON line each script prints (the runner reads the last line of stdout).
import { configureCpu, cpuInfo, startCpuWorkers } from '../../../packages/tensor/src/index.js';

/** --name VALUE from argv as a positive integer, else the default. */
export function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  if (i < 0) return fallback;
  const value = Number(process.argv[i + 1]);
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name} must be a positive integer, got ${process.argv[i + 1]}`);
  return value;
}

/** Threads from THREADS (as the peers read it), applied to the CPU backend; workers started. */
export function setThreads(): number {
  const threads = Number(process.env['THREADS'] ?? '1');
  if (!Number.isInteger(threads) || threads < 1) throw new Error(`THREADS must be a positive integer, got ${process.env['THREADS']}`);
  configureCpu({ threads });
  if (threads > 1) startCpuWorkers();
  return threads;
}

/** Median wall seconds of `fn()` over `reps` calls after `warmup` untimed calls. */
export async function medianSeconds(fn: () => unknown, reps: number, warmup = 1): Promise<number> {
  for (let i = 0; i < warmup; i++) await fn();
  const samples: number[] = [];
  for (let i = 0; i < Math.max(1, reps); i++) {
    const t0 = performance.now();
    await fn();
    samples.push((performance.now() - t0) / 1000);
  }
  samples.sort((a, b) => a - b);
  return samples[Math.floor(samples.length / 2)]!;
}

/** Mean microseconds of one call over a timed loop of `calls` calls, after `warmup` calls. */
export function microsPerCall(fn: () => void, calls: number, warmup = 100): number {
  for (let i = 0; i < warmup; i++) fn();
  const t0 = performance.now();
  for (let i = 0; i < calls; i++) fn();
  return ((performance.now() - t0) * 1000) / calls;
}

export const round = (x: number, digits: number): number => Math.round(x * 10 ** digits) / 10 ** digits;

/** Prints the result as one JSON line with the backend settings and exits (workers would keep it alive). */
export function emit(result: Record<string, unknown>): never {
  const info = cpuInfo();
  process.stdout.write(`${JSON.stringify({ ...result, ours: { node: process.version, threads: info.threads, wasm: info.wasm, workersReady: info.workersReady } })}\n`);
  process.exit(0);
}
