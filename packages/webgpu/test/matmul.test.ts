// Batched strided matmul: every kernel variant on sizes that do not divide the tiles,
// transposed and broadcast operands, the vec4 path, int32, and epilogue fusion.
import { cpuBackend, type Storage, type View } from '@titans/tensor';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chooseMatmulVariant, type MatmulVariant, type WebGPUBackend } from '../src/index.js';
import { ACCUMULATED, ODD_SIZES, Random, expectMatches, makeBackend, on, upload, view, type Pair } from './helpers.js';

let gpu: WebGPUBackend;
beforeAll(async () => {
  gpu = await makeBackend();
});
afterAll(() => gpu?.destroy());

interface Case {
  batch: number;
  m: number;
  k: number;
  n: number;
  transA: boolean;
  transB: boolean;
  broadcastB: boolean;
}

/** Views of a [batch, m, k] x [batch, k, n] product over buffers with a leading offset. */
function operands(c: Case, rng: Random): { a: Pair; b: Pair; va: View; vb: View } {
  const off = 3;
  const bBatches = c.broadcastB ? 1 : c.batch;
  const a = upload(gpu, rng.uniform(off + c.batch * c.m * c.k));
  const b = upload(gpu, rng.uniform(off + bBatches * c.k * c.n));
  const va = c.transA
    ? view(a.gpu, [c.batch, c.m, c.k], [c.m * c.k, 1, c.m], off)
    : view(a.gpu, [c.batch, c.m, c.k], [c.m * c.k, c.k, 1], off);
  const bBatch = c.broadcastB ? 0 : c.k * c.n;
  const vb = c.transB
    ? view(b.gpu, [c.batch, c.k, c.n], [bBatch, 1, c.k], off)
    : view(b.gpu, [c.batch, c.k, c.n], [bBatch, c.n, 1], off);
  return { a, b, va, vb };
}

async function check(c: Case, seed: number, variant: MatmulVariant | null): Promise<void> {
  const rng = new Random(seed);
  const { a, b, va, vb } = operands(c, rng);
  gpu.forceMatmulVariant = variant;
  try {
    const g = gpu.matmul(va, vb);
    const ref = cpuBackend.matmul(on(va, a.cpu), on(vb, b.cpu));
    await expectMatches(gpu, g, ref, ACCUMULATED, `${variant ?? 'auto'} ${JSON.stringify(c)}`);
    if (variant) expect(gpu.lastMatmulVariant).toBe(variant);
    for (const s of [g, a.gpu, b.gpu]) gpu.dispose(s);
  } finally {
    gpu.forceMatmulVariant = null;
  }
}

describe('matmul variants on odd sizes', () => {
  for (const variant of ['tile64', 'tile32', 'dot', 'splitk'] as const) {
    it(`${variant}`, async () => {
      const rng = new Random(variant.length);
      let seed = 100;
      // splitk runs a workgroup per output: keep its grids small on a software rasteriser.
      const sizes = variant === 'splitk' ? ODD_SIZES.slice(0, 3) : ODD_SIZES;
      for (const m of sizes) {
        for (const n of sizes) {
          const k = ODD_SIZES[rng.int(0, ODD_SIZES.length)]!;
          await check({ batch: 1 + ((m + n) % 3), m, k, n, transA: (m + k) % 2 === 0, transB: (n + k) % 2 === 1, broadcastB: m === n }, seed++, variant);
        }
      }
    });
  }
});

