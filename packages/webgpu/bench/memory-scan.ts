// The neural memory's scan on WebGPU: the fused kernel (Backend.memoryScan, one dispatch per
// scan) against the composite chunked form (many small kernels per chunk), forward, linear and
// 2-layer MLP memory, with the dispatches each issues. Both run in the same process on the
// same adapter, alternating, so their ratio is what to read (SwiftShader's absolute times say
// little about a GPU). Writes JSON.
//
//   node --conditions=source --import tsx bench/memory-scan.ts [--tokens N] [--reps N] [--out file.json]
import { Rng, getBackend, l2Normalize, noGrad, setBackend, tidy, type Tensor } from '@titans/tensor';
import {
  initialState, memoryPreset, mlpArchitecture, scanParallel, setFusedMemoryKernels, weightShapes, type MemoryInputs, type MemoryRule,
} from '../../memory/src/index.js';
import { createWebGPUBackend } from '../src/node.js';
import { arg, writeJson } from './cli.js';

const tokens = Number(arg('tokens', '256'));
const reps = Number(arg('reps', '5'));
const out = arg('out', 'bench-results/webgpu-memory-scan.json');
const HEADS = 2;
const WIDTH = 16;
const CHUNK = 16;

function rule(arch: 'linear' | 'mlp2'): MemoryRule {
  return arch === 'linear'
    ? memoryPreset('titans-linear', WIDTH, { chunkSize: CHUNK })
    : memoryPreset('titans', WIDTH, { chunkSize: CHUNK, architecture: mlpArchitecture(4 * WIDTH, { residual: false, norm: false }) });
}

function inputs(): MemoryInputs {
  const rng = new Rng(1);
  const rows = [1, HEADS, tokens, WIDTH];
  return {
    k: l2Normalize(rng.normal(rows), -1), v: rng.normal(rows), q: l2Normalize(rng.normal(rows), -1),
    theta: rng.uniform([1, HEADS, tokens], 0.01, 0.05), eta: rng.uniform([1, HEADS, tokens], 0.5, 0.9), alpha: rng.uniform([1, HEADS, tokens], 0, 0.02),
  };
}

const gpu = await createWebGPUBackend();
const previous = getBackend();
setBackend(gpu);
interface Figure { msPerScan: number; tokensPerSecond: number; dispatches: number }
const results: Record<string, { fused: Figure; composite: Figure; speedup: number; maxAbsDiff: number }> = {};
try {
  for (const arch of ['linear', 'mlp2'] as const) {
    const r = rule(arch);
    const x = inputs();
    const rng = new Rng(2);
    const weights = weightShapes(r.architecture, WIDTH).map(([o, i]) => rng.normal([HEADS, o, i], 0, 1 / Math.sqrt(i)));
    const scan = async (fused: boolean): Promise<{ ms: number; dispatches: number; y: Float32Array }> => {
      const was = setFusedMemoryKernels(fused);
      try {
        const d0 = gpu.stats().dispatches;
        const t0 = performance.now();
        const y = tidy(() => noGrad(() => scanParallel(r, x, initialState(weights, r), { yPre: false }).yPost)) as Tensor;
        const values = (await y.data()) as Float32Array;
        const ms = performance.now() - t0;
        const dispatches = gpu.stats().dispatches - d0;
        y.dispose();
        return { ms, dispatches, y: values };
      } finally {
        setFusedMemoryKernels(was);
      }
    };
    await scan(true);
    await scan(false);
    const times = { fused: [] as number[], composite: [] as number[] };
    let dispatches = { fused: 0, composite: 0 };
    let maxAbsDiff = 0;
    for (let i = 0; i < reps; i++) {
      const f = await scan(true);
      const c = await scan(false);
      times.fused.push(f.ms);
      times.composite.push(c.ms);
      dispatches = { fused: f.dispatches, composite: c.dispatches };
      for (let j = 0; j < f.y.length; j++) maxAbsDiff = Math.max(maxAbsDiff, Math.abs(f.y[j]! - c.y[j]!));
    }
    const median = (a: number[]): number => a.sort((p, q) => p - q)[Math.floor(a.length / 2)]!;
    const fig = (ms: number, d: number): Figure => ({ msPerScan: ms, tokensPerSecond: Math.round((tokens * HEADS) / (ms / 1000)), dispatches: d });
    const fused = fig(median(times.fused), dispatches.fused);
    const composite = fig(median(times.composite), dispatches.composite);
    results[arch] = { fused, composite, speedup: composite.msPerScan / fused.msPerScan, maxAbsDiff };
    for (const t of [...Object.values(x), ...weights]) t.dispose();
  }
} finally {
  setBackend(previous);
}
const report = {
  bench: 'webgpu-memory-scan',
  date: new Date().toISOString(),
  adapter: gpu.adapterName,
  shapes: { batch: 1, heads: HEADS, tokens, width: WIDTH, chunk: CHUNK, mlpHidden: 4 * WIDTH },
  note: 'scanParallel forward (y_post only, noGrad) on WebGPU: fused = Backend.memoryScan, composite = the chunked form of small kernels; median of alternating runs, wall time including the read back; tokensPerSecond counts tokens x heads',
  reps,
  results,
};
gpu.destroy();
writeJson(out, report);
console.log(`adapter: ${report.adapter}`);
console.log('memory  path        ms/scan  tokens/s  dispatches');
for (const [arch, r] of Object.entries(results)) {
  for (const path of ['fused', 'composite'] as const) {
    const f = r[path];
    console.log(`${arch.padEnd(7)} ${path.padEnd(10)} ${f.msPerScan.toFixed(1).padStart(8)}  ${String(f.tokensPerSecond).padStart(8)}  ${String(f.dispatches).padStart(10)}`);
  }
  console.log(`${arch.padEnd(7)} fused / composite speed: ${r.speedup.toFixed(2)}x, largest difference ${r.maxAbsDiff.toExponential(2)}`);
}
console.log(`wrote ${out}`);
