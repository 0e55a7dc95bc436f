// compile(fn) == eager on WebGPU for every architecture the package builds (float32, the
// only float WGSL has): forward, loss, gradients, clipping and one AdamW step, compiled,
// against the same step run eagerly on WebGPU, at the trace and at a replay (and, for one
// Titans model, after a shape change). The shapes are the smallest that still cross the
// memory's chunk and the attention window, since SwiftShader runs on the CPU; the
// verification trace, which is backend-independent, and the retrace of every architecture
// are checked on the CPU (compile-architectures.test.ts).
//
// Time: most of this file's run is SwiftShader compiling its ~480 distinct WGSL pipelines
// (once per process; every kernel of 17 architectures' eager steps and compiled plans). Width
// 4 keeps every matmul at fewer than 8 rows or columns, so all take the one-thread-per-output
// kernel: the tiled kernels, each of which takes seconds to compile with its fused epilogue,
// are left to compile-train-webgpu.test.ts and generate-webgpu.test.ts (and the webgpu
// package's own tests), which run them in compiled plans too.
//
// Tolerance: WebGPU's eager ops are recorded into a lazy graph and fused at flush time,
// and a compiled plan groups the same ops into different kernels, so float32 rounding
// (fused multiply-adds, the order of reductions) may differ: 1e-4 of the largest value of
// each tensor. Any wrong recording (a missed op, a stale constant, a wrong view) moves
// values by far more.
import { describe, expect, it } from 'vitest';
import { compile, optim, tensor, tidy, type Tensor } from '@titans/tensor';
import { ARCHITECTURES, createModel, type ArchitectureName, type TitansLanguageModel } from '../src/index.js';
import { trainingStep, useWebGPU } from './compile-fixtures.js';
import { randomIds, testConfig } from './helpers.js';

useWebGPU();

interface Run {
  readonly model: TitansLanguageModel;
  readonly step: (ids: Tensor, targets: Tensor) => Tensor[];
}

function setUp(architecture: ArchitectureName): Run {
  // Width 4, 1 block, 2 heads, memory chunk 2, window 3, segment 2: 4 tokens cross each boundary.
  const expansion = architecture === 'omeganet' || architecture.startsWith('atlas') ? 1 : 2;
  const model = createModel(testConfig(architecture, {
    dtype: 'float32', layers: 1, dim: 4, mlpHidden: 8, window: 3, segmentLength: 2, vocabSize: 16, memory: { heads: 2, chunkSize: 2, expansion },
  }));
  return { model, step: trainingStep(model, new optim.AdamW(model.parameters(), { lr: 1e-2, weightDecay: 0.1 })) };
}

async function read(run: Run, step: (ids: Tensor, targets: Tensor) => Tensor[], ids: Tensor, targets: Tensor): Promise<Float32Array[]> {
  const outputs = tidy(() => step(ids, targets));
  try {
    return await Promise.all([...outputs, ...run.model.parameters()].map(async (t) => Float32Array.from(await t.data())));
  } finally {
    for (const t of outputs) t.dispose();
  }
}

function expectClose(label: string, names: readonly string[], compiled: readonly Float32Array[], eager: readonly Float32Array[]): void {
  expect(compiled.length).toBe(eager.length);
  compiled.forEach((c, n) => {
    const e = eager[n]!;
    expect(c.length, `${label}: ${names[n]} size`).toBe(e.length);
    const scale = e.reduce((m, x) => Math.max(m, Math.abs(x)), 0);
    let worst = 0;
    let at = 0;
    for (let i = 0; i < c.length; i++) {
      const d = Math.abs(c[i]! - e[i]!);
      if (!(d <= worst)) {
        worst = d;
        at = i;
      }
    }
    expect(worst, `${label}: ${names[n]}[${at}] compiled ${c[at]}, eager ${e[at]} (largest |value| ${scale})`).toBeLessThanOrEqual(1e-4 * Math.max(scale, 1e-3));
  });
}

function dispose(run: Run): void {
  for (const p of run.model.parameters()) p.dispose();
}

describe('compiled == eager, WebGPU, float32', () => {
  for (const architecture of ARCHITECTURES) {
    it(`${architecture}: forward, gradients and an AdamW step, traced and replayed${architecture === 'mag' ? ', then retraced for a new shape' : ''}`, async () => {
      const eager = setUp(architecture);
      const traced = setUp(architecture);
      const compiled = compile(traced.step, { verify: false });
      const paramNames = traced.model.namedParameters().map(([name]) => name);
      const names = ['logits', 'loss', ...paramNames.map((n) => `gradient of ${n}`), ...paramNames.map((n) => `${n} after the step`)];
      const long = [randomIds(1, 4, 1, 16), randomIds(1, 4, 2, 16)] as const;
      const short = [randomIds(1, 3, 3, 16), randomIds(1, 3, 4, 16)] as const;
      const retrace = architecture === 'mag';
      try {
        const calls: [string, readonly [Tensor, Tensor]][] = [['trace', long], ['replay', long]];
        if (retrace) calls.push(['new shape', short], ['first shape again', long]);
        for (const [what, [ids, targets]] of calls) {
          const want = await read(eager, eager.step, ids, targets);
          const got = await read(traced, compiled, ids, targets);
          expect(want[1]!.every(Number.isFinite), `${architecture}: finite eager loss`).toBe(true);
          expectClose(`${architecture}, ${what}`, names, got, want);
        }
        const stats = compiled.stats();
        expect({ traces: stats.traces, replays: stats.replays, cached: stats.cached })
          .toStrictEqual(retrace ? { traces: 2, replays: 2, cached: 2 } : { traces: 1, replays: 1, cached: 1 });
      } finally {
        compiled.dispose();
        dispose(eager);
        dispose(traced);
        for (const t of [...long, ...short]) t.dispose();
      }
    }, 120_000);
  }

  it('float64 is refused with an error naming the dtype and the backend', () => {
    expect(() => createModel(testConfig('mag', { dtype: 'float64', layers: 1 }))).toThrow(/webgpu backend does not support float64/);
    const twice = compile((x: Tensor): Tensor => x.mul(2));
    expect(() => twice(tensor([1, 2, 3], [3], { dtype: 'float64' }))).toThrow(/webgpu backend does not support float64/);
    twice.dispose();
  });
});