describe('matmul layouts', () => {
  it('transposes and batch broadcast, chosen automatically', async () => {
    let seed = 500;
    for (const transA of [false, true]) {
      for (const transB of [false, true]) {
        for (const broadcastB of [false, true]) {
          await check({ batch: 2, m: 33, k: 17, n: 65, transA, transB, broadcastB }, seed++, null);
          await check({ batch: 3, m: 70, k: 20, n: 66, transA, transB, broadcastB }, seed++, null);
        }
      }
    }
  });

  it('aligned shapes take the vec4 loads and agree with the scalar path', async () => {
    await check({ batch: 2, m: 64, k: 32, n: 128, transA: false, transB: false, broadcastB: false }, 7, 'tile64');
    await check({ batch: 1, m: 96, k: 36, n: 68, transA: false, transB: false, broadcastB: true }, 8, 'tile32');
  });

  it('handles k = 0, m = 0 and a long k', async () => {
    await check({ batch: 1, m: 3, k: 0, n: 5, transA: false, transB: false, broadcastB: false }, 9, null);
    await check({ batch: 2, m: 0, k: 4, n: 5, transA: false, transB: false, broadcastB: false }, 10, null);
    await check({ batch: 1, m: 2, k: 1500, n: 3, transA: true, transB: false, broadcastB: false }, 11, null);
  });

  it('int32 matmul is exact', async () => {
    const rng = new Random(12);
    const a = upload(gpu, rng.ints(5 * 7, -9, 9));
    const b = upload(gpu, rng.ints(7 * 6, -9, 9));
    const va = view(a.gpu, [1, 5, 7]);
    const vb = view(b.gpu, [1, 7, 6], [0, 1, 7]);
    await expectMatches(gpu, gpu.matmul(va, vb), cpuBackend.matmul(on(va, a.cpu), on(vb, b.cpu)), { rtol: 0, atol: 0 }, 'int32');
  });

  it('picks a kernel by shape', () => {
    const spec = (batch: number, m: number, k: number, n: number) =>
      chooseMatmulVariant({ batch, m, n, k, a: null as never, b: null as never });
    expect(spec(1, 512, 512, 512)).toBe('tile64');
    expect(spec(1, 4096, 64, 32)).toBe('tile32');
    expect(spec(1, 1, 64, 4096)).toBe('dot');
    expect(spec(1, 4, 4096, 4)).toBe('splitk');
  });
});

describe('epilogue fusion', () => {
  function linearRelu(backend: typeof cpuBackend | WebGPUBackend, x: Storage, w: Storage, bias: Storage, rows: number, inF: number, outF: number, keepPre: boolean) {
    const pre = backend.matmul(view(x, [1, rows, inF]), view(w, [1, inF, outF], [0, 1, inF]));
    const biased = backend.binary('add', view(pre, [rows, outF]), view(bias, [rows, outF], [0, 1]), 'float32');
    const act = backend.unary('relu', view(biased, [rows, outF]), 'float32');
    backend.dispose(biased);
    if (!keepPre) backend.dispose(pre);
    return { pre, act };
  }

  it('runs matmul + bias + relu as one kernel', async () => {
    const rng = new Random(13);
    const [rows, inF, outF] = [37, 19, 23];
    const x = upload(gpu, rng.uniform(rows * inF));
    const w = upload(gpu, rng.uniform(outF * inF));
    const bias = upload(gpu, rng.uniform(outF));
    await gpu.sync();
    const before = gpu.stats().dispatches;
    const g = linearRelu(gpu, x.gpu, w.gpu, bias.gpu, rows, inF, outF, false);
    const c = linearRelu(cpuBackend, x.cpu, w.cpu, bias.cpu, rows, inF, outF, false);
    await expectMatches(gpu, g.act, c.act, ACCUMULATED, 'fused linear+relu');
    expect(gpu.stats().dispatches - before).toBe(1);
  });

  it('also writes the matmul output when it is still referenced (e.g. for backward)', async () => {
    const rng = new Random(14);
    const [rows, inF, outF] = [65, 64, 64];
    const x = upload(gpu, rng.uniform(rows * inF));
    const w = upload(gpu, rng.uniform(outF * inF));
    const bias = upload(gpu, rng.uniform(outF));
    await gpu.sync();
    const before = gpu.stats().dispatches;
    const g = linearRelu(gpu, x.gpu, w.gpu, bias.gpu, rows, inF, outF, true);
    const c = linearRelu(cpuBackend, x.cpu, w.cpu, bias.cpu, rows, inF, outF, true);
    await expectMatches(gpu, g.act, c.act, ACCUMULATED, 'activation');
    await expectMatches(gpu, g.pre, c.pre, ACCUMULATED, 'pre-activation');
    expect(gpu.stats().dispatches - before).toBe(1);
  });
});
