// The safetensors format, read and written from bytes (no file IO, so it runs in browsers):
// an 8-byte little-endian header length N, N bytes of JSON naming each tensor's dtype, shape
// and [begin, end) byte range in the data section that follows, then the data, little-endian.
// Reading validates everything before returning anything, and every error names the file
// and the tensor, so a corrupt checkpoint is reported rather than half-loaded.
import type { DType, TypedArray } from '@titans/tensor';

/** A tensor's values on the host: what a safetensors file stores for one name. */
export interface HostTensor {
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly data: TypedArray;
}

export interface SafetensorsContents {
  /** Tensors by name, in the order of their data. */
  readonly tensors: Record<string, HostTensor>;
  /** The header's `__metadata__` (string values only). */
  readonly metadata: Record<string, string>;
}

/** A checkpoint that cannot be read or does not fit the model. Names the file and tensor. */
export class CheckpointError extends Error {
  override readonly name = 'CheckpointError';
  constructor(
    readonly file: string,
    message: string,
    readonly tensor?: string,
  ) {
    super(`${file}: ${tensor === undefined ? '' : `tensor '${tensor}': `}${message}`);
  }
}

/** The reference implementation's limit; a larger header means a corrupt or hostile file. */
export const MAX_HEADER_BYTES = 100 * 1024 * 1024;

