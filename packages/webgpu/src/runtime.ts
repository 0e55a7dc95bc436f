/// <reference types="@webgpu/types" />
// Command recording for the backend: pipelines cached by kernel key, one open compute pass
// that many dispatches share (WebGPU inserts the barriers between dispatches), per-dispatch
// parameters packed into a uniform arena uploaded once per submit, and error tracking that
// turns device loss and out-of-memory into thrown Errors instead of silent garbage or hangs.
//
// While a compile()d plan replays (beginReplay/endReplay, called by the plan), buffers come
// from the plan's arena and bind groups from its kernels (replay.ts): the same plan value gets
// the same buffer at every replay, so every kernel's bind group is built once. Outside
// replays, the opt-in recording cache keys parameter slots by their contents and bind groups
// by (pipeline, parameters, buffers), and stages uploads in the command stream.

import { BufferPool } from './pool.js';
import { ReplayState, type ArenaBuffer, type ReplayStats } from './replay.js';

const ARENA_BYTES = 64 * 1024;
/** Submit after this many recorded dispatches even without a read, so the GPU starts work. */
const MAX_DISPATCHES_PER_SUBMIT = 512;
/** The same with the recording cache on: a whole compiled step fits in one submit. */
const MAX_DISPATCHES_PER_SUBMIT_CACHED = 4096;
/** Dispatches per submit in a replay: the GPU starts on a step while the rest is recorded
 * (one submit for a whole tiny-MAG step of 1,081 kernels made it 1.2x slower on SwiftShader
 * than submits of 512; submits of 128 were no faster: bench/replay-arenas.ts). */
const REPLAY_DISPATCHES_PER_SUBMIT = 512;
/** Plans whose replay state (arena, kernels) is kept; the least recently replayed goes first. */
const MAX_REPLAY_STATES = 16;
/** Persistent parameter slots (and bind groups) kept before the caches start over. */
const MAX_PARAM_SLOTS = 8192;
const MAX_BIND_GROUPS = 4096;

interface Arena {
  readonly buffer: GPUBuffer;
  readonly data: Uint8Array<ArrayBuffer>;
  used: number;
}

export interface RuntimeStats extends ReplayStats {
  dispatches: number;
  submits: number;
  pipelines: number;
  /** Bind groups created, and dispatches that found theirs in the cache. */
  bindGroupsCreated: number;
  bindGroupsReused: number;
  /** Uploads staged through a copy in the command stream (instead of a submit first). */
  uploads: number;
}

