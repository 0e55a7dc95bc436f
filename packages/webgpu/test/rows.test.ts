// Row primitives against the CPU reference: reductions, arg-reductions, scans and linear
// recurrences (parallel within a workgroup, carried across chunks), concat, gather and the
// deterministic scatter-add.
import { cpuBackend, type ReduceOp } from '@titans/tensor';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WebGPUBackend } from '../src/index.js';
import { ACCUMULATED, ELEMENTWISE, ODD_SIZES, Random, expectClose, expectMatches, makeBackend, upload } from './helpers.js';

let gpu: WebGPUBackend;
beforeAll(async () => {
  gpu = await makeBackend();
});
afterAll(() => gpu?.destroy());

/** Row lengths covering the thread-per-row path, the workgroup path and multi-chunk scans. */
const COLS = [...ODD_SIZES, 100, 1025, 2500];

describe('reduceRows', () => {
  for (const op of ['sum', 'prod', 'max', 'min'] as const satisfies readonly ReduceOp[]) {
    it(`${op} over rows of many lengths`, async () => {
      const rng = new Random(op.length);
      for (const cols of COLS) {
        const rows = cols > 1000 ? 3 : 7;
        // prod of many factors: keep them near 1 so the product stays finite.
        const data = op === 'prod' ? rng.uniform(rows * cols, 0.995, 1.005) : rng.uniform(rows * cols, -5, 5);
        const x = upload(gpu, data);
        await expectMatches(gpu, gpu.reduceRows(op, x.gpu, rows, cols), cpuBackend.reduceRows(op, x.cpu, rows, cols), ACCUMULATED, `${op} cols=${cols}`);
      }
    });
  }

  it('int32 reductions, NaN in max/min, empty rows', async () => {
    const rng = new Random(3);
    const ints = upload(gpu, rng.ints(5 * 40, -100, 100));
    for (const op of ['sum', 'max', 'min'] as const) {
      await expectMatches(gpu, gpu.reduceRows(op, ints.gpu, 5, 40), cpuBackend.reduceRows(op, ints.cpu, 5, 40), { rtol: 0, atol: 0 }, `int32 ${op}`);
    }
    const data = rng.uniform(4 * 50);
    data[7] = NaN;
    data[120] = NaN;
    const x = upload(gpu, data);
    for (const op of ['max', 'min', 'sum'] as const) {
      await expectMatches(gpu, gpu.reduceRows(op, x.gpu, 4, 50), cpuBackend.reduceRows(op, x.cpu, 4, 50), ACCUMULATED, `NaN ${op}`);
    }
    for (const op of ['sum', 'prod', 'max', 'min'] as const) {
      await expectMatches(gpu, gpu.reduceRows(op, x.gpu, 3, 0), cpuBackend.reduceRows(op, x.cpu, 3, 0), ELEMENTWISE, `empty ${op}`);
      await expectMatches(gpu, gpu.reduceRows(op, ints.gpu, 2, 0), cpuBackend.reduceRows(op, ints.cpu, 2, 0), ELEMENTWISE, `empty int ${op}`);
    }
  });
});

describe('argReduceRows', () => {
  it('first index of the extreme value, on short and long rows, with ties and NaN', async () => {
    const rng = new Random(4);
    for (const cols of COLS) {
      const rows = 5;
      // Few distinct values: plenty of ties.
      const data = Float32Array.from({ length: rows * cols }, () => rng.int(-3, 4));
      if (cols > 3) {
        data[1] = NaN; // a NaN inside row 0 is ignored
        data[cols] = NaN; // row 1 starts with NaN: index 0
      }
      const x = upload(gpu, data);
      for (const op of ['argmax', 'argmin'] as const) {
        await expectMatches(gpu, gpu.argReduceRows(op, x.gpu, rows, cols), cpuBackend.argReduceRows(op, x.cpu, rows, cols), { rtol: 0, atol: 0 }, `${op} cols=${cols}`);
      }
    }
    const ints = upload(gpu, rng.ints(6 * 33, -5, 5));
    await expectMatches(gpu, gpu.argReduceRows('argmax', ints.gpu, 6, 33), cpuBackend.argReduceRows('argmax', ints.cpu, 6, 33), { rtol: 0, atol: 0 }, 'int32 argmax');
  });
});

