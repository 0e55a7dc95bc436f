// Run time of the tiled matmul's fused epilogue: the generated kernel (epilogue in a loop over
// each thread's 4x4 outputs) against the same kernel with the epilogue unrolled per output
// (the form before 2026-12-07, rebuilt here from the generated source by rewriting the loop
// into 16 copies). matmul + bias + relu, fused into one kernel; the two forms take turns run
// by run on one backend, and the results must be bit-identical. Writes JSON.
//
//   node --conditions=source --import tsx bench/matmul-epilogue.ts [--rounds 5] [--shapes 256x256x256,...] [--out file.json]
import type { Storage } from '@titans/tensor';
import { createWebGPUBackend, type WebGPUBackend } from '../src/node.js';
import { arg, writeJson } from './cli.js';
import { random } from './timing.js';

const LOOP = /var outs = array<(\w+), 16>\(([^)]*)\);\n\s*for \(var e = 0u; e < 16u; e\+\+\) \{\n\s*let gr = row0 \+ ty \* 4u \+ e \/ 4u;\n\s*let gc = col0 \+ tx \* 4u \+ e % 4u;\n\s*if \(gr < M && gc < N\) \{ epilogue\(obase \+ gr \* N \+ gc, outs\[e\]\); \}\n\s*\}/;

/** The generated tiled source with its epilogue loop written out as 16 unrolled calls. */
function unrolled(code: string): string {
  if (!LOOP.test(code)) throw new Error('matmul-epilogue: the tiled kernel no longer has the expected epilogue loop');
  const lines: string[] = [];
  for (let r = 0; r < 4; r++) lines.push(`let gr${r} = row0 + ty * 4u + ${r}u;`);
  for (let c = 0; c < 4; c++) lines.push(`let gc${c} = col0 + tx * 4u + ${c}u;`);
  for (let r = 0; r < 4; r++) {
    for (let c = 0; c < 4; c++) lines.push(`if (gr${r} < M && gc${c} < N) { epilogue(obase + gr${r} * N + gc${c}, acc${r}_${c}); }`);
  }
  return code.replace(LOOP, lines.join('\n  '));
}

let rewrite = false;

function patch(gpu: WebGPUBackend): void {
  const rt = gpu.rt;
  const original = rt.pipeline.bind(rt);
  rt.pipeline = (label: string, code: string) => original(label, rewrite && label === 'matmul' ? unrolled(code) : code);
}

async function run(gpu: WebGPUBackend, a: Storage, b: Storage, bias: Storage, [m, k, n]: number[]): Promise<{ ms: number; out: Float32Array }> {
  const t0 = performance.now();
  const c = gpu.matmul({ storage: a, shape: [1, m!, k!], strides: [0, k!, 1], offset: 0 }, { storage: b, shape: [1, k!, n!], strides: [0, n!, 1], offset: 0 });
  const s = gpu.binary('add', { storage: c, shape: [m!, n!], strides: [n!, 1], offset: 0 }, { storage: bias, shape: [m!, n!], strides: [0, 1], offset: 0 }, 'float32');
  const y = gpu.unary('relu', { storage: s, shape: [m!, n!], strides: [n!, 1], offset: 0 }, 'float32');
  gpu.materialize(y);
  await gpu.sync();
  const ms = performance.now() - t0;
  const out = (await gpu.read(y)) as Float32Array;
  [c, s, y].forEach((v) => gpu.dispose(v));
  return { ms, out };
}

const rounds = Number(arg('rounds', '5'));
const shapes: number[][] = arg('shapes', '256x256x256,512x512x512,1024x64x1024,200x300x136,48x200x40')
  .split(',').map((s) => s.split('x').map(Number));
const gpu = await createWebGPUBackend();
patch(gpu);
const results: { shape: string; variant: string; loopMs: number; unrolledMs: number; ratio: number }[] = [];
for (const shape of shapes) {
  const [m, k, n] = shape as [number, number, number];
  const a = gpu.fromArray(random(m * k), 'float32');
  const b = gpu.fromArray(random(k * n), 'float32');
  const bias = gpu.fromArray(random(n), 'float32');
  const times = { loop: [] as number[], unrolled: [] as number[] };
  let reference: Float32Array | null = null;
  for (let r = -1; r < rounds; r++) {
    for (const form of r % 2 === 0 ? (['loop', 'unrolled'] as const) : (['unrolled', 'loop'] as const)) {
      rewrite = form === 'unrolled';
      const { ms, out } = await run(gpu, a, b, bias, shape);
      if (r >= 0) times[form].push(ms);
      if (!reference) reference = out;
      else if (!out.every((v, i) => Object.is(v, reference![i]))) throw new Error(`matmul-epilogue: ${form} differs from the other form at ${shape.join('x')}`);
    }
  }
  const median = (xs: number[]) => [...xs].sort((p, q) => p - q)[Math.floor(xs.length / 2)]!;
  const row = { shape: shape.join('x'), variant: gpu.lastMatmulVariant ?? '?', loopMs: median(times.loop), unrolledMs: median(times.unrolled), ratio: median(times.unrolled) / median(times.loop) };
  results.push(row);
  console.log(`${row.shape} (${row.variant}): loop ${row.loopMs.toFixed(1)} ms, unrolled ${row.unrolledMs.toFixed(1)} ms (unrolled/loop ${row.ratio.toFixed(2)}), bit-identical`);
  [a, b, bias].forEach((v) => gpu.dispose(v));
}
const out = arg('out', 'bench-results/webgpu-matmul-epilogue.json');
writeJson(out, { adapter: gpu.adapterName, rounds, date: new Date().toISOString(), results });
gpu.destroy();
