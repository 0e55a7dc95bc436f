// Pipeline creation time of the generated WGSL. `capture` runs a small workload (tiled matmuls
// with fused epilogues, a dot-product matmul, elementwise chains using the special-function
// helpers) and saves every shader it compiled; `compare` takes two such captures (e.g. from
// before and after a generator change, the same workload) and builds each pair of pipelines
// in turn, alternating which goes first, on one device. Every build gets a unique trailing
// comment so no shader cache can answer. Writes JSON.
//
//   node --conditions=source --import tsx bench/shader-compile.ts capture out.json
//   node --conditions=source --import tsx bench/shader-compile.ts compare old.json new.json [--trials 3] [--out file.json]
import { readFileSync } from 'node:fs';
import { cos, erf, gelu, matmul, setBackend, sin, tensor, type Tensor } from '@titans/tensor';
import { createWebGPUBackend } from '../src/node.js';
import { arg, writeJson } from './cli.js';

interface Shader {
  readonly label: string;
  readonly code: string;
}

function filled(n: number, seed: number): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37 + seed) * 0.5);
}

async function capture(path: string): Promise<void> {
  const gpu = await createWebGPUBackend();
  const shaders: Shader[] = [];
  const device = gpu.device;
  const original = device.createShaderModule.bind(device);
  device.createShaderModule = (d: GPUShaderModuleDescriptor) => {
    shaders.push({ label: d.label ?? '', code: d.code });
    return original(d);
  };
  setBackend(gpu);
  const t = (shape: number[], seed: number): Tensor => tensor(filled(shape.reduce((a, b) => a * b, 1), seed), shape);
  const x = t([96, 80], 1);
  const w = t([80, 72], 2);
  const b = t([72], 3);
  const small = t([40, 24], 4);
  const ws = t([24, 36], 5);
  const v = t([24, 1], 6);
  const outs: Tensor[] = [
    matmul(x, w).add(b).tanh(), // tile64 + epilogue
    gelu(matmul(x, w).add(b)), // tile64 + erf epilogue
    matmul(small, ws).sigmoid().mul(2), // tile32
    matmul(small, v).exp(), // dot
    x.exp().add(x.square()).sqrt(),
    sin(x).mul(cos(x)),
    erf(x).mul(x),
    x.abs().add(1).log().pow(1.5),
    x.div(w.sum().add(1)).softplus(),
  ];
  for (const o of outs) await o.data();
  writeJson(path, shaders);
  console.log(`captured ${shaders.length} shaders to ${path}`);
  gpu.destroy();
}

async function build(device: GPUDevice, s: Shader, tag: string): Promise<number> {
  const start = performance.now();
  const module = device.createShaderModule({ code: `${s.code}\n// ${tag}\n`, label: s.label });
  await device.createComputePipelineAsync({ layout: 'auto', compute: { module, entryPoint: 'main' }, label: s.label });
  return performance.now() - start;
}

async function compare(oldPath: string, newPath: string): Promise<void> {
  const olds = JSON.parse(readFileSync(oldPath, 'utf8')) as Shader[];
  const news = JSON.parse(readFileSync(newPath, 'utf8')) as Shader[];
  if (olds.length !== news.length) throw new Error(`captures differ in length: ${olds.length} vs ${news.length}`);
  const trials = Number(arg('trials', '3'));
  const gpu = await createWebGPUBackend();
  const rows: { label: string; oldBytes: number; newBytes: number; oldMs: number; newMs: number }[] = [];
  let tag = 0;
  for (let i = 0; i < olds.length; i++) {
    let oldMs = 0;
    let newMs = 0;
    for (let k = 0; k < trials; k++) {
      if ((i + k) % 2 === 0) {
        oldMs += await build(gpu.device, olds[i]!, `t${tag++}`);
        newMs += await build(gpu.device, news[i]!, `t${tag++}`);
      } else {
        newMs += await build(gpu.device, news[i]!, `t${tag++}`);
        oldMs += await build(gpu.device, olds[i]!, `t${tag++}`);
      }
    }
    const row = { label: olds[i]!.label, oldBytes: olds[i]!.code.length, newBytes: news[i]!.code.length, oldMs: oldMs / trials, newMs: newMs / trials };
    rows.push(row);
    console.log(`${i} ${row.label}: ${row.oldBytes} -> ${row.newBytes} B, ${row.oldMs.toFixed(1)} -> ${row.newMs.toFixed(1)} ms (${(row.oldMs / row.newMs).toFixed(2)}x)`);
  }
  const oldTotal = rows.reduce((s, r) => s + r.oldMs, 0);
  const newTotal = rows.reduce((s, r) => s + r.newMs, 0);
  console.log(`total: ${oldTotal.toFixed(0)} -> ${newTotal.toFixed(0)} ms (${(oldTotal / newTotal).toFixed(2)}x)`);
  writeJson(arg('out', 'bench-results/webgpu-shader-compile.json'), { adapter: gpu.adapterName, trials, oldTotalMs: oldTotal, newTotalMs: newTotal, shaders: rows });
  gpu.destroy();
}

const [mode, a, b] = process.argv.slice(2);
if (mode === 'capture' && a) await capture(a);
else if (mode === 'compare' && a && b) await compare(a, b);
else throw new Error('usage: shader-compile.ts capture <out.json> | compare <old.json> <new.json> [--trials N] [--out file.json]');
