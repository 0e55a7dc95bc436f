// Training throughput of the project's Transformer++ (packages/models, architecture
// 'transformer') at the peer's shapes (../peers/lm_train.py): byte vocabulary, untied output
// projection, one step = mean next-token cross-entropy, gradients, global-norm clipping at 1,
// AdamW (lr 1e-3, weight decay 0.1), float32.
//
// Two runs, each on a fresh model with the same seed: compiled (the headline `tokPerS`), the step
// as the three compiled functions that packages/models train() uses by default (gradient pass,
// clipping, optimizer update; see TrainOptions.compile), and eager (`eager.tokPerS`), the same
// step op by op. The compiled step traces on its first two calls (trace, verification), so it
// gets two more warm-up steps.
// With TITANS_CPU_FMA=1 the float32 GEMMs run the opt-in relaxed-SIMD kernels (`fma: true` in the
// output; different rounding, so not the default figure).
// With --profile the compiled functions time each replayed step by kind (CompileOptions.profile)
// and the slowest kinds, summed over the three functions, go to stderr after the run (the timers
// cost a little: the rates of a profiled run are not the headline).
// usage: THREADS=2 node --import tsx lm-train.ts [--dim 256] [--layers 4] [--heads 4] [--mlp 688] [--seq 512] [--batch 8] [--steps 3] [--eager-only | --compiled-only] [--profile]
import { compile, cpuInfo, type StepProfile, gradients, optim, tensor, tidy, type Tensor } from '../../../packages/tensor/src/index.js';
import { countParameters, createModel } from '../../../packages/models/src/index.js';
import { arg, emit, medianSeconds, round, setThreads } from './common.js';

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

setThreads();
const dim = arg('--dim', 256);
const layers = arg('--layers', 4);
const heads = arg('--heads', 4);
const mlp = arg('--mlp', 688);
const seq = arg('--seq', 512);
const batch = arg('--batch', 8);
const steps = arg('--steps', 3);
const profile = process.argv.includes('--profile');

// Deterministic pseudo-random bytes (Knuth's multiplicative hash), [batch, seq + 1].
const data = Int32Array.from({ length: batch * (seq + 1) }, (_, i) => (Math.imul(i + 1, 2654435761) >>> 8) % 256);
const inputs = new Int32Array(batch * seq);
const targets = new Int32Array(batch * seq);
for (let b = 0; b < batch; b++) {
  inputs.set(data.subarray(b * (seq + 1), b * (seq + 1) + seq), b * seq);
  targets.set(data.subarray(b * (seq + 1) + 1, (b + 1) * (seq + 1)), b * seq);
}

interface Run { tokPerS: number; stepMs: number; tokPerCpuS: number; firstLoss: number; params: number }

async function measure(compiled: boolean): Promise<Run> {
  const model = createModel({ architecture: 'transformer', vocabSize: 256, dim, layers, heads, mlpHidden: mlp, window: 0, tieEmbeddings: false, seed: 0 });
  model.train();
  const params = model.parameters();
  const optimizer = new optim.AdamW(params, { lr: 1e-3, weightDecay: 0.1 });
  const gradPass = compile((ids: Tensor, next: Tensor): Tensor[] => {
    const value = model.loss(ids, next);
    return [value, ...gradients(value, params)];
  }, { profile });
  const clip = compile((...grads: Tensor[]): Tensor[] => {
    const { grads: clipped, norm } = optim.clipGradNorm(grads, 1);
    return [norm, ...clipped];
  }, { profile });
  const update = compile((...grads: Tensor[]): Tensor[] => {
    optimizer.step(grads);
    return [];
  }, { profile });
  const losses: number[] = [];
  const cpuSeconds: number[] = [];
  const step = (): void => {
    const cpu0 = process.cpuUsage();
    tidy(() => {
      const ids = tensor(inputs, [batch, seq], { dtype: 'int32' });
      const next = tensor(targets, [batch, seq], { dtype: 'int32' });
      if (compiled) {
        const [loss, ...grads] = gradPass(ids, next);
        const [, ...clipped] = clip(...grads);
        update(...clipped);
        losses.push(loss!.item());
      } else {
        const loss = model.loss(ids, next);
        const { grads } = optim.clipGradNorm(gradients(loss, params), 1);
        optimizer.step(grads);
        losses.push(loss.item());
      }
    });
    const cpu = process.cpuUsage(cpu0);
    cpuSeconds.push((cpu.user + cpu.system) / 1e6);
  };
  const warmup = compiled ? 3 : 1;
  const seconds = await medianSeconds(step, steps, warmup);
  if (compiled && profile) printProfile([['gradients', gradPass.stats().profile], ['clip', clip.stats().profile], ['update', update.stats().profile]], steps + warmup - 2);
  for (const c of [gradPass, clip, update]) c.dispose();
  return {
    tokPerS: round((batch * seq) / seconds, 1),
    stepMs: round(seconds * 1e3, 2),
    // CPU seconds of all threads per step (median over the timed steps): steadier than wall time on a shared machine.
    tokPerCpuS: round((batch * seq) / median(cpuSeconds.slice(warmup)), 1),
    firstLoss: round(losses[0]!, 4),
    params: countParameters(model),
  };
}

/** The slowest step kinds of the profiled compiled functions, per replayed step, to stderr. */
function printProfile(parts: [string, readonly StepProfile[]][], replays: number): void {
  const rows = parts.flatMap(([name, kinds]) => kinds.map((k) => ({ kind: `${name} ${k.kind}`, ms: k.ms, calls: k.calls })));
  rows.sort((a, b) => b.ms - a.ms);
  const total = rows.reduce((n, r) => n + r.ms, 0);
  console.error(`profile: ${(total / replays).toFixed(1)} ms of replay per step (${replays} replayed steps)`);
  for (const r of rows.slice(0, 30)) {
    console.error(`  ${r.kind.padEnd(36)} ${(r.ms / replays).toFixed(2).padStart(9)} ms/step ${(100 * r.ms / total).toFixed(1).padStart(5)}% ${(r.calls / replays).toFixed(0).padStart(6)} calls/step`);
  }
}

const eager = process.argv.includes('--compiled-only') ? null : await measure(false);
const compiled = process.argv.includes('--eager-only') ? null : await measure(true);
const headline = (compiled ?? eager)!;
emit({
  setup: { dim, layers, heads, mlp, seq, batch, steps },
  // The opt-in relaxed-SIMD GEMM (TITANS_CPU_FMA=1): changes rounding, so reported apart.
  fma: cpuInfo().fma,
  params: headline.params,
  // The headline: the compiled step, as train() runs it by default.
  mode: compiled ? 'compiled' : 'eager',
  tokPerS: headline.tokPerS,
  stepMs: headline.stepMs,
  tokPerCpuS: headline.tokPerCpuS,
  firstLoss: headline.firstLoss,
  eager: eager ? { tokPerS: eager.tokPerS, stepMs: eager.stepMs, tokPerCpuS: eager.tokPerCpuS, firstLoss: eager.firstLoss } : null,
  compiled: compiled ? { tokPerS: compiled.tokPerS, stepMs: compiled.stepMs, tokPerCpuS: compiled.tokPerCpuS, firstLoss: compiled.firstLoss } : null,
});
