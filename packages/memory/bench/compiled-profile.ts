// Where the time of the compiled NeuralMemory forward goes (issue 21's comparison shapes: B = 1,
// T = 4096, D = 256, 4 heads, chunk 64, 1 thread): compile(..., { profile: true }) timings per
// replay step kind (wall clock, so inflated on a loaded machine: read the shares), the plan's
// figures, and the module's tokens per CPU-second (least CPU time of MEMORY_PROFILE_REPS runs,
// default 10, after three warm-up calls).
// Run: node --conditions=source --import tsx bench/compiled-profile.ts [linear|mlp2 ...]
// Writes bench-results/memory-compiled-profile.json and prints the figures.
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { compile, configureCpu, noGrad, type Tensor } from '@titans/tensor';
import { SHAPE, comparisonMemory, type Arch } from './comparison-shape.js';
const reps = Math.max(1, Number(process.env.MEMORY_PROFILE_REPS ?? 10));
const archs = process.argv.slice(2).filter((a): a is Arch => a === 'linear' || a === 'mlp2');

configureCpu({ threads: 1 });
const load = loadavg();
const results: Record<string, unknown> = {};
for (const arch of archs.length ? archs : (['linear', 'mlp2'] as const)) {
  const { memory: m, x } = comparisonMemory(arch);
  const step = compile((input: Tensor) => noGrad(() => m.forward(input).output), { profile: true });
  const once = (): void => { const y = step(x); y.dataSync(); y.dispose(); };
  once(); once(); once();
  let best = Infinity;
  for (let i = 0; i < reps; i++) {
    const c0 = process.cpuUsage();
    once();
    const c = process.cpuUsage(c0);
    best = Math.min(best, (c.user + c.system) / 1000);
  }
  const s = step.stats();
  console.log(`${arch}: least CPU ${best.toFixed(1)} ms (${Math.round(SHAPE.tokens / best * 1000)} tokens per CPU-second); plan ${JSON.stringify(s.plan)}`);
  const replays = s.replays;
  const wall = s.profile.reduce((sum, p) => sum + p.ms, 0);
  const steps = s.profile.map((p) => ({ kind: p.kind, callsPerReplay: p.calls / replays, msPerReplay: Math.round((p.ms / replays) * 100) / 100, share: Math.round((p.ms / wall) * 1000) / 1000 }));
  for (const p of steps) console.log(`  ${p.kind.padEnd(16)} ${p.callsPerReplay.toFixed(1).padStart(5)} calls ${p.msPerReplay.toFixed(2).padStart(8)} ms per replay ${(100 * p.share).toFixed(1).padStart(5)}%`);
  results[arch] = { leastCpuMs: Math.round(best * 10) / 10, tokensPerCpuSecond: Math.round((SHAPE.tokens / best) * 1000), plan: s.plan, steps };
  step.dispose();
}
const report = {
  benchmark: '@titans/memory compiled forward profile', date: new Date().toISOString(), setup: { ...SHAPE, batch: 1, dtype: 'float32', threads: 1, reps },
  loadAverage: { before: load.map((l) => Math.round(l * 100) / 100), after: loadavg().map((l) => Math.round(l * 100) / 100) },
  results,
};
mkdirSync('bench-results', { recursive: true });
writeFileSync('bench-results/memory-compiled-profile.json.tmp', `${JSON.stringify(report, null, 2)}\n`);
renameSync('bench-results/memory-compiled-profile.json.tmp', 'bench-results/memory-compiled-profile.json');
