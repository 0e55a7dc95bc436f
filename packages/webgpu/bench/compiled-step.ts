// Training steps on WebGPU, eager against compile(): wall time per step and what each step
// issues to the GPU (submits, dispatches, bind groups created, pipelines), for a tiny MAG and a
// tiny Transformer++ (the models of @titans/models, taken from this checkout). Every variant
// runs in the same process on the same adapter, alternating, so their ratio is what to read
// (SwiftShader's absolute times say little about a GPU). Writes JSON.
//
//   node --conditions=source --import tsx bench/compiled-step.ts [--steps N] [--out file.json] [--arch mag,transformer]
//
// A step is one compiled function: loss, gradients, clipping and AdamW, returning the loss
// and the gradient norm, whose values are read back (the one host read of the step).
import { compile, getBackend, setBackend, tensor, tidy, type Tensor } from '@titans/tensor';
import type { ArchitectureName } from '../../models/src/index.js';
import { createWebGPUBackend, type WebGPUBackend, type WebGPUStats } from '../src/node.js';
import { arg, writeJson } from './cli.js';
import { tinyTrainingStep } from './tiny-model.js';

const steps = Number(arg('steps', '12'));
const out = arg('out', 'bench-results/webgpu-compiled-step.json');
const archs = arg('arch', 'mag,transformer').split(',') as ArchitectureName[];
const BATCH = 2;
const SEQ = 16;
// Trace, verifying trace, first replay, then replays until a plan's replay arena and its bind
// groups (alternating buffers for results that outlive a step) have settled.
const WARMUP = 7;

interface Variant {
  readonly name: string;
  readonly compiled: boolean;
  /** The backend's recording cache and fused row kernels on or off (both off: the backend
   * as it was before they existed). */
  readonly recordingCache: boolean;
  readonly fusedRows: boolean;
  /** Replay arenas (stable buffers, prebuilt bind groups) for compiled steps. */
  readonly replayArenas?: boolean;
}

const ALL_VARIANTS: readonly Variant[] = [
  { name: 'eager-before', compiled: false, recordingCache: false, fusedRows: false },
  // The backend's defaults: fused rows on, the recording cache off (opt-in).
  { name: 'eager', compiled: false, recordingCache: false, fusedRows: true },
  { name: 'compiled-before', compiled: true, recordingCache: false, fusedRows: false, replayArenas: false },
  // compile() without replay arenas (each replay allocates from the pool, as before them).
  { name: 'compiled-pool', compiled: true, recordingCache: false, fusedRows: true, replayArenas: false },
  { name: 'compiled', compiled: true, recordingCache: false, fusedRows: true },
  // The opt-in recording cache on top of the defaults.
  { name: 'eager-cache', compiled: false, recordingCache: true, fusedRows: true },
  { name: 'compiled-cache', compiled: true, recordingCache: true, fusedRows: true },
];
const wanted = arg('variants', 'eager-before,eager,eager-cache,compiled-before,compiled-pool,compiled,compiled-cache').split(',');
const VARIANTS = ALL_VARIANTS.filter((v) => wanted.includes(v.name));
const rounds = Number(arg('rounds', '2'));
const verbose = process.argv.includes('--verbose');

interface Result {
  msPerStep: number;
  /** Process CPU time (user + system, all threads) per step: on SwiftShader the GPU's work runs
   * on this process's threads too, so this is the figure a loaded machine disturbs least. */
  cpuMsPerStep: number;
  perStep: {
    submits: number; dispatches: number; bindGroupsCreated: number; bindGroupsReused: number; uploads: number;
    arenaHits: number; arenaMisses: number; uniformWrites: number;
  };
  arenaBytes: number;
  pipelines: number;
  finalLoss: number;
}

function token(i: number): number {
  return (Math.imul(i + 1, 2654435761) >>> 24) % 16;
}

async function run(backends: { now: WebGPUBackend; before: WebGPUBackend }, arch: ArchitectureName, variant: Variant): Promise<Result> {
  const gpu = variant.fusedRows ? backends.now : backends.before;
  gpu.setRecordingCache(variant.recordingCache);
  gpu.setReplayArenas(variant.replayArenas ?? true);
  setBackend(gpu);
  const { step: body, dispose } = tinyTrainingStep(arch);
  const compiled = variant.compiled ? compile(body) : null;
  const step = compiled ?? body;
  const times: number[] = [];
  const cpuTimes: number[] = [];
  let before: WebGPUStats = gpu.stats();
  let mark = before;
  const totals = { submits: 0, dispatches: 0, bindGroupsCreated: 0, bindGroupsReused: 0, uploads: 0, arenaHits: 0, arenaMisses: 0, uniformWrites: 0 };
  let loss = NaN;
  for (let s = 0; s < WARMUP + steps; s++) {
    const n = BATCH * SEQ;
    const ids = tensor(Int32Array.from({ length: n }, (_, i) => token(s * n + i)), [BATCH, SEQ], { dtype: 'int32', backend: gpu });
    const targets = tensor(Int32Array.from({ length: n }, (_, i) => token(s * n + i + 1)), [BATCH, SEQ], { dtype: 'int32', backend: gpu });
    if (s === WARMUP) before = gpu.stats();
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    const [l, norm] = tidy(() => step(ids, targets)) as [Tensor, Tensor];
    loss = (await l.data())[0]!;
    await norm.data();
    times.push(performance.now() - t0);
    const c = process.cpuUsage(c0);
    cpuTimes.push((c.user + c.system) / 1000);
    if (verbose) {
      const now = gpu.stats();
      console.log(`${arch} ${variant.name} step ${s}: ${(performance.now() - t0).toFixed(0)} ms, bind groups created ${now.bindGroupsCreated - mark.bindGroupsCreated}, reused ${now.bindGroupsReused - mark.bindGroupsReused}`);
      mark = now;
    }
    for (const t of [ids, targets, l, norm]) t.dispose();
  }
  const after = gpu.stats();
  const arenaBytes = after.arenaBytes;
  for (const k of Object.keys(totals) as (keyof typeof totals)[]) totals[k] = (after[k] - before[k]) / steps;
  compiled?.dispose();
  dispose();
  const measured = times.slice(WARMUP).sort((a, b) => a - b);
  const cpu = cpuTimes.slice(WARMUP).sort((a, b) => a - b);
  return { msPerStep: measured[Math.floor(measured.length / 2)]!, cpuMsPerStep: cpu[Math.floor(cpu.length / 2)]!, perStep: totals, arenaBytes, pipelines: after.pipelines, finalLoss: loss };
}

