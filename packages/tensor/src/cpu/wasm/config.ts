// Settings of the CPU backend's fast paths: the WebAssembly SIMD kernels and the worker threads
// that share large float32 matmuls. The JavaScript kernels stay the reference and remain in use
// for float64/int32, for small problems, and wherever WebAssembly SIMD is unavailable.

export interface CpuConfig {
  /**
   * Threads for large float32 matmuls, the calling thread included. Default: the number of
   * cores (Node), else 1. Workers need Node's worker_threads and SharedArrayBuffer; without
   * them this is treated as 1. Env: TITANS_CPU_THREADS.
   */
  readonly threads: number;
  /** Use the WebAssembly SIMD kernels for float32 (default true; env TITANS_CPU_WASM=0 turns them off). */
  readonly wasm: boolean;
  /** Matmuls below this many flops (2 * batch * m * n * k) stay in JavaScript. */
  readonly wasmMinFlops: number;
  /** Matmuls from this many flops up are split across threads. */
  readonly parallelMinFlops: number;
  /**
   * Opt-in faster float32 GEMM (default false; env TITANS_CPU_FMA=1): WebAssembly matmuls that
   * run on the calling thread use a micro-kernel with relaxed-SIMD multiply-add
   * (f32x4.relaxed_madd), fused where the hardware has FMA. Results then differ from the exact
   * kernels by float32 rounding and may differ between machines; the default path is exact and
   * deterministic. On Node 20, where relaxed SIMD sits behind --experimental-wasm-relaxed-simd,
   * opting in turns that V8 flag on at run time (v8.setFlagsFromString, process-wide) before the
   * kernels are compiled. Where relaxed SIMD still does not validate, this setting is kept but
   * has no effect, and `cpuInfo().fma` is false. Matmuls split across worker threads run the
   * same kernels on every thread (the pool restarts to load them), so with fma on the result
   * still does not depend on the thread count.
   */
  readonly fma: boolean;
}

function env(name: string): string | undefined {
  return typeof process === 'undefined' ? undefined : process.env?.[name];
}

function defaultThreads(): number {
  const fromEnv = Number.parseInt(env('TITANS_CPU_THREADS') ?? '', 10);
  if (Number.isInteger(fromEnv) && fromEnv >= 1) return Math.min(fromEnv, 64);
  try {
    const os = typeof process === 'undefined' ? undefined : process.getBuiltinModule?.('node:os');
    if (os) return Math.min(Math.max(1, os.availableParallelism()), 64);
  } catch {
    // not Node: one thread
  }
  return 1;
}

const DEFAULTS = { wasmMinFlops: 2 * 16 * 16 * 16, parallelMinFlops: 2 ** 20 };

let config: CpuConfig = Object.freeze({
  threads: defaultThreads(),
  wasm: env('TITANS_CPU_WASM') !== '0',
  fma: env('TITANS_CPU_FMA') === '1',
  ...DEFAULTS,
});

const listeners: ((config: CpuConfig) => void)[] = [];

/** The settings in force. */
export function cpuConfig(): CpuConfig {
  return config;
}

/**
 * Changes the CPU backend's settings (unnamed ones keep their values) and returns the settings
 * now in force. `configureCpu({ threads: 1 })` stops the worker threads;
 * `configureCpu({ wasm: false })` routes everything through the JavaScript reference kernels;
 * `configureCpu({ fma: true })` opts into the relaxed-SIMD GEMM (see CpuConfig.fma; check
 * `cpuInfo().fma` to see whether this host runs it).
 */
export function configureCpu(options: Partial<CpuConfig>): CpuConfig {
  const next = { ...config, ...options };
  if (!Number.isInteger(next.threads) || next.threads < 1 || next.threads > 64) {
    throw new RangeError(`configureCpu: threads must be an integer in [1, 64], got ${next.threads}`);
  }
  for (const key of ['wasm', 'fma'] as const) {
    if (typeof next[key] !== 'boolean') throw new TypeError(`configureCpu: ${key} must be a boolean, got ${String(next[key])}`);
  }
  for (const key of ['wasmMinFlops', 'parallelMinFlops'] as const) {
    if (!(next[key] >= 0)) throw new RangeError(`configureCpu: ${key} must be a number >= 0, got ${next[key]}`);
  }
  config = Object.freeze(next);
  for (const listener of listeners) listener(config);
  return config;
}

/** Internal: called with the new settings after each configureCpu. */
export function onCpuConfig(listener: (config: CpuConfig) => void): void {
  listeners.push(listener);
}
