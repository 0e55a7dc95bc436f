import { describe, expect, it } from 'vitest';
import { CheckpointError, decodeSafetensors, encodeSafetensors, type HostTensor } from '../src/checkpoint/index.ts';

/** Builds a file by hand from a header object and data bytes, as another writer would. */
function rawFile(header: unknown, data: Uint8Array = new Uint8Array(0), headerLength?: number): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, headerLength ?? json.length, true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

function errorOf(fn: () => unknown): CheckpointError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(CheckpointError);
    return error as CheckpointError;
  }
  throw new Error('expected a CheckpointError');
}

const sample: Record<string, HostTensor> = {
  weights: { dtype: 'float32', shape: [2, 3], data: new Float32Array([1.5, -2, 0, -0, Number.NaN, Number.POSITIVE_INFINITY]) },
  precise: { dtype: 'float64', shape: [3], data: new Float64Array([Math.PI, -1e-300, Number.MAX_VALUE]) },
  ids: { dtype: 'int32', shape: [2, 2], data: new Int32Array([0, -1, 2 ** 31 - 1, -(2 ** 31)]) },
  scalar: { dtype: 'float32', shape: [], data: new Float32Array([42.25]) },
  intScalar: { dtype: 'int32', shape: [], data: new Int32Array([-7]) },
  empty: { dtype: 'float64', shape: [0, 4], data: new Float64Array(0) },
};

describe('safetensors round trip', () => {
  it('keeps every dtype, shape (scalars and empty tensors too), value and metadata bit for bit', () => {
    const bytes = encodeSafetensors(sample, { format: 'pt', note: 'hello' });
    const { tensors, metadata } = decodeSafetensors(bytes);
    expect(metadata).toEqual({ format: 'pt', note: 'hello' });
    expect(Object.keys(tensors).sort()).toEqual(Object.keys(sample).sort());
    for (const [name, expected] of Object.entries(sample)) {
      const actual = tensors[name]!;
      expect(actual.dtype).toBe(expected.dtype);
      expect(actual.shape).toEqual(expected.shape);
      expect(actual.data.constructor).toBe(expected.data.constructor);
      // Bytes, not values: NaN and -0 must survive exactly.
      expect(new Uint8Array(actual.data.buffer, actual.data.byteOffset, actual.data.byteLength)).toEqual(
        new Uint8Array(expected.data.buffer, expected.data.byteOffset, expected.data.byteLength),
      );
    }
  });

  it('writes the layout other safetensors readers expect', () => {
    const bytes = encodeSafetensors({ a: { dtype: 'float32', shape: [2], data: new Float32Array([1, 2]) } });
    const view = new DataView(bytes.buffer);
    const headerLength = view.getUint32(0, true);
    expect(view.getUint32(4, true)).toBe(0);
    expect(headerLength % 8).toBe(0);
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength))) as unknown;
    expect(header).toEqual({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } });
    expect(view.getFloat32(8 + headerLength, true)).toBe(1);
    expect(view.getFloat32(8 + headerLength + 4, true)).toBe(2);
  });

  it('reads a file written by another writer (tensors out of data order, unpadded header)', () => {
    const data = new Uint8Array(12);
    const view = new DataView(data.buffer);
    view.setInt32(0, 5, true);
    view.setFloat64(4, 0.125, true);
    const file = rawFile({ b: { dtype: 'F64', shape: [1], data_offsets: [4, 12] }, __metadata__: { k: 'v' }, a: { dtype: 'I32', shape: [], data_offsets: [0, 4] } }, data);
    const { tensors, metadata } = decodeSafetensors(file);
    expect(metadata).toEqual({ k: 'v' });
    expect(Array.from(tensors.a!.data)).toEqual([5]);
    expect(tensors.a!.shape).toEqual([]);
    expect(Array.from(tensors.b!.data)).toEqual([0.125]);
  });

  it("treats a tensor named '__proto__' as an ordinary name", () => {
    const tensors = JSON.parse('{"__proto__": {"dtype": "int32", "shape": [1], "data": null}}') as Record<string, HostTensor>;
    tensors['__proto__'] = { dtype: 'int32', shape: [1], data: new Int32Array([9]) };
    const decoded = decodeSafetensors(encodeSafetensors(tensors)).tensors;
    expect(Object.keys(decoded)).toEqual(['__proto__']);
    expect(Array.from(decoded['__proto__']!.data)).toEqual([9]);
  });

  it('refuses to encode values that do not fit their shape or dtype', () => {
    expect(() => encodeSafetensors({ x: { dtype: 'float32', shape: [3], data: new Float32Array(2) } })).toThrow(/'x' has 2 values for shape \[3\]/);
    expect(() => encodeSafetensors({ x: { dtype: 'int32', shape: [2], data: new Float32Array(2) } })).toThrow(/'x' is int32 but holds a Float32Array/);
  });
});

