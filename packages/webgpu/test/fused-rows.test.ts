// The fused row primitives (normRows, softmaxRows, ropeRows, silu and their backward kernels)
// against the CPU reference backend, on random shapes with empty, single and odd sizes and
// rows long enough for the workgroup-per-row kernels; then the ops that use them (rmsNorm,
// layerNorm, softmax, logSoftmax, silu, rope), forward and gradients, against the CPU.
import { compile, cpuBackend, gradients, layerNorm, logSoftmax, rmsNorm, rope, silu, softmax, sum, mul, tensor, tidy, type Storage, type Tensor } from '@titans/tensor';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WebGPUBackend } from '../src/index.js';
import { ACCUMULATED, Random, expectClose, expectMatches, makeBackend, upload } from './helpers.js';

let gpu: WebGPUBackend;
beforeAll(async () => {
  gpu = await makeBackend();
});
afterAll(() => gpu?.destroy());

// [rows, cols]: empty, single, odd, the thread-per-row limit (32) and past it.
const SHAPES: [number, number][] = [[0, 5], [3, 0], [1, 1], [1, 7], [5, 3], [4, 32], [3, 33], [2, 65], [1, 200], [7, 17]];

function free(...storages: Storage[]): void {
  for (const s of storages) s.backend.dispose(s);
}

describe('fused row primitives against the CPU', () => {
  it('normRows (rms and layer) and normRowsBackward', async () => {
    const rng = new Random(11);
    for (const kind of ['rms', 'layer'] as const) {
      for (const [rows, cols] of SHAPES) {
        const what = `${kind} [${rows}, ${cols}]`;
        const x = upload(gpu, rng.uniform(rows * cols, -3, 3));
        const g = upload(gpu, rng.uniform(rows * cols));
        const c = cpuBackend.normRows!(kind, x.cpu, rows, cols, 1e-5);
        const w = gpu.normRows(kind, x.gpu, rows, cols, 1e-5);
        await expectMatches(gpu, w.out, c.out, ACCUMULATED, `${what} y`);
        await expectMatches(gpu, w.rstd, c.rstd, ACCUMULATED, `${what} rstd`);
        const cd = cpuBackend.normRowsBackward!(kind, c.out, c.rstd, g.cpu, rows, cols);
        const wd = gpu.normRowsBackward(kind, w.out, w.rstd, g.gpu, rows, cols);
        await expectMatches(gpu, wd, cd, ACCUMULATED, `${what} dx`);
        free(x.cpu, x.gpu, g.cpu, g.gpu, c.out, c.rstd, w.out, w.rstd, cd, wd);
      }
    }
  });

  it('softmaxRows (softmax and log-softmax) and softmaxRowsBackward', async () => {
    const rng = new Random(12);
    for (const log of [false, true]) {
      for (const [rows, cols] of SHAPES) {
        const what = `${log ? 'log-softmax' : 'softmax'} [${rows}, ${cols}]`;
        const x = upload(gpu, rng.uniform(rows * cols, -6, 6));
        const g = upload(gpu, rng.uniform(rows * cols));
        const c = cpuBackend.softmaxRows!(x.cpu, rows, cols, log);
        const w = gpu.softmaxRows(x.gpu, rows, cols, log);
        await expectMatches(gpu, w, c, ACCUMULATED, `${what} y`);
        const cd = cpuBackend.softmaxRowsBackward!(c, g.cpu, rows, cols, log);
        const wd = gpu.softmaxRowsBackward(w, g.gpu, rows, cols, log);
        await expectMatches(gpu, wd, cd, ACCUMULATED, `${what} dx`);
        free(x.cpu, x.gpu, g.cpu, g.gpu, c, w, cd, wd);
      }
    }
  });

  it('softmaxRows keeps the CPU special values (infinite and NaN entries, -Infinity rows)', async () => {
    for (const cols of [4, 40]) {
      const rows = 4;
      const data = new Float32Array(rows * cols).fill(0.5);
      data[0] = Infinity; // row 0: an infinite entry (shift 0: NaN like the CPU)
      data[cols + 1] = NaN; // row 1: NaN everywhere
      data.fill(-Infinity, 2 * cols, 3 * cols); // row 2: all -Infinity
      data[3 * cols + 2] = -Infinity; // row 3: one masked entry
      for (const log of [false, true]) {
        const x = upload(gpu, data);
        const c = cpuBackend.softmaxRows!(x.cpu, rows, cols, log);
        const w = gpu.softmaxRows(x.gpu, rows, cols, log);
        await expectMatches(gpu, w, c, ACCUMULATED, `special values, ${cols} cols, log ${log}`);
        free(x.cpu, x.gpu, c, w);
      }
    }
  });

  it('ropeRows', async () => {
    const rng = new Random(13);
    for (const [outer, t, d] of [[0, 3, 4], [1, 1, 2], [3, 5, 6], [2, 7, 10], [1, 33, 16]] as const) {
      const x = upload(gpu, rng.uniform(outer * t * d));
      const cs = upload(gpu, rng.uniform((t * d) / 2));
      const sn = upload(gpu, rng.uniform((t * d) / 2));
      const c = cpuBackend.ropeRows!(x.cpu, cs.cpu, sn.cpu, outer, t, d);
      const w = gpu.ropeRows(x.gpu, cs.gpu, sn.gpu, outer, t, d);
      await expectMatches(gpu, w, c, ACCUMULATED, `rope [${outer}, ${t}, ${d}]`);
      free(x.cpu, x.gpu, cs.cpu, cs.gpu, sn.cpu, sn.gpu, c, w);
    }
    const x = gpu.fromArray(new Float32Array(6), 'float32');
    expect(() => gpu.ropeRows(x, x, x, 1, 2, 3)).toThrow(/even/);
    gpu.dispose(x);
  });

  it('silu and siluBackward fuse into one kernel', async () => {
    const rng = new Random(14);
    for (const n of [0, 1, 3, 17, 65, 300]) {
      const x = upload(gpu, rng.uniform(n, -8, 8));
      const g = upload(gpu, rng.uniform(n));
      const before = gpu.stats().dispatches;
      const w = gpu.silu(x.gpu);
      const wd = gpu.siluBackward(x.gpu, g.gpu);
      gpu.materialize(w);
      gpu.materialize(wd);
      expect(gpu.stats().dispatches - before).toBe(n === 0 ? 0 : 2);
      await expectMatches(gpu, w, cpuBackend.silu!(x.cpu), ACCUMULATED, `silu [${n}]`);
      await expectMatches(gpu, wd, cpuBackend.siluBackward!(x.cpu, g.cpu), ACCUMULATED, `siluBackward [${n}]`);
      free(x.cpu, x.gpu, g.cpu, g.gpu, w, wd);
    }
    const ints = gpu.fromArray(new Int32Array(3), 'int32');
    expect(() => gpu.silu(ints)).toThrow(/float32/);
    gpu.dispose(ints);
  });
});

