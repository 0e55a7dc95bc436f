/// <reference types="@webgpu/types" />
// Stable buffers and prebuilt bind groups for the replays of a compile()d function.
//
// A replay calls the same backend primitives in the same order every time, so the k-th buffer
// it allocates holds the same plan value at every replay, and the d-th kernel it records is
// the same kernel. A ReplayState (one per plan) watches a replay: when each allocation was
// acquired and released (a clock that ticks at both). From that it plans an arena by
// liveness: allocations whose lifetimes do not overlap share a buffer, and values that outlive
// the replay (results, updated parameters: released at a later replay or by the caller) get a
// pair of buffers they alternate between. The next replays take allocation k's buffer from the
// arena, so kernel d sees the same buffers as at the replay before (or the one before that, for
// the alternating pairs) and finds its bind group already built. Its parameter block lives in a
// uniform slot of its own, rewritten only when its words change (a learning rate that changes
// every step). An arena buffer still in use when its allocation comes round (the program took
// another path, or the caller kept a result) is never handed out twice: the allocation is
// served by the pool instead, counted as a miss, and the arena is planned again from that
// replay (a few times at most).

import { sizeClass, type BufferPool } from './pool.js';

const UNIFORM_ARENA_BYTES = 64 * 1024;
/** Bind groups kept per kernel of a replay (alternating buffers need two). */
const GROUPS_PER_KERNEL = 4;
/** Times the arena is planned again after a replay with misses. */
const MAX_REPLANS = 4;

export interface ReplayStats {
  /** Allocations in replays served by a plan's arena, and those served by the pool instead. */
  arenaHits: number;
  arenaMisses: number;
  /** Parameter blocks rewritten because their words changed since the last replay. */
  uniformWrites: number;
}

/** A buffer owned by a plan's arena. */
export class ArenaBuffer {
  busy = false;
  /** The arena was planned again (or dropped) while this buffer was in use: it goes back to
   * the pool when released. */
  orphan = false;
  constructor(readonly buffer: GPUBuffer, readonly owner: ReplayState) {}
}

type Assignment =
  | { readonly cls: number; readonly shared: ArenaBuffer }
  | { readonly cls: number; readonly pair: [ArenaBuffer | null, ArenaBuffer | null] };

interface Kernel {
  readonly pipeline: GPUComputePipeline;
  readonly words: Uint32Array;
  readonly buffer: GPUBuffer;
  readonly offset: number;
  readonly size: number;
  readonly groups: { readonly buffers: readonly GPUBuffer[]; readonly group: GPUBindGroup }[];
}

/** What a ReplayState needs from the runtime. */
export interface ReplayHost {
  readonly device: GPUDevice;
  readonly pool: BufferPool;
  readonly minUniformAlign: number;
  readonly stats: ReplayStats & { bindGroupsCreated: number; bindGroupsReused: number };
  readonly arenaOf: Map<GPUBuffer, ArenaBuffer>;
  /** True when unsubmitted commands may still use a released buffer. */
  readonly hasPending: boolean;
}

export class ReplayState {
  private assignments: Assignment[] = [];
  private buffers: ArenaBuffer[] = [];
  private planned = false;
  private replans = 0;
  // The replay being watched: per allocation its size class, acquire and release ticks.
  private cls: number[] = [];
  private acquired: number[] = [];
  private released: number[] = [];
  private readonly index = new Map<GPUBuffer, number>();
  private clock = 0;
  private misses = 0;
  // Kernels by position in the replay, and their uniform slots.
  private kernels: (Kernel | undefined)[] = [];
  private next = 0;
  private uniforms: GPUBuffer[] = [];
  private uniformUsed = UNIFORM_ARENA_BYTES;
  /** Uniform bytes the current kernels' slots take (alignment included). */
  private slotBytes = 0;

  constructor(private readonly host: ReplayHost) {}

