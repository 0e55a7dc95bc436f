// Kernel-level speedups of the CPU backend's fast paths against the paths they replace, at the
// shapes of one Transformer++ training step (dim 256, 4 heads, sequence 512, batch 8):
// attention forward+backward (WebAssembly matmul blocks vs the scalar reference kernels),
// RMSNorm, LayerNorm, log-softmax, SiLU and RoPE forward+backward (fused row kernels vs the
// composite ops, as on a backend without the primitives); log-softmax rows of the byte vocabulary
// (the cross-entropy: WebAssembly rows shared with the workers vs the JavaScript loops), a sum over
// the token rows (a norm weight's gradient: reduceMiddle in place vs the transposed copy) and the
// memory's q/k/v causal convolution (its WebAssembly gradient vs the JavaScript loop). Old and new alternate run by run,
// so a noisy machine disturbs both alike; medians are reported.
//
//   node --conditions=source --import tsx kernels.ts [--quick] [--only=name,name]     (THREADS=2 by default)
//   (--only keeps the kernels whose name starts with one of the names, e.g. --only=logSoftmax,sum)
//
// Writes bench-results/kernels.json (kernels-quick.json with --quick; -partial added with --only).
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  CpuBackend, Rng, attention, causalConv, configureCpu, cpuBackend, gradients, keep, layerNorm, logSoftmax, rmsNorm, rope, silu, startCpuWorkers, sum, tidy,
  withBackend, type Tensor,
} from '../../packages/tensor/src/index.js';
import { causalConvBackwardKernel } from '../../packages/tensor/src/cpu/qkv-rows.js';
import { softmaxRowsBackwardJs, softmaxRowsJs } from '../../packages/tensor/src/cpu/rows.js';

const quick = process.argv.includes('--quick');
const threads = Number(process.env['THREADS'] ?? '2');
configureCpu({ threads });
if (threads > 1) startCpuWorkers();

/** A CPU backend without the fused row primitives: the composite ops, as on WebGPU today. */
const composite = new CpuBackend();
for (const name of ['normRows', 'normRowsBackward', 'softmaxRows', 'softmaxRowsBackward', 'ropeRows', 'silu', 'siluBackward'] as const) {
  Object.defineProperty(composite, name, { value: undefined });
}

/** A CPU backend with the paths that newer kernels replaced: JavaScript softmax rows and conv gradient, no reduceMiddle. */
const reference = new CpuBackend();
{
  const f32 = (s: Parameters<CpuBackend['data']>[0]): Float32Array => reference.data(s) as Float32Array;
  Object.defineProperty(reference, 'reduceMiddle', { value: undefined });
  Object.defineProperty(reference, 'softmaxRows', {
    value: (...[x, rows, cols, log]: Parameters<CpuBackend['softmaxRows']>) => {
      const y = new Float32Array(rows * cols);
      softmaxRowsJs(f32(x), rows, cols, log, y);
      return reference.fromArray(y, 'float32');
    },
  });
  Object.defineProperty(reference, 'softmaxRowsBackward', {
    value: (...[y, g, rows, cols, log]: Parameters<CpuBackend['softmaxRowsBackward']>) => {
      const dx = new Float32Array(rows * cols);
      softmaxRowsBackwardJs(f32(y), f32(g), rows, cols, log, dx);
      return reference.fromArray(dx, 'float32');
    },
  });
  Object.defineProperty(reference, 'causalConvBackward', {
    value: (...[x, weight, history, g, dims]: Parameters<CpuBackend['causalConvBackward']>) => {
      const out = [dims.batch * dims.tokens * dims.channels, dims.channels * dims.kernel, dims.channels, dims.batch * dims.past * dims.channels].map((n) => new Float32Array(n));
      causalConvBackwardKernel(f32(x), f32(weight), history ? f32(history) : null, f32(g), dims, out[0]!, out[1]!, out[2]!, out[3]!);
      const [dx, dweight, dbias, dhistory] = out.map((a) => reference.fromArray(a, 'float32'));
      return { dx: dx!, dweight: dweight!, dbias: dbias!, dhistory: dhistory! };
    },
  });
}

const [batch, seq, dim, heads, mlp] = quick ? [1, 64, 32, 2, 88] : [8, 512, 256, 4, 688];
const headDim = dim / heads;
const reps = 3;

/** Forward and backward of f on a backend, at fixed random inputs made once. */
function step(backend: CpuBackend, shapes: number[][], f: (xs: Tensor[]) => Tensor): () => void {
  const rng = new Rng(1);
  const leaves = withBackend(backend, () => shapes.map((s) => keep(rng.normal(s))));
  const w = new Map<string, Tensor>();
  return () => withBackend(backend, () => tidy(() => {
    const xs = leaves.map((l) => {
      const t = l.detach();
      t.requiresGrad = true;
      return t;
    });
    const y = f(xs);
    const key = y.shape.join('x');
    if (!w.has(key)) w.set(key, keep(rng.normal(y.shape)));
    // The CPU backend computes eagerly: no read-back needed to finish the work.
    gradients(y, xs, { gradOutput: w.get(key)! });
  }));
}

