// Float64 batched matmul on WebAssembly SIMD (matmul-f64.wat): copies the operands into the
// module's memory as contiguous [batches, rows, cols] arrays (one copy when already contiguous,
// else gathered through their strides; a broadcast batch is copied once), runs the tiled f64x2
// kernel and copies the product out. The same bits as the JavaScript loops (see the .wat).
// Returns false whenever the JavaScript kernel should run instead.
import { MATMUL_F64_WASM_BASE64 } from './matmul-f64-wasm.generated.js';

interface Exports {
  readonly memory: WebAssembly.Memory;
  mm(o: number, a: number, b: number, batch: number, m: number, k: number, n: number, aStep: number, bStep: number): void;
}

let instance: Exports | null | undefined;
let f64 = new Float64Array(0);
const PAGE = 65536;
/** The kernel's memory stays below 1 GiB (byte addresses are i32). */
const MAX_BYTES = 1 << 30;

/** The module, instantiated on first use; null where WebAssembly SIMD is unavailable. */
function exports(): Exports | null {
  if (instance !== undefined) return instance;
  try {
    const bytes = typeof Buffer !== 'undefined'
      ? Uint8Array.from(Buffer.from(MATMUL_F64_WASM_BASE64, 'base64'))
      : Uint8Array.from(atob(MATMUL_F64_WASM_BASE64), (c) => c.charCodeAt(0));
    instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), {}).exports as unknown as Exports;
    f64 = new Float64Array(instance.memory.buffer);
  } catch {
    instance = null;
  }
  return instance;
}

/** @internal Whether the WebAssembly module loads here. */
export function matmulF64WasmAvailable(): boolean {
  return exports() !== null;
}

const align16 = (bytes: number): number => Math.ceil(bytes / 16) * 16;

/** Copies the [batches, rows, cols] view of X at `off` with strides (sb, sr, sc) to f64[at..] contiguous. */
function copyIn(at: number, X: Float64Array, off: number, sb: number, sr: number, sc: number, batches: number, rows: number, cols: number): void {
  if (sc === 1 && sr === cols && (batches === 1 || sb === rows * cols)) {
    f64.set(X.subarray(off, off + batches * rows * cols), at);
    return;
  }
  let d = at;
  for (let bi = 0; bi < batches; bi++) {
    for (let r = 0; r < rows; r++) {
      let s = off + bi * sb + r * sr;
      if (sc === 1) {
        f64.set(X.subarray(s, s + cols), d);
        d += cols;
        continue;
      }
      for (let c = 0; c < cols; c++, s += sc) f64[d++] = X[s]!;
    }
  }
}

/**
 * o (contiguous [batch, m, n]) = A @ B with A's and B's views given by offset and strides (a
 * zero batch stride broadcasts); false (o untouched) when WebAssembly is unavailable, the
 * problem is empty (batch, m, n or k zero) or too large for the kernel's memory.
 */
export function matmulF64Wasm(
  o: Float64Array,
  A: Float64Array, aOff: number, sab: number, sam: number, sak: number,
  B: Float64Array, bOff: number, sbb: number, sbk: number, sbn: number,
  batch: number, m: number, k: number, n: number,
): boolean {
  if (batch * m * n === 0 || k === 0) return false;
  const e = exports();
  if (e === null) return false;
  const batchesA = sab === 0 ? 1 : batch;
  const batchesB = sbb === 0 ? 1 : batch;
  const aAt = 0;
  const bAt = aAt + align16(batchesA * m * k * 8);
  const oAt = bAt + align16(batchesB * k * n * 8);
  const end = oAt + batch * m * n * 8;
  if (end > MAX_BYTES) return false;
  if (end > e.memory.buffer.byteLength) {
    e.memory.grow(Math.ceil((end - e.memory.buffer.byteLength) / PAGE));
  }
  if (f64.buffer !== e.memory.buffer) f64 = new Float64Array(e.memory.buffer);
  copyIn(aAt >> 3, A, aOff, sab, sam, sak, batchesA, m, k);
  copyIn(bAt >> 3, B, bOff, sbb, sbk, sbn, batchesB, k, n);
  e.mm(oAt, aAt, bAt, batch, m, k, n, batchesA === 1 ? 0 : m * k * 8, batchesB === 1 ? 0 : k * n * 8);
  o.set(f64.subarray(oAt >> 3, (oAt >> 3) + batch * m * n));
  return true;
}
