// The fused memory scan's surprise clamp on the float32 SIMD path: the pass in WebAssembly
// (clampSquares, clampFactors, clampScale) against the JavaScript pass it replaced (clampRows,
// `simdClamp: false`), alternating in one process, each figure the least CPU time (user + system)
// of MEMORY_CLAMP_REPS runs (default 7) per side after one warm-up. The issue-21 shapes: 4 memories
// (heads) of width 64, 4096 tokens, chunk 64, y_post only (the module's forward), clamp 1 (the
// model presets' bound): the plain linear memory, the plain 2-layer MLP memory (hidden 256) and
// the models' memory (that MLP with a residual and LayerNorm: the staged surprise pass).
//
// Run: node --conditions=source --import tsx bench/memory-clamp.ts
// Prints a table and one JSON line.
import { memoryScanCpu, type MemoryScanArrays } from '../src/cpu/memory-scan.js';
import type { MemoryScanDims } from '../src/backend.js';
import { Rng } from '../src/index.js';

const reps = Math.max(1, Number(process.env.MEMORY_CLAMP_REPS ?? 7));
const memories = 4;
const tokens = 4096;
const width = 64;

function arrays(layers: readonly (readonly [number, number])[]): MemoryScanArrays {
  const rng = new Rng(5);
  const din = layers[0]![1];
  const dout = layers[layers.length - 1]![0];
  const f32 = (a: ArrayLike<number>): Float32Array => Float32Array.from(a);
  const rows = (d: number): Float32Array => {
    const a = f32(rng.normal([memories * tokens * d]).dataSync());
    for (let r = 0; r < memories * tokens; r++) {
      let s = 0;
      for (let j = 0; j < d; j++) s += a[r * d + j]! ** 2;
      for (let j = 0; j < d; j++) a[r * d + j]! /= Math.sqrt(s);
    }
    return a;
  };
  const uniform = (lo: number, hi: number): Float32Array => f32(rng.uniform([memories * tokens], lo, hi).dataSync());
  return {
    k: rows(din), q: rows(din), v: f32(rng.normal([memories * tokens * dout]).dataSync()),
    theta: uniform(0.005, 0.1), eta: uniform(0.5, 0.9), alpha: uniform(0, 0.02),
    weights: layers.map(([o, i]) => f32(rng.normal([memories * o * i], 0, 1 / Math.sqrt(i)).dataSync())),
    momentum: layers.map(([o, i]) => new Float32Array(memories * o * i)),
  };
}

const results: Record<string, { jsMs: number; wasmMs: number; speedup: number }> = {};
const mlp: [number, number][] = [[4 * width, width], [width, 4 * width]];
const memoryKinds: [string, [number, number][], boolean][] = [['linear', [[width, width]], false], ['mlp2', mlp, false], ['mlp2+res+norm', mlp, true]];
for (const [name, layers, models] of memoryKinds) {
  const x = arrays(layers);
  const dims: MemoryScanDims = {
    memories, tokens, chunk: 64, layers, activation: 'silu', residual: models, norm: models, yPre: false, maxSurpriseNorm: 1,
  };
  const cpuMs = (simdClamp: boolean): number => {
    const c0 = process.cpuUsage();
    memoryScanCpu(x, dims, 'float32', { simdClamp });
    const c = process.cpuUsage(c0);
    return (c.user + c.system) / 1000;
  };
  cpuMs(false);
  cpuMs(true);
  let js = Infinity;
  let wasm = Infinity;
  for (let i = 0; i < reps; i++) {
    js = Math.min(js, cpuMs(false));
    wasm = Math.min(wasm, cpuMs(true));
  }
  results[name] = { jsMs: js, wasmMs: wasm, speedup: js / wasm };
  console.log(`${name.padEnd(14)} clamp in JS ${js.toFixed(1).padStart(7)} ms   in WebAssembly ${wasm.toFixed(1).padStart(7)} ms   ${(js / wasm).toFixed(3)}x`);
}
console.log(JSON.stringify({ bench: 'memory-clamp', memories, tokens, width, chunk: 64, reps, results }));
