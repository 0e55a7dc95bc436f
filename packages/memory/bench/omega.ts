// Tokens/s of the memory's update rules at the memory benchmark's shape (bench/run.ts: batch 1,
// d = 256 as 4 heads of 64, float32, the CPU backend, momentum and forgetting on): the Titans
// rule (scanParallel, whatever kernel it takes), and the Omega rule's parallel form with
// windows c = 1, 4, 16, with Muon (5 Newton-Schulz steps) at c = 1 and 4, and with degree-2
// polynomial features at a smaller head width (phi of a 64-wide key is 4161 wide). Forward
// only (no gradient graph). Writes bench-results/omega.json atomically.
//
// Run: node --conditions=source --import tsx bench/omega.ts [tokens] (default 1024). Shared
// machines are noisy: the load average is recorded with the results, and CPU seconds (user +
// system of this process) are reported beside the wall clock.
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Rng, l2Normalize, noGrad, tensor, tidy, type Tensor } from '@titans/tensor';
import {
  expTaylorCoefficients, initialState, linearArchitecture, memoryPreset, omegaInitialState, omegaParallel, omegaWeightShapes,
  scanParallel, type MemoryArchitecture, type OmegaInputs, type OmegaRule,
} from '../src/index.js';

const tokens = Number(process.argv[2] ?? 1024);
if (!Number.isInteger(tokens) || tokens < 1) throw new Error(`tokens must be a positive integer, got ${process.argv[2]}`);
const heads = 4;

interface Case {
  name: string;
  arch: 'linear' | 'mlp';
  dim: number;
  chunk: number;
  rule: OmegaRule | 'titans';
}

const mlp = (dim: number): MemoryArchitecture => ({ depth: 2, hidden: 4 * dim, activation: 'silu', residual: false, norm: false });
const omega = (arch: MemoryArchitecture, chunk: number, window: number, options: Partial<OmegaRule> = {}): OmegaRule => ({
  architecture: arch, chunkSize: chunk, window, feature: { kind: 'identity' }, optimizer: { kind: 'momentum' }, momentum: true, forgetting: true, ...options,
});
const muon = { optimizer: { kind: 'muon', nsSteps: 5 } } as const;
const poly = { feature: { kind: 'poly', degree: 2 } } as const;

const cases: Case[] = [];
for (const [archName, dim] of [['linear', 64], ['mlp', 64]] as const) {
  const arch = archName === 'linear' ? linearArchitecture() : mlp(dim);
  for (const chunk of [16, 64]) {
    const at = (name: string, rule: OmegaRule | 'titans', d = dim): void => {
      cases.push({ name, arch: archName, dim: d, chunk, rule });
    };
    at('titans (scanParallel)', 'titans');
    at('omega c=1', omega(arch, chunk, 1));
    at('omega c=4', omega(arch, chunk, 4));
    at('omega c=16', omega(arch, chunk, 16));
    at('muon c=1', omega(arch, chunk, 1, muon));
    at('muon c=4 (omega + muon)', omega(arch, chunk, 4, muon));
  }
}
// Polynomial features widen the memory's input to 1 + d + d^2: at head width 16 that is 273.
for (const chunk of [16, 64]) {
  cases.push({ name: 'omega c=4, poly 2, momentum (d=16 per head)', arch: 'linear', dim: 16, chunk, rule: omega(linearArchitecture(), chunk, 4, poly) });
  cases.push({ name: 'atlas: omega c=4, poly 2, muon (d=16 per head)', arch: 'linear', dim: 16, chunk, rule: omega(linearArchitecture(), chunk, 4, { ...poly, ...muon }) });
}

function inputs(dim: number, rule: OmegaRule | 'titans', count: number): OmegaInputs {
  const rng = new Rng(1);
  const rows = [1, heads, count, dim];
  const gate = (low: number, high: number): Tensor => rng.uniform([1, heads, count], low, high);
  const window = rule === 'titans' ? 1 : rule.window;
  return {
    k: l2Normalize(rng.normal(rows), -1), v: rng.normal(rows), q: l2Normalize(rng.normal(rows), -1),
    theta: gate(0.02, 0.2), eta: gate(0.3, 0.9), alpha: gate(0, 0.1), gamma: rng.uniform([1, heads, count, window], 0.2, 1),
    ...(rule !== 'titans' && rule.feature.kind === 'poly' ? { coef: tensor(expTaylorCoefficients(2)) } : {}),
    ...(rule !== 'titans' && rule.optimizer.kind === 'muon' ? { lr: gate(0.01, 0.1) } : {}),
  };
}

function weightsFor(c: Case): Tensor[] {
  const rng = new Rng(2);
  const arch = c.arch === 'linear' ? linearArchitecture() : mlp(c.dim);
  const shapes = c.rule === 'titans' ? omegaWeightShapes({ architecture: arch, feature: { kind: 'identity' } }, c.dim) : omegaWeightShapes(c.rule, c.dim);
  return shapes.map(([o, i]) => rng.normal([heads, o, i], 0, 1 / Math.sqrt(i)));
}

function run(c: Case, x: OmegaInputs, weights: Tensor[]): void {
  tidy(() => noGrad(() => {
    if (c.rule === 'titans') {
      const arch = c.arch === 'linear' ? linearArchitecture() : mlp(c.dim);
      const out = scanParallel(memoryPreset('titans', c.dim, { architecture: arch, chunkSize: c.chunk, maxSurpriseNorm: 0 }), x, initialState(weights));
      out.yPost.dataSync();
    } else {
      omegaParallel(c.rule, x, omegaInitialState(weights)).yPost.dataSync();
    }
  }));
}

const results: Record<string, unknown>[] = [];
for (const c of cases) {
  const weights = weightsFor(c);
  const warm = inputs(c.dim, c.rule, Math.min(tokens, 2 * c.chunk));
  run(c, warm, weights); // warm-up (kernels, caches)
  for (const t of Object.values(warm)) (t as Tensor).dispose();
  const x = inputs(c.dim, c.rule, tokens);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  run(c, x, weights);
  const wall = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  const row = {
    rule: c.name, memory: c.arch === 'linear' ? `linear ${c.dim}x${c.rule !== 'titans' && c.rule.feature.kind === 'poly' ? 1 + c.dim + c.dim * c.dim : c.dim}` : `MLP ${c.dim}-${4 * c.dim}-${c.dim}`,
    headDim: c.dim, heads, chunk: c.chunk, tokens, wallSeconds: wall, cpuSeconds, tokensPerSecond: tokens / wall, tokensPerCpuSecond: tokens / cpuSeconds,
  };
  results.push(row);
  console.log(`${row.rule.padEnd(48)} ${row.memory.padEnd(16)} chunk ${String(c.chunk).padStart(2)}: ${(row.tokensPerSecond / 1000).toFixed(2)}k tok/s wall, ${(row.tokensPerCpuSecond / 1000).toFixed(2)}k tok/CPU-s`);
  for (const t of [...Object.values(x), ...weights]) (t as Tensor).dispose();
}

const outDir = fileURLToPath(new URL('../bench-results/', import.meta.url));
mkdirSync(outDir, { recursive: true });
const file = `${outDir}omega.json`;
const report = { benchmark: 'omega-memory update rules, forward, float32, CPU backend', batch: 1, heads, tokens, cpu: cpus()[0]?.model, cores: cpus().length, loadAverage: loadavg(), results };
writeFileSync(`${file}.tmp`, `${JSON.stringify(report, null, 2)}\n`);
renameSync(`${file}.tmp`, file);
console.log(`wrote ${file}`);
