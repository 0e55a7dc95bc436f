// WebGPU backend benchmarks (Dawn for Node; on machines without a GPU, SwiftShader):
// matmul GFLOP/s for our kernels and, on the same adapter, @tensorflow/tfjs-backend-webgpu
// and onnxruntime-web's WebGPU EP; fused vs unfused attention throughput; per-kernel
// dispatch overhead. Writes bench-results/webgpu.json. Run from packages/webgpu:
//   node --conditions=source --import tsx bench/run.ts
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import type { AttentionDims, Storage } from '@titans/tensor';
import { createWebGPUBackend, type MatmulVariant, type WebGPUBackend } from '../src/node.js';
import { medianTime, random } from './timing.js';

const quick = process.argv.includes('--quick');
const BUDGET_MS = quick ? 300 : 1500;

const time = (run: () => Promise<void>): Promise<number> => medianTime(run, BUDGET_MS);

const MATMULS: [number, number, number][] = quick
  ? [[256, 256, 256], [4096, 64, 64]]
  : [[256, 256, 256], [512, 512, 512], [1024, 1024, 1024], [4096, 64, 64]];
const key = ([m, k, n]: [number, number, number]): string => `${m}x${k}x${n}`;

async function matmulGflops(gpu: WebGPUBackend, [m, k, n]: [number, number, number], variant: MatmulVariant | null): Promise<{ gflops: number; variant: string }> {
  const a = gpu.fromArray(random(m * k), 'float32');
  const b = gpu.fromArray(random(k * n), 'float32');
  gpu.forceMatmulVariant = variant;
  const ms = await time(async () => {
    const c = gpu.matmul({ storage: a, shape: [1, m, k], strides: [0, k, 1], offset: 0 }, { storage: b, shape: [1, k, n], strides: [0, n, 1], offset: 0 });
    gpu.materialize(c);
    await gpu.sync();
    gpu.dispose(c);
  });
  gpu.forceMatmulVariant = null;
  const used = gpu.lastMatmulVariant ?? '?';
  gpu.dispose(a);
  gpu.dispose(b);
  return { gflops: (2 * m * n * k) / (ms * 1e6), variant: used };
}

async function attentionTokensPerSecond(gpu: WebGPUBackend, t: number, fused: boolean, backward: boolean): Promise<number> {
  const d = 64;
  const dims: AttentionDims = { batchHeads: 1, queryLength: t, keyLength: t, headDim: d, valueDim: d };
  const options = { causal: true, window: 0, prefix: 0, scale: 1 / Math.sqrt(d) };
  const [q, k, v, g] = [0, 1, 2, 3].map(() => gpu.fromArray(random(t * d), 'float32')) as [Storage, Storage, Storage, Storage];
  const ms = await time(async () => {
    const f = fused ? gpu.attention(q, k, v, dims, options) : gpu.attentionUnfused(q, k, v, dims, options);
    const outs: Storage[] = [f.out, f.lse];
    if (backward) {
      const b = fused ? gpu.attentionBackward(q, k, v, f.out, f.lse, g, dims, options) : gpu.attentionBackwardUnfused(q, k, v, f.out, f.lse, g, dims, options);
      outs.push(b.dq, b.dk, b.dv);
    }
    outs.forEach((s) => gpu.materialize(s));
    await gpu.sync();
    outs.forEach((s) => gpu.dispose(s));
  });
  [q, k, v, g].forEach((s) => gpu.dispose(s));
  return t / (ms / 1000);
}

async function dispatchOverhead(gpu: WebGPUBackend): Promise<{ perKernelUs: number; submitRoundTripUs: number }> {
  const x = gpu.fromArray(new Float32Array([1, 2, 3, 4]), 'float32');
  const kernels = quick ? 500 : 2000;
  const run = async (): Promise<void> => {
    for (let i = 0; i < kernels; i++) gpu.dispose(gpu.reduceRows('sum', x, 1, 4));
    await gpu.sync();
  };
  const perKernelMs = (await time(run)) / kernels;
  const roundTrip = await time(async () => {
    for (let i = 0; i < 50; i++) {
      gpu.dispose(gpu.reduceRows('sum', x, 1, 4));
      await gpu.sync();
    }
  });
  gpu.dispose(x);
  return { perKernelUs: perKernelMs * 1000, submitRoundTripUs: (roundTrip / 50) * 1000 };
}