  /** Bytes held by the arena (buffers shared by liveness plus the alternating pairs). */
  get arenaBytes(): number {
    let bytes = 0;
    for (const b of this.buffers) if (!b.orphan) bytes += b.buffer.size;
    return bytes;
  }

  begin(): void {
    this.cls.length = 0;
    this.acquired.length = 0;
    this.released.length = 0;
    this.index.clear();
    this.clock = 0;
    this.misses = 0;
    this.next = 0;
    // Kernels replaced when the program changed leave their slots behind: start over once the
    // slots reach twice what the kernels need (nothing of this replay is recorded yet, and the
    // runtime submitted everything before it began).
    if (this.uniforms.length > 1 && this.uniforms.length * UNIFORM_ARENA_BYTES > 2 * this.slotBytes + UNIFORM_ARENA_BYTES) this.resetKernels();
  }

  end(): void {
    this.index.clear();
    if (!this.planned || (this.misses > 0 && this.replans < MAX_REPLANS)) {
      if (this.planned) this.replans++;
      this.plan();
    }
  }

  acquire(bytes: number): GPUBuffer {
    const cls = sizeClass(bytes);
    const k = this.cls.length;
    this.cls.push(cls);
    this.acquired.push(this.clock++);
    this.released.push(Infinity);
    let out: ArenaBuffer | null = null;
    const a = this.assignments[k];
    if (a !== undefined && a.cls === cls) {
      if ('shared' in a) {
        if (!a.shared.busy) out = a.shared;
        else this.misses++;
      } else {
        for (let j = 0; j < 2 && out === null; j++) {
          const b = (a.pair[j] ??= this.create(cls));
          if (!b.busy) out = b;
        }
      }
    } else if (this.planned) {
      this.misses++;
    }
    let buffer: GPUBuffer;
    if (out !== null) {
      out.busy = true;
      buffer = out.buffer;
      this.host.stats.arenaHits++;
    } else {
      buffer = this.host.pool.acquire(bytes);
      if (this.planned) this.host.stats.arenaMisses++;
    }
    this.index.set(buffer, k);
    return buffer;
  }

  /** A buffer came back during this replay (whoever owns it). */
  observeRelease(buffer: GPUBuffer): void {
    const k = this.index.get(buffer);
    if (k === undefined) return;
    this.index.delete(buffer);
    this.released[k] = this.clock++;
  }

  /** An arena buffer was released (during a replay or after it). */
  release(b: ArenaBuffer): void {
    b.busy = false;
    if (b.orphan) this.dropBuffer(b);
  }

  private create(cls: number): ArenaBuffer {
    const b = new ArenaBuffer(this.host.pool.acquire(cls), this);
    this.host.arenaOf.set(b.buffer, b);
    this.buffers.push(b);
    return b;
  }

  private dropBuffer(b: ArenaBuffer): void {
    this.host.arenaOf.delete(b.buffer);
    this.host.pool.release(b.buffer, !this.host.hasPending);
  }

  /** Give the arena's buffers back to the pool (those in use when they are released). */
  private dropArena(): void {
    for (const b of this.buffers) {
      if (b.busy) b.orphan = true;
      else this.dropBuffer(b);
    }
    this.buffers = [];
    this.assignments = [];
  }

  /** Plan the arena from the replay just watched: first fit by liveness per size class. */
  private plan(): void {
    this.dropArena();
    const free = new Map<number, { b: ArenaBuffer; until: number }[]>();
    const assignments: Assignment[] = [];
    for (let k = 0; k < this.cls.length; k++) {
      const cls = this.cls[k]!;
      const from = this.acquired[k]!;
      const until = this.released[k]!;
      if (until === Infinity) {
        assignments.push({ cls, pair: [null, null] });
        continue;
      }
      let list = free.get(cls);
      if (!list) free.set(cls, (list = []));
      let slot = list.find((s) => s.until < from);
      if (!slot) list.push((slot = { b: this.create(cls), until }));
      slot.until = until;
      assignments.push({ cls, shared: slot.b });
    }
    this.assignments = assignments;
    this.planned = true;
  }