describe('ops on the fused primitives: forward and gradients against the CPU', () => {
  const cases: [string, (x: Tensor) => Tensor][] = [
    ['rmsNorm', (x) => rmsNorm(x)],
    ['layerNorm', (x) => layerNorm(x)],
    ['softmax', (x) => softmax(x)],
    ['logSoftmax', (x) => logSoftmax(x)],
    ['silu', (x) => silu(x)],
    ['rope', (x) => rope(x, 3)],
  ];
  for (const [name, f] of cases) {
    it(name, async () => {
      const rng = new Random(name.length);
      for (const shape of [[1, 1, 2], [2, 3, 6], [1, 5, 40]]) {
        const n = shape.reduce((a, b) => a * b, 1);
        const data = rng.uniform(n, -2, 2);
        const weights = rng.uniform(n);
        const run = async (backend: typeof gpu | typeof cpuBackend): Promise<[Float32Array, Float32Array]> => {
          const x = tensor(data, shape, { backend });
          x.requiresGrad = true;
          const w = tensor(weights, shape, { backend });
          const [y, dx] = tidy(() => {
            const out = f(x);
            return [out, gradients(sum(mul(out, w)), [x])[0]!] as const;
          });
          const result: [Float32Array, Float32Array] = [(await y.data()) as Float32Array, (await dx.data()) as Float32Array];
          for (const t of [x, w, y, dx]) t.dispose();
          return result;
        };
        const [gy, gdx] = await run(gpu);
        const [cy, cdx] = await run(cpuBackend);
        expectClose(gy, cy, ACCUMULATED, `${name} [${shape}] y`);
        expectClose(gdx, cdx, ACCUMULATED, `${name} [${shape}] dx`);
      }
    });
  }
});

async function softmaxRms(backend: WebGPUBackend, data: Float32Array): Promise<Float32Array> {
  const x = tensor(data, [2, 9], { backend });
  const y = tidy(() => softmax(rmsNorm(x)));
  const out = (await y.data()) as Float32Array;
  x.dispose();
  y.dispose();
  return out;
}

describe('compile() over the fused primitives', () => {
  it('records and replays them, with eager values', async () => {
    const data = new Random(4).uniform(2 * 9);
    const f = compile((x: Tensor) => softmax(rmsNorm(silu(x))));
    const x = tensor(data, [2, 9], { backend: gpu });
    const eager = tidy(() => softmax(rmsNorm(silu(x))));
    const expected = (await eager.data()) as Float32Array;
    for (let i = 0; i < 3; i++) {
      const y = f(x);
      expectClose((await y.data()) as Float32Array, expected, ACCUMULATED, `call ${i + 1}`);
      y.dispose();
    }
    expect(f.stats().replays).toBe(1);
    for (const t of [x, eager]) t.dispose();
    f.dispose();
  });
});

describe('fusedRows: false', () => {
  it('leaves the primitives out, and the ops give the same values through their composite forms', async () => {
    const plain = await makeBackend({ fusedRows: false });
    try {
      expect(plain.normRows).toBeUndefined();
      expect(plain.silu).toBeUndefined();
      const data = new Random(3).uniform(2 * 9);
      const values = async (backend: WebGPUBackend): Promise<Float32Array> => {
        const x = tensor(data, [2, 9], { backend });
        const y = tidy(() => softmax(rmsNorm(silu(x))));
        const out = (await y.data()) as Float32Array;
        x.dispose();
        y.dispose();
        return out;
      };
      expectClose(await values(plain), await values(gpu), ACCUMULATED, 'composite vs fused');
      // compile() traces the composite ops on it (no fused primitive is recorded).
      const f = compile((x: Tensor) => softmax(rmsNorm(x)));
      const x = tensor(data, [2, 9], { backend: plain });
      for (let i = 0; i < 3; i++) {
        const y = f(x);
        expectClose((await y.data()) as Float32Array, await softmaxRms(gpu, data), ACCUMULATED, 'compiled composite');
        y.dispose();
      }
      expect(f.stats().replays).toBe(1);
      f.dispose();
      x.dispose();
    } finally {
      plain.destroy();
    }
  });
});