/** Run bench/compare.ts in a child process, killed after `timeoutMs` (a library that hangs
 * must not stall the benchmark). */
function compare(lib: 'tfjs' | 'ort', timeoutMs: number): Promise<Record<string, unknown>> {
  const script = fileURLToPath(new URL('./compare.ts', import.meta.url));
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', script, lib, JSON.stringify(MATMULS), String(BUDGET_MS)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const line = out.trim().split('\n').pop() ?? '';
      try {
        resolve(JSON.parse(line) as Record<string, unknown>);
      } catch {
        const reason = signal === 'SIGKILL'
          ? `did not finish within ${timeoutMs / 1000} s on Dawn for Node (killed)`
          : `exited with code ${code}: ${err.split('\n').filter((l) => l && !l.includes('XDG_RUNTIME_DIR')).slice(-3).join(' | ')}`;
        resolve({ ok: false, error: reason });
      }
    });
  });
}

async function main(): Promise<void> {
  const started = performance.now();
  const gpu = await createWebGPUBackend();
  console.log(`adapter: ${gpu.adapterName}`);
  // Software rasterisers share the CPU with everything else: record how busy it was.
  const results: Record<string, unknown> = { adapter: gpu.adapterName, date: new Date().toISOString(), quick, cpus: cpus().length, loadAverageAtStart: loadavg()[0] };

  const ours: Record<string, { gflops: number; variant: string }> = {};
  for (const shape of MATMULS) {
    ours[key(shape)] = await matmulGflops(gpu, shape, null);
    console.log(`matmul ${key(shape)}: ${ours[key(shape)]!.gflops.toFixed(2)} GFLOP/s (${ours[key(shape)]!.variant})`);
  }
  const skinny: Record<string, number> = {};
  for (const variant of ['tile64', 'tile32', 'dot'] as const) {
    skinny[variant] = (await matmulGflops(gpu, [4096, 64, 64], variant)).gflops;
  }
  console.log(`skinny 4096x64x64 by variant: ${JSON.stringify(skinny)}`);

  const attention: Record<string, Record<string, number>> = {};
  for (const t of quick ? [1024] : [1024, 2048, 4096]) {
    const fused = await attentionTokensPerSecond(gpu, t, true, false);
    const unfused = await attentionTokensPerSecond(gpu, t, false, false);
    attention[`T=${t}`] = { fusedForward: fused, unfusedForward: unfused };
    console.log(`attention T=${t} d=64 causal: fused ${fused.toFixed(0)} tok/s, unfused ${unfused.toFixed(0)} tok/s`);
  }
  const tb = quick ? 512 : 1024;
  attention[`T=${tb}`] = {
    ...attention[`T=${tb}`],
    fusedForwardBackward: await attentionTokensPerSecond(gpu, tb, true, true),
    unfusedForwardBackward: await attentionTokensPerSecond(gpu, tb, false, true),
  };
  console.log(`attention T=${tb} forward+backward: ${JSON.stringify(attention[`T=${tb}`])}`);

  const overhead = await dispatchOverhead(gpu);
  console.log(`dispatch: ${overhead.perKernelUs.toFixed(1)} us per batched kernel, ${overhead.submitRoundTripUs.toFixed(1)} us per submit+wait`);
  gpu.destroy();

  const tfjs = await compare('tfjs', 180_000);
  console.log(`tfjs-backend-webgpu: ${JSON.stringify(tfjs)}`);
  const ort = await compare('ort', 45_000);
  console.log(`onnxruntime-web (webgpu EP): ${JSON.stringify(ort)}`);

  Object.assign(results, {
    matmulGflops: { titans: ours, skinny4096x64x64ByVariant: skinny, tfjsBackendWebgpu: tfjs, onnxruntimeWebWebgpu: ort },
    attentionTokensPerSecond: { headDim: 64, batchHeads: 1, causal: true, ...attention },
    dispatch: overhead,
    seconds: (performance.now() - started) / 1000,
    loadAverageAtEnd: loadavg()[0],
  });
  const dir = fileURLToPath(new URL('../bench-results/', import.meta.url));
  mkdirSync(dir, { recursive: true });
  writeFileSync(`${dir}webgpu.json`, `${JSON.stringify(results, null, 2)}\n`);
  console.log(`wrote bench-results/webgpu.json in ${((performance.now() - started) / 1000).toFixed(0)} s`);
  process.exit(0);
}

await main();
