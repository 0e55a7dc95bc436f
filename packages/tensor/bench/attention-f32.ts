// Float32 causal attention on the CPU (src/cpu/attention-f32.ts), forward and backward, at the
// Transformer++ bench's shape (batch 8 x 4 heads, 512 tokens, head size 64), one thread and two.
// Prints milliseconds per call (best and median of the runs; CPU time with one thread, wall time
// with two) and GFLOP/s of the causal work
// (the products a perfect causal mask needs: forward 2, backward 4 matmuls of half the scores).
//
//   cd packages/tensor && node --conditions=source --import tsx bench/attention-f32.ts [--bh 32] [--t 512] [--d 64] [--runs 7] [--variants 128:32,128:128]
import type { AttentionDims, AttentionOptions } from '../src/backend.js';
import { attentionBackwardF32, attentionForwardF32, attentionTuning } from '../src/cpu/attention-f32.js';
import { Rng, configureCpu, startCpuWorkers } from '../src/index.js';

const arg = (name: string, fallback: number): number => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
};
const bh = arg('--bh', 32);
const t = arg('--t', 512);
const d = arg('--d', 64);
const runs = arg('--runs', 7);
// Settings to compare, alternating within each thread count, as queryBlock:diagonalRows (see
// attentionTuning; diagonalRows >= queryBlock: one tile per block); the defaults first.
const defaults = `${attentionTuning.queryBlock}:${attentionTuning.diagonalRows}`;
const variants = (process.argv.includes('--variants') ? process.argv[process.argv.indexOf('--variants') + 1]! : defaults).split(',').map((v) => {
  const [queryBlock, diagonalRows] = v.split(':').map(Number) as [number, number];
  return { queryBlock, diagonalRows };
});
const rng = new Rng(1);
const draw = (n: number): Float32Array => Float32Array.from(rng.normalArray(n));
const [q, k, v, g] = [draw(bh * t * d), draw(bh * t * d), draw(bh * t * d), draw(bh * t * d)];
const dims: AttentionDims = { batchHeads: bh, queryLength: t, keyLength: t, headDim: d, valueDim: d };
const o: AttentionOptions = { causal: true, window: 0, prefix: 0, scale: 1 / Math.sqrt(d) };

const cpuMs = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e3;
};

function stats(xs: number[]): { bestMs: number; medianMs: number } {
  xs.sort((a, b) => a - b);
  return { bestMs: +xs[0]!.toFixed(2), medianMs: +xs[Math.floor(xs.length / 2)]!.toFixed(2) };
}

const causalFlops = 2 * bh * (t * (t + 1) / 2) * d;
const rows: Record<string, unknown>[] = [];
for (const threads of [1, 2]) {
  configureCpu({ threads });
  if (threads > 1) startCpuWorkers();
  await new Promise((r) => setTimeout(r, 200));
  const f = attentionForwardF32(q, k, v, dims, o);
  const fwd = variants.map(() => [] as number[]);
  const bwd = variants.map(() => [] as number[]);
  for (let r = 0; r <= runs; r++) {
    variants.forEach((setting, i) => {
      Object.assign(attentionTuning, setting);
      // One thread: CPU time of the process (steadier than wall time on a shared machine); two: wall time.
      const now = (): number => (threads === 1 ? cpuMs() : performance.now());
      const t0 = now();
      attentionForwardF32(q, k, v, dims, o);
      const t1 = now();
      attentionBackwardF32(q, k, v, f.out, f.lse, g, dims, o);
      const t2 = now();
      if (r > 0) { fwd[i]!.push(t1 - t0); bwd[i]!.push(t2 - t1); }
    });
  }
  variants.forEach((setting, i) => {
    const a = stats(fwd[i]!);
    const b = stats(bwd[i]!);
    rows.push({
      threads, ...setting, forward: a, backward: b,
      forwardGflops: +(2 * causalFlops / a.bestMs / 1e6).toFixed(2),
      backwardGflops: +(4 * causalFlops / b.bestMs / 1e6).toFixed(2),
    });
  });
}
process.stdout.write(`${JSON.stringify({ setup: { bh, t, d, runs }, rows })}\n`);
process.exit(0);