interface Entry { kernel: string; shape: string; oldMs: number; newMs: number; speedup: number; old: string; new: string }

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

const only = process.argv.find((a) => a.startsWith('--only='))?.slice('--only='.length).split(',') ?? null;

/** Alternates old and new `reps` times after one warm-up each. */
function compare(kernel: string, shape: string, oldRun: () => void, newRun: () => void, labels: [string, string], before?: () => void, after?: () => void): Entry | null {
  if (only !== null && !only.some((name) => kernel.startsWith(name))) return null;
  const time = (f: () => void, pre?: () => void): number => {
    pre?.();
    const t0 = performance.now();
    f();
    return performance.now() - t0;
  };
  time(oldRun, before);
  time(newRun, after);
  const a: number[] = [];
  const b: number[] = [];
  for (let i = 0; i < reps; i++) {
    a.push(time(oldRun, before));
    b.push(time(newRun, after));
  }
  after?.();
  const e = { kernel, shape, oldMs: round(median(a)), newMs: round(median(b)), speedup: round(median(a) / median(b)), old: labels[0], new: labels[1] };
  console.log(`${kernel.padEnd(34)} ${shape.padEnd(18)} ${String(e.oldMs).padStart(9)} ms -> ${String(e.newMs).padStart(8)} ms  ${e.speedup.toFixed(2)}x`);
  return e;
}
const round = (x: number): number => Math.round(x * 100) / 100;

const rows = [batch * seq, dim];
const qkv = [batch, heads, seq, headDim];
const fused: [string, string] = ['composite ops', 'fused row kernel'];
const entries: (Entry | null)[] = [];
console.log(`CPU kernels, float32, forward+backward, ${threads} threads${quick ? ' (quick)' : ''}; load ${loadavg().map((l) => l.toFixed(1)).join(' ')}`);
entries.push(compare('attention (causal)', qkv.join('x'),
  step(cpuBackend, [qkv, qkv, qkv], ([q, k, v]) => attention(q!, k!, v!)),
  step(cpuBackend, [qkv, qkv, qkv], ([q, k, v]) => attention(q!, k!, v!)),
  ['scalar reference kernels', 'WebAssembly matmul blocks'], () => configureCpu({ wasm: false }), () => configureCpu({ wasm: true })));
for (const [name, f] of [
  ['rmsNorm', ([x]: Tensor[]) => rmsNorm(x!)],
  ['layerNorm', ([x]: Tensor[]) => layerNorm(x!)],
  ['logSoftmax', ([x]: Tensor[]) => logSoftmax(x!)],
] as const) {
  entries.push(compare(name, rows.join('x'), step(composite, [rows], f), step(cpuBackend, [rows], f), fused));
}
const hidden = [batch * seq, mlp];
entries.push(compare('silu (SwiGLU gate)', hidden.join('x'), step(composite, [hidden], ([x]) => silu(x!)), step(cpuBackend, [hidden], ([x]) => silu(x!)), fused));
entries.push(compare('rope', qkv.join('x'), step(composite, [qkv], ([x]) => rope(x!)), step(cpuBackend, [qkv], ([x]) => rope(x!)), fused));
const logits = [batch * seq, 256];
entries.push(compare('logSoftmax (cross-entropy rows)', logits.join('x'), step(reference, [logits], ([x]) => logSoftmax(x!)), step(cpuBackend, [logits], ([x]) => logSoftmax(x!)),
  ['JavaScript loops', 'WebAssembly rows']));
entries.push(compare('sum over rows (axis 0)', rows.join('x'), step(reference, [rows], ([x]) => sum(x!, 0)), step(cpuBackend, [rows], ([x]) => sum(x!, 0)),
  ['transposed copy + reduceRows', 'reduceMiddle in place']));
const conv = [batch, seq, 3 * dim];
entries.push(compare('causalConv (silu, kernel 4)', conv.join('x'),
  step(reference, [conv, [3 * dim, 4], [3 * dim]], ([x, w, b]) => causalConv(x!, w!, b!, { silu: true })),
  step(cpuBackend, [conv, [3 * dim, 4], [3 * dim]], ([x, w, b]) => causalConv(x!, w!, b!, { silu: true })),
  ['JavaScript gradient loop', 'WebAssembly gradient']));

const here = dirname(fileURLToPath(import.meta.url));
// A partial run (--only) writes apart, leaving the full run's file as it was.
const file = join(here, 'bench-results', `kernels${quick ? '-quick' : ''}${only !== null ? '-partial' : ''}.json`);
mkdirSync(dirname(file), { recursive: true });
writeFileSync(`${file}.tmp`, `${JSON.stringify({
  benchmark: 'cpu-kernels', date: new Date().toISOString(), quick, threads, reps,
  machine: { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, node: process.version, loadAverageAfter: loadavg() },
  setup: { batch, seq, dim, heads, mlp, dtype: 'float32', measured: 'forward + backward (gradients of f with a fixed random cotangent) per call, median of alternating runs' },
  entries: entries.filter((e) => e !== null),
}, null, 2)}\n`);
renameSync(`${file}.tmp`, file);
console.log(`wrote ${file}`);
process.exit(0);
