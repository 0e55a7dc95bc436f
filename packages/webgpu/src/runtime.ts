/// <reference types="@webgpu/types" />
// Command recording for the backend: pipelines cached by kernel key, one open compute pass
// that many dispatches share (WebGPU inserts the barriers between dispatches), per-dispatch
// parameters packed into a uniform arena uploaded once per submit, and error tracking that
// turns device loss and out-of-memory into thrown Errors instead of silent garbage or hangs.

import { BufferPool } from './pool.js';

const ARENA_BYTES = 64 * 1024;
/** Submit after this many recorded dispatches even without a read, so the GPU starts work. */
const MAX_DISPATCHES_PER_SUBMIT = 512;

interface Arena {
  readonly buffer: GPUBuffer;
  readonly data: Uint8Array<ArrayBuffer>;
  used: number;
}

export interface RuntimeStats {
  dispatches: number;
  submits: number;
  pipelines: number;
}

export type Workgroups = readonly [number, number?, number?];

export class Runtime {
  readonly pool: BufferPool;
  private readonly staging: BufferPool;
  private readonly pipelines = new Map<string, GPUComputePipeline>();
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private arena: Arena | null = null;
  private readonly spareArenas: Arena[] = [];
  private readonly pendingArenas: Arena[] = [];
  private recorded = 0;
  private readonly pendingScopes = new Set<Promise<void>>();
  private error: Error | null = null;
  private lostMessage: string | null = null;
  private readonly lost: Promise<never>;
  readonly stats: RuntimeStats = { dispatches: 0, submits: 0, pipelines: 0 };
  readonly minUniformAlign: number;
  readonly maxStorageBindings: number;
  readonly maxBindingBytes: number;

  constructor(readonly device: GPUDevice, maxPooledBytes: number) {
    this.minUniformAlign = device.limits.minUniformBufferOffsetAlignment;
    this.maxStorageBindings = device.limits.maxStorageBuffersPerShaderStage;
    this.maxBindingBytes = Math.min(device.limits.maxStorageBufferBindingSize, device.limits.maxBufferSize);
    const storageUsage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
    this.pool = new BufferPool((bytes) => this.createBuffer(bytes, storageUsage, 'titans-storage'), maxPooledBytes);
    this.staging = new BufferPool(
      (bytes) => this.createBuffer(bytes, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, 'titans-readback'),
      64 * 1024 * 1024,
    );
    this.lost = device.lost.then((info) => {
      this.lostMessage = `WebGPU device was lost (${info.reason}): ${info.message || 'no message'}`;
      throw new Error(`@titans/webgpu: ${this.lostMessage}`);
    });
    // Nobody may await `lost`; keep it from surfacing as an unhandled rejection.
    this.lost.catch(() => undefined);
    device.addEventListener('uncapturederror', (event) => {
      const e = (event as GPUUncapturedErrorEvent).error;
      // Messages from Dawn quote whole shader sources; the first lines say what went wrong.
      const message = e.message.length > 1500 ? `${e.message.slice(0, 1500)}...` : e.message;
      this.error ??= new Error(`@titans/webgpu: uncaptured WebGPU error: ${message}`);
    });
  }

  /** Throw if the device is gone or an earlier command failed. Called by every op. */
  check(): void {
    if (this.lostMessage) throw new Error(`@titans/webgpu: ${this.lostMessage}`);
    if (this.error) {
      const err = this.error;
      this.error = null;
      throw err;
    }
  }

  get isLost(): boolean {
    return this.lostMessage !== null;
  }

  private createBuffer(bytes: number, usage: number, label: string): GPUBuffer {
    if (bytes > this.device.limits.maxBufferSize || ((usage & GPUBufferUsage.STORAGE) !== 0 && bytes > this.maxBindingBytes)) {
      throw new Error(
        `@titans/webgpu: out of memory: a buffer of ${bytes} bytes exceeds this device's limit of ${this.maxBindingBytes} bytes per storage buffer`,
      );
    }
    this.device.pushErrorScope('out-of-memory');
    const buffer = this.device.createBuffer({ size: bytes, usage, label });
    const scope = this.device.popErrorScope().then(
      (err) => {
        if (err) this.error ??= new Error(`@titans/webgpu: out of memory allocating ${bytes} bytes on the GPU: ${err.message}`);
      },
      () => undefined, // popErrorScope rejects only when the device is lost, reported via `lost`
    );
    this.pendingScopes.add(scope);
    void scope.finally(() => this.pendingScopes.delete(scope));
    return buffer;
  }

  /** The pipeline for a WGSL source; the source itself is the cache key (it holds the kernel
   * structure and shape class, never concrete sizes). */
  pipeline(label: string, code: string): GPUComputePipeline {
    let p = this.pipelines.get(code);
    if (!p) {
      const module = this.device.createShaderModule({ code, label });
      p = this.device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' }, label });
      this.pipelines.set(code, p);
      this.stats.pipelines++;
    }
    return p;
  }

  private currentEncoder(): GPUCommandEncoder {
    this.encoder ??= this.device.createCommandEncoder();
    return this.encoder;
  }

  private computePass(): GPUComputePassEncoder {
    this.pass ??= this.currentEncoder().beginComputePass();
    return this.pass;
  }

  private endPass(): void {
    this.pass?.end();
    this.pass = null;
  }

