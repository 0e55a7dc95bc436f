// Float64 batched matmul on WebAssembly SIMD (matmul-f64.wat): copies the operands into the
// module's memory as contiguous [batches, rows, cols] arrays (one copy when already contiguous;
// else the span the view covers is copied and the module's `gather` lays it out, or, for a
// small window into a large storage, JavaScript gathers it; a broadcast batch is copied once),
// runs the tiled f64x2 kernel and copies the product out. The same bits as the JavaScript loops (see the .wat).
// Returns false whenever the JavaScript kernel should run instead.
import { MATMUL_F64_WASM_BASE64 } from './matmul-f64-wasm.generated.js';

interface Exports {
  readonly memory: WebAssembly.Memory;
  mm(o: number, a: number, b: number, batch: number, m: number, k: number, n: number, aStep: number, bStep: number): void;
  gather(dst: number, src: number, batches: number, rows: number, cols: number, sb: number, sr: number, sc: number): void;
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

/** A [batches, rows, cols] view of X at `off` with element strides (sb, sr, sc). */
interface Operand {
  readonly X: Float64Array;
  readonly off: number;
  readonly sb: number;
  readonly sr: number;
  readonly sc: number;
  readonly batches: number;
  readonly rows: number;
  readonly cols: number;
}

const contiguous = (v: Operand): boolean => v.sc === 1 && v.sr === v.cols && (v.batches === 1 || v.sb === v.rows * v.cols);

/** The first element and length of the span of X that a strided view covers. */
function span(v: Operand): { lo: number; length: number } {
  let lo = v.off;
  let hi = v.off;
  for (const [size, stride] of [[v.batches, v.sb], [v.rows, v.sr], [v.cols, v.sc]] as const) {
    const reach = stride * (size - 1);
    if (reach < 0) lo += reach; else hi += reach;
  }
  return { lo, length: hi - lo + 1 };
}

/** Whether a strided view is copied as its span and gathered by the module (else gathered in JavaScript). */
const gatherInModule = (v: Operand): boolean => span(v).length <= 4 * v.batches * v.rows * v.cols + 4096;

/** Lays the view out contiguously at byte `at` of the module's memory, with `raw` (bytes) free for its span. */
function copyIn(e: Exports, at: number, v: Operand, raw: number): void {
  const count = v.batches * v.rows * v.cols;
  if (contiguous(v)) {
    f64.set(v.X.subarray(v.off, v.off + count), at >> 3);
  } else if (gatherInModule(v)) {
    const { lo, length } = span(v);
    f64.set(v.X.subarray(lo, lo + length), raw >> 3);
    e.gather(at, raw + (v.off - lo) * 8, v.batches, v.rows, v.cols, v.sb * 8, v.sr * 8, v.sc * 8);
  } else {
    let d = at >> 3;
    for (let bi = 0; bi < v.batches; bi++) {
      for (let r = 0; r < v.rows; r++) {
        let s = v.off + bi * v.sb + r * v.sr;
        for (let c = 0; c < v.cols; c++, s += v.sc) f64[d++] = v.X[s]!;
      }
    }
  }
}

/** Bytes of raw span the view needs while it is gathered (0 when it needs none). */
const rawBytes = (v: Operand): number => (!contiguous(v) && gatherInModule(v) ? span(v).length * 8 : 0);

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
  const va: Operand = { X: A, off: aOff, sb: sab, sr: sam, sc: sak, batches: batchesA, rows: m, cols: k };
  const vb: Operand = { X: B, off: bOff, sb: sbb, sr: sbk, sc: sbn, batches: batchesB, rows: k, cols: n };
  const aAt = 0;
  const bAt = aAt + align16(batchesA * m * k * 8);
  const oAt = bAt + align16(batchesB * k * n * 8);
  const raw = align16(oAt + batch * m * n * 8);
  const end = raw + Math.max(rawBytes(va), rawBytes(vb));
  if (end > MAX_BYTES) return false;
  if (end > e.memory.buffer.byteLength) {
    e.memory.grow(Math.ceil((end - e.memory.buffer.byteLength) / PAGE));
  }
  if (f64.buffer !== e.memory.buffer) f64 = new Float64Array(e.memory.buffer);
  copyIn(e, aAt, va, raw);
  copyIn(e, bAt, vb, raw);
  e.mm(oAt, aAt, bAt, batch, m, k, n, batchesA === 1 ? 0 : m * k * 8, batchesB === 1 ? 0 : k * n * 8);
  o.set(f64.subarray(oAt >> 3, (oAt >> 3) + batch * m * n));
  return true;
}