interface Slot {
  readonly buffer: GPUBuffer;
  readonly offset: number;
  readonly size: number;
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
  readonly stats: RuntimeStats = {
    dispatches: 0, submits: 0, pipelines: 0, bindGroupsCreated: 0, bindGroupsReused: 0, uploads: 0, arenaHits: 0, arenaMisses: 0, uniformWrites: 0,
  };
  /** The replay being recorded (compile()'s plans), and the state kept per plan. */
  private replay: ReplayState | null = null;
  private replayDepth = 0;
  /** Arenas and per-kernel bind groups for replays (off: replays allocate from the pool). */
  private replayArenas = true;
  private readonly replays = new Map<object, ReplayState>();
  /** Buffers owned by a plan's arena. */
  readonly arenaOf = new Map<GPUBuffer, ArenaBuffer>();
  /** Cache parameter slots and bind groups, stage uploads (see the header). */
  private cache = true;
  private readonly uploads: BufferPool;
  private readonly pendingUploads: GPUBuffer[] = [];
  private readonly ids = new WeakMap<object, number>();
  private nextId = 1;
  private readonly slots = new Map<string, Slot>();
  private slotArena: { buffer: GPUBuffer; used: number } | null = null;
  private slotArenas: GPUBuffer[] = [];
  private readonly bindGroups = new Map<string, GPUBindGroup>();
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
    this.uploads = new BufferPool(
      (bytes) => this.createBuffer(bytes, GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST, 'titans-upload'),
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
  private uniform(words: Uint32Array): Slot {
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

  /** Turn the recording cache on or off (the backend turns it off unless its options say
   * `recordingCache: true`; off: every dispatch writes its parameters and
   * creates its bind group, uploads submit first: the behaviour before the cache, for
   * benchmarks and tests). */
  setCache(on: boolean): void {
    this.flush();
    this.cache = on;
    this.resetCache();
  }

  private id(o: object): number {
    let id = this.ids.get(o);
    if (id === undefined) this.ids.set(o, (id = this.nextId++));
    return id;
  }

  /** Drop cached bind groups and parameter slots (the slots' buffers once the GPU is done). */
  private resetCache(): void {
    this.bindGroups.clear();
    this.slots.clear();
    const arenas = this.slotArenas;
    this.slotArenas = [];
    this.slotArena = null;
    if (arenas.length === 0) return;
    this.flush();
    this.device.queue.onSubmittedWorkDone().then(() => { for (const b of arenas) b.destroy(); }, () => undefined);
  }

  /** A persistent uniform slot holding `words` (written once, when created). */
  private slot(key: string, words: Uint32Array): Slot {
    let slot = this.slots.get(key);
    if (slot) return slot;
    if (this.slots.size >= MAX_PARAM_SLOTS) this.resetCache();
    const size = Math.max(16, Math.ceil(words.byteLength / 16) * 16);
    const align = this.minUniformAlign;
    let arena = this.slotArena;
    if (!arena || Math.ceil(arena.used / align) * align + size > ARENA_BYTES) {
      const buffer = this.device.createBuffer({ size: ARENA_BYTES, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST, label: 'titans-params-cached' });
      this.slotArenas.push(buffer);
      arena = this.slotArena = { buffer, used: 0 };
    }
    const offset = Math.ceil(arena.used / align) * align;
    arena.used = offset + size;
    // Nothing has used this slot yet, so writing it ahead of recorded commands is safe.
    const data = new Uint32Array(size / 4);
    data.set(words);
    this.device.queue.writeBuffer(arena.buffer, offset, data);
    slot = { buffer: arena.buffer, offset, size };
    this.slots.set(key, slot);
    return slot;
  }

  private bindGroup(pipeline: GPUComputePipeline, u: Slot, buffers: readonly GPUBuffer[]): GPUBindGroup {
    const entries: GPUBindGroupEntry[] = [{ binding: 0, resource: { buffer: u.buffer, offset: u.offset, size: u.size } }];
    buffers.forEach((buffer, i) => entries.push({ binding: i + 1, resource: { buffer } }));
    this.stats.bindGroupsCreated++;
    return this.device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries });
  }

  /**
   * Record one dispatch. Binding 0 is the uniform parameter block (`params`, in u32 words);
   * bindings 1.. are the storage buffers in the order the kernel declares them.
   */
  dispatch(pipeline: GPUComputePipeline, params: Uint32Array, buffers: readonly GPUBuffer[], workgroups: Workgroups): void {
    const [x, y = 1, z = 1] = workgroups;
    if (x === 0 || y === 0 || z === 0) return;
    let bindGroup: GPUBindGroup;
    if (this.replay !== null) {
      bindGroup = this.replay.bindGroup(pipeline, params, buffers);
    } else if (this.cache) {
      const words = params.join(',');
      let key = `${this.id(pipeline)}|${words}|`;
      for (const b of buffers) key += `${this.id(b)},`;
      const hit = this.bindGroups.get(key);
      if (hit) {
        bindGroup = hit;
        this.stats.bindGroupsReused++;
      } else {
        if (this.bindGroups.size >= MAX_BIND_GROUPS) this.bindGroups.clear();
        bindGroup = this.bindGroup(pipeline, this.slot(words, params), buffers);
        this.bindGroups.set(key, bindGroup);
      }
    } else {
      bindGroup = this.bindGroup(pipeline, this.uniform(params), buffers);
    }
    const pass = this.computePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(x, y, z);
    this.stats.dispatches++;
    if (++this.recorded >= (this.replay !== null ? REPLAY_DISPATCHES_PER_SUBMIT : this.cache ? MAX_DISPATCHES_PER_SUBMIT_CACHED : MAX_DISPATCHES_PER_SUBMIT)) this.flush();
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
    // Parameter arenas and upload buffers are reused once the GPU has consumed them.
    const done = this.pendingArenas.splice(0);
    const uploads = this.pendingUploads.splice(0);
    this.device.queue.onSubmittedWorkDone().then(
      () => {
        for (const a of done) {
          a.used = 0;
          this.spareArenas.push(a);
        }
        for (const u of uploads) this.uploads.release(u, true);
      },
      () => undefined,
    );
  }

