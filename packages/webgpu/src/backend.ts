/// <reference types="@webgpu/types" />
// The WebGPU implementation of @titans/tensor's Backend. Elementwise ops and matmuls are
// recorded as lazy graph nodes (graph.ts) and compiled into fused kernels on demand; the
// other primitives record their kernels immediately. Nothing waits for the GPU except
// `read` (and `sync`), so a whole training step is usually one or two submits.
import type {
  ArgReduceOp, AttentionDims, AttentionOptions, Backend, BinaryOp, DType, MemoryScanDims, MemoryScanInputs, NormKind, ReduceOp, Storage, TypedArray, UnaryOp, View,
} from '@titans/tensor';
import { acquireDevice, type DeviceOptions } from './device.js';
import { Params, flatIndex, fusedCode, grid, planFusion, type FusedPlan } from './fusion.js';
import { Node, collapseLayout, isIdentity, matmulInputs, type ElementwiseOp, type MatmulSpec, type Operand } from './graph.js';
import {
  MAX_FUSED_HEAD_DIM, recordAttentionBackward, recordAttentionDelta, recordAttentionForward, recordMaskedSoftmax,
} from './kernels/attention.js';
import {
  recordNormRows, recordNormRowsBackward, recordRope, recordSoftmaxRows, recordSoftmaxRowsBackward,
} from './kernels/fused-rows.js';
import { recordMatmul, type MatmulVariant } from './kernels/matmul.js';
import { recordMemoryScan, scratchPerMemory } from './kernels/memory-scan.js';
import { helpersFor } from './kernels/helpers.js';
import { scalarOf } from './kernels/ops.js';
import { recordArgReduce, recordReduce } from './kernels/reduce.js';
import { recordConcatPart, recordFill, recordGather, recordScatterAdd } from './kernels/rows.js';
import { recordScan } from './kernels/scan.js';
import type { PoolStats } from './pool.js';
import { Runtime } from './runtime.js';

export interface WebGPUBackendOptions extends DeviceOptions {
  /** Bytes of freed buffers kept for reuse before they are destroyed (default 256 MiB). */
  readonly maxPooledBytes?: number;
  /** Defer and fuse elementwise ops and matmul epilogues (default true). When false every
   * op runs as its own kernel as soon as it is called. */
  readonly fusion?: boolean;
  /** Cache uniform parameter slots and bind groups across dispatches and stage uploads in the
   * command stream: a compiled step then submits once per host read. Default false: on
   * SwiftShader (the only device measured so far) it made a tiny MAG step 1.3x and a tiny
   * Transformer++ step 1.5x slower (bench/compiled-step.ts), and replays rarely reuse bind
   * groups yet (the pool hands a replay other buffers). Off means one bind group and
   * parameter write per dispatch and a submit before every upload. */
  readonly recordingCache?: boolean;
  /** Replays of compile()d functions keep each plan value in the same buffer (an arena per
   * plan, planned by liveness) and build each kernel's bind group once, and evaluate their
   * pending results before they return (default true). False: replays allocate from the pool
   * like eager code (for comparisons). */
  readonly replayArenas?: boolean;
  /** Offer the fused row primitives (normRows, softmaxRows, ropeRows, silu and their
   * backward kernels; default true). False leaves them out, so the ops run their composite
   * forms (for comparisons). */
  readonly fusedRows?: boolean;
}

export interface WebGPUStats {
  /** Kernels recorded since the backend was created. */
  readonly dispatches: number;
  /** Command buffers submitted. */
  readonly submits: number;
  /** Distinct compute pipelines compiled. */
  readonly pipelines: number;
  /** Bind groups created, and dispatches that reused a cached one. */
  readonly bindGroupsCreated: number;
  readonly bindGroupsReused: number;
  /** Uploads copied in the command stream instead of submitting pending work first. */
  readonly uploads: number;
  /** Allocations in compile() replays served by the plan's arena (stable buffers), and by
   * the pool instead; parameter blocks rewritten because a replay changed them. */
  readonly arenaHits: number;
  readonly arenaMisses: number;
  readonly uniformWrites: number;
  /** Bytes held by the arenas of compiled plans (part of the pool's in-use bytes). */
  readonly arenaBytes: number;
  readonly pool: PoolStats;
  readonly liveBytes: number;
}

/** Lazy nodes inlined into one kernel at most; past this the inputs are evaluated first. */
const MAX_FUSED_NODES = 32;

export class WebGPUStorage implements Storage {
  disposed = false;
  constructor(
    readonly backend: WebGPUBackend,
    /** @internal */ readonly node: Node,
  ) {}
  get dtype(): DType {
    return this.node.dtype;
  }
  get size(): number {
    return this.node.size;
  }
}

