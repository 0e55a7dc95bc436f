// The opt-in relaxed-SIMD GEMM kernels (kernels-fma.wat, assembled into kernels-fma.generated.ts):
// a second small module that imports the exact kernels' memory and runs the same gemm job with
// f32x4.relaxed_madd. Loaded only when configureCpu({ fma: true }) asks for it, and only where
// WebAssembly.validate accepts relaxed SIMD (Node 22+, Chrome 114+, Node 20 with
// --experimental-wasm-relaxed-simd).
import { FMA_KERNELS_LOCAL_BASE64, FMA_KERNELS_SHARED_BASE64 } from './kernels-fma.generated.js';
import { cpuConfig } from './config.js';
import { cpuInfo as engineInfo, getEngine, type CpuInfo as EngineInfo, type Engine } from './engine.js';

function decode(base64: string): Uint8Array<ArrayBuffer> {
  const text = atob(base64);
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  return bytes;
}

let supported: boolean | undefined;

/** True when this host's WebAssembly accepts the relaxed-SIMD kernels (checked once). */
export function fmaSupported(): boolean {
  if (supported === undefined) {
    try {
      supported = typeof WebAssembly === 'object' && WebAssembly.validate(decode(FMA_KERNELS_LOCAL_BASE64));
    } catch {
      supported = false;
    }
  }
  return supported;
}

const instances = new WeakMap<Engine, ((t: number) => void) | null>();

/**
 * `gemm_task(t)` of the relaxed-SIMD kernels on the engine's memory, or null where relaxed SIMD
 * is unavailable. It runs task t of the gemm job (kind 1) at JOB, like the exact `task`.
 */
export function fmaGemmTask(e: Engine): ((t: number) => void) | null {
  const cached = instances.get(e);
  if (cached !== undefined) return cached;
  let task: ((t: number) => void) | null = null;
  if (fmaSupported()) {
    try {
      const bytes = decode(e.shared ? FMA_KERNELS_SHARED_BASE64 : FMA_KERNELS_LOCAL_BASE64);
      const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory: e.memory } });
      task = instance.exports['gemm_task'] as (t: number) => void;
    } catch {
      task = null;
    }
  }
  instances.set(e, task);
  return task;
}

export interface CpuInfo extends EngineInfo {
  /** The relaxed-SIMD (FMA) GEMM kernels validate on this host. */
  readonly fmaSupported: boolean;
  /**
   * float32 GEMMs on the calling thread use them: `configureCpu({ fma: true })`, the
   * WebAssembly kernels in use and fmaSupported. Matmuls split across worker threads keep the
   * exact kernels.
   */
  readonly fma: boolean;
}

/** What the CPU backend's fast paths can use here. */
export function cpuInfo(): CpuInfo {
  const info = engineInfo();
  const e = getEngine();
  const fma = cpuConfig().fma && info.wasm && e !== null && fmaGemmTask(e) !== null;
  return { ...info, fmaSupported: fmaSupported(), fma };
}