  /** Upload data into a buffer. queue.writeBuffer runs before any not-yet-submitted command,
   * which may still read the buffer's previous contents (pooled buffers are recycled
   * eagerly): with commands pending, the data goes to a staging buffer and is copied in the
   * command stream (or, with the cache off, the pending commands are submitted first). */
  write(buffer: GPUBuffer, data: ArrayBufferView): void {
    if (data.byteLength === 0) return;
    if (this.encoder !== null && this.cache) {
      // Copies need 4-byte sizes; every storage is a whole number of 4-byte elements.
      const bytes = Math.ceil(data.byteLength / 4) * 4;
      const upload = this.uploads.acquire(bytes);
      this.device.queue.writeBuffer(upload, 0, data.buffer, data.byteOffset, data.byteLength);
      this.pendingUploads.push(upload);
      this.copy(upload, 0, buffer, 0, data.byteLength);
      this.stats.uploads++;
      return;
    }
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
    this.resetCache();
    if (this.replay === null) {
      for (const state of this.replays.values()) state.dispose();
      this.replays.clear();
    }
    this.pool.trim();
    this.staging.trim();
    this.uploads.trim();
  }

  /** A storage buffer for a kernel's output or scratch: from the replay's arena while a plan
   * replays, else from the pool. */
  acquire(bytes: number): GPUBuffer {
    return this.replay !== null ? this.replay.acquire(bytes) : this.pool.acquire(bytes);
  }

  releaseBuffer(buffer: GPUBuffer): void {
    this.replay?.observeRelease(buffer);
    const owned = this.arenaOf.get(buffer);
    if (owned !== undefined) owned.owner.release(owned);
    else this.pool.release(buffer, !this.hasPending);
  }

  /** A replay of `plan` begins: what was recorded before is submitted, so the replay's kernels
   * form one command buffer (up to a read) and their parameter slots can be rewritten. */
  beginReplay(plan: object): void {
    if (this.replayDepth++ > 0 || !this.replayArenas) return;
    this.flush();
    let state = this.replays.get(plan);
    if (state === undefined) {
      if (this.replays.size >= MAX_REPLAY_STATES) {
        const [oldest, dropped] = this.replays.entries().next().value!;
        this.replays.delete(oldest);
        dropped.dispose();
      }
      state = new ReplayState(this);
    } else {
      this.replays.delete(plan);
    }
    this.replays.set(plan, state);
    state.begin();
    this.replay = state;
  }

  endReplay(): void {
    if (this.replayDepth === 0 || --this.replayDepth > 0) return;
    const state = this.replay;
    if (state === null) return;
    this.replay = null;
    state.end();
  }

  /** The plan is gone: its arena goes back to the pool. */
  disposeReplay(plan: object): void {
    const state = this.replays.get(plan);
    if (state === undefined || state === this.replay) return;
    this.flush();
    this.replays.delete(plan);
    state.dispose();
  }

  /** Turn replay arenas on or off (off drops the plans' arenas). */
  setReplayArenas(on: boolean): void {
    if (this.replay !== null) throw new Error('@titans/webgpu: cannot switch replay arenas during a replay');
    this.replayArenas = on;
    if (!on) {
      this.flush();
      for (const state of this.replays.values()) state.dispose();
      this.replays.clear();
    }
  }

  /** Bytes held by the plans' arenas. */
  get arenaBytes(): number {
    let bytes = 0;
    for (const state of this.replays.values()) bytes += state.arenaBytes;
    return bytes;
  }
}