  /** Reserve `bytes` of uniform space for one dispatch, copying `words` into it. */
  private uniform(words: Uint32Array): { buffer: GPUBuffer; offset: number; size: number } {
    const size = Math.max(16, Math.ceil(words.byteLength / 16) * 16);
    const align = this.minUniformAlign;
    if (this.arena && Math.ceil(this.arena.used / align) * align + size > ARENA_BYTES) this.flush();
    if (!this.arena) {
      this.arena = this.spareArenas.pop() ?? {
        buffer: this.device.createBuffer({ size: ARENA_BYTES, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST, label: 'titans-params' }),
        data: new Uint8Array(ARENA_BYTES),
        used: 0,
      };
    }
    const arena = this.arena;
    const offset = Math.ceil(arena.used / align) * align;
    arena.data.set(new Uint8Array(words.buffer, words.byteOffset, words.byteLength), offset);
    arena.data.fill(0, offset + words.byteLength, offset + size);
    arena.used = offset + size;
    return { buffer: arena.buffer, offset, size };
  }

  /**
   * Record one dispatch. Binding 0 is the uniform parameter block (`params`, in u32 words);
   * bindings 1.. are the storage buffers in the order the kernel declares them.
   */
  dispatch(pipeline: GPUComputePipeline, params: Uint32Array, buffers: readonly GPUBuffer[], workgroups: Workgroups): void {
    const [x, y = 1, z = 1] = workgroups;
    if (x === 0 || y === 0 || z === 0) return;
    const u = this.uniform(params);
    const entries: GPUBindGroupEntry[] = [{ binding: 0, resource: { buffer: u.buffer, offset: u.offset, size: u.size } }];
    buffers.forEach((buffer, i) => entries.push({ binding: i + 1, resource: { buffer } }));
    const bindGroup = this.device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries });
    const pass = this.computePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(x, y, z);
    this.stats.dispatches++;
    if (++this.recorded >= MAX_DISPATCHES_PER_SUBMIT) this.flush();
  }

  copy(src: GPUBuffer, srcOffset: number, dst: GPUBuffer, dstOffset: number, bytes: number): void {
    if (bytes === 0) return;
    this.endPass();
    this.currentEncoder().copyBufferToBuffer(src, srcOffset, dst, dstOffset, bytes);
    this.recorded++;
  }

  /** True when commands are recorded but not yet submitted. */
  get hasPending(): boolean {
    return this.encoder !== null;
  }

  /** Submit everything recorded so far. Does not wait for the GPU. */
  flush(): void {
    if (!this.encoder) return;
    this.endPass();
    const arena = this.arena;
    if (arena) {
      this.device.queue.writeBuffer(arena.buffer, 0, arena.data, 0, arena.used);
      this.arena = null;
      this.pendingArenas.push(arena);
    }
    const commands = this.encoder.finish();
    this.encoder = null;
    this.recorded = 0;
    this.device.queue.submit([commands]);
    this.stats.submits++;
    // Parameter arenas are reused once the GPU has consumed them.
    const done = this.pendingArenas.splice(0);
    this.device.queue.onSubmittedWorkDone().then(
      () => {
        for (const a of done) {
          a.used = 0;
          this.spareArenas.push(a);
        }
      },
      () => undefined,
    );
  }

  /** Upload data into a buffer. Commands recorded earlier are submitted first, because
   * queue.writeBuffer runs before any not-yet-submitted command that may still read the
   * buffer's previous contents (pooled buffers are recycled eagerly). */
  write(buffer: GPUBuffer, data: ArrayBufferView): void {
    if (data.byteLength === 0) return;
    this.flush();
    this.device.queue.writeBuffer(buffer, 0, data.buffer, data.byteOffset, data.byteLength);
  }

  /** Race a GPU promise against device loss so a lost device never leaves a read hanging. */
  private guard<T>(p: Promise<T>): Promise<T> {
    return Promise.race([p, this.lost]);
  }

  async read(buffer: GPUBuffer, bytes: number): Promise<ArrayBuffer> {
    this.check();
    if (bytes === 0) return new ArrayBuffer(0);
    const staging = this.staging.acquire(bytes);
    this.copy(buffer, 0, staging, 0, bytes);
    this.flush();
    try {
      await this.guard(staging.mapAsync(GPUMapMode.READ, 0, bytes));
    } catch (err) {
      this.check();
      throw new Error(`@titans/webgpu: reading a buffer back failed: ${String(err)}`);
    }
    const out = staging.getMappedRange(0, bytes).slice(0);
    staging.unmap();
    this.staging.release(staging, true);
    await this.settle();
    this.check();
    return out;
  }

  /** Wait for every outstanding out-of-memory scope (so `check` sees their errors). */
  async settle(): Promise<void> {
    if (this.pendingScopes.size > 0) await this.guard(Promise.all([...this.pendingScopes]));
  }

  /** Wait until the GPU has finished all submitted work. */
  async sync(): Promise<void> {
    this.check();
    this.flush();
    await this.guard(this.device.queue.onSubmittedWorkDone());
    await this.settle();
    this.check();
  }

  /** Drop pooled buffers (only safe once recorded commands are submitted). */
  trim(): void {
    this.flush();
    this.pool.trim();
    this.staging.trim();
  }

  releaseBuffer(buffer: GPUBuffer): void {
    this.pool.release(buffer, !this.hasPending);
  }
}
