// Device acquisition and failure modes (no adapter, lost device, allocations past the
// device limits), the buffer pool, liveBytes accounting, and command batching.
import { cpuBackend } from '@titans/tensor';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebGPUBackend, acquireDevice, createWebGPUBackend, fallbackToCpu } from '../src/index.js';
import { Random, expectClose, makeBackend, view } from './helpers.js';

let gpu: WebGPUBackend;
beforeAll(async () => {
  gpu = await makeBackend();
});
afterAll(() => gpu?.destroy());

/** A GPU object whose adapter request finds nothing, as on a machine without drivers. */
const noAdapterGpu = { requestAdapter: async () => null } as unknown as GPU;

describe('device acquisition', () => {
  it('reports a missing adapter clearly', async () => {
    await expect(createWebGPUBackend({ gpu: noAdapterGpu })).rejects.toThrow(/no WebGPU adapter found/);
  });

  it('fallbackToCpu returns the CPU backend and says why', async () => {
    const reasons: Error[] = [];
    const backend = await fallbackToCpu({ gpu: noAdapterGpu, onFallback: (e) => reasons.push(e) });
    expect(backend).toBe(cpuBackend);
    expect(reasons[0]?.message).toMatch(/no WebGPU adapter/);
    const real = await fallbackToCpu();
    expect(real).toBeInstanceOf(WebGPUBackend);
    (real as WebGPUBackend).destroy();
  });

  it('uses a device it is given and leaves it alive on destroy', async () => {
    const { device } = await acquireDevice();
    const backend = await createWebGPUBackend({ device });
    const x = backend.fromArray(new Float32Array([1, 2]), 'float32');
    expect(Array.from(await backend.read(x))).toEqual([1, 2]);
    backend.destroy();
    expect(() => backend.fill(1, 0, 'float32')).toThrow(/destroyed/);
    const other = await createWebGPUBackend({ device });
    expect(Array.from(await other.read(other.fill(3, 7, 'float32')))).toEqual([7, 7, 7]);
    device.destroy();
  });
});

describe('failures', () => {
  it('a lost device fails every later op and read with the reason, without hanging', async () => {
    const backend = await makeBackend();
    const x = backend.fromArray(new Float32Array([1, 2, 3]), 'float32');
    const y = backend.unary('exp', view(x, [3]), 'float32');
    const pending = backend.read(y);
    backend.device.destroy();
    await backend.device.lost;
    await expect(pending).rejects.toThrow(/lost|destroyed|failed/);
    expect(() => backend.unary('neg', view(x, [3]), 'float32')).toThrow(/device was lost/);
    await expect(backend.read(x)).rejects.toThrow(/device was lost/);
  });

  it('refuses allocations beyond the device limits with an out-of-memory error', async () => {
    const huge = gpu.fill(2 ** 30 + 1, 1, 'float32'); // 4 GiB + 4 bytes
    await expect(gpu.read(huge)).rejects.toThrow(/out of memory/);
    expect(() => gpu.reduceRows('sum', huge, 1, 2 ** 30 + 1)).toThrow(/out of memory/);
    gpu.dispose(huge);
    // The backend keeps working afterwards.
    expect(Array.from(await gpu.read(gpu.fill(2, 5, 'int32')))).toEqual([5, 5]);
  });

  it('readSync explains itself; storages from another backend are rejected', () => {
    const x = gpu.fill(2, 1, 'float32');
    expect(gpu.syncRead).toBe(false);
    expect(() => gpu.readSync(x)).toThrow(/read asynchronously/);
    const c = cpuBackend.fill(2, 1, 'float32');
    expect(() => gpu.unary('neg', view(c, [2]), 'float32')).toThrow(/another backend/);
  });
});

describe('memory', () => {
  it('liveBytes counts live storages, lazy or not, and returns to its baseline', async () => {
    const base = gpu.liveBytes();
    const a = gpu.fromArray(new Float32Array(100), 'float32');
    const b = gpu.fill(50, 2, 'int32');
    const c = gpu.binary('add', view(a, [50]), view(b, [50]), 'float32');
    expect(gpu.liveBytes() - base).toBe(400 + 200 + 200);
    await gpu.read(c);
    for (const s of [a, b, c]) gpu.dispose(s);
    expect(gpu.liveBytes()).toBe(base);
  });

  it('reuses pooled buffers instead of creating new ones', async () => {
    const rng = new Random(1);
    const data = rng.uniform(1000);
    const round = async () => {
      const x = gpu.fromArray(data, 'float32');
      const y = gpu.reduceRows('sum', x, 10, 100);
      const s = gpu.scanRows('sum', x, 10, 100, false);
      await gpu.read(y);
      for (const t of [x, y, s]) gpu.dispose(t);
    };
    await round();
    const created = gpu.stats().pool.created;
    for (let i = 0; i < 5; i++) await round();
    expect(gpu.stats().pool.created).toBe(created);
    expect(gpu.stats().pool.reused).toBeGreaterThan(0);
    gpu.trim();
    expect(gpu.stats().pool.pooledBytes).toBe(0);
  });

  it('batches many kernels into few submits and keeps results right across submits', async () => {
    await gpu.sync();
    const submits = gpu.stats().submits;
    let x = gpu.fromArray(new Float32Array([1, 2, 3, 4]), 'float32');
    let expected = [1, 2, 3, 4];
    for (let i = 0; i < 1200; i++) {
      const next = gpu.reduceRows('max', x, 1, 4); // non-elementwise: records a kernel each time
      const wide = gpu.concatRows([next, next, next, next], 1, [1, 1, 1, 1]);
      gpu.dispose(next);
      gpu.dispose(x);
      x = wide;
      expected = [4, 4, 4, 4];
    }
    expectClose(await gpu.read(x), expected);
    const used = gpu.stats().submits - submits;
    expect(used).toBeGreaterThan(1); // flushed on the way
    expect(used).toBeLessThan(20);
  });
});
