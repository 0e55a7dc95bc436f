// Memory figures of eager and compiled runs on the CPU backend, for the compiled-memory
// benches (bench/compile-memory.ts here, packages/experiments/bench/compiled-memory.ts for the
// Atlas training step). Run node with --expose-gc.
//
// Two peaks, sampled after every backend call (fused kernels write into buffers that exist
// already, so they cannot raise either one). Sampling is slow (a read of the process's memory
// figures per call): time runs without the probe.
// - `liveBytes`: the backend's count of storages not disposed (the live set the program asks
//   for: plan arenas and constants included, arrays a pool keeps for later not);
// - `arrayBuffers`: what V8 holds in array buffers, garbage not yet collected included (what
//   the process pays, and what the operating system sees in its resident size).
// `held` is array-buffer bytes still reachable after a forced garbage collection.
import { CpuBackend, cpuBackend } from '@titans/tensor';

export interface MemoryPeaks {
  /** Most bytes of live (not disposed) storages at once. */
  readonly liveBytes: number;
  /** Most array-buffer bytes at once (reachable or not yet collected). */
  readonly arrayBuffers: number;
  /** Backend calls sampled. */
  readonly calls: number;
}

/** Methods that are bookkeeping, not compute. */
const SKIP = new Set(['constructor', 'data', 'read', 'readSync', 'dispose', 'liveBytes', 'supports', 'adopt']);

/** Forces a full garbage collection (node --expose-gc). */
export function collect(): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error('run node with --expose-gc');
  gc();
  gc();
}

/** Array-buffer bytes reachable now (after a full collection). */
export function heldBytes(): number {
  collect();
  return process.memoryUsage().arrayBuffers;
}

/**
 * Samples both peaks after every call of a CpuBackend method (the prototype's, so eager
 * runs, traces and compiled replays all pass through it) until `stop()`.
 */
export function probePeaks(): { reset(): void; read(): MemoryPeaks; stop(): MemoryPeaks } {
  const proto = CpuBackend.prototype as unknown as Record<string, unknown>;
  const backend = cpuBackend;
  let live = 0;
  let buffers = 0;
  let calls = 0;
  const sample = (): void => {
    calls++;
    const l = backend.liveBytes();
    if (l > live) live = l;
    const b = process.memoryUsage().arrayBuffers;
    if (b > buffers) buffers = b;
  };
  const saved = new Map<string, PropertyDescriptor>();
  for (const name of Object.getOwnPropertyNames(proto)) {
    const d = Object.getOwnPropertyDescriptor(proto, name)!;
    if (SKIP.has(name) || typeof d.value !== 'function') continue;
    const f = d.value as (...a: unknown[]) => unknown;
    saved.set(name, d);
    Object.defineProperty(proto, name, {
      ...d,
      value(this: unknown, ...a: unknown[]) {
        const r = f.apply(this, a);
        sample();
        return r;
      },
    });
  }
  return {
    reset() {
      live = backend.liveBytes();
      buffers = process.memoryUsage().arrayBuffers;
      calls = 0;
    },
    read() {
      return { liveBytes: live, arrayBuffers: buffers, calls };
    },
    stop() {
      for (const [name, d] of saved) Object.defineProperty(proto, name, d);
      saved.clear();
      return { liveBytes: live, arrayBuffers: buffers, calls };
    },
  };
}

export const MB = (bytes: number): number => Math.round(bytes / 1e5) / 10;
