// Tokens/s of each memory update rule at the memory benchmark's shape (bench/run.ts: batch 1,
// d = 256 as 4 heads of 64, chunk 64, float32, forward only, no gradient graph), on the CPU
// backend or on WebGPU (Dawn; on a machine without a GPU that is SwiftShader, a CPU
// emulation: its figures say nothing about a real GPU). Rules:
//   - Titans (scanParallel, whatever kernel it takes), linear and MLP 64-256-64 memory;
//   - Omega windows c = 4 and c = 16 (omegaParallel, momentum), linear memory; c = 4 MLP;
//   - Muon (5 Newton-Schulz steps) at c = 1 and with c = 4 (Atlas's optimizer), linear memory;
//   - DGD (dgdScan) on a linear and an MLP 64-256-64 memory, token by token, and the
//     chunk-parallel DGD of the linear memory (dgdChunked, chunk 64: exact, the same numbers);
//   - the CMS (ContinuumMemory) on width 256, hidden 1024, periods 64/128/256;
//   - the self-modifying Titans (selfModifyingScan), hidden 128.
// The token-by-token rules (DGD, self-modifying) and Muon run at fewer tokens than 4096: each
// row says how many (tokens/s of a recurrence does not depend on the length).
//
// Run (in packages/memory):
//   node --conditions=source --import tsx bench/rules.ts [--backend cpu|webgpu] [--scale s] [--only text]
// --scale multiplies every row's token count (e.g. 0.25 for a quick run); --only keeps the rows
// whose name contains the text. Writes bench-results/rules-<backend>.json atomically. Shared
// machines are noisy: the load average is recorded, and CPU seconds (user + system of this
// process, SwiftShader's threads included) are reported beside the wall clock.
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Rng, cpuBackend, l2Normalize, noGrad, tensor, tidy, withBackend, type Backend, type Tensor } from '@titans/tensor';
import {
  ContinuumMemory, SELF_MODIFYING_MEMORIES, dgdChunked, dgdScan, initialState, linearArchitecture, memoryPreset, omegaInitialState, omegaParallel,
  omegaWeightShapes, scanParallel, selfModifyingScan, selfModifyingShapes, type MemoryArchitecture, type OmegaInputs, type OmegaRule,
  type SelfModifyingState,
} from '../src/index.js';

function option(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}
const backendName = option('backend') ?? 'cpu';
if (backendName !== 'cpu' && backendName !== 'webgpu') throw new Error(`--backend must be cpu or webgpu, got ${backendName}`);
const scale = Number(option('scale') ?? 1);
if (!(scale > 0)) throw new Error(`--scale must be a positive number, got ${option('scale')}`);
const only = option('only');

const heads = 4;
const dim = 64;
const chunk = 64;
const mlp: MemoryArchitecture = { depth: 2, hidden: 4 * dim, activation: 'silu', residual: false, norm: false };

interface Case {
  readonly name: string;
  readonly memory: string;
  /** Tokens of the measured run at scale 1. */
  readonly tokens: number;
  /** Builds the inputs (untimed) for `count` tokens and returns the timed forward pass. */
  readonly prepare: (count: number) => () => Tensor;
}

const omega = (arch: MemoryArchitecture, window: number, options: Partial<OmegaRule> = {}): OmegaRule => ({
  architecture: arch, chunkSize: chunk, window, feature: { kind: 'identity' }, optimizer: { kind: 'momentum' }, momentum: true, forgetting: true, ...options,
});
const muon = { optimizer: { kind: 'muon', nsSteps: 5 } } as const;
const describeArch = (arch: MemoryArchitecture): string => (arch.depth === 1 ? `linear ${dim}x${dim}` : `MLP ${dim}-${arch.hidden}-${dim}`);

function omegaInputs(rule: OmegaRule, count: number): OmegaInputs {
  const rng = new Rng(1);
  const rows = [1, heads, count, dim];
  const gate = (low: number, high: number): Tensor => rng.uniform([1, heads, count], low, high);
  return {
    k: l2Normalize(rng.normal(rows), -1), v: rng.normal(rows), q: l2Normalize(rng.normal(rows), -1),
    theta: gate(0.02, 0.2), eta: gate(0.3, 0.9), alpha: gate(0, 0.1), gamma: rng.uniform([1, heads, count, rule.window], 0.2, 1),
    ...(rule.optimizer.kind === 'muon' ? { lr: gate(0.01, 0.1) } : {}),
  };
}
const weightsOf = (shapes: [number, number][]): Tensor[] => {
  const rng = new Rng(2);
  return shapes.map(([o, i]) => rng.normal([heads, o, i], 0, 1 / Math.sqrt(i)));
};

