// A small ONNX graph builder: named values with static shapes, nodes appended in
// execution order, deduplicated constants, graph inputs (optionally with default values)
// and outputs. `build` drops every node no output depends on and returns a ModelProto.
import { AttributeType, OnnxDataType, type AttributeProto, type ModelProto, type NodeProto, type TensorProto } from './proto.js';

/** Element types of graph values (the tracer's dtypes plus the index and mask types ONNX needs). */
export type ValueType = 'float32' | 'float64' | 'int32' | 'int64' | 'bool';

/** A value of the graph: a name and its static shape and type. */
export interface Value {
  readonly name: string;
  readonly shape: readonly number[];
  readonly type: ValueType;
}

export type ConstantData = Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array;

export type Attribute = number | readonly number[] | string | { readonly float: number } | { readonly tensor: TensorProto };

export function onnxType(type: ValueType): number {
  switch (type) {
    case 'float32': return OnnxDataType.FLOAT;
    case 'float64': return OnnxDataType.DOUBLE;
    case 'int32': return OnnxDataType.INT32;
    case 'int64': return OnnxDataType.INT64;
    case 'bool': return OnnxDataType.BOOL;
  }
}

export function typeOfOnnx(code: number): ValueType {
  switch (code) {
    case OnnxDataType.FLOAT: return 'float32';
    case OnnxDataType.DOUBLE: return 'float64';
    case OnnxDataType.INT32: return 'int32';
    case OnnxDataType.INT64: return 'int64';
    case OnnxDataType.BOOL: return 'bool';
    default: throw new Error(`onnx: unsupported element type ${code}`);
  }
}

export const sizeOf = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

function bytesOf(data: ConstantData): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice();
}

/** Converts numbers to the typed array a value type is stored in. */
export function constantArray(values: ArrayLike<number>, type: ValueType): ConstantData {
  switch (type) {
    case 'float32': return Float32Array.from(values);
    case 'float64': return Float64Array.from(values);
    case 'int32': return Int32Array.from(values);
    case 'int64': return BigInt64Array.from(Array.from(values, (v) => BigInt(Math.trunc(v))));
    case 'bool': return Uint8Array.from(values, (v) => (v !== 0 ? 1 : 0));
  }
}

export function tensorProto(name: string, data: ConstantData, shape: readonly number[], type: ValueType): TensorProto {
  return { name, dims: [...shape], dataType: onnxType(type), rawData: bytesOf(data) };
}

function attribute(name: string, value: Attribute): AttributeProto {
  if (typeof value === 'number') return { name, type: AttributeType.INT, i: value };
  if (typeof value === 'string') return { name, type: AttributeType.STRING, s: new TextEncoder().encode(value) };
  if (Array.isArray(value)) return { name, type: AttributeType.INTS, ints: [...(value as number[])] };
  if ('float' in (value as object)) return { name, type: AttributeType.FLOAT, f: (value as { float: number }).float };
  return { name, type: AttributeType.TENSOR, t: (value as { tensor: TensorProto }).tensor };
}

/** Constants up to this many elements are deduplicated by content. */
const DEDUPE_LIMIT = 256;

export interface BuildOptions {
  readonly graphName: string;
  readonly opset: number;
  readonly producerVersion: string;
  readonly docString?: string;
  readonly metadata?: Readonly<Record<string, string>>;
}

export class GraphBuilder {
  private readonly nodes: NodeProto[] = [];
  private readonly initializers = new Map<string, TensorProto>();
  private readonly inputs: Value[] = [];
  private readonly outputs: Value[] = [];
  private readonly used = new Set<string>();
  private readonly constants = new Map<string, Value>();
  private counter = 0;

  /** A fresh internal name from a readable stem (internal names start with '_'; graph inputs and outputs may not). */
  fresh(stem: string): string {
    const name = `_${stem.replace(/[^A-Za-z0-9_.]/g, '_')}_${++this.counter}`;
    this.used.add(name);
    return name;
  }

  private claim(name: string): void {
    if (name.startsWith('_')) throw new Error(`onnx: graph input and output names may not start with '_' (got '${name}')`);
    if (this.used.has(name)) throw new Error(`onnx: the name '${name}' is taken`);
    this.used.add(name);
  }

  /** Appends a node with one output. */
  node(opType: string, inputs: readonly (Value | null)[], shape: readonly number[], type: ValueType, attributes: Readonly<Record<string, Attribute>> = {}): Value {
    return this.nodeMulti(opType, inputs, [{ shape, type }], attributes)[0]!;
  }