  /** The bind group for the next kernel of the replay, built once per set of buffers; its
   * parameters go to the kernel's own uniform slot (written when they change). */
  bindGroup(pipeline: GPUComputePipeline, params: Uint32Array, buffers: readonly GPUBuffer[]): GPUBindGroup {
    const d = this.next++;
    let kernel = this.kernels[d];
    if (kernel === undefined || kernel.pipeline !== pipeline || kernel.words.length !== params.length) {
      if (kernel !== undefined) this.slotBytes -= this.aligned(kernel.size);
      kernel = this.newKernel(pipeline, params);
      this.kernels[d] = kernel;
    } else if (!sameWords(kernel.words, params)) {
      // The slot's last reader is a kernel of an earlier replay, submitted before this one began.
      kernel.words.set(params);
      this.writeSlot(kernel);
      this.host.stats.uniformWrites++;
    }
    const groups = kernel.groups as { buffers: readonly GPUBuffer[]; group: GPUBindGroup }[];
    for (let g = 0; g < groups.length; g++) {
      const entry = groups[g]!;
      if (sameBuffers(entry.buffers, buffers)) {
        this.host.stats.bindGroupsReused++;
        if (g > 0) {
          groups[g] = groups[0]!;
          groups[0] = entry;
        }
        return entry.group;
      }
    }
    const entries: GPUBindGroupEntry[] = [{ binding: 0, resource: { buffer: kernel.buffer, offset: kernel.offset, size: kernel.size } }];
    for (let i = 0; i < buffers.length; i++) entries.push({ binding: i + 1, resource: { buffer: buffers[i]! } });
    const group = this.host.device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries });
    this.host.stats.bindGroupsCreated++;
    if (groups.length >= GROUPS_PER_KERNEL) groups.pop();
    groups.unshift({ buffers: buffers.slice(), group });
    return group;
  }

  private newKernel(pipeline: GPUComputePipeline, params: Uint32Array): Kernel {
    const size = Math.max(16, Math.ceil(params.byteLength / 16) * 16);
    const align = this.host.minUniformAlign;
    let offset = Math.ceil(this.uniformUsed / align) * align;
    if (offset + size > UNIFORM_ARENA_BYTES) {
      this.uniforms.push(this.host.device.createBuffer({ size: UNIFORM_ARENA_BYTES, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST, label: 'titans-replay-params' }));
      offset = 0;
    }
    this.uniformUsed = offset + size;
    this.slotBytes += this.aligned(size);
    const kernel: Kernel = { pipeline, words: params.slice(), buffer: this.uniforms.at(-1)!, offset, size, groups: [] };
    this.writeSlot(kernel);
    return kernel;
  }

  private aligned(size: number): number {
    const align = this.host.minUniformAlign;
    return Math.ceil(size / align) * align;
  }

  private writeSlot(kernel: Kernel): void {
    const data = new Uint32Array(kernel.size / 4);
    data.set(kernel.words);
    this.host.device.queue.writeBuffer(kernel.buffer, kernel.offset, data);
  }

  /** Forget every kernel and destroy the uniform slots once the GPU is done with them (the
   * caller has submitted every command that uses them). */
  private resetKernels(): void {
    const old = this.uniforms;
    this.uniforms = [];
    this.uniformUsed = UNIFORM_ARENA_BYTES;
    this.slotBytes = 0;
    this.kernels = [];
    if (old.length > 0) this.host.device.queue.onSubmittedWorkDone().then(() => { for (const b of old) b.destroy(); }, () => undefined);
  }

  /** Drop everything: the arena's buffers go back to the pool (once free), slots are destroyed.
   * The caller has submitted every recorded command first. */
  dispose(): void {
    this.dropArena();
    this.resetKernels();
    this.planned = false;
    this.replans = 0;
  }
}

function sameWords(a: Uint32Array, b: Uint32Array): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function sameBuffers(a: readonly GPUBuffer[], b: readonly GPUBuffer[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