const titansCase = (arch: MemoryArchitecture, tokens: number): Case => ({
  name: 'titans', memory: describeArch(arch), tokens,
  prepare: (count) => {
    const rule = omega(arch, 1);
    const x = omegaInputs(rule, count);
    const weights = weightsOf(omegaWeightShapes(rule, dim));
    const memory = memoryPreset('titans', dim, { architecture: arch, chunkSize: chunk, maxSurpriseNorm: 0 });
    return () => scanParallel(memory, x, initialState(weights)).yPost;
  },
});
const omegaCase = (name: string, rule: OmegaRule, tokens: number): Case => ({
  name, memory: describeArch(rule.architecture), tokens,
  prepare: (count) => {
    const x = omegaInputs(rule, count);
    const weights = weightsOf(omegaWeightShapes(rule, dim));
    return () => omegaParallel(rule, x, omegaInitialState(weights)).yPost;
  },
});
const dgdCase = (arch: MemoryArchitecture, tokens: number, form: 'scan' | 'chunked' = 'scan'): Case => ({
  name: form === 'scan' ? 'dgd' : `dgd chunked (chunk ${chunk})`, memory: describeArch(arch), tokens,
  prepare: (count) => {
    const r = new Rng(3);
    const rows = [1, heads, count, dim];
    const x = { k: l2Normalize(r.normal(rows), -1), v: r.normal(rows), q: l2Normalize(r.normal(rows), -1), eta: r.uniform([1, heads, count], 0.05, 0.4), alpha: r.uniform([1, heads, count], 0.9, 1) };
    const weights = weightsOf(arch.depth === 1 ? [[dim, dim]] : [[arch.hidden, dim], [dim, arch.hidden]]);
    return form === 'scan' ? () => dgdScan(arch, x, { weights, position: 0 }).yPost : () => dgdChunked(arch, x, { weights, position: 0 }, chunk).yPost;
  },
});
const cmsCase = (periods: number[], tokens: number): Case => ({
  name: `cms periods ${periods.join('/')}`, memory: `${periods.length} x MLP ${heads * dim}-${4 * heads * dim}-${heads * dim}`, tokens,
  prepare: (count) => {
    const cms = new ContinuumMemory(heads * dim, { periods, hidden: 4 * heads * dim, lrMax: periods.map((p) => 1 / (heads * dim * p)), seed: 3 });
    const x = new Rng(4).normal([1, count, heads * dim]);
    return () => cms.forward(x).output;
  },
});
const selfModifyingCase = (tokens: number): Case => {
  const hidden = 2 * dim;
  return {
    name: 'self-modifying titans (5 memories, DGD)', memory: `3 x MLP ${dim}-${hidden}-${dim} (residual) + 2 x linear 1x${dim}`, tokens,
    prepare: (count) => {
      const shapes = selfModifyingShapes(dim, hidden);
      const weights = Object.fromEntries(SELF_MODIFYING_MEMORIES.map((n) => [n, weightsOf(shapes[n])])) as unknown as SelfModifyingState['weights'];
      const r = new Rng(5);
      const rows = [1, heads, count, dim];
      const bias = (v: number): Tensor => tensor(new Array<number>(heads).fill(v), [heads, 1, 1]);
      const x = { x: l2Normalize(r.normal(rows), -1), q: l2Normalize(r.normal(rows), -1), etaBias: bias(-2), alphaBias: bias(4) };
      return () => selfModifyingScan(hidden, 0.5, x, { weights, position: 0 }).y;
    },
  };
};