  /** Appends a node with several outputs. Missing optional inputs are null. */
  nodeMulti(
    opType: string, inputs: readonly (Value | null)[], outputs: readonly { shape: readonly number[]; type: ValueType }[],
    attributes: Readonly<Record<string, Attribute>> = {},
  ): Value[] {
    const results = outputs.map((o) => ({ name: this.fresh(opType.toLowerCase()), shape: [...o.shape], type: o.type }));
    this.nodes.push({
      opType,
      name: this.fresh(opType),
      input: inputs.map((v) => v?.name ?? ''),
      output: results.map((r) => r.name),
      attribute: Object.entries(attributes).map(([k, v]) => attribute(k, v)),
    });
    return results;
  }

  /** A constant (an initializer); small ones are shared by content. */
  constant(data: ConstantData, shape: readonly number[], type: ValueType, stem = 'const'): Value {
    if (data.length !== sizeOf(shape)) throw new Error(`onnx: constant of ${data.length} values cannot have shape [${shape.join(', ')}]`);
    const key = data.length <= DEDUPE_LIMIT ? `${type}|${shape.join(',')}|${Array.from(data as ArrayLike<number | bigint>, String).join(',')}` : null;
    if (key !== null) {
      const hit = this.constants.get(key);
      if (hit) return hit;
    }
    const value: Value = { name: this.fresh(stem), shape: [...shape], type };
    this.initializers.set(value.name, tensorProto(value.name, data, shape, type));
    if (key !== null) this.constants.set(key, value);
    return value;
  }

  /** True when `value` is an initializer (not a graph input with a default). */
  isConstant(value: Value): boolean {
    return this.initializers.has(value.name) && !this.inputs.some((i) => i.name === value.name);
  }

  /** The same constant data under another shape (no node needed). */
  reshapeConstant(value: Value, shape: readonly number[]): Value {
    const source = this.initializers.get(value.name);
    if (!source || sizeOf(shape) !== sizeOf(value.shape)) throw new Error(`internal: reshapeConstant of '${value.name}'`);
    const key = `${value.name}|${shape.join(',')}`;
    const hit = this.constants.get(key);
    if (hit) return hit;
    const out: Value = { name: this.fresh(value.name.replace(/^_/, '').replace(/_\d+$/, '')), shape: [...shape], type: value.type };
    this.initializers.set(out.name, { ...source, name: out.name, dims: [...shape] });
    this.constants.set(key, out);
    return out;
  }

  /** A 1-D int64 constant (shapes, axes, slice bounds). */
  int64(values: readonly number[]): Value {
    return this.constant(constantArray(values, 'int64'), [values.length], 'int64', 'i64');
  }

  /** A scalar constant of a type. */
  scalar(value: number, type: ValueType): Value {
    return this.constant(constantArray([value], type), [], type, 'scalar');
  }

  /** A graph input; with `defaultValue` it is also an initializer, so feeding it is optional. */
  input(name: string, shape: readonly number[], type: ValueType, defaultValue?: ConstantData): Value {
    this.claim(name);
    const value: Value = { name, shape: [...shape], type };
    this.inputs.push(value);
    if (defaultValue) this.initializers.set(name, tensorProto(name, defaultValue, shape, type));
    return value;
  }

  /** Declares `value` as the graph output `name` (through an Identity node). */
  output(name: string, value: Value): void {
    this.claim(name);
    this.nodes.push({ opType: 'Identity', name: this.fresh('Identity'), input: [value.name], output: [name], attribute: [] });
    this.outputs.push({ name, shape: value.shape, type: value.type });
  }

  get nodeCount(): number {
    return this.nodes.length;
  }

  /** The model, with nodes and initializers that no output needs removed. */
  build(options: BuildOptions): ModelProto {
    const needed = new Set(this.outputs.map((o) => o.name));
    const kept: NodeProto[] = [];
    for (let i = this.nodes.length - 1; i >= 0; i--) {
      const node = this.nodes[i]!;
      if (!node.output.some((o) => needed.has(o))) continue;
      kept.push(node);
      for (const input of node.input) if (input) needed.add(input);
    }
    kept.reverse();
    const inputNames = new Set(this.inputs.map((v) => v.name));
    const valueInfo = (v: Value): ModelProto['graph']['input'][number] => ({
      name: v.name,
      type: { tensorType: { elemType: onnxType(v.type), shape: { dim: v.shape.map((d) => ({ dimValue: d })) } } },
    });
    return {
      irVersion: 8,
      producerName: 'titans-ts',
      producerVersion: options.producerVersion,
      ...(options.docString ? { docString: options.docString } : {}),
      opsetImport: [{ domain: '', version: options.opset }],
      metadataProps: Object.entries(options.metadata ?? {}).map(([key, value]) => ({ key, value })),
      graph: {
        name: options.graphName,
        node: kept,
        initializer: [...this.initializers.values()].filter((t) => needed.has(t.name) || inputNames.has(t.name)),
        input: this.inputs.map(valueInfo),
        output: this.outputs.map(valueInfo),
      },
    };
  }
}