function product(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

export class WebGPUBackend implements Backend {
  readonly name = 'webgpu';
  readonly syncRead = false;
  /** @internal */ readonly rt: Runtime;
  private live = 0;
  private destroyed = false;
  /** Nodes handed out during the current compile() replay (see beginReplay). */
  private replayNodes: Node[] | null = null;
  private replayDepth = 0;
  private replayArenas: boolean;
  private readonly fusion: boolean;
  /** Which matmul variant the last matmul kernel used (for tests and benchmarks). */
  lastMatmulVariant: MatmulVariant | null = null;
  /** Force a matmul variant (tests and benchmarks); null picks by shape. */
  forceMatmulVariant: MatmulVariant | null = null;

  constructor(
    readonly device: GPUDevice,
    readonly adapterName: string,
    private readonly ownsDevice: boolean,
    options: WebGPUBackendOptions = {},
  ) {
    this.rt = new Runtime(device, options.maxPooledBytes ?? 256 * 1024 * 1024);
    this.fusion = options.fusion ?? true;
    this.rt.setCache(options.recordingCache ?? false);
    this.replayArenas = options.replayArenas ?? true;
    this.rt.setReplayArenas(this.replayArenas);
    // compile() traces the methods of the instance's prototype chain and the ops test for
    // the optional ones, so leaving them out means another prototype.
    if (options.fusedRows === false) Object.setPrototypeOf(this, prototypeWithoutFusedRows());
  }

  supports(dtype: DType): boolean {
    return dtype === 'float32' || dtype === 'int32';
  }

  // ------------------------------------------------------------------ storage plumbing

  private check(): void {
    if (this.destroyed) throw new Error('@titans/webgpu: this backend was destroyed');
    this.rt.check();
  }

  private node(s: Storage): Node {
    if (!(s instanceof WebGPUStorage) || s.backend !== this) {
      throw new Error(`@titans/webgpu: storage belongs to another backend (${s.backend.name})`);
    }
    if (s.disposed) throw new Error('@titans/webgpu: storage used after it was disposed');
    return s.node;
  }

  private wrap(node: Node): WebGPUStorage {
    this.replayNodes?.push(node);
    node.userRefs++;
    this.live += node.size * 4;
    return new WebGPUStorage(this, node);
  }

  private alloc(elements: number): GPUBuffer {
    return this.rt.acquire(Math.max(4, elements * 4));
  }

  /** A node that owns a freshly allocated buffer (for kernels that run immediately). */
  private dataNode(dtype: DType, size: number): Node {
    const node = new Node(dtype, size, { kind: 'data' }, []);
    node.buffer = this.alloc(size);
    return node;
  }

  /** Free a node once neither storages nor unevaluated nodes refer to it. */
  private release(node: Node): void {
    if (node.userRefs > 0 || node.consumers > 0) return;
    if (node.buffer) {
      this.rt.releaseBuffer(node.buffer);
      node.buffer = null;
    }
    this.dropInputs(node);
  }

  private dropInputs(node: Node): void {
    const inputs = node.inputs;
    node.inputs = [];
    for (const input of inputs) {
      input.node.consumers--;
      this.release(input.node);
    }
  }

  /** Evaluate a node if it is lazy; returns its buffer. */
  private ensure(node: Node): GPUBuffer {
    if (node.buffer) return node.buffer;
    switch (node.what.kind) {
      case 'const':
        node.buffer = this.alloc(node.size);
        recordFill(this.rt, scalarOf(node.dtype), node.buffer, node.size, node.what.value);
        break;
      case 'elementwise':
        this.evaluateElementwise(node);
        break;
      case 'matmul': {
        const plan: FusedPlan = { nodes: [], host: node, leaves: [], outputs: [node] };
        this.runPlan(plan);
        break;
      }
      case 'data':
        throw new Error('@titans/webgpu: internal error: a data node lost its buffer');
    }
    return node.buffer!;
  }

  private evaluateElementwise(root: Node): void {
    const max = this.rt.maxStorageBindings;
    const evaluate = (n: Node): void => void this.ensure(n);
    let plan = planFusion(root, max, true, evaluate);
    if (!plan) {
      // Too many distinct inputs for one kernel: evaluate the direct inputs separately.
      for (const input of root.inputs) if (input.node.isLazy) this.ensure(input.node);
      plan = planFusion(root, max, true, evaluate)!;
    }
    this.runPlan(plan);
  }

  private runPlan(plan: FusedPlan): void {
    for (const out of plan.outputs) out.buffer = this.alloc(out.size);
    if (plan.host) {
      if (plan.host.what.kind !== 'matmul') throw new Error('@titans/webgpu: internal error: host is not a matmul');
      this.lastMatmulVariant = recordMatmul(this.rt, plan.host.what.spec, plan, this.forceMatmulVariant ?? undefined);
    } else {
      const root = plan.outputs[0]!;
      const params = new Params();
      params.u32(root.size);
      const fc = fusedCode(plan, 1, params);
      const code = `${Params.decl(params.length)}
${fc.decls}
${helpersFor(fc.decls, fc.body)}
${flatIndex(256)}
  if (i >= P(0u)) { return; }
  ${fc.body}
}`;
      this.rt.dispatch(this.rt.pipeline('elementwise', code), params.array(), fc.buffers, grid(root.size, 256));
    }
    for (const out of plan.outputs) this.dropInputs(out);
  }

  // ------------------------------------------------------------------ Backend: memory

  fromArray(data: TypedArray, dtype: DType): Storage {
    this.check();
    scalarOf(dtype);
    const typed = dtype === 'int32'
      ? (data instanceof Int32Array ? data : Int32Array.from(data, (v) => Math.trunc(v)))
      : (data instanceof Float32Array ? data : Float32Array.from(data));
    const node = this.dataNode(dtype, typed.length);
    this.rt.write(node.buffer!, typed);
    return this.wrap(node);
  }

  fill(size: number, value: number, dtype: DType): Storage {
    this.check();
    scalarOf(dtype);
    return this.wrap(new Node(dtype, size, { kind: 'const', value }, []));
  }

  async read(storage: Storage): Promise<TypedArray> {
    this.check();
    const node = this.node(storage);
    const buffer = this.ensure(node);
    const bytes = await this.rt.read(buffer, node.size * 4);
    return node.dtype === 'int32' ? new Int32Array(bytes) : new Float32Array(bytes);
  }

  readSync(_storage: Storage): TypedArray {
    throw new Error('@titans/webgpu: readSync is not available on WebGPU (GPU memory is read asynchronously); use `await backend.read(storage)`');
  }

  dispose(storage: Storage): void {
    const s = storage as WebGPUStorage;
    if (s.disposed) return;
    s.disposed = true;
    this.live -= s.node.size * 4;
    s.node.userRefs--;
    if (!this.destroyed) this.release(s.node);
  }

  liveBytes(): number {
    return this.live;
  }

  // ------------------------------------------------------------------ Backend: elementwise

  private operand(view: View, size: number): Operand {
    const node = this.node(view.storage);
    scalarOf(node.dtype);
    // A constant has the same value everywhere, so any view of it is inlined.
    if (node.what.kind === 'const') return { node, layout: null };
    const layout = collapseLayout(view.shape, view.strides, view.offset);
    if (isIdentity(layout, size)) return { node, layout: null };
    // A lazy node is computed in its own index order; read through another layout it is
    // evaluated first (recomputing it per broadcast element could multiply the work).
    if (node.isLazy) this.ensure(node);
    return { node, layout };
  }

  private elementwise(op: ElementwiseOp, views: readonly View[], dtype: DType): Storage {
    this.check();
    scalarOf(dtype);
    const shape = views[0]!.shape;
    for (const v of views) {
      if (v.shape.length !== shape.length || v.shape.some((d, i) => d !== shape[i])) {
        throw new Error(`@titans/webgpu: elementwise operands must share a shape: [${shape}] vs [${v.shape}]`);
      }
    }
    const size = product(shape);
    const inputs = views.map((v) => this.operand(v, size));
    const estimate = 1 + inputs.reduce((s, o) => s + (o.layout === null && o.node.isLazy ? o.node.fusedCount : 0), 0);
    if (estimate > MAX_FUSED_NODES) for (const o of inputs) if (o.node.isLazy) this.ensure(o.node);
    const node = new Node(dtype, size, { kind: 'elementwise', op }, inputs);
    if (!this.fusion) this.ensure(node);
    return this.wrap(node);
  }

  unary(op: UnaryOp, x: View, outDtype: DType): Storage {
    return this.elementwise({ kind: 'unary', op }, [x], outDtype);
  }

  binary(op: BinaryOp, a: View, b: View, outDtype: DType): Storage {
    return this.elementwise({ kind: 'binary', op }, [a, b], outDtype);
  }

  where(cond: View, a: View, b: View): Storage {
    return this.elementwise({ kind: 'where' }, [cond, a, b], a.storage.dtype);
  }

  cast(x: View, dtype: DType): Storage {
    return this.elementwise({ kind: 'cast' }, [x], dtype);
  }

  // ------------------------------------------------------------------ Backend: matmul

  matmul(a: View, b: View): Storage {
    this.check();
    const an = this.node(a.storage);
    const bn = this.node(b.storage);
    scalarOf(an.dtype);
    if (a.shape.length !== 3 || b.shape.length !== 3) throw new Error('@titans/webgpu: matmul expects [batch, m, k] and [batch, k, n] views');
    const [ba, m, k] = a.shape as [number, number, number];
    const [bb, k2, n] = b.shape as [number, number, number];
    if (k !== k2) throw new Error(`@titans/webgpu: matmul inner sizes differ: ${k} vs ${k2}`);
    const batch = Math.max(ba, bb);
    if ((ba !== batch && ba !== 1) || (bb !== batch && bb !== 1)) throw new Error(`@titans/webgpu: matmul batch sizes ${ba} and ${bb} do not broadcast`);
    this.ensure(an);
    this.ensure(bn);
    const strides = (v: View, own: number): [number, number, number] => [own === 1 ? 0 : v.strides[0]!, v.strides[1]!, v.strides[2]!];
    const spec: MatmulSpec = {
      batch, m, n, k,
      a: { node: an, offset: a.offset, strides: strides(a, ba) },
      b: { node: bn, offset: b.offset, strides: strides(b, bb) },
    };
    const node = new Node(an.dtype, batch * m * n, { kind: 'matmul', spec }, matmulInputs(spec));
    if (!this.fusion) this.ensure(node);
    return this.wrap(node);
  }

  // ------------------------------------------------------------------ Backend: rows

  private input(s: Storage, elements: number, what: string): Node {
    const node = this.node(s);
    scalarOf(node.dtype);
    if (node.size < elements) throw new Error(`@titans/webgpu: ${what} needs ${elements} elements but the storage has ${node.size}`);
    this.ensure(node);
    return node;
  }

  reduceRows(op: ReduceOp, x: Storage, rows: number, cols: number): Storage {
    this.check();
    const xn = this.input(x, rows * cols, 'reduceRows');
    if (cols === 0) {
      // The CPU reference's empty-row values (int32 stores of +-Infinity become 0).
      const f32 = { sum: 0, prod: 1, max: -Infinity, min: Infinity }[op];
      return this.fill(rows, xn.dtype === 'int32' && !Number.isFinite(f32) ? 0 : f32, xn.dtype);
    }
    const out = this.dataNode(xn.dtype, rows);
    recordReduce(this.rt, op, scalarOf(xn.dtype), xn.buffer!, out.buffer!, rows, cols);
    return this.wrap(out);
  }

  argReduceRows(op: ArgReduceOp, x: Storage, rows: number, cols: number): Storage {
    this.check();
    const xn = this.input(x, rows * cols, 'argReduceRows');
    if (cols === 0) return this.fill(rows, 0, 'int32');
    const out = this.dataNode('int32', rows);
    recordArgReduce(this.rt, op, scalarOf(xn.dtype), xn.buffer!, out.buffer!, rows, cols);
    return this.wrap(out);
  }

  scanRows(op: 'sum' | 'prod', x: Storage, rows: number, cols: number, reverse: boolean): Storage {
    this.check();
    const xn = this.input(x, rows * cols, 'scanRows');
    const out = this.dataNode(xn.dtype, rows * cols);
    recordScan(this.rt, op, scalarOf(xn.dtype), [xn.buffer!], out.buffer!, rows, cols, reverse);
    return this.wrap(out);
  }

  linearScanRows(a: Storage, b: Storage, rows: number, cols: number, reverse: boolean): Storage {
    this.check();
    const an = this.input(a, rows * cols, 'linearScanRows');
    const bn = this.input(b, rows * cols, 'linearScanRows');
    if (an.dtype !== bn.dtype) throw new Error('@titans/webgpu: linearScanRows needs a and b of one dtype');
    const out = this.dataNode(bn.dtype, rows * cols);
    recordScan(this.rt, 'linear', scalarOf(bn.dtype), [an.buffer!, bn.buffer!], out.buffer!, rows, cols, reverse);
    return this.wrap(out);
  }

  concatRows(parts: readonly Storage[], outer: number, inners: readonly number[]): Storage {
    this.check();
    if (parts.length === 0 || parts.length !== inners.length) throw new Error('@titans/webgpu: concatRows needs one inner size per part');
    const nodes = parts.map((p, i) => this.input(p, outer * inners[i]!, 'concatRows'));
    const dtype = nodes[0]!.dtype;
    if (nodes.some((n) => n.dtype !== dtype)) throw new Error('@titans/webgpu: concatRows parts must share a dtype');
    const total = inners.reduce((s, v) => s + v, 0);
    const out = this.dataNode(dtype, outer * total);
    let col = 0;
    nodes.forEach((n, i) => {
      recordConcatPart(this.rt, scalarOf(dtype), n.buffer!, out.buffer!, outer, inners[i]!, total, col);
      col += inners[i]!;
    });
    return this.wrap(out);
  }

  /** int32 indices, casting float indices (the CPU backend accepts integral floats). */
  private indexNode(indices: Storage): { node: Node; temp: Storage | null } {
    const node = this.node(indices);
    if (node.dtype === 'int32') return { node: this.input(indices, 0, 'indices'), temp: null };
    const temp = this.cast({ storage: indices, shape: [node.size], strides: [1], offset: 0 }, 'int32');
    return { node: this.input(temp, 0, 'indices'), temp };
  }

  gatherRows(x: Storage, width: number, indices: Storage): Storage {
    this.check();
    const xn = this.input(x, 0, 'gatherRows');
    const idx = this.indexNode(indices);
    const k = idx.node.size;
    const n = width === 0 ? 0 : Math.floor(xn.size / width);
    const out = this.dataNode(xn.dtype, k * width);
    recordGather(this.rt, scalarOf(xn.dtype), xn.buffer!, idx.node.buffer!, out.buffer!, k, width, n);
    if (idx.temp) this.dispose(idx.temp);
    return this.wrap(out);
  }

  scatterAddRows(src: Storage, width: number, indices: Storage, n: number): Storage {
    this.check();
    const idx = this.indexNode(indices);
    const k = idx.node.size;
    const sn = this.input(src, k * width, 'scatterAddRows');
    const out = this.dataNode(sn.dtype, n * width);
    recordScatterAdd(this.rt, scalarOf(sn.dtype), sn.buffer!, idx.node.buffer!, out.buffer!, k, width, n, {
      acquire: (bytes) => this.rt.acquire(Math.max(4, bytes)),
      release: (buffer) => this.rt.releaseBuffer(buffer),
    });
    if (idx.temp) this.dispose(idx.temp);
    return this.wrap(out);
  }

  // ------------------------------------------------------------------ Backend: fused rows

  private floatInput(s: Storage, elements: number, what: string): Node {
    const node = this.input(s, elements, what);
    if (node.dtype !== 'float32') throw new Error(`@titans/webgpu: ${what} needs a float32 storage, got ${node.dtype}`);
    return node;
  }

  normRows(kind: NormKind, x: Storage, rows: number, cols: number, eps: number): { out: Storage; rstd: Storage } {
    this.check();
    const xn = this.floatInput(x, rows * cols, 'normRows');
    // An empty row has mean 0 / 0: r is NaN, as on the CPU.
    if (cols === 0) return { out: this.wrap(this.dataNode('float32', 0)), rstd: this.fill(rows, NaN, 'float32') };
    const out = this.dataNode('float32', rows * cols);
    const rstd = this.dataNode('float32', rows);
    recordNormRows(this.rt, kind, xn.buffer!, out.buffer!, rstd.buffer!, { rows, cols }, eps);
    return { out: this.wrap(out), rstd: this.wrap(rstd) };
  }

  normRowsBackward(kind: NormKind, y: Storage, rstd: Storage, gradOut: Storage, rows: number, cols: number): Storage {
    this.check();
    const yn = this.floatInput(y, rows * cols, 'normRowsBackward y');
    const rn = this.floatInput(rstd, rows, 'normRowsBackward rstd');
    const gn = this.floatInput(gradOut, rows * cols, 'normRowsBackward gradOut');
    const dx = this.dataNode('float32', rows * cols);
    if (cols > 0) recordNormRowsBackward(this.rt, kind, yn.buffer!, rn.buffer!, gn.buffer!, dx.buffer!, { rows, cols });
    return this.wrap(dx);
  }

  softmaxRows(x: Storage, rows: number, cols: number, log: boolean): Storage {
    this.check();
    const xn = this.floatInput(x, rows * cols, log ? 'logSoftmaxRows' : 'softmaxRows');
    const out = this.dataNode('float32', rows * cols);
    if (cols > 0) recordSoftmaxRows(this.rt, xn.buffer!, out.buffer!, { rows, cols }, log);
    return this.wrap(out);
  }

  softmaxRowsBackward(y: Storage, gradOut: Storage, rows: number, cols: number, log: boolean): Storage {
    this.check();
    const yn = this.floatInput(y, rows * cols, 'softmaxRowsBackward y');
    const gn = this.floatInput(gradOut, rows * cols, 'softmaxRowsBackward gradOut');
    const dx = this.dataNode('float32', rows * cols);
    if (cols > 0) recordSoftmaxRowsBackward(this.rt, yn.buffer!, gn.buffer!, dx.buffer!, { rows, cols }, log);
    return this.wrap(dx);
  }

  ropeRows(x: Storage, cos: Storage, sin: Storage, outer: number, t: number, d: number): Storage {
    this.check();
    if (d % 2 !== 0) throw new Error(`@titans/webgpu: ropeRows needs an even last size, got ${d}`);
    const xn = this.floatInput(x, outer * t * d, 'ropeRows x');
    const cn = this.floatInput(cos, t * (d / 2), 'ropeRows cos');
    const sn = this.floatInput(sin, t * (d / 2), 'ropeRows sin');
    const out = this.dataNode('float32', outer * t * d);
    recordRope(this.rt, xn.buffer!, cn.buffer!, sn.buffer!, out.buffer!, outer, t, d);
    return this.wrap(out);
  }

  private whole(storage: Storage): View {
    return { storage, shape: [storage.size], strides: [1], offset: 0 };
  }

  private broadcastScalar(value: number, size: number): { storage: Storage; view: View } {
    const storage = this.fill(1, value, 'float32');
    return { storage, view: { storage, shape: [size], strides: [0], offset: 0 } };
  }

  /** x sigmoid(x) as lazy elementwise nodes: it fuses with its neighbours into their kernel. */
  silu(x: Storage): Storage {
    this.check();
    const xn = this.node(x);
    if (xn.dtype !== 'float32') throw new Error(`@titans/webgpu: silu needs a float32 storage, got ${xn.dtype}`);
    const s = this.unary('sigmoid', this.whole(x), 'float32');
    const y = this.binary('mul', this.whole(x), this.whole(s), 'float32');
    this.dispose(s);
    return y;
  }

  /** g s (1 + x (1 - s)), s = sigmoid(x), as lazy elementwise nodes (one fused kernel). */
  siluBackward(x: Storage, gradOut: Storage): Storage {
    this.check();
    const xn = this.node(x);
    if (xn.dtype !== 'float32') throw new Error(`@titans/webgpu: siluBackward needs a float32 storage, got ${xn.dtype}`);
    if (this.node(gradOut).size !== xn.size) throw new Error(`@titans/webgpu: siluBackward needs a gradient of ${xn.size} elements, got ${gradOut.size}`);
    const size = xn.size;
    const one = this.broadcastScalar(1, size);
    const s = this.unary('sigmoid', this.whole(x), 'float32');
    const rest = this.binary('sub', one.view, this.whole(s), 'float32');
    const xr = this.binary('mul', this.whole(x), this.whole(rest), 'float32');
    const inner = this.binary('add', one.view, this.whole(xr), 'float32');
    const gs = this.binary('mul', this.whole(gradOut), this.whole(s), 'float32');
    const dx = this.binary('mul', this.whole(gs), this.whole(inner), 'float32');
    for (const t of [one.storage, s, rest, xr, inner, gs]) this.dispose(t);
    return dx;
  }

  // ------------------------------------------------------------------ Backend: memory scan

  /** The neural memory's chunked recurrence as one kernel (see kernels/memory-scan.ts). */
  memoryScan(inputs: MemoryScanInputs, dims: MemoryScanDims): Storage {
    this.check();
    const { memories: m, tokens: t, chunk, layers } = dims;
    if (!Number.isInteger(chunk) || chunk < 1) throw new Error(`@titans/webgpu: memoryScan: chunk must be a positive integer, got ${chunk}`);
    if (layers.length < 1) throw new Error('@titans/webgpu: memoryScan: at least one layer is needed');
    for (let l = 1; l < layers.length; l++) {
      if (layers[l]![1] !== layers[l - 1]![0]) throw new Error(`@titans/webgpu: memoryScan: layer ${l} takes ${layers[l]![1]} inputs but layer ${l - 1} gives ${layers[l - 1]![0]}`);
    }
    const din = layers[0]![1];
    const dout = layers[layers.length - 1]![0];
    if (dims.residual && din !== dout) throw new Error(`@titans/webgpu: memoryScan: a residual memory needs equal input and output widths, got ${din} and ${dout}`);
    const exact = (name: string, st: Storage, n: number): Node => {
      const node = this.node(st);
      if (node.dtype !== 'float32') throw new Error(`@titans/webgpu: memoryScan: ${name} must be float32, got ${node.dtype}`);
      if (node.size !== n) throw new Error(`@titans/webgpu: memoryScan: ${name} has ${node.size} elements, expected ${n}`);
      this.ensure(node);
      return node;
    };
    const k = exact('k', inputs.k, m * t * din);
    const q = exact('q', inputs.q, m * t * din);
    const v = exact('v', inputs.v, m * t * dout);
    const gateNodes = (['theta', 'eta', 'alpha'] as const).map((name) => exact(name, inputs[name], m * t));
    if (inputs.weights.length !== layers.length || inputs.momentum.length !== layers.length) {
      throw new Error(`@titans/webgpu: memoryScan: ${inputs.weights.length} weight and ${inputs.momentum.length} momentum matrices for ${layers.length} layers`);
    }
    const weights = layers.map(([o, i], l) => exact(`weights[${l}]`, inputs.weights[l]!, m * o * i));
    const momentum = layers.map(([o, i], l) => exact(`momentum[${l}]`, inputs.momentum[l]!, m * o * i));
    const totalWeights = layers.reduce((s, [o, i]) => s + o * i, 0);
    const yLen = m * t * dout;
    const outSize = (dims.yPre === false ? 1 : 2) * yLen + m * t + 2 * m * totalWeights;
    const out = this.dataNode('float32', outSize);
    const mt = m * t;
    const gates = this.alloc(3 * mt);
    gateNodes.forEach((g, i) => this.rt.copy(g.buffer!, 0, gates, i * mt * 4, mt * 4));
    const live = this.alloc(2 * m * totalWeights);
    let at = 0;
    layers.forEach(([o, i], l) => {
      const bytes = m * o * i * 4;
      this.rt.copy(weights[l]!.buffer!, 0, live, at, bytes);
      this.rt.copy(momentum[l]!.buffer!, 0, live, m * totalWeights * 4 + at, bytes);
      at += bytes;
    });
    const scratch = this.alloc(m * scratchPerMemory(dims));
    recordMemoryScan(this.rt, { k: k.buffer!, v: v.buffer!, q: q.buffer!, gates, live, out: out.buffer!, scratch }, dims);
    for (const b of [gates, live, scratch]) this.rt.releaseBuffer(b);
    return this.wrap(out);
  }

  // ------------------------------------------------------------------ Backend: attention

  private attentionInputs(q: Storage, k: Storage, v: Storage, dims: AttentionDims): [Node, Node, Node] {
    const { batchHeads: bh, queryLength: tq, keyLength: tk, headDim: d, valueDim: dv } = dims;
    const nodes = [this.input(q, bh * tq * d, 'attention q'), this.input(k, bh * tk * d, 'attention k'), this.input(v, bh * tk * dv, 'attention v')] as const;
    if (nodes.some((n) => n.dtype !== 'float32')) throw new Error('@titans/webgpu: attention needs float32 inputs');
    return [...nodes];
  }

  private fusedAttentionFits(dims: AttentionDims): boolean {
    return dims.headDim <= MAX_FUSED_HEAD_DIM && dims.valueDim <= MAX_FUSED_HEAD_DIM;
  }

  attention(q: Storage, k: Storage, v: Storage, dims: AttentionDims, options: AttentionOptions): { out: Storage; lse: Storage } {
    this.check();
    if (!this.fusedAttentionFits(dims)) return this.attentionUnfused(q, k, v, dims, options);
    const [qn, kn, vn] = this.attentionInputs(q, k, v, dims);
    const rows = dims.batchHeads * dims.queryLength;
    const out = this.dataNode('float32', rows * dims.valueDim);
    const lse = this.dataNode('float32', rows);
    recordAttentionForward(this.rt, qn.buffer!, kn.buffer!, vn.buffer!, out.buffer!, lse.buffer!, dims, options);
    return { out: this.wrap(out), lse: this.wrap(lse) };
  }

  attentionBackward(
    q: Storage, k: Storage, v: Storage, out: Storage, lse: Storage, gradOut: Storage,
    dims: AttentionDims, options: AttentionOptions,
  ): { dq: Storage; dk: Storage; dv: Storage } {
    this.check();
    if (!this.fusedAttentionFits(dims)) return this.attentionBackwardUnfused(q, k, v, out, lse, gradOut, dims, options);
    const [qn, kn, vn] = this.attentionInputs(q, k, v, dims);
    const { batchHeads: bh, queryLength: tq, keyLength: tk, headDim: d, valueDim: dvDim } = dims;
    const on = this.input(out, bh * tq * dvDim, 'attentionBackward out');
    const ln = this.input(lse, bh * tq, 'attentionBackward lse');
    const gn = this.input(gradOut, bh * tq * dvDim, 'attentionBackward gradOut');
    const delta = this.alloc(bh * tq);
    recordAttentionDelta(this.rt, on.buffer!, gn.buffer!, delta, bh * tq, dvDim);
    const dq = this.dataNode('float32', bh * tq * d);
    const dk = this.dataNode('float32', bh * tk * d);
    const dv = this.dataNode('float32', bh * tk * dvDim);
    recordAttentionBackward(this.rt, {
      q: qn.buffer!, k: kn.buffer!, v: vn.buffer!, lse: ln.buffer!, delta, gradOut: gn.buffer!,
      dq: dq.buffer!, dk: dk.buffer!, dv: dv.buffer!,
    }, dims, options);
    this.rt.releaseBuffer(delta);
    return { dq: this.wrap(dq), dk: this.wrap(dk), dv: this.wrap(dv) };
  }

  private view3(storage: Storage, shape: [number, number, number], transposeLast = false): View {
    const [b, r, c] = shape;
    return transposeLast
      ? { storage, shape: [b, c, r], strides: [r * c, 1, c], offset: 0 }
      : { storage, shape, strides: [r * c, c, 1], offset: 0 };
  }

  /** Scaled, masked softmax probabilities [bh, tq, tk] (materialises the T x T matrix). */
  private probabilities(q: Storage, k: Storage, dims: AttentionDims, options: AttentionOptions): { probs: Storage; lse: Storage } {
    const { batchHeads: bh, queryLength: tq, keyLength: tk, headDim: d } = dims;
    const scores = this.matmul(this.view3(q, [bh, tq, d]), this.view3(k, [bh, tk, d], true));
    const scale = this.fill(1, options.scale, 'float32');
    const scaled = this.binary('mul', this.view3(scores, [bh, tq, tk]), { storage: scale, shape: [bh, tq, tk], strides: [0, 0, 0], offset: 0 }, 'float32');
    this.dispose(scores);
    this.dispose(scale);
    const sn = this.input(scaled, bh * tq * tk, 'attention scores');
    const probs = this.dataNode('float32', bh * tq * tk);
    const lse = this.dataNode('float32', bh * tq);
    recordMaskedSoftmax(this.rt, sn.buffer!, probs.buffer!, lse.buffer!, dims, options);
    this.dispose(scaled);
    return { probs: this.wrap(probs), lse: this.wrap(lse) };
  }

  /** Reference attention built from matmul + softmax kernels: the T x T score matrix goes
   * through global memory. Used for head sizes the fused kernel does not hold in registers,
   * and as the baseline in benchmarks. */
  attentionUnfused(q: Storage, k: Storage, v: Storage, dims: AttentionDims, options: AttentionOptions): { out: Storage; lse: Storage } {
    this.check();
    this.attentionInputs(q, k, v, dims);
    const { batchHeads: bh, queryLength: tq, keyLength: tk, valueDim: dv } = dims;
    const { probs, lse } = this.probabilities(q, k, dims, options);
    const out = this.matmul(this.view3(probs, [bh, tq, tk]), this.view3(v, [bh, tk, dv]));
    this.dispose(probs);
    return { out, lse };
  }

  attentionBackwardUnfused(
    q: Storage, k: Storage, v: Storage, out: Storage, _lse: Storage, gradOut: Storage,
    dims: AttentionDims, options: AttentionOptions,
  ): { dq: Storage; dk: Storage; dv: Storage } {
    this.check();
    this.attentionInputs(q, k, v, dims);
    const { batchHeads: bh, queryLength: tq, keyLength: tk, headDim: d, valueDim: dvDim } = dims;
    const { probs, lse } = this.probabilities(q, k, dims, options);
    this.dispose(lse);
    const dP = this.matmul(this.view3(gradOut, [bh, tq, dvDim]), this.view3(v, [bh, tk, dvDim], true));
    const on = this.input(out, bh * tq * dvDim, 'attentionBackward out');
    const gn = this.input(gradOut, bh * tq * dvDim, 'attentionBackward gradOut');
    const deltaNode = this.dataNode('float32', bh * tq);
    recordAttentionDelta(this.rt, on.buffer!, gn.buffer!, deltaNode.buffer!, bh * tq, dvDim);
    const delta = this.wrap(deltaNode);
    const shape: [number, number, number] = [bh, tq, tk];
    const centred = this.binary('sub', this.view3(dP, shape), { storage: delta, shape, strides: [tq, 1, 0], offset: 0 }, 'float32');
    const weighted = this.binary('mul', this.view3(centred, shape), this.view3(probs, shape), 'float32');
    const scale = this.fill(1, options.scale, 'float32');
    const dS = this.binary('mul', this.view3(weighted, shape), { storage: scale, shape, strides: [0, 0, 0], offset: 0 }, 'float32');
    for (const s of [dP, delta, centred, weighted, scale]) this.dispose(s);
    const dq = this.matmul(this.view3(dS, shape), this.view3(k, [bh, tk, d]));
    const dk = this.matmul(this.view3(dS, shape, true), this.view3(q, [bh, tq, d]));
    const dv = this.matmul(this.view3(probs, shape, true), this.view3(gradOut, [bh, tq, dvDim]));
    this.dispose(dS);
    this.dispose(probs);
    return { dq, dk, dv };
  }

  // ------------------------------------------------------------------ extras

  /** Record everything pending and wait until the GPU has finished it. */
  async sync(): Promise<void> {
    this.check();
    await this.rt.sync();
  }

  /** Evaluate a storage's pending (fused) work without reading it back. */
  materialize(storage: Storage): void {
    this.check();
    this.ensure(this.node(storage));
  }

  stats(): WebGPUStats {
    return { ...this.rt.stats, arenaBytes: this.rt.arenaBytes, pool: this.rt.pool.stats(), liveBytes: this.live };
  }

  /**
   * Called by compile()'s plans around each replay (`plan` identifies the plan). Between the
   * two calls buffers come from the plan's arena, planned by liveness from an earlier replay,
   * so each plan value gets the same buffer at every replay and every kernel's bind group is
   * built once; the kernels' parameter blocks live in slots of their own. At the end, results
   * still pending (lazy elementwise chains: the loss, updated parameters) are evaluated, so a
   * replay records all of its work, as one command buffer up to the first read.
   */
  beginReplay(plan: object): void {
    this.check();
    this.rt.beginReplay(plan);
    if (this.replayDepth++ === 0 && this.replayArenas) this.replayNodes = [];
  }

  /** See beginReplay; `complete` is false when the replay failed (nothing is evaluated then). */
  endReplay(plan: object, complete = true): void {
    void plan;
    if (this.replayDepth === 0) return;
    if (--this.replayDepth > 0) {
      this.rt.endReplay();
      return;
    }
    const nodes = this.replayNodes;
    this.replayNodes = null;
    try {
      if (complete && nodes !== null && !this.destroyed) {
        // Latest first: a chain's root writes the intermediates still referenced in its kernel.
        for (let i = nodes.length - 1; i >= 0; i--) {
          const node = nodes[i]!;
          if (node.userRefs > 0 && node.isLazy) this.ensure(node);
        }
      }
    } finally {
      this.rt.endReplay();
    }
  }

  /** The plan was disposed: its arena's buffers go back to the pool. */
  disposeReplay(plan: object): void {
    if (!this.destroyed) this.rt.disposeReplay(plan);
  }

  /** Turn replay arenas (see `WebGPUBackendOptions.replayArenas`) on or off; not during a replay. */
  setReplayArenas(on: boolean): void {
    this.check();
    if (this.replayDepth > 0) throw new Error('@titans/webgpu: cannot switch replay arenas during a replay');
    this.replayArenas = on;
    this.rt.setReplayArenas(on);
  }

  /** Turn the recording cache (see `WebGPUBackendOptions.recordingCache`) on or off. */
  setRecordingCache(on: boolean): void {
    this.check();
    this.rt.setCache(on);
  }

  /** Destroy pooled (free) buffers. */
  trim(): void {
    this.rt.trim();
  }

  /** Release the GPU: pooled buffers, and the device when this backend created it. */
  destroy(): void {
    if (this.destroyed) return;
    this.rt.trim();
    this.destroyed = true;
    if (this.ownsDevice) this.device.destroy();
  }
}

const FUSED_ROW_PRIMITIVES: ReadonlySet<string> = new Set([
  'normRows', 'normRowsBackward', 'softmaxRows', 'softmaxRowsBackward', 'ropeRows', 'silu', 'siluBackward',
]);
let withoutFusedRows: object | null = null;

/** WebGPUBackend's prototype minus the fused row primitives (for `fusedRows: false`): a copy,
 * since a prototype below it would still expose them to compile()'s tracer. Such a backend
 * is not `instanceof WebGPUBackend`. */
function prototypeWithoutFusedRows(): object {
  if (withoutFusedRows) return withoutFusedRows;
  const proto = Object.create(Object.getPrototypeOf(WebGPUBackend.prototype) as object | null) as object;
  for (const name of Object.getOwnPropertyNames(WebGPUBackend.prototype)) {
    if (!FUSED_ROW_PRIMITIVES.has(name)) Object.defineProperty(proto, name, Object.getOwnPropertyDescriptor(WebGPUBackend.prototype, name)!);
  }
  withoutFusedRows = proto;
  return proto;
}

export async function createWebGPUBackend(options: WebGPUBackendOptions = {}): Promise<WebGPUBackend> {
  const { device, adapterName, owned } = await acquireDevice(options);
  return new WebGPUBackend(device, adapterName, owned, options);
}
