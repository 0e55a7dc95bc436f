// The opt-in relaxed-SIMD GEMM kernels (kernels-fma.wat, assembled into kernels-fma.generated.ts):
// a second small module that imports the exact kernels' memory and runs the same gemm job with
// f32x4.relaxed_madd. Loaded only when configureCpu({ fma: true }) asks for it, and only where
// WebAssembly.validate accepts relaxed SIMD (Node 22+, Chrome 114+, Node 20 with
// --experimental-wasm-relaxed-simd). On Node 20 without that flag, opting in turns the flag on
// at run time (v8.setFlagsFromString, process-wide, before this module is compiled): V8 reads
// its WebAssembly feature flags at each validation and compilation, so modules compiled later,
// in this thread and in worker threads, may use relaxed SIMD; nothing compiled earlier changes.
// The worker threads get an instance too, so split gemms run the same kernel on every tile.
import { FMA_KERNELS_LOCAL_BASE64, FMA_KERNELS_SHARED_BASE64 } from './kernels-fma.generated.js';
import { cpuConfig } from './config.js';
import { cpuInfo as engineInfo, decodeBase64, getEngine, setFmaModuleSource, type CpuInfo as EngineInfo, type Engine } from './engine.js';

let supported: boolean | undefined;
let flagTried = false;

function validates(): boolean {
  try {
    return typeof WebAssembly === 'object' && WebAssembly.validate(decodeBase64(FMA_KERNELS_LOCAL_BASE64));
  } catch {
    return false;
  }
}

/**
 * Node 20 (V8 11.3) ships relaxed SIMD behind --experimental-wasm-relaxed-simd; turns that flag
 * on once. Only called after the user opted in (configureCpu({ fma: true }) or TITANS_CPU_FMA=1).
 */
function enableRelaxedSimdFlag(): void {
  flagTried = true;
  if (typeof process === 'undefined' || !process.versions?.node) return;
  try {
    const v8 = process.getBuiltinModule?.('node:v8');
    v8?.setFlagsFromString('--experimental-wasm-relaxed-simd');
  } catch {
    // not settable here: the exact kernels stay in use
  }
}

/**
 * True when this host's WebAssembly accepts the relaxed-SIMD kernels. Where it does not and the
 * FMA GEMM is asked for, Node's relaxed-SIMD flag is turned on first (see the header).
 */
export function fmaSupported(): boolean {
  if (supported === undefined) supported = validates();
  if (!supported && !flagTried && cpuConfig().fma) {
    enableRelaxedSimdFlag();
    supported = validates();
  }
  return supported;
}

const instances = new WeakMap<Engine, ((t: number) => void) | null>();
const modules = new WeakMap<Engine, WebAssembly.Module | null>();

/** The compiled relaxed-SIMD module for the engine's memory (shared or not), or null. */
function fmaModule(e: Engine): WebAssembly.Module | null {
  const cached = modules.get(e);
  if (cached !== undefined) return cached;
  let module: WebAssembly.Module | null = null;
  if (fmaSupported()) {
    try {
      module = new WebAssembly.Module(decodeBase64(e.shared ? FMA_KERNELS_SHARED_BASE64 : FMA_KERNELS_LOCAL_BASE64));
    } catch {
      module = null;
    }
  }
  modules.set(e, module);
  return module;
}

// New worker pools instantiate the same module, so that a split gemm runs it on every tile.
setFmaModuleSource(fmaModule);

/**
 * `gemm_task(t)` of the relaxed-SIMD kernels on the engine's memory, or null where relaxed SIMD
 * is unavailable. It runs task t of the gemm job (kind 1) at JOB, like the exact `task`.
 */
export function fmaGemmTask(e: Engine): ((t: number) => void) | null {
  const cached = instances.get(e);
  if (cached !== undefined) return cached;
  let task: ((t: number) => void) | null = null;
  const module = fmaModule(e);
  if (module) {
    try {
      const instance = new WebAssembly.Instance(module, { env: { memory: e.memory } });
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
   * float32 GEMMs use them: `configureCpu({ fma: true })`, the WebAssembly kernels in use and
   * fmaSupported. Matmuls split across worker threads run them on every thread.
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