describe('scans', () => {
  for (const reverse of [false, true]) {
    it(`scanRows sum/prod${reverse ? ' reversed' : ''}`, async () => {
      const rng = new Random(reverse ? 5 : 6);
      for (const cols of COLS) {
        const rows = cols > 1000 ? 2 : 6;
        const x = upload(gpu, rng.uniform(rows * cols, 0, 1));
        await expectMatches(gpu, gpu.scanRows('sum', x.gpu, rows, cols, reverse), cpuBackend.scanRows('sum', x.cpu, rows, cols, reverse), ACCUMULATED, `sum cols=${cols}`);
        const p = upload(gpu, rng.uniform(rows * cols, 0.999, 1.001));
        await expectMatches(gpu, gpu.scanRows('prod', p.gpu, rows, cols, reverse), cpuBackend.scanRows('prod', p.cpu, rows, cols, reverse), ACCUMULATED, `prod cols=${cols}`);
      }
      const ints = upload(gpu, rng.ints(3 * 1500, -9, 9));
      await expectMatches(gpu, gpu.scanRows('sum', ints.gpu, 3, 1500, reverse), cpuBackend.scanRows('sum', ints.cpu, 3, 1500, reverse), { rtol: 0, atol: 0 }, 'int32 sum');
    });

    it(`linearScanRows${reverse ? ' reversed' : ''}`, async () => {
      const rng = new Random(reverse ? 7 : 8);
      for (const cols of COLS) {
        const rows = cols > 1000 ? 2 : 5;
        const a = upload(gpu, rng.uniform(rows * cols, 0.5, 1));
        const b = upload(gpu, rng.uniform(rows * cols, -1, 1));
        await expectMatches(gpu, gpu.linearScanRows(a.gpu, b.gpu, rows, cols, reverse), cpuBackend.linearScanRows(a.cpu, b.cpu, rows, cols, reverse), ACCUMULATED, `linear cols=${cols}`);
      }
    });
  }
});

describe('concat, gather, scatter-add', () => {
  it('concatRows with odd widths (kernel and copy paths)', async () => {
    const rng = new Random(9);
    for (const outer of [1, 3, 17]) {
      const inners = [1, 17, 3, 33];
      const parts = inners.map((w) => upload(gpu, rng.uniform(outer * w)));
      await expectMatches(gpu, gpu.concatRows(parts.map((p) => p.gpu), outer, inners), cpuBackend.concatRows(parts.map((p) => p.cpu), outer, inners), { rtol: 0, atol: 0 }, `concat outer=${outer}`);
    }
    const ints = [upload(gpu, Int32Array.from([1, 2, 3, 4])), upload(gpu, Int32Array.from([5, 6]))];
    await expectMatches(gpu, gpu.concatRows(ints.map((p) => p.gpu), 2, [2, 1]), cpuBackend.concatRows(ints.map((p) => p.cpu), 2, [2, 1]), { rtol: 0, atol: 0 }, 'int32 concat');
  });

  it('gatherRows with repeated indices, float and int32 data', async () => {
    const rng = new Random(10);
    for (const width of [1, 3, 65]) {
      const n = 17;
      const x = upload(gpu, rng.uniform(n * width));
      const idx = upload(gpu, rng.ints(33, 0, n));
      await expectMatches(gpu, gpu.gatherRows(x.gpu, width, idx.gpu), cpuBackend.gatherRows(x.cpu, width, idx.cpu), { rtol: 0, atol: 0 }, `gather width=${width}`);
    }
    const xi = upload(gpu, rng.ints(12, -50, 50));
    const idx = upload(gpu, Int32Array.from([3, 0, 3]));
    await expectMatches(gpu, gpu.gatherRows(xi.gpu, 3, idx.gpu), cpuBackend.gatherRows(xi.cpu, 3, idx.cpu), { rtol: 0, atol: 0 }, 'int32 gather');
  });

  it('scatterAddRows sums duplicates in index order, bit-for-bit like the CPU', async () => {
    const rng = new Random(11);
    for (const [k, n, width] of [[1, 1, 1], [33, 5, 3], [300, 17, 17], [65, 65, 1], [0, 4, 2]] as const) {
      const src = upload(gpu, rng.uniform(k * width, -100, 100));
      const idx = upload(gpu, rng.ints(k, 0, n));
      const g = gpu.scatterAddRows(src.gpu, width, idx.gpu, n);
      // Exact: the GPU adds each bucket in source order, as the CPU loop does.
      await expectMatches(gpu, g, cpuBackend.scatterAddRows(src.cpu, width, idx.cpu, n), { rtol: 0, atol: 0 }, `scatterAdd k=${k} n=${n}`);
    }
  });

  it('scatterAddRows is deterministic when one row receives everything', async () => {
    const rng = new Random(12);
    const k = 2000;
    const src = upload(gpu, rng.uniform(k * 2, -1, 1));
    const idx = upload(gpu, new Int32Array(k).fill(3));
    const first = await gpu.read(gpu.scatterAddRows(src.gpu, 2, idx.gpu, 5));
    const second = await gpu.read(gpu.scatterAddRows(src.gpu, 2, idx.gpu, 5));
    expect(Array.from(second)).toEqual(Array.from(first));
    expectClose(first, cpuBackend.readSync(cpuBackend.scatterAddRows(src.cpu, 2, idx.cpu, 5)), { rtol: 0, atol: 0 });
  });
});
