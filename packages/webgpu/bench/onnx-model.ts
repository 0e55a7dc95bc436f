// A minimal ONNX model (one MatMul of two float inputs) encoded by hand, so the benchmark
// can run onnxruntime-web without shipping a model file.

function varint(n: number): number[] {
  const out: number[] = [];
  let v = n;
  while (v >= 0x80) {
    out.push((v & 0x7f) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return out;
}

function field(num: number, wire: 0 | 2, payload: number | number[]): number[] {
  const key = varint((num << 3) | wire);
  if (wire === 0) return [...key, ...varint(payload as number)];
  const bytes = payload as number[];
  return [...key, ...varint(bytes.length), ...bytes];
}

const str = (s: string): number[] => [...new TextEncoder().encode(s)];

function valueInfo(name: string, dims: readonly number[]): number[] {
  const shape = dims.flatMap((d) => field(1, 2, field(1, 0, d)));
  const tensorType = [...field(1, 0, 1 /* FLOAT */), ...field(2, 2, shape)];
  return [...field(1, 2, str(name)), ...field(2, 2, field(1, 2, tensorType))];
}

/** ModelProto bytes for y = a @ b with a [m, k] and b [k, n]. */
export function matmulModel(m: number, k: number, n: number): Uint8Array {
  const node = [...field(1, 2, str('a')), ...field(1, 2, str('b')), ...field(2, 2, str('y')), ...field(4, 2, str('MatMul'))];
  const graph = [
    ...field(1, 2, node),
    ...field(2, 2, str('matmul')),
    ...field(11, 2, valueInfo('a', [m, k])),
    ...field(11, 2, valueInfo('b', [k, n])),
    ...field(12, 2, valueInfo('y', [m, n])),
  ];
  const opset = [...field(1, 2, []), ...field(2, 0, 17)];
  return Uint8Array.from([...field(1, 0, 8), ...field(2, 2, str('titans-bench')), ...field(7, 2, graph), ...field(8, 2, opset)]);
}