const lin = linearArchitecture();
const cases: Case[] = [
  titansCase(lin, 4096),
  titansCase(mlp, 4096),
  omegaCase('omega c=4', omega(lin, 4), 4096),
  omegaCase('omega c=16', omega(lin, 16), 4096),
  omegaCase('omega c=4', omega(mlp, 4), 1024),
  omegaCase('muon c=1 (5 Newton-Schulz steps)', omega(lin, 1, muon), 512),
  omegaCase('atlas rule: omega c=4 + muon', omega(lin, 4, muon), 512),
  dgdCase(lin, 512),
  dgdCase(lin, 4096, 'chunked'),
  dgdCase(mlp, 256),
  cmsCase([64, 128, 256], 1024),
  selfModifyingCase(128),
].filter((c) => only === undefined || `${c.name} ${c.memory}`.includes(only));

async function main(): Promise<void> {
  let backend: Backend = cpuBackend;
  let device = `CPU backend (${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} cores)`;
  let destroy = (): void => {};
  if (backendName === 'webgpu') {
    // Dawn's Vulkan setup wants a runtime directory (headless machines have none).
    if (process.env.XDG_RUNTIME_DIR === undefined) {
      const dir = join(tmpdir(), `titans-xdg-${process.getuid?.() ?? 0}`);
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      process.env.XDG_RUNTIME_DIR = dir;
    }
    const { createWebGPUBackend } = await import('@titans/webgpu');
    const gpu = await createWebGPUBackend();
    backend = gpu;
    const info = (gpu as unknown as { adapterInfo?: { vendor?: string; architecture?: string; device?: string; description?: string } }).adapterInfo;
    const described = info ? [info.vendor, info.architecture, info.device, info.description].filter(Boolean).join(' ') : '';
    const swiftShader = process.env.VK_ICD_FILENAMES?.includes('swiftshader') || /swiftshader/i.test(described);
    device = `WebGPU (Dawn)${described ? `: ${described}` : ''}${swiftShader ? ' - SwiftShader, a CPU emulation of a GPU on this machine: not a GPU figure' : ''}`;
    destroy = () => gpu.destroy();
  }
  console.log(`backend: ${device}`);
  const results: Record<string, unknown>[] = [];
  for (const c of cases) {
    const count = Math.max(chunk, Math.round(c.tokens * scale));
    const timed = async (n: number): Promise<{ wall: number; cpu: number }> => withBackend(backend, async () => {
      const run = noGrad(() => c.prepare(n));
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      const out = tidy(() => noGrad(run));
      await out.data(); // waits for the device
      const wall = (performance.now() - t0) / 1000;
      const cpu = process.cpuUsage(cpu0);
      out.dispose();
      return { wall, cpu: (cpu.user + cpu.system) / 1e6 };
    });
    // Warm-up: kernels and caches; on WebGPU the same shapes, so the timed run compiles no pipelines.
    await timed(backendName === 'cpu' ? Math.min(count, 2 * chunk) : count);
    const { wall, cpu } = await timed(count);
    const row = {
      rule: c.name, memory: c.memory, heads, headDim: dim, chunk, tokens: count, wallSeconds: wall, cpuSeconds: cpu,
      tokensPerSecond: count / wall, tokensPerCpuSecond: count / cpu,
    };
    results.push(row);
    console.log(`${c.name.padEnd(40)} ${c.memory.padEnd(44)} ${String(count).padStart(5)} tokens: ${row.tokensPerSecond.toFixed(0).padStart(7)} tok/s wall, ${row.tokensPerCpuSecond.toFixed(0).padStart(7)} tok/CPU-s`);
  }
  destroy();
  const outDir = fileURLToPath(new URL('../bench-results/', import.meta.url));
  mkdirSync(outDir, { recursive: true });
  const file = `${outDir}rules-${backendName}.json`;
  const report = {
    benchmark: 'memory update rules, tokens/s, forward, float32, batch 1, 4 heads of 64, chunk 64',
    backend: backendName, device, date: new Date().toISOString(), command: `node --conditions=source --import tsx bench/rules.ts ${process.argv.slice(2).join(' ')}`.trim(),
    cpu: cpus()[0]?.model, cores: cpus().length, loadAverage: loadavg(), scale, results,
  };
  writeFileSync(`${file}.tmp`, `${JSON.stringify(report, null, 2)}\n`);
  renameSync(`${file}.tmp`, file);
  console.log(`wrote ${file}`);
}

await main();
