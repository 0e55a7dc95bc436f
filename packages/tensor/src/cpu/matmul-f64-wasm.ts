// Float64 batched matmul on WebAssembly SIMD (matmul-f64.wat): copies into the module's memory
// the span of each operand's storage that its view covers (one copy; a broadcast batch once) and
// reads A through its strides there; B's rows must be contiguous, so a B with a column stride
// other than 1 is laid out contiguously by the module's `gather`. A small window into a much
// larger storage is gathered by JavaScript instead. Then runs the tiled f64x2 kernel and copies
// the product out. The same bits as the JavaScript loops (see the .wat).
// Returns false whenever the JavaScript kernel should run instead.
import { MATMUL_F64_WASM_BASE64 } from './matmul-f64-wasm.generated.js';
import { decodeBase64 } from './wasm/engine.js';

interface Exports {
  readonly memory: WebAssembly.Memory;
  mm(o: number, a: number, b: number, batch: number, m: number, k: number, n: number, aStep: number, bStep: number, sam: number, sak: number, sbk: number): void;
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
    const bytes = decodeBase64(MATMUL_F64_WASM_BASE64);
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

/** Whether the view is copied as its span (else gathered by JavaScript: a small window into a large storage). */
const bySpan = (v: Operand): boolean => span(v).length <= 4 * v.batches * v.rows * v.cols + 4096;

/** JavaScript gather of the view to f64[at..] as a contiguous [batches, rows, cols] array. */
function gatherInJs(at: number, v: Operand): void {
  let d = at;
  for (let bi = 0; bi < v.batches; bi++) {
    for (let r = 0; r < v.rows; r++) {
      let s = v.off + bi * v.sb + r * v.sr;
      for (let c = 0; c < v.cols; c++, s += v.sc) f64[d++] = v.X[s]!;
    }
  }
}

/**
 * Where an operand sits in the module's memory: the byte address of its element [0, 0, 0] and its
 * byte strides once copied in.
 */
interface Placed {
  readonly at: number;
  readonly sb: number;
  readonly sr: number;
  readonly sc: number;
}

/** Bytes the operand takes in the module's memory at its final place (its span, or its elements when gathered). */
function placedBytes(v: Operand, rowsContiguous: boolean): number {
  if (bySpan(v) && (!rowsContiguous || v.sc === 1)) return span(v).length * 8;
  return v.batches * v.rows * v.cols * 8;
}

/**
 * Copies the operand in at byte `at` (placedBytes long; `raw`: scratch for its span when it is
 * gathered by the module), so that its rows are contiguous when `rowsContiguous`.
 */
function place(e: Exports, at: number, v: Operand, rowsContiguous: boolean, raw: number): Placed {
  const gathered: Placed = { at, sb: v.rows * v.cols * 8, sr: v.cols * 8, sc: 8 };
  if (!bySpan(v)) {
    gatherInJs(at >> 3, v);
    return gathered;
  }
  const { lo, length } = span(v);
  if (!rowsContiguous || v.sc === 1) {
    f64.set(v.X.subarray(lo, lo + length), at >> 3);
    return { at: at + (v.off - lo) * 8, sb: v.sb * 8, sr: v.sr * 8, sc: v.sc * 8 };
  }
  f64.set(v.X.subarray(lo, lo + length), raw >> 3);
  e.gather(at, raw + (v.off - lo) * 8, v.batches, v.rows, v.cols, v.sb * 8, v.sr * 8, v.sc * 8);
  return gathered;
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
  const va: Operand = { X: A, off: aOff, sb: sab, sr: sam, sc: sak, batches: batchesA, rows: m, cols: k };
  const vb: Operand = { X: B, off: bOff, sb: sbb, sr: sbk, sc: sbn, batches: batchesB, rows: k, cols: n };
  const aAt = 0;
  const bAt = aAt + align16(placedBytes(va, false));
  const oAt = bAt + align16(placedBytes(vb, true));
  const raw = align16(oAt + batch * m * n * 8);
  const gatherB = bySpan(vb) && vb.sc !== 1;
  const end = raw + (gatherB ? span(vb).length * 8 : 0);
  if (end > MAX_BYTES) return false;
  if (end > e.memory.buffer.byteLength) {
    e.memory.grow(Math.ceil((end - e.memory.buffer.byteLength) / PAGE));
  }
  if (f64.buffer !== e.memory.buffer) f64 = new Float64Array(e.memory.buffer);
  const pa = place(e, aAt, va, false, raw);
  const pb = place(e, bAt, vb, true, raw);
  e.mm(oAt, pa.at, pb.at, batch, m, k, n, batchesA === 1 ? 0 : pa.sb, batchesB === 1 ? 0 : pb.sb, pa.sr, pa.sc, pb.sr);
  o.set(f64.subarray(oAt >> 3, (oAt >> 3) + batch * m * n));
  return true;
}
