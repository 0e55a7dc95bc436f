// compile(fn) == eager on every architecture the package builds (ARCHITECTURES: the Titans
// variants, the attention and linear-memory baselines, the Atlas and Hope families), on the
// CPU in float32 and float64: one compiled function runs the forward pass, the loss, the
// gradients of every parameter, gradient clipping and one AdamW step, and its logits, loss,
// gradients and updated weights equal the eager run's bit for bit at the trace, at the
// verification trace and at the replays, before and after a shape change (which retraces).
// The CPU's compiled plans run the same kernels in the same order as eager ops (fused
// elementwise chains evaluate each element with the same expressions), so no tolerance.
import { describe, expect, it } from 'vitest';
import { CompileError, compile, optim, tidy, type Tensor } from '@titans/tensor';
import { ARCHITECTURES, createModel, type ArchitectureName, type TitansLanguageModel } from '../src/index.js';
import { trainingStep } from './compile-fixtures.js';
import { randomIds, testConfig } from './helpers.js';

interface Run {
  readonly model: TitansLanguageModel;
  readonly optimizer: optim.AdamW;
  /** Forward, loss, gradients, clipping and one AdamW step: [logits, loss, ...clipped gradients]. */
  readonly step: (ids: Tensor, targets: Tensor) => Tensor[];
}

function setUp(architecture: ArchitectureName, dtype: 'float32' | 'float64'): Run {
  // Width 16, 1 block, memory chunk 4, window 5, segment 6: 8 tokens cross every boundary.
  // The Atlas memory reads phi(k), 1 + 8 + 8^2 wide here: expansion 1 keeps its step short.
  const expansion = architecture === 'omeganet' || architecture.startsWith('atlas') ? 1 : 2;
  const model = createModel(testConfig(architecture, { dtype, layers: 1, memory: { heads: 2, chunkSize: 4, expansion } }));
  const optimizer = new optim.AdamW(model.parameters(), { lr: 1e-2, weightDecay: 0.1 });
  return { model, optimizer, step: trainingStep(model, optimizer) };
}

/** Runs one step and reads its outputs and the updated weights. */
function read(run: Run, step: (ids: Tensor, targets: Tensor) => Tensor[], ids: Tensor, targets: Tensor): Float64Array[] {
  return tidy(() => [...step(ids, targets), ...run.model.parameters()].map((t) => Float64Array.from(t.dataSync())));
}

/** Exact equality, reporting which tensor differs and by how much. */
function expectIdentical(label: string, names: readonly string[], compiled: readonly Float64Array[], eager: readonly Float64Array[]): void {
  expect(compiled.length).toBe(eager.length);
  compiled.forEach((c, n) => {
    const e = eager[n]!;
    expect(c.length, `${label}: ${names[n]} size`).toBe(e.length);
    let worst = 0;
    let at = -1;
    for (let i = 0; i < c.length; i++) {
      const d = Object.is(c[i], e[i]) ? 0 : Math.abs(c[i]! - e[i]!);
      if (!(d <= worst)) {
        worst = d;
        at = i;
      }
    }
    expect(at, `${label}: ${names[n]}[${at}] compiled ${c[at]}, eager ${e[at]} (|diff| ${worst})`).toBe(-1);
  });
}

describe.each(['float32', 'float64'] as const)('compiled == eager, CPU, %s', (dtype) => {
  for (const architecture of ARCHITECTURES) {
    it(`${architecture}: forward, gradients and an AdamW step, traced, verified, replayed and retraced`, () => {
      const eager = setUp(architecture, dtype);
      const traced = setUp(architecture, dtype);
      const compiled = compile(traced.step);
      const paramNames = traced.model.namedParameters().map(([name]) => `${name} after the step`);
      const names = ['logits', 'loss', ...paramNames.map((n) => `gradient of ${n.replace(' after the step', '')}`), ...paramNames];
      try {
        const long = [randomIds(2, 8, 1), randomIds(2, 8, 2)] as const;
        const short = [randomIds(1, 5, 3), randomIds(1, 5, 4)] as const;
        // Calls 1-3: trace, verification trace, replay; 4: a new shape (a new trace); 5: the
        // first shape again, a replay of its plan (still cached: no retrace).
        const calls: [string, readonly [Tensor, Tensor]][] = [
          ['trace', long], ['verification', long], ['replay', long], ['new shape', short], ['first shape again', long],
        ];
        for (const [what, [ids, targets]] of calls) {
          const want = read(eager, eager.step, ids, targets);
          const got = read(traced, compiled, ids, targets);
          expect(want[0]!.every(Number.isFinite) && want[1]!.every(Number.isFinite), `${architecture} ${dtype}: finite eager loss`).toBe(true);
          expectIdentical(`${architecture} ${dtype}, ${what}`, names, got, want);
        }
        const stats = compiled.stats();
        // Two signatures: the first traced, verified and replayed twice (once after the
        // switch back), the second traced once.
        expect({ traces: stats.traces, verifications: stats.verifications, replays: stats.replays, cached: stats.cached, retraces: stats.retraces })
          .toStrictEqual({ traces: 3, verifications: 1, replays: 2, cached: 2, retraces: 0 });
        // The step count is host state the optimizer advanced at every call, replays included.
        expect(traced.optimizer.steps).toBe(calls.length);
        expect(eager.optimizer.steps).toBe(calls.length);
      } finally {
        compiled.dispose();
      }
    }, 60_000);
  }
});

describe('compiled model functions: errors', () => {
  it('a host read inside the compiled function is a CompileError naming the read', () => {
    const model = createModel(testConfig('mag', { dtype: 'float32', layers: 1 }));
    const ids = randomIds(2, 8, 1);
    const targets = randomIds(2, 8, 2);
    const reads: [string, (loss: Tensor) => unknown][] = [
      ['tensor.item()', (loss) => loss.item()],
      ['tensor.dataSync()', (loss) => loss.dataSync()],
    ];
    for (const [name, readBack] of reads) {
      const fn = compile((i: Tensor, t: Tensor): Tensor => {
        const loss = model.loss(i, t);
        readBack(loss);
        return loss;
      });
      let error: unknown;
      try {
        fn(ids, targets);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(CompileError);
      expect((error as Error).message).toContain(name);
      expect((error as Error).message).toMatch(/reads a value back to the host/);
      fn.dispose();
    }
    // The model still works eagerly and compiled after the failed traces.
    const fine = compile((i: Tensor, t: Tensor): Tensor => model.loss(i, t));
    const eager = tidy(() => model.loss(ids, targets).item());
    for (let n = 0; n < 3; n++) expect(tidy(() => fine(ids, targets).item())).toBe(eager);
    fine.dispose();
  });

  it('a host number that changes between calls is caught by the verification trace', () => {
    const model = createModel(testConfig('transformer', { dtype: 'float32', layers: 1 }));
    const ids = randomIds(2, 8, 1);
    const targets = randomIds(2, 8, 2);
    let scale = 1;
    const fn = compile((i: Tensor, t: Tensor): Tensor => model.loss(i, t).mul(scale++));
    tidy(() => fn(ids, targets));
    expect(() => tidy(() => fn(ids, targets))).toThrow(/two calls with the same input signature ran different programs/);
    fn.dispose();
  });
});
