// CPU benchmarks for @titans/tensor: float32 matmul GFLOP/s next to onnxruntime-node and
// TensorFlow.js (wasm and cpu backends), measured in the same run so ratios are meaningful
// on a noisy shared machine, plus training throughput of a tiny MLP.
//
//   pnpm bench            (node --conditions=source --import tsx bench/run.ts)
//   BENCH_QUICK=1 pnpm bench   fewer repetitions
//
// Writes bench-results/tensor.json (in this package).
import { mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import {
  Rng, configureCpu, cpuInfo, gradients, keep, matmul, mseLoss, nn, optim, sin, startCpuWorkers, tidy, type Tensor,
} from '@titans/tensor';
import { matmulModel } from './onnx-model.js';
import { benchCompile, printCompileBench } from './compile.js';

const quick = process.env['BENCH_QUICK'] === '1';
const packageDir = join(dirname(fileURLToPath(import.meta.url)), '..');

interface Shape {
  label: string;
  m: number;
  k: number;
  n: number;
}

const SHAPES: Shape[] = [
  { label: '64^3', m: 64, k: 64, n: 64 },
  { label: '256^3', m: 256, k: 256, n: 256 },
  { label: '512^3', m: 512, k: 512, n: 512 },
  { label: '1024^3', m: 1024, k: 1024, n: 1024 },
  { label: '4096x64 @ 64x64', m: 4096, k: 64, n: 64 },
];

interface Timing {
  medianMs: number;
  reps: number;
}

/** Median time of `fn` after a warm-up, repeating until `budgetMs` is spent (at least 3 times). */
async function time(fn: () => unknown | Promise<unknown>, budgetMs: number, maxReps = 200, minReps = 3): Promise<Timing> {
  if (minReps > 1) await fn();
  const samples: number[] = [];
  const start = performance.now();
  while (samples.length < minReps || (performance.now() - start < budgetMs && samples.length < maxReps)) {
    const t0 = performance.now();
    await fn();
    samples.push(performance.now() - t0);
  }
  samples.sort((a, b) => a - b);
  return { medianMs: samples[Math.floor(samples.length / 2)]!, reps: samples.length };
}

function randomData(size: number, seed: number): Float32Array {
  return Float32Array.from(new Rng(seed).normalArray(size));
}

interface MatmulResult {
  shape: string;
  implementation: string;
  gflops: number;
  medianMs: number;
  reps: number;
}

type Runner = { name: string; setup: (s: Shape, a: Float32Array, b: Float32Array) => Promise<() => unknown | Promise<unknown>>; teardown?: () => void };

function titansRunner(name: string, settings: Parameters<typeof configureCpu>[0]): Runner {
  return {
    name,
    setup: async (s, a, b) => {
      configureCpu(settings);
      if ((settings.threads ?? 1) > 1) startCpuWorkers();
      const ta = keep(tidy(() => tensorOf(a, [s.m, s.k])));
      const tb = keep(tidy(() => tensorOf(b, [s.k, s.n])));
      return () => tidy(() => { matmul(ta, tb); });
    },
  };
}

// Imported lazily to keep the top of the file about what is measured.
let tensorOf: (data: Float32Array, shape: number[]) => Tensor;

function ortRunner(threads: number): Runner {
  return {
    name: `onnxruntime-node (${threads} thread${threads > 1 ? 's' : ''})`,
    setup: async (s, a, b) => {
      const session = await ort.InferenceSession.create(matmulModel(s.m, s.k, s.n), { intraOpNumThreads: threads, interOpNumThreads: 1 });
      const feeds = { A: new ort.Tensor('float32', a, [s.m, s.k]), B: new ort.Tensor('float32', b, [s.k, s.n]) };
      return () => session.run(feeds);
    },
  };
}

function tfjsRunner(backend: 'wasm' | 'cpu'): Runner {
  return {
    name: `tfjs-backend-${backend}${backend === 'wasm' ? ' (1 thread)' : ''}`,
    setup: async (s, a, b) => {
      await tf.setBackend(backend);
      await tf.ready();
      const ta = tf.tensor2d(a, [s.m, s.k]);
      const tb = tf.tensor2d(b, [s.k, s.n]);
      return () => {
        const c = tf.matMul(ta, tb);
        c.dataSync();
        c.dispose();
      };
    },
  };
}

async function benchMatmul(): Promise<MatmulResult[]> {
  const cores = os.availableParallelism();
  const runners: Runner[] = [
    titansRunner('titans cpu (JavaScript kernels)', { wasm: false, threads: 1 }),
    titansRunner('titans cpu (wasm SIMD, 1 thread)', { wasm: true, threads: 1 }),
    ...(cores > 1 ? [titansRunner(`titans cpu (wasm SIMD, ${cores} threads)`, { wasm: true, threads: cores })] : []),
    ortRunner(1),
    ...(cores > 1 ? [ortRunner(cores)] : []),
    tfjsRunner('wasm'),
    tfjsRunner('cpu'),
  ];
  const results: MatmulResult[] = [];
  for (const shape of SHAPES) {
    const flops = 2 * shape.m * shape.k * shape.n;
    const a = randomData(shape.m * shape.k, 1);
    const b = randomData(shape.k * shape.n, 2);
    for (const runner of runners) {
      const slow = flops > 1e9 && (runner.name.includes('JavaScript') || runner.name.includes('tfjs-backend-cpu'));
      const fn = await runner.setup(shape, a, b);
      // Seconds per call: one timed call, no warm-up.
      const t = slow ? await time(fn, 0, 1, 1) : await time(fn, quick ? 150 : 700);
      const gflops = flops / (t.medianMs * 1e6);
      results.push({ shape: shape.label, implementation: runner.name, gflops, medianMs: t.medianMs, reps: t.reps });
      process.stdout.write(`  ${shape.label.padEnd(16)} ${runner.name.padEnd(36)} ${gflops.toFixed(2).padStart(8)} GFLOP/s  (${t.medianMs.toFixed(3)} ms, ${t.reps} reps)\n`);
    }
  }
  configureCpu({ wasm: true, threads: cores });
  return results;
}

interface TrainingResult {
  model: string;
  batchTokens: number;
  parameters: number;
  stepMs: number;
  tokensPerSecond: number;
  finalLoss: number;
}

/** A 2-layer MLP (64 -> 256 -> 64, GELU) regressing a fixed random map, AdamW, tidy per step. */
async function benchTraining(): Promise<TrainingResult> {
  const dim = 64;
  const hidden = 256;
  const tokens = 256;
  class Mlp extends nn.Module {
    readonly up = new nn.Linear(dim, hidden, { rng: new Rng(1) });
    readonly down = new nn.Linear(hidden, dim, { rng: new Rng(2) });
    forward(x: Tensor): Tensor {
      return this.down.forward(this.up.forward(x).tanh());
    }
  }
  const model = new Mlp();
  const params = model.parameters();
  const optimizer = new optim.AdamW(params, { lr: 1e-3 });
  const rng = new Rng(3);
  const x = keep(rng.normal([tokens, dim]));
  const target = keep(tidy(() => sin(x.matmul(rng.normal([dim, dim], 0, 0.2)))));
  let lastLoss = NaN;
  const step = (): void => {
    const loss = tidy(() => {
      const loss = mseLoss(model.forward(x), target);
      optimizer.step(gradients(loss, params));
      return loss;
    });
    lastLoss = loss.item();
    loss.dispose();
  };
  const t = await time(step, quick ? 300 : 3000, 2000);
  return {
    model: `MLP ${dim}-${hidden}-${dim} (tanh), AdamW, float32`,
    batchTokens: tokens,
    parameters: model.parameterCount(),
    stepMs: t.medianMs,
    tokensPerSecond: tokens / (t.medianMs / 1000),
    finalLoss: lastLoss,
  };
}

function table(results: MatmulResult[]): string {
  const impls = [...new Set(results.map((r) => r.implementation))];
  const header = ['shape', ...impls];
  const rows = SHAPES.map((s) => [s.label, ...impls.map((impl) => results.find((r) => r.shape === s.label && r.implementation === impl)?.gflops.toFixed(2) ?? '-')]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string => `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}

async function main(): Promise<void> {
  const { tensor } = await import('@titans/tensor');
  tensorOf = (data, shape) => tensor(data, shape);
  const require = createRequire(import.meta.url);
  setWasmPaths(`${dirname(require.resolve('@tensorflow/tfjs-backend-wasm'))}/`);
  tf.env().set('IS_TEST', false);

  const started = performance.now();
  console.log(`@titans/tensor benchmarks: ${os.cpus()[0]?.model ?? 'cpu'} x${os.availableParallelism()}, node ${process.version}${quick ? ' (quick)' : ''}`);
  console.log('\nfloat32 matmul, GFLOP/s (median):');
  const matmuls = await benchMatmul();
  console.log(`\n${table(matmuls)}\n`);
  console.log('training step:');
  const training = await benchTraining();
  console.log(`  ${training.model}, ${training.batchTokens} tokens/step: ${training.stepMs.toFixed(2)} ms/step, ${Math.round(training.tokensPerSecond).toLocaleString('en')} tokens/s (loss ${training.finalLoss.toFixed(4)})`);

  console.log('');
  const compileResult = benchCompile(quick);
  printCompileBench(compileResult);
  configureCpu({ threads: os.availableParallelism() });

  const out = {
    benchmark: '@titans/tensor',
    date: new Date().toISOString(),
    machine: { cpu: os.cpus()[0]?.model ?? 'unknown', cores: os.availableParallelism(), node: process.version, platform: `${process.platform}-${process.arch}` },
    titansCpu: cpuInfo(),
    versions: { onnxruntimeNode: require('onnxruntime-node/package.json').version as string, tfjsCore: tf.version_core },
    quick,
    matmul: matmuls,
    training,
    compile: compileResult,
    seconds: (performance.now() - started) / 1000,
  };
  const dir = join(packageDir, 'bench-results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'tensor.json'), `${JSON.stringify(out, null, 2)}\n`);
  console.log(`\nwrote ${join(dir, 'tensor.json')} in ${out.seconds.toFixed(0)} s`);
  // Worker threads and native sessions would keep the process alive.
  process.exit(0);
}

await main();