describe('corrupt safetensors files', () => {
  const good = encodeSafetensors({ w: { dtype: 'float32', shape: [4], data: new Float32Array([1, 2, 3, 4]) }, b: { dtype: 'float32', shape: [2], data: new Float32Array(2) } });

  it('reports a file too short for the header length', () => {
    const error = errorOf(() => decodeSafetensors(good.subarray(0, 5), { file: 'model.safetensors' }));
    expect(error.message).toMatch(/^model\.safetensors: truncated: 5 bytes/);
    expect(error.file).toBe('model.safetensors');
  });

  it('reports a header cut short', () => {
    expect(errorOf(() => decodeSafetensors(good.subarray(0, 20), { file: 'f' })).message).toMatch(/f: truncated: the header claims \d+ bytes but only 12 follow/);
  });

  it('reports data cut short, naming the tensor that runs past the end', () => {
    const error = errorOf(() => decodeSafetensors(good.subarray(0, good.length - 4), { file: 'f' }));
    expect(error.message).toMatch(/tensor 'b': data_offsets \[16, 24\] are out of range: the data section has 20 bytes \(truncated file\?\)/);
    expect(error.tensor).toBe('b');
  });

  it('reports an oversized header without allocating it', () => {
    const huge = new Uint8Array(16);
    new DataView(huge.buffer).setUint32(4, 1, true); // 2^32 bytes
    expect(errorOf(() => decodeSafetensors(huge, { file: 'f' })).message).toMatch(/f: oversized header: it claims 4294967296 bytes \(limit 104857600\)/);
    const overLimit = rawFile({}, new Uint8Array(0), 2000);
    expect(errorOf(() => decodeSafetensors(overLimit, { maxHeaderBytes: 1000 })).message).toMatch(/oversized header: it claims 2000 bytes \(limit 1000\)/);
  });

  it('reports a header that is not JSON', () => {
    const file = rawFile({ w: 1 });
    file[8] = 0x5b; // '[' turns the object into broken JSON
    expect(errorOf(() => decodeSafetensors(file)).message).toMatch(/the header is not valid JSON/);
  });

  it('reports unknown dtypes by tensor name', () => {
    const error = errorOf(() => decodeSafetensors(rawFile({ half: { dtype: 'BF16', shape: [2], data_offsets: [0, 4] } }, new Uint8Array(4)), { file: 'f' }));
    expect(error.message).toBe(`f: tensor 'half': unsupported dtype "BF16" (supported: F32, F64, I32)`);
  });

  it('reports shapes that disagree with their byte range', () => {
    const error = errorOf(() => decodeSafetensors(rawFile({ w: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, new Uint8Array(8))));
    expect(error.message).toMatch(/tensor 'w': shape \[3\] of F32 needs 12 bytes, data_offsets \[0, 8\] hold 8/);
    expect(errorOf(() => decodeSafetensors(rawFile({ w: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }, new Uint8Array(4)))).message).toMatch(/invalid shape \[-1\]/);
  });

  it('reports overlapping, reversed, holed and malformed offsets', () => {
    const overlap = rawFile({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } }, new Uint8Array(12));
    expect(errorOf(() => decodeSafetensors(overlap)).message).toMatch(/tensor 'b': data_offsets \[4, 12\] overlap tensor 'a'/);
    const reversed = rawFile({ a: { dtype: 'F32', shape: [0], data_offsets: [8, 4] } }, new Uint8Array(8));
    expect(errorOf(() => decodeSafetensors(reversed)).message).toMatch(/end before they begin/);
    const hole = rawFile({ a: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, new Uint8Array(8));
    expect(errorOf(() => decodeSafetensors(hole)).message).toMatch(/leave a hole at bytes \[0, 4\)/);
    const trailing = rawFile({ a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }, new Uint8Array(8));
    expect(errorOf(() => decodeSafetensors(trailing)).message).toMatch(/4 unexpected bytes after the last tensor/);
    const malformed = rawFile({ a: { dtype: 'F32', shape: [1], data_offsets: [0] } }, new Uint8Array(4));
    expect(errorOf(() => decodeSafetensors(malformed)).message).toMatch(/tensor 'a': invalid data_offsets \[0\]/);
  });

  it('reports metadata that is not strings', () => {
    expect(errorOf(() => decodeSafetensors(rawFile({ __metadata__: { step: 3 } }))).message).toMatch(/__metadata__\.step is not a string/);
  });
});
