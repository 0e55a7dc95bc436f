// The SIMD module's scratch base (cpu/memory-scan.ts setScratchBase): the memory projection's
// float32 kernels (SiLU + causal convolution, then the three head splits, q and k L2-normalised)
// with the module's scratch buffers from address 0 (page-aligned, the default) against 16 (copies
// out of the module then do not trail a target that lies 16 bytes past a page, as glibc's mmap'd
// chunks do, by 16 bytes modulo 4096: 4K aliasing),
// alternating in one process, least CPU time of SCRATCH_BASE_REPS runs (default 11) per side;
// into fresh outputs (eager) and into reused ones (a compiled step's buffer pool). The issue-21
// shapes: 4096 tokens, 3 x 256 channels, 4 heads of 64, kernel 4.
//
// Run: node --conditions=source --import tsx bench/scratch-base.ts
// Prints a table and one JSON line.
import { causalConvKernel, headRowsKernel } from '../src/cpu/qkv-rows.js';
import { setScratchBase } from '../src/cpu/memory-scan.js';
import { Rng } from '../src/index.js';

const reps = Math.max(1, Number(process.env.SCRATCH_BASE_REPS ?? 11));
const [T, C, D] = [4096, 768, 256];
const rng = new Rng(9);
const x = Float32Array.from(rng.normal([T * C]).dataSync());
const w = Float32Array.from(rng.normal([C * 4], 0, 0.5).dataSync());
const bias = new Float32Array(C);
const conv = { batch: 1, tokens: T, channels: C, kernel: 4, past: 0, silu: true };
const split = (offset: number, normalize: boolean): Parameters<typeof headRowsKernel>[1] => ({
  batch: 1, tokens: T, channels: C, offset, heads: 4, headDim: 64, normalize, eps: 1e-12,
});
const blocks = [[0, true], [D, true], [2 * D, false]] as const;
const kept = { y: new Float32Array(T * C), heads: blocks.map(() => new Float32Array(T * D)) };
const projection = (reuse: boolean): void => {
  const y = reuse ? kept.y : new Float32Array(T * C);
  causalConvKernel(x, w, bias, null, conv, y);
  blocks.forEach(([offset, normalize], i) => headRowsKernel(y, split(offset, normalize), reuse ? kept.heads[i]! : new Float32Array(T * D)));
};
const cpuMs = (f: () => void): number => {
  const c0 = process.cpuUsage();
  f();
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / 1000;
};

const results: Record<string, { base0Ms: number; base16Ms: number; speedup: number }> = {};
for (const [name, reuse] of [['fresh outputs', false], ['reused outputs', true]] as const) {
  projection(reuse);
  let before = Infinity;
  let after = Infinity;
  for (let i = 0; i < reps; i++) {
    setScratchBase(0);
    before = Math.min(before, cpuMs(() => projection(reuse)));
    setScratchBase(16);
    after = Math.min(after, cpuMs(() => projection(reuse)));
  }
  setScratchBase(0);
  results[name] = { base0Ms: before, base16Ms: after, speedup: before / after };
  console.log(`conv + 3 head splits, ${name.padEnd(14)} base 0 ${before.toFixed(2).padStart(6)} ms   base 16 ${after.toFixed(2).padStart(6)} ms   ${(before / after).toFixed(3)}x`);
}
console.log(JSON.stringify({ bench: 'scratch-base', tokens: T, channels: C, reps, results }));