// One device, two backends on it: with the fused row kernels and without.
const gpu = await createWebGPUBackend();
const before = await createWebGPUBackend({ device: gpu.device, fusedRows: false, recordingCache: false });
const previous = getBackend();
const results: Record<string, Record<string, Result[]>> = {};
try {
  // Two rounds, variants alternating, so drift on a shared machine hits every variant alike.
  for (let round = 0; round < rounds; round++) {
    for (const arch of archs) {
      for (const v of VARIANTS) {
        const r = await run({ now: gpu, before }, arch, v);
        ((results[arch] ??= {})[v.name] ??= []).push(r);
      }
    }
  }
} finally {
  setBackend(previous);
}

const summary: Record<string, unknown> = {};
for (const arch of archs) {
  const best = (name: string): Result => results[arch]![name]!.reduce((a, b) => (b.msPerStep < a.msPerStep ? b : a));
  const eager = best(VARIANTS.some((v) => v.name === 'eager-before') ? 'eager-before' : VARIANTS[0]!.name);
  // The backend's eager defaults, the reference the issue asks WebGPU ratios against.
  const eagerNow = VARIANTS.some((v) => v.name === 'eager') ? best('eager') : null;
  const row: Record<string, unknown> = {};
  for (const v of VARIANTS) {
    const r = best(v.name);
    row[v.name] = {
      ...r,
      speedupOverEagerBefore: eager.msPerStep / r.msPerStep,
      ...(eagerNow ? { speedupOverEager: eagerNow.msPerStep / r.msPerStep, cpuSpeedupOverEager: eagerNow.cpuMsPerStep / r.cpuMsPerStep } : {}),
    };
  }
  summary[arch] = row;
}
const report = {
  bench: 'webgpu-compiled-step',
  date: new Date().toISOString(),
  adapter: gpu.adapterName,
  shapes: { batch: BATCH, sequence: SEQ, vocab: 16, dim: 16, layers: 1, heads: 2, mlpHidden: 32, memoryChunk: 4 },
  stepsMeasured: steps,
  note: 'msPerStep (wall) and cpuMsPerStep (process CPU time, SwiftShader threads included): medians over the measured steps, best wall time of the alternating rounds; perStep counters are means over the measured steps; "before" variants run with recordingCache and fusedRows off (the backend before this change)',
  rounds,
  results: summary,
};
before.destroy();
gpu.destroy();
writeJson(out, report);
console.log(`adapter: ${report.adapter}`);
console.log('arch         variant            ms/step  x eager-before  x eager  cpu ms  cpu x eager  submits  dispatches  bindgroups new/reused  uploads  arena hits/misses  uniform writes');
for (const arch of archs) {
  for (const v of VARIANTS) {
    const r = (summary[arch] as Record<string, Result & { speedupOverEagerBefore: number; speedupOverEager?: number; cpuSpeedupOverEager?: number }>)[v.name]!;
    const p = r.perStep;
    console.log(`${arch.padEnd(12)} ${v.name.padEnd(18)} ${r.msPerStep.toFixed(1).padStart(7)}  ${r.speedupOverEagerBefore.toFixed(2).padStart(14)}  ${(r.speedupOverEager ?? NaN).toFixed(2).padStart(7)}  ${r.cpuMsPerStep.toFixed(1).padStart(6)}  ${(r.cpuSpeedupOverEager ?? NaN).toFixed(2).padStart(11)}  ${p.submits.toFixed(1).padStart(7)}  ${p.dispatches.toFixed(0).padStart(10)}  ${p.bindGroupsCreated.toFixed(0).padStart(10)}/${p.bindGroupsReused.toFixed(0).padEnd(10)}  ${p.uploads.toFixed(1).padStart(7)}  ${p.arenaHits.toFixed(0).padStart(10)}/${p.arenaMisses.toFixed(0).padEnd(6)}  ${p.uniformWrites.toFixed(0)}`);
  }
}
console.log(`wrote ${out}`);
