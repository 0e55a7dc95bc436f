/// <reference types="@webgpu/types" />
// A pool of GPUBuffers bucketed by size class. Creating buffers is slow in every WebGPU
// implementation (and each creation needs an out-of-memory error scope), while tensor
// programs allocate the same few sizes over and over, so freed buffers are kept for reuse.

/** Round a byte count up to its size class: 256 B minimum, then four classes per power of
 * two (at most 25% waste). Multiples of 256 keep every buffer aligned for vec4 views. */
export function sizeClass(bytes: number): number {
  if (bytes <= 256) return 256;
  const pow = 2 ** Math.floor(Math.log2(bytes));
  const step = Math.max(256, pow / 4);
  return Math.ceil(bytes / step) * step;
}

export interface PoolStats {
  /** Bytes in buffers handed out and not yet released. */
  readonly inUseBytes: number;
  /** Bytes in buffers waiting in the pool for reuse. */
  readonly pooledBytes: number;
  readonly created: number;
  readonly reused: number;
}

export class BufferPool {
  private readonly free = new Map<number, GPUBuffer[]>();
  private pooled = 0;
  private inUse = 0;
  private created = 0;
  private reused = 0;

  constructor(
    private readonly allocate: (bytes: number) => GPUBuffer,
    /** Pooled bytes above which released buffers are destroyed instead of kept. */
    private readonly maxPooledBytes: number,
  ) {}

  acquire(bytes: number): GPUBuffer {
    const cls = sizeClass(bytes);
    const list = this.free.get(cls);
    const hit = list?.pop();
    this.inUse += cls;
    if (hit) {
      this.pooled -= cls;
      this.reused++;
      return hit;
    }
    this.created++;
    return this.allocate(cls);
  }

  /** Give a buffer back. `canDestroy` is false while unsubmitted commands may still use it
   * (destroying it then would invalidate the submit); it is then always pooled. */
  release(buffer: GPUBuffer, canDestroy: boolean): void {
    const cls = buffer.size;
    this.inUse -= cls;
    if (canDestroy && this.pooled + cls > this.maxPooledBytes) {
      buffer.destroy();
      return;
    }
    let list = this.free.get(cls);
    if (!list) this.free.set(cls, (list = []));
    list.push(buffer);
    this.pooled += cls;
  }

  /** Destroy pooled buffers until at most `keepBytes` remain pooled. */
  trim(keepBytes = 0): void {
    for (const [cls, list] of this.free) {
      while (list.length > 0 && this.pooled > keepBytes) {
        list.pop()!.destroy();
        this.pooled -= cls;
      }
    }
  }

  stats(): PoolStats {
    return { inUseBytes: this.inUse, pooledBytes: this.pooled, created: this.created, reused: this.reused };
  }
}
