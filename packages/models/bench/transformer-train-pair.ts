// The Transformer++ training step of issue 21 (dim 256, 4 layers, 4 heads, SwiGLU 688, batch
// 8 x 512 bytes, AdamW lr 1e-3 weight decay 0.1, clipping at 1; the shapes of
// tooling/bench/ours/lm-train.ts and its PyTorch peer) for two (or more) checkouts of this
// repository in ONE process, their steps alternating (A B, B A, ...), so a shared, noisy
// machine loads both alike: the before / after of a change to the kernels or the compiled
// step. Each checkout's @titans/tensor and @titans/models come from its own source tree (a git
// worktree of the old commit with node_modules, see compiled-train-pair.ts).
//
//   node --conditions=source --import tsx bench/transformer-train-pair.ts <root,root,...> [steps] [threads] [--eager]
//   e.g. bench/transformer-train-pair.ts /work/e-old,/work/main 4 2
// A root written as <root>#fma runs that checkout with configureCpu({ fma: true }) (the opt-in
// relaxed-SIMD GEMM, different rounding; its losses then differ from the exact ones), e.g.
// /work/e-old,/work/main#fma to see what FMA gives on this step (the exact kernels of two
// copies are compiled apart, and V8's relaxed-SIMD flag only affects modules compiled later).
//
// A step is what train() runs with `compile`: the compiled gradient pass, the compiled clip,
// the compiled update (--eager: the same step op by op). Reported per checkout: the median
// CPU seconds of this process per step (all threads) and wall seconds per step over the steps
// after the first three (steps 1 and 2 trace), tokens per CPU second and per wall second, the
// ratio to the first root, and whether every checkout's losses were the same bits. A JSON
// line ends the output. Smaller shapes: --dim, --layers, --seq, --batch (defaults above).
/* eslint-disable @typescript-eslint/no-explicit-any -- two copies of the library, typed as modules of unknown shape */
import { compiledStep, importCheckouts, median, sameBits, timeAlternating, type Checkout } from './pair-shared.ts';

const positional = process.argv.slice(2).filter((a, i, all) => !a.startsWith('--') && !(all[i - 1] ?? '').match(/^--(dim|layers|seq|batch|heads|mlp)$/));
const flag = (name: string, fallback: number): number => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
};
const roots = (positional[0] ?? '').split(',').filter((r) => r !== '');
if (roots.length === 0) throw new Error('usage: transformer-train-pair.ts <root,root,...> [steps] [threads] [--eager]');
const steps = Number(positional[1] ?? 4) + 3;
const threads = Number(positional[2] ?? 2);
const eager = process.argv.includes('--eager');
const dim = flag('--dim', 256);
const layers = flag('--layers', 4);
const heads = flag('--heads', 4);
const mlp = flag('--mlp', 688);
const seq = flag('--seq', 512);
const batch = flag('--batch', 8);
const n = batch * seq;
const specs = roots.map((spec) => ({ spec, fma: spec.endsWith('#fma') }));
const checkouts = await importCheckouts(specs.map(({ spec, fma }) => (fma ? spec.slice(0, -4) : spec)));
const libs = checkouts.map((c, k) => ({ ...c, root: specs[k]!.spec, fma: specs[k]!.fma }));
// The bench's deterministic bytes (Knuth's multiplicative hash), as lm-train.ts.
const data = Int32Array.from({ length: batch * (seq + 1) }, (_, i) => (Math.imul(i + 1, 2654435761) >>> 8) % 256);
const inputs = new Int32Array(n);
const targets = new Int32Array(n);
for (let b = 0; b < batch; b++) {
  inputs.set(data.subarray(b * (seq + 1), b * (seq + 1) + seq), b * seq);
  targets.set(data.subarray(b * (seq + 1) + 1, (b + 1) * (seq + 1)), b * seq);
}

function stepper({ tensor: T, models: M, fma }: Checkout & { readonly fma: boolean }): () => number {
  T.configureCpu({ threads, fma });
  if (fma && !T.cpuInfo().fma) throw new Error('#fma: this host has no relaxed SIMD');
  if (threads > 1) T.startCpuWorkers();
  const model = M.createModel({ architecture: 'transformer', vocabSize: 256, dim, layers, heads, mlpHidden: mlp, window: 0, tieEmbeddings: false, seed: 0 });
  model.train();
  const params = model.parameters();
  const optimizer = new T.optim.AdamW(params, { lr: 1e-3, weightDecay: 0.1 });
  const step = compiledStep(T, params, optimizer, (ids: any, next: any) => model.loss(ids, next));
  return () => {
    T.configureCpu({ threads, fma });
    return T.tidy(() => {
      const ids = T.tensor(inputs, [batch, seq], { dtype: 'int32' });
      const next = T.tensor(targets, [batch, seq], { dtype: 'int32' });
      if (eager) {
        const loss = model.loss(ids, next);
        const { grads } = T.optim.clipGradNorm(T.gradients(loss, params), 1);
        optimizer.step(grads);
        return loss.dataSync()[0] as number;
      }
      return step(ids, next).dataSync()[0] as number;
    });
  };
}

const runs = libs.map(stepper);
// Let the worker threads start.
await new Promise((r) => setTimeout(r, 300));
const { cpuS, wallS, losses } = timeAlternating(runs, steps);
const firstCpu = median(cpuS[0]!);
const firstWall = median(wallS[0]!);
// (An #fma checkout rounds differently, so its losses are not expected to match.)
const sameLosses = sameBits(losses);
console.log(`${eager ? 'eager' : 'compiled'} Transformer++ training steps, dim ${dim}, ${layers} layers, batch ${batch} x ${seq}, ${threads} thread(s), ${steps} steps each, alternating (median over steps 4..${steps})`);
const results = libs.map((lib, k) => {
  const cpu = median(cpuS[k]!);
  const wall = median(wallS[k]!);
  console.log(`  ${lib.root.padEnd(24)} ${cpu.toFixed(2).padStart(7)} cpu s/step ${(n / cpu).toFixed(0).padStart(6)} tok/cpu s x${(firstCpu / cpu).toFixed(3)}   ${wall.toFixed(2).padStart(7)} wall s/step ${(n / wall).toFixed(0).padStart(6)} tok/s x${(firstWall / wall).toFixed(3)}`);
  return { root: lib.root, fma: lib.fma, cpuSPerStep: cpu, wallSPerStep: wall, tokensPerCpuSecond: n / cpu, tokensPerSecond: n / wall, cpuSpeedup: firstCpu / cpu, wallSpeedup: firstWall / wall };
});
console.log(`  losses the same bits in every checkout: ${sameLosses}`);
console.log(JSON.stringify({ bench: 'transformer-train-pair', mode: eager ? 'eager' : 'compiled', dim, layers, heads, mlp, seq, batch, steps, threads, sameLosses, results }));
process.exit(0);
