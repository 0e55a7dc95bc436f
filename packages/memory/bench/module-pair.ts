// The issue-21 comparison's NeuralMemory forward (B = 1, T = 4096, D = 256, 4 heads, chunk 64,
// 1 thread, no gradients) of two (or more) checkouts of this repository in ONE process, their
// calls alternating, eager and compiled: the before / after of a change to the memory's speed
// paths, on a shared machine that loads both alike. Each checkout's @titans/tensor and
// @titans/memory are imported from its own source tree (a git worktree of the old commit).
//
//   node --conditions=source --import tsx bench/module-pair.ts <root,root,...> [linear|mlp2] [rounds]
//
// Reported per checkout and mode: the median process CPU milliseconds per forward over the
// rounds (after three warm-up calls), tokens per CPU second, the ratio to the first root, and the
// largest difference of its output from the first root's. A JSON line ends the output.
/* eslint-disable @typescript-eslint/no-explicit-any -- two copies of the library, typed as modules of unknown shape */
export {};
const roots = (process.argv[2] ?? '').split(',').filter((r) => r !== '');
if (roots.length === 0) throw new Error('usage: module-pair.ts <root,root,...> [linear|mlp2] [rounds]');
const arch = process.argv[3] ?? 'mlp2';
if (arch !== 'linear' && arch !== 'mlp2') throw new Error(`module-pair: arch must be linear or mlp2, got ${arch}`);
const rounds = Number(process.argv[4] ?? 7);
const REGISTRY = Symbol.for('@titans/tensor/instances');
const tokens = 4096;

interface Runner { readonly label: string; readonly run: () => Float32Array }
const runners: Runner[] = [];
for (const root of roots) {
  // Each copy registers itself and refuses a second one: here two copies are the point.
  (globalThis as Record<symbol, unknown>)[REGISTRY] = [];
  const T: any = await import(`${root}/packages/tensor/src/index.ts`);
  const shape: any = await import(`${root}/packages/memory/bench/comparison-shape.ts`);
  T.configureCpu({ threads: 1 });
  const { memory, x } = shape.comparisonMemory(arch);
  const forward = (input: any): any => T.noGrad(() => memory.forward(input).output);
  const compiled = T.compile(forward);
  const once = (f: (input: any) => any) => (): Float32Array => {
    const y = f(x);
    const data = y.dataSync() as Float32Array;
    y.dispose();
    return data;
  };
  runners.push({ label: `${root} eager`, run: once((input) => T.tidy(() => T.keep(forward(input)))) });
  runners.push({ label: `${root} compiled`, run: once(compiled) });
}
for (const r of runners) for (let i = 0; i < 3; i++) r.run();
const times = runners.map(() => [] as number[]);
const outputs: Float32Array[] = runners.map(() => new Float32Array(0));
for (let round = 0; round < rounds; round++) {
  const order = round % 2 === 0 ? runners.map((_, i) => i) : runners.map((_, i) => runners.length - 1 - i);
  for (const i of order) {
    const c0 = process.cpuUsage();
    outputs[i] = runners[i]!.run();
    const c = process.cpuUsage(c0);
    times[i]!.push((c.user + c.system) / 1000);
  }
}
const median = (v: number[]): number => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!;
const rows = runners.map((r, i) => {
  const ms = median(times[i]!);
  const base = median(times[i % 2]!);
  let diff = 0;
  const ref = outputs[i % 2]!;
  for (let j = 0; j < ref.length; j++) diff = Math.max(diff, Math.abs(outputs[i]![j]! - ref[j]!));
  return { label: r.label, cpuMs: Math.round(ms * 10) / 10, tokensPerCpuSecond: Math.round((tokens / ms) * 1000), speedup: Math.round((base / ms) * 1000) / 1000, maxAbsDiff: diff };
});
console.log(`NeuralMemory forward, ${arch}, B=1 T=${tokens} D=256 4 heads chunk 64, 1 thread, ${rounds} alternating rounds (median CPU ms)`);
for (const r of rows) console.log(`  ${r.label.padEnd(40)} ${r.cpuMs.toFixed(1).padStart(8)} ms ${String(r.tokensPerCpuSecond).padStart(7)} tok/CPU s  x${r.speedup.toFixed(3)}  max |diff| ${r.maxAbsDiff.toExponential(1)}`);
console.log(JSON.stringify({ bench: 'memory-module-pair', arch, rounds, rows }));
