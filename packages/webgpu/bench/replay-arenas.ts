// Replay arenas on and off, step by step: eager WebGPU, compile() without replay arenas and
// compile() with them (the default), each on its own backend sharing one device, training the
// same tiny model from the same start. The three take turns one step at a time, so load from
// other processes on a shared machine falls on all three alike (bench/compiled-step.ts runs
// each variant as a block of steps, which a busy machine skews). Writes JSON.
//
//   node --conditions=source --import tsx bench/replay-arenas.ts [--steps N] [--arch mag,transformer] [--out file.json]
import { compile, getBackend, setBackend, tensor, tidy, type Tensor } from '@titans/tensor';
import type { ArchitectureName } from '../../models/src/index.js';
import { createWebGPUBackend, type WebGPUBackend } from '../src/node.js';
import { arg, writeJson } from './cli.js';
import { tinyTrainingStep } from './tiny-model.js';

const steps = Number(arg('steps', '20'));
const out = arg('out', 'bench-results/webgpu-replay-arenas.json');
const archs = arg('arch', 'mag,transformer').split(',') as ArchitectureName[];
/** Trace, verifying trace, first replay, then replays until the arenas' bind groups settle. */
const WARMUP = 7;

function token(i: number): number {
  return (Math.imul(i + 1, 2654435761) >>> 24) % 16;
}

interface Runner {
  readonly name: string;
  readonly gpu: WebGPUBackend;
  step(s: number): Promise<{ ms: number; cpuMs: number; loss: number }>;
  dispose(): void;
}

function runner(name: string, gpu: WebGPUBackend, arch: ArchitectureName, compiled: boolean): Runner {
  const previous = getBackend();
  setBackend(gpu);
  const { step: body, dispose } = tinyTrainingStep(arch);
  setBackend(previous);
  const fn = compiled ? compile(body) : null;
  return {
    name,
    gpu,
    async step(s) {
      const previousBackend = getBackend();
      setBackend(gpu);
      try {
        const n = 2 * 16;
        const ids = tensor(Int32Array.from({ length: n }, (_, i) => token(s * n + i)), [2, 16], { dtype: 'int32', backend: gpu });
        const targets = tensor(Int32Array.from({ length: n }, (_, i) => token(s * n + i + 1)), [2, 16], { dtype: 'int32', backend: gpu });
        const t0 = performance.now();
        const c0 = process.cpuUsage();
        const [l, norm] = tidy(() => (fn ?? body)(ids, targets)) as [Tensor, Tensor];
        const loss = (await l.data())[0]!;
        await norm.data();
        const ms = performance.now() - t0;
        const c = process.cpuUsage(c0);
        for (const t of [ids, targets, l, norm]) t.dispose();
        return { ms, cpuMs: (c.user + c.system) / 1000, loss };
      } finally {
        setBackend(previousBackend);
      }
    },
    dispose() {
      fn?.dispose();
      dispose();
    },
  };
}

const eagerGpu = await createWebGPUBackend();
const poolGpu = await createWebGPUBackend({ device: eagerGpu.device, replayArenas: false });
const arenaGpu = await createWebGPUBackend({ device: eagerGpu.device, replayArenas: true });
const median = (a: number[]): number => [...a].sort((p, q) => p - q)[Math.floor(a.length / 2)]!;
const results: Record<string, Record<string, unknown>> = {};
for (const arch of archs) {
  const runners = [
    runner('eager', eagerGpu, arch, false),
    runner('compiled-pool', poolGpu, arch, true),
    runner('compiled', arenaGpu, arch, true),
  ];
  const times = runners.map(() => ({ ms: [] as number[], cpuMs: [] as number[], losses: [] as number[] }));
  const before = runners.map((r) => r.gpu.stats());
  for (let s = 0; s < WARMUP + steps; s++) {
    if (s === WARMUP) runners.forEach((r, i) => { before[i] = r.gpu.stats(); });
    // Rotate who goes first, so no variant always follows the same one.
    for (let j = 0; j < runners.length; j++) {
      const i = (s + j) % runners.length;
      const r = await runners[i]!.step(s);
      if (s >= WARMUP) {
        times[i]!.ms.push(r.ms);
        times[i]!.cpuMs.push(r.cpuMs);
      }
      times[i]!.losses.push(r.loss);
    }
  }
  const eager = { ms: median(times[0]!.ms), cpuMs: median(times[0]!.cpuMs) };
  const row: Record<string, unknown> = {};
  runners.forEach((r, i) => {
    const after = r.gpu.stats();
    const per = (k: 'dispatches' | 'submits' | 'bindGroupsCreated' | 'bindGroupsReused'): number => (after[k] - before[i]![k]) / steps;
    const ms = median(times[i]!.ms);
    const cpuMs = median(times[i]!.cpuMs);
    row[r.name] = {
      msPerStep: ms, cpuMsPerStep: cpuMs, speedupOverEager: eager.ms / ms, cpuSpeedupOverEager: eager.cpuMs / cpuMs,
      perStep: { dispatches: per('dispatches'), submits: per('submits'), bindGroupsCreated: per('bindGroupsCreated'), bindGroupsReused: per('bindGroupsReused') },
      finalLoss: times[i]!.losses.at(-1),
    };
    r.dispose();
  });
  results[arch] = row;
}
const report = {
  bench: 'webgpu-replay-arenas',
  date: new Date().toISOString(),
  adapter: eagerGpu.adapterName,
  shapes: { batch: 2, sequence: 16, vocab: 16, dim: 16, layers: 1, heads: 2, mlpHidden: 32, memoryChunk: 4 },
  stepsMeasured: steps,
  note: 'eager, compile() without replay arenas and compile() with them take turns step by step (rotating order) on three backends sharing one device; medians of wall and process CPU time (SwiftShader threads included) per step; ratios against eager WebGPU',
  results,
};
poolGpu.destroy();
arenaGpu.destroy();
eagerGpu.destroy();
writeJson(out, report);
console.log(`adapter: ${report.adapter}`);
console.log('arch         variant          ms/step  x eager  cpu ms  cpu x eager  dispatches  bind groups new/reused  submits');
for (const arch of archs) {
  for (const [name, r] of Object.entries(results[arch]!) as [string, { msPerStep: number; cpuMsPerStep: number; speedupOverEager: number; cpuSpeedupOverEager: number; perStep: Record<string, number> }][]) {
    const p = r.perStep;
    console.log(`${arch.padEnd(12)} ${name.padEnd(15)} ${r.msPerStep.toFixed(1).padStart(7)}  ${r.speedupOverEager.toFixed(2).padStart(7)}  ${r.cpuMsPerStep.toFixed(1).padStart(6)}  ${r.cpuSpeedupOverEager.toFixed(2).padStart(11)}  ${p['dispatches']!.toFixed(0).padStart(10)}  ${p['bindGroupsCreated']!.toFixed(0).padStart(11)}/${p['bindGroupsReused']!.toFixed(0).padEnd(11)}  ${p['submits']!.toFixed(1)}`);
  }
}
console.log(`wrote ${out}`);