const FORMAT_DTYPES: Record<string, DType> = { F32: 'float32', F64: 'float64', I32: 'int32' };
const DTYPE_FORMATS: Record<DType, string> = { float32: 'F32', float64: 'F64', int32: 'I32' };
const ELEMENT_BYTES: Record<DType, number> = { float32: 4, float64: 8, int32: 4 };
const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Serialises tensors (in the given order) and string metadata to safetensors bytes. */
export function encodeSafetensors(tensors: Readonly<Record<string, HostTensor>>, metadata: Readonly<Record<string, string>> = {}): Uint8Array {
  // Null prototypes: a tensor named '__proto__' is just a name.
  const header: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  if (Object.keys(metadata).length > 0) header.__metadata__ = { ...metadata };
  let offset = 0;
  for (const [name, t] of Object.entries(tensors)) {
    if (name === '__metadata__') throw new Error(`encodeSafetensors: '__metadata__' is reserved and cannot name a tensor`);
    const count = elementCount(t.shape);
    if (count === null) throw new Error(`encodeSafetensors: tensor '${name}' has an invalid shape [${t.shape.join(', ')}]`);
    if (count !== t.data.length) throw new Error(`encodeSafetensors: tensor '${name}' has ${t.data.length} values for shape [${t.shape.join(', ')}]`);
    if (dtypeOfArray(t.data) !== t.dtype) throw new Error(`encodeSafetensors: tensor '${name}' is ${t.dtype} but holds a ${t.data.constructor.name}`);
    const bytes = t.data.byteLength;
    header[name] = { dtype: DTYPE_FORMATS[t.dtype], shape: [...t.shape], data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  // Pad the header with spaces to a multiple of 8 so the data starts aligned (as the reference writer does).
  let json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.length / 8) * 8;
  if (padded !== json.length) {
    const withSpaces = new Uint8Array(padded).fill(0x20);
    withSpaces.set(json);
    json = withSpaces;
  }
  const out = new Uint8Array(8 + json.length + offset);
  const view = new DataView(out.buffer);
  view.setUint32(0, json.length, true);
  view.setUint32(4, 0, true);
  out.set(json, 8);
  let at = 8 + json.length;
  for (const t of Object.values(tensors)) {
    writeLittleEndian(t.data, out, at);
    at += t.data.byteLength;
  }
  return out;
}

export interface DecodeOptions {
  /** Name used in error messages (default 'safetensors'). */
  file?: string;
  /** Largest header accepted (default MAX_HEADER_BYTES). */
  maxHeaderBytes?: number;
}

/** One tensor's entry in a safetensors header, checked against the file's size. */
export interface SafetensorsEntry {
  readonly name: string;
  readonly dtype: DType;
  readonly shape: readonly number[];
  /** Byte range in the data section (after the 8-byte length and the header). */
  readonly begin: number;
  readonly end: number;
}

/** A validated header: where every tensor's bytes are, without the bytes themselves. */
export interface SafetensorsHeader {
  /** Entries in the order of their data. */
  readonly entries: readonly SafetensorsEntry[];
  readonly metadata: Record<string, string>;
  /** 8 + the header's length: where the data section starts. */
  readonly dataStart: number;
}

/** The 8-byte little-endian header length at the start of a safetensors file. */
export function headerLengthOf(prefix: Uint8Array, file = 'safetensors', fileSize = prefix.length, maxHeaderBytes = MAX_HEADER_BYTES): number {
  if (fileSize < 8 || prefix.length < 8) throw new CheckpointError(file, `truncated: ${fileSize} bytes, too short for the 8-byte header length`);
  const view = new DataView(prefix.buffer, prefix.byteOffset, 8);
  const headerLength = view.getUint32(0, true) + view.getUint32(4, true) * 2 ** 32;
  if (headerLength > maxHeaderBytes) throw new CheckpointError(file, `oversized header: it claims ${headerLength} bytes (limit ${maxHeaderBytes}); the file is corrupt`);
  if (8 + headerLength > fileSize) throw new CheckpointError(file, `truncated: the header claims ${headerLength} bytes but only ${fileSize - 8} follow`);
  return headerLength;
}

/**
 * Parses and validates a header (its JSON bytes) against the file's total size: dtypes,
 * shapes against byte ranges, ranges inside the data, no overlaps, holes or trailing bytes.
 * Reads no tensor data, so it is what `titans info` and size checks use.
 */
export function parseSafetensorsHeader(headerBytes: Uint8Array, fileSize: number, file = 'safetensors'): SafetensorsHeader {
  const fail = (message: string, tensor?: string): never => {
    throw new CheckpointError(file, message, tensor);
  };
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(headerBytes));
  } catch (error) {
    fail(`the header is not valid JSON (${(error as Error).message})`);
  }
  if (!isRecord(header)) return fail('the header is not a JSON object');

  const metadata: Record<string, string> = Object.create(null) as Record<string, string>;
  const rawMetadata = header.__metadata__;
  if (rawMetadata !== undefined) {
    if (!isRecord(rawMetadata)) fail('__metadata__ is not an object');
    for (const [key, value] of Object.entries(rawMetadata as Record<string, unknown>)) {
      if (typeof value !== 'string') fail(`__metadata__.${key} is not a string`);
      metadata[key] = value as string;
    }
  }

  const dataStart = 8 + headerBytes.length;
  const dataLength = fileSize - dataStart;
  const entries: SafetensorsEntry[] = [];
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    if (!isRecord(entry)) return fail('the header entry is not an object', name);
    const dtype = typeof entry.dtype === 'string' && Object.hasOwn(FORMAT_DTYPES, entry.dtype) ? FORMAT_DTYPES[entry.dtype] : undefined;
    if (dtype === undefined) fail(`unsupported dtype ${JSON.stringify(entry.dtype)} (supported: ${Object.keys(FORMAT_DTYPES).join(', ')})`, name);
    const shape = entry.shape;
    const count = Array.isArray(shape) ? elementCount(shape as unknown[]) : null;
    if (count === null) fail(`invalid shape ${JSON.stringify(shape)}`, name);
    const offsets = entry.data_offsets;
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && (o as number) >= 0)) {
      fail(`invalid data_offsets ${JSON.stringify(offsets)}`, name);
    }
    const [begin, end] = offsets as [number, number];
    if (end < begin) fail(`data_offsets [${begin}, ${end}] end before they begin`, name);
    if (end > dataLength) fail(`data_offsets [${begin}, ${end}] are out of range: the data section has ${dataLength} bytes (truncated file?)`, name);
    const expected = count! * ELEMENT_BYTES[dtype!];
    if (end - begin !== expected) fail(`shape [${(shape as number[]).join(', ')}] of ${entry.dtype} needs ${expected} bytes, data_offsets [${begin}, ${end}] hold ${end - begin}`, name);
    entries.push({ name, dtype: dtype!, shape: shape as number[], begin, end });
  }

  // Byte ranges must tile the data section exactly: no overlaps, no holes, nothing after.
  const byBegin = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let covered = 0;
  let previous: string | undefined;
  for (const e of byBegin) {
    if (e.begin < covered) fail(`data_offsets [${e.begin}, ${e.end}] overlap tensor '${previous!}'`, e.name);
    if (e.begin > covered) fail(`data_offsets [${e.begin}, ${e.end}] leave a hole at bytes [${covered}, ${e.begin})`, e.name);
    covered = e.end;
    previous = e.name;
  }
  if (covered !== dataLength) fail(`${dataLength - covered} unexpected bytes after the last tensor`);
  return { entries: byBegin, metadata, dataStart };
}

