// A one-node ONNX model (C = MatMul(A, B), float32, fixed shapes) encoded by hand: the
// protobuf wire format of ModelProto is small enough that no onnx package is needed.

function varint(value: number): number[] {
  const out: number[] = [];
  let v = value;
  while (v > 127) {
    out.push((v & 127) | 128);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return out;
}

const utf8 = (s: string): number[] => Array.from(new TextEncoder().encode(s));

/** A length-delimited field (wire type 2). */
function bytesField(field: number, payload: number[]): number[] {
  return [...varint((field << 3) | 2), ...varint(payload.length), ...payload];
}

/** A varint field (wire type 0). */
function intField(field: number, value: number): number[] {
  return [...varint(field << 3), ...varint(value)];
}

const FLOAT = 1;

/** ValueInfoProto { name = 1, type = 2 { tensor_type = 1 { elem_type = 1, shape = 2 { dim = 1 { dim_value = 1 } } } } } */
function valueInfo(name: string, shape: readonly number[]): number[] {
  const dims = shape.flatMap((d) => bytesField(1, intField(1, d)));
  const tensorType = [...intField(1, FLOAT), ...bytesField(2, dims)];
  return [...bytesField(1, utf8(name)), ...bytesField(2, bytesField(1, tensorType))];
}

/** ModelProto bytes for C[m, n] = A[m, k] @ B[k, n] (IR version 8, opset 13). */
export function matmulModel(m: number, k: number, n: number): Uint8Array {
  // NodeProto { input = 1, output = 2, name = 3, op_type = 4 }
  const node = [...bytesField(1, utf8('A')), ...bytesField(1, utf8('B')), ...bytesField(2, utf8('C')), ...bytesField(3, utf8('matmul')), ...bytesField(4, utf8('MatMul'))];
  // GraphProto { node = 1, name = 2, input = 11, output = 12 }
  const graph = [
    ...bytesField(1, node),
    ...bytesField(2, utf8('bench')),
    ...bytesField(11, valueInfo('A', [m, k])),
    ...bytesField(11, valueInfo('B', [k, n])),
    ...bytesField(12, valueInfo('C', [m, n])),
  ];
  // ModelProto { ir_version = 1, producer_name = 2, graph = 7, opset_import = 8 { domain = 1, version = 2 } }
  const model = [
    ...intField(1, 8),
    ...bytesField(2, utf8('titans-bench')),
    ...bytesField(7, graph),
    ...bytesField(8, [...bytesField(1, []), ...intField(2, 13)]),
  ];
  return Uint8Array.from(model);
}
