// Compiled training steps of two (or more) checkouts of this repository in ONE process, their
// steps alternating (A B, B A, ...), so a shared, noisy machine loads both alike: the before /
// after of a change to the compiled step. Each checkout's @titans/tensor and @titans/models are
// imported from its own source tree (a git worktree of the old commit, and this one).
//
//   node --conditions=source --import tsx bench/compiled-train-pair.ts <root,root,...> [arch] [steps]
//   e.g. git worktree add --detach ../old <commit>; (cd ../old && ln -s ../main/node_modules . &&
//        cp -a ../main/packages/{tensor,models,memory}/node_modules into its packages), then
//        bench/compiled-train-pair.ts /work/old,/work/main mag 40
//
// A step is what train() runs with `compile` (tiny config of `arch`, batch 4 x 64 bytes, AdamW
// lr 1e-3 weight decay 0.1, clipping at 1): the compiled gradient pass, the compiled clip, the
// compiled update. Reported: the median CPU milliseconds of this process per step over the steps
// after the first three (steps 1 and 2 trace), tokens per CPU second, the ratio to the first
// root, and whether every checkout's losses were the same bits. A JSON line ends the output.
/* eslint-disable @typescript-eslint/no-explicit-any -- two copies of the library, typed as modules of unknown shape */
import { compiledStep, importCheckouts, median, sameBits, timeAlternating, type Checkout } from './pair-shared.ts';

const roots = (process.argv[2] ?? '').split(',').filter((r) => r !== '');
if (roots.length === 0) throw new Error('usage: compiled-train-pair.ts <root,root,...> [arch] [steps]');
const arch = process.argv[3] ?? 'mag';
const steps = Number(process.argv[4] ?? 40);
const libs = await importCheckouts(roots);
const batchSize = 4;
const sequenceLength = 64;
const n = batchSize * sequenceLength;
const token = (i: number): number => (Math.imul(i + 1, 2654435761) >>> 24) % 256;

function stepper({ tensor: T, models: M }: Checkout): () => number {
  T.configureCpu({ threads: 1 });
  const model = M.createModel(M.tinyConfig(arch));
  const params = model.parameters();
  const optimizer = new T.optim.AdamW(params, { lr: 1e-3, weightDecay: 0.1 });
  const context = { step: 0, microBatch: 0, rng: new T.Rng(0) };
  const step = compiledStep(T, params, optimizer, (ids: any, targets: any) => model.loss(ids, targets, context));
  let position = 0;
  return () => {
    T.configureCpu({ threads: 1 });
    const inputs = Int32Array.from({ length: n }, (_, i) => token(position + i));
    const targets = Int32Array.from({ length: n }, (_, i) => token(position + i + 1));
    position += n;
    return T.tidy(() => {
      const shape = [batchSize, sequenceLength];
      return step(T.tensor(inputs, shape, { dtype: 'int32' }), T.tensor(targets, shape, { dtype: 'int32' })).dataSync()[0] as number;
    });
  };
}

const { cpuS, losses } = timeAlternating(libs.map(stepper), steps);
const cpuMs = cpuS.map((xs) => xs.map((x) => x * 1000));
const first = median(cpuMs[0]!);
const sameLosses = sameBits(losses);
console.log(`compiled training steps, tiny ${arch}, batch ${batchSize} x ${sequenceLength}, 1 thread, ${steps} steps each, alternating (median over steps 4..${steps})`);
const results = libs.map((lib, k) => {
  const ms = median(cpuMs[k]!);
  console.log(`  ${lib.root.padEnd(24)} ${ms.toFixed(2).padStart(8)} cpu ms/step ${(n / ms * 1000).toFixed(0).padStart(7)} tokens/cpu s   x${(first / ms).toFixed(3)}`);
  return { root: lib.root, cpuMsPerStep: ms, tokensPerCpuSecond: n / ms * 1000, speedup: first / ms };
});
console.log(`  losses the same bits in every checkout: ${sameLosses}`);
console.log(JSON.stringify({ bench: 'compiled-train-pair', arch, batchSize, sequenceLength, steps, threads: 1, sameLosses, results }));
process.exit(0);
