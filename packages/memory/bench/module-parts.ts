// Where the time of NeuralMemory.forward goes on the CPU backend: each stage of the module at
// the issue-21 comparison's shapes (B = 1, T = 4096, D = 256, 4 heads of 64, chunk 64, conv 4,
// float32, forward under noGrad, 1 thread), timed alone on the stage's real inputs, next to the
// whole forward. Each figure is the least CPU time (user + system) of MEMORY_PARTS_REPS runs
// (default 7) after one warm-up: on a shared machine the minimum is the least disturbed run.
// The stages' sum exceeds the forward a little (each stage alone allocates its outputs afresh);
// the forward runs the convolution and the head split as one pass (its own row), not the two
// rows before it.
//
// Run: node --conditions=source --import tsx bench/module-parts.ts [linear|mlp2 ...]
// Writes bench-results/memory-parts.json and prints a table.
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import {
  causalConv, causalConvHeads, configureCpu, contiguous, headRows, mergeHeads, mul, narrow, noGrad, rmsNorm, sigmoid, tidy, transpose, type Tensor,
} from '@titans/tensor';
import { scanParallel } from '../src/index.js';
import { SHAPE, comparisonMemory, type Arch } from './comparison-shape.js';
const reps = Math.max(1, Number(process.env.MEMORY_PARTS_REPS ?? 7));
const archs = (process.argv.slice(2).filter((a): a is Arch => a === 'linear' || a === 'mlp2'));

/** Least CPU milliseconds of `reps` runs of fn (inside tidy and noGrad, its result read back) after one warm-up. */
function leastCpuMs(fn: () => Tensor): number {
  const once = (): number => {
    const c0 = process.cpuUsage();
    tidy(() => noGrad(() => { fn().dataSync(); }));
    const c = process.cpuUsage(c0);
    return (c.user + c.system) / 1000;
  };
  once();
  let best = Infinity;
  for (let i = 0; i < reps; i++) best = Math.min(best, once());
  return best;
}

function parts(arch: Arch): Record<string, number> {
  const { memory: m, x } = comparisonMemory(arch);
  const width = SHAPE.dim / SHAPE.heads;
  const { heads, dim } = SHAPE;
  return noGrad(() => {
    const pre = m.qkv.forward(x);
    const conv = m.conv!;
    const h = causalConv(pre, conv.weight, conv.bias ?? null, { silu: true, history: null });
    const { inputs } = m.project(x, null);
    const memory = m.initialState().memory;
    const y = scanParallel(m.rule, inputs, memory, { yPre: false }).yPost;
    const merged = mergeHeads(y);
    const gateLogits = m.gate!.forward(x);
    const ms: Record<string, number> = {
      'qkv projection (matmul)': leastCpuMs(() => m.qkv.forward(x)),
      'SiLU + causal conv': leastCpuMs(() => causalConv(pre, conv.weight, conv.bias ?? null, { silu: true, history: null })),
      'head split, q and k L2-normalised (3 headRows)': leastCpuMs(() => {
        headRows(h, 0, heads, width, { l2: true });
        headRows(h, dim, heads, width, { l2: true });
        return headRows(h, 2 * dim, heads, width);
      }),
      'conv + head split in one pass (causalConvHeads)': leastCpuMs(() => {
        const [q] = causalConvHeads(pre, conv.weight, conv.bias ?? null, [
          { offset: 0, heads, headDim: width, l2: true }, { offset: dim, heads, headDim: width, l2: true }, { offset: 2 * dim, heads, headDim: width },
        ], { silu: true });
        return q!;
      }),
      'gates (matmul, sigmoid, 3 transposes, theta scale)': leastCpuMs(() => {
        const g = sigmoid(m.gates.forward(x));
        const gate = (i: number): Tensor => contiguous(transpose(narrow(g, 2, i * heads, heads), 1, 2));
        mul(gate(0), SHAPE.thetaMax);
        gate(1);
        return gate(2);
      }),
      'scan (fused kernel, y_post only)': leastCpuMs(() => scanParallel(m.rule, inputs, memory, { yPre: false }).yPost),
      'merge heads (copy)': leastCpuMs(() => mergeHeads(y)),
      'output gate projection (matmul)': leastCpuMs(() => m.gate!.forward(x)),
      'RMSNorm x sigmoid(gate)': leastCpuMs(() => mul(rmsNorm(merged, { weight: m.normWeight! }), sigmoid(gateLogits))),
      'output projection (matmul)': leastCpuMs(() => m.proj.forward(merged)),
    };
    ms['whole forward'] = leastCpuMs(() => m.forward(x).output);
    return ms;
  });
}

configureCpu({ threads: 1 });
const load = loadavg();
const results: Record<string, Record<string, { cpuMs: number; usPerToken: number; shareOfForward: number }>> = {};
for (const arch of archs.length ? archs : (['linear', 'mlp2'] as const)) {
  const ms = parts(arch);
  const whole = ms['whole forward']!;
  results[arch] = Object.fromEntries(Object.entries(ms).map(([name, v]) => [name, {
    cpuMs: Math.round(v * 100) / 100, usPerToken: Math.round((v * 1000 / SHAPE.tokens) * 100) / 100, shareOfForward: Math.round((v / whole) * 1000) / 1000,
  }]));
  console.log(`${arch}: least CPU time of ${reps} runs, 1 thread, T = ${SHAPE.tokens}`);
  for (const [name, r] of Object.entries(results[arch]!)) {
    console.log(`  ${name.padEnd(52)} ${r.cpuMs.toFixed(1).padStart(8)} ms  ${r.usPerToken.toFixed(2).padStart(7)} us/token  ${(100 * r.shareOfForward).toFixed(1).padStart(5)}%`);
  }
}
const report = {
  benchmark: '@titans/memory module parts', date: new Date().toISOString(), setup: { ...SHAPE, batch: 1, dtype: 'float32', threads: 1, reps, clock: 'least CPU time (user + system)' },
  loadAverage: { before: load.map((l) => Math.round(l * 100) / 100), after: loadavg().map((l) => Math.round(l * 100) / 100) },
  results,
};
mkdirSync('bench-results', { recursive: true });
writeFileSync('bench-results/memory-parts.json.tmp', `${JSON.stringify(report, null, 2)}\n`);
renameSync('bench-results/memory-parts.json.tmp', 'bench-results/memory-parts.json');
console.log('wrote bench-results/memory-parts.json');