/** One tensor's values from the data section (`bytes` holds the data section from `dataStart`, or the whole file). */
export function readTensorData(bytes: Uint8Array, at: number, entry: SafetensorsEntry): TypedArray {
  return readLittleEndian(bytes, at, entry.end - entry.begin, entry.dtype);
}

/**
 * Parses safetensors bytes. Rejects truncated files, oversized headers, malformed JSON,
 * unknown dtypes, shapes that disagree with their byte ranges, ranges outside the data or
 * overlapping each other, and holes or trailing bytes in the data section.
 */
export function decodeSafetensors(bytes: Uint8Array, options: DecodeOptions = {}): SafetensorsContents {
  const file = options.file ?? 'safetensors';
  const headerLength = headerLengthOf(bytes, file, bytes.length, options.maxHeaderBytes ?? MAX_HEADER_BYTES);
  const { entries, metadata, dataStart } = parseSafetensorsHeader(bytes.subarray(8, 8 + headerLength), bytes.length, file);
  const tensors: Record<string, HostTensor> = Object.create(null) as Record<string, HostTensor>;
  for (const e of entries) tensors[e.name] = { dtype: e.dtype, shape: e.shape, data: readTensorData(bytes, dataStart + e.begin, e) };
  return { tensors, metadata };
}

/** The index and value of the first NaN or infinite value, or null when all are finite (int32: always null). */
export function firstNonFinite(data: TypedArray): { index: number; value: number } | null {
  if (data instanceof Int32Array) return null;
  for (let i = 0; i < data.length; i++) {
    const v = data[i]!;
    // v - v is 0 for finite v and NaN for NaN and +-Infinity: one subtraction per value.
    if (v - v !== 0) return { index: i, value: v };
  }
  return null;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Number of elements, or null when the shape is not a list of non-negative safe integers. */
function elementCount(shape: readonly unknown[]): number | null {
  let n = 1;
  for (const d of shape) {
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) return null;
    n *= d;
  }
  return Number.isSafeInteger(n) ? n : null;
}

function dtypeOfArray(data: TypedArray): DType | undefined {
  if (data instanceof Float32Array) return 'float32';
  if (data instanceof Float64Array) return 'float64';
  if (data instanceof Int32Array) return 'int32';
  return undefined;
}

function writeLittleEndian(data: TypedArray, out: Uint8Array, at: number): void {
  if (LITTLE_ENDIAN_HOST) {
    out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), at);
    return;
  }
  const view = new DataView(out.buffer, out.byteOffset + at, data.byteLength);
  for (let i = 0; i < data.length; i++) {
    if (data instanceof Float32Array) view.setFloat32(4 * i, data[i]!, true);
    else if (data instanceof Float64Array) view.setFloat64(8 * i, data[i]!, true);
    else view.setInt32(4 * i, data[i]!, true);
  }
}

function readLittleEndian(bytes: Uint8Array, at: number, length: number, dtype: DType): TypedArray {
  // slice() copies into a fresh, aligned buffer, so the result never aliases the file bytes.
  const copy = bytes.slice(at, at + length);
  if (LITTLE_ENDIAN_HOST) {
    if (dtype === 'float32') return new Float32Array(copy.buffer);
    if (dtype === 'float64') return new Float64Array(copy.buffer);
    return new Int32Array(copy.buffer);
  }
  const view = new DataView(copy.buffer);
  const n = length / ELEMENT_BYTES[dtype];
  if (dtype === 'float64') return Float64Array.from({ length: n }, (_, i) => view.getFloat64(8 * i, true));
  if (dtype === 'float32') return Float32Array.from({ length: n }, (_, i) => view.getFloat32(4 * i, true));
  return Int32Array.from({ length: n }, (_, i) => view.getInt32(4 * i, true));
}
