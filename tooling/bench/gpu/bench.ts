// The GPU benchmark, this project's side (WebGPU through Dawn in Node). Run by
// tooling/scripts/gpu-bench.sh, which also runs the PyTorch CUDA peer (peer.py) and merges:
//
//   bench plan  --smoke|--full --out plan.json      the case list both sides measure (plan.ts)
//   bench run   --plan plan.json --out ours.json    adapter info, matmul, attention, memory scan, training
//   bench merge --dir DIR                           DIR/{plan,ours,peer}.json -> DIR/gpu-bench.{json,md}
//
// `run` writes ours.json after every section (atomically), so a run stopped from outside
// still leaves what it measured. Each case is timed as the median of up to 5 calls after one
// warm-up call (pipeline compiles, pool), each ending in a read of one number, and is skipped
// ("skipped: budget") when its predicted time does not fit what is left of its section.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { AttentionDims, Storage, Tensor } from '../../../packages/tensor/src/index.js';
import { Rng, add, gradients, l2Normalize, mul, noGrad, setBackend, sum, tidy, cpuBackend } from '../../../packages/tensor/src/index.js';
import { createWebGPUBackend, type WebGPUBackend } from '../../../packages/webgpu/src/node.js';
import { initialState, memoryPreset, mlpArchitecture, scanParallel, weightShapes, type MemoryRule } from '../../../packages/memory/src/index.js';
import { countParameters, createModel, defineConfig, train, type BatchSource, type TrainingBatch } from '../../../packages/models/src/index.js';
import { SECTIONS, makePlan, type AttentionCase, type MatmulCase, type Measurement, type MemoryCase, type Plan, type SectionName, type SideResult, type TrainCase } from './plan.js';
import { merge } from './report.js';

function option(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i < 0 ? undefined : process.argv[i + 1];
}
function required(name: string): string {
  const value = option(name);
  if (value === undefined) throw new Error(`gpu bench: ${name} is required`);
  return value;
}

/** Writes JSON through a temporary file and a rename, so a reader never sees half a file. */
export function writeJsonAtomic(path: string, value: unknown): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, `${JSON.stringify(value, null, 2)}\n`);
  renameSync(tmp, path);
}

const log = (line: string): void => { process.stderr.write(`[gpu-bench] ${line}\n`); };
const round = (x: number, digits = 3): number => Number(x.toPrecision(digits + 2));
const now = (): number => performance.now() / 1000;

/** Median seconds of `call` after one warm-up call; up to 5 timed calls while they fit `deadline`. */
async function medianSeconds(call: () => Promise<void>, deadline: number): Promise<{ seconds: number; warmupS: number; reps: number }> {
  const w0 = now();
  await call();
  const warmupS = now() - w0;
  const samples: number[] = [];
  while (samples.length < 1 || (samples.length < 5 && now() + samples[samples.length - 1]! < deadline)) {
    const t0 = now();
    await call();
    samples.push(now() - t0);
  }
  samples.sort((a, b) => a - b);
  return { seconds: samples[Math.floor(samples.length / 2)]!, warmupS, reps: samples.length };
}

/**
 * Runs the cases of one section in order, skipping a case whose predicted time (the seconds
 * per call per unit of work of the last measured case of the same group, after its warm-up,
 * times this case's work, for a warm-up and one timed call; pipelines are compiled per
 * structure, not per size, so a larger case of a group compiles nothing new) does not fit
 * before the section's deadline. A case in progress is never interrupted.
 */
async function runSection<C extends { id: string }>(
  name: SectionName, budgetS: number, cases: readonly C[],
  group: (c: C) => string, work: (c: C) => number,
  measure: (c: C, deadline: number) => Promise<{ measurement: Measurement; seconds: number }>,
): Promise<{ elapsedS: number; results: Record<string, Measurement> }> {
  const start = now();
  const deadline = start + budgetS;
  const rate = new Map<string, number>();
  const results: Record<string, Measurement> = {};
  for (const c of cases) {
    const left = deadline - now();
    const perWork = rate.get(group(c));
    // work 0: no prediction (training stops itself at its share of the budget).
    const predicted = perWork === undefined || work(c) === 0 ? 0 : 2 * perWork * work(c);
    if (left <= 0.2 || predicted > left) {
      results[c.id] = { skipped: `budget: ${Math.max(0, left).toFixed(1)} s left of ${budgetS} s${predicted > 0 ? `, predicted ${predicted.toFixed(1)} s` : ''}` };
      log(`${name} ${c.id}: skipped (budget)`);
      continue;
    }
    try {
      const { measurement, seconds } = await measure(c, deadline);
      results[c.id] = measurement;
      if (seconds > 0 && work(c) > 0) rate.set(group(c), seconds / work(c));
      log(`${name} ${c.id}: ${'value' in measurement ? `${measurement.value} ${measurement.unit}` : measurement.skipped}`);
    } catch (err) {
      results[c.id] = { skipped: `error: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}` };
      log(`${name} ${c.id}: error ${String(err)}`);
    }
  }
  return { elapsedS: round(now() - start), results };
}

// ---------------------------------------------------------------- adapter

interface NodeWebGPU { create(flags: string[]): GPU; globals: object }
const keepAlive: unknown[] = [];

/** npm `webgpu` (Dawn): a bare import where it resolves (the prepared bundle carries it beside
 * bench.mjs), else the copy @titans/webgpu depends on (a checkout with node_modules). */
async function loadDawn(): Promise<NodeWebGPU> {
  const specifier = 'webgpu'; // not a literal: the type checker need not resolve it from tooling/
  try {
    return (await import(specifier)) as NodeWebGPU;
  } catch {
    const require = createRequire(new URL('../../../packages/webgpu/package.json', import.meta.url));
    return (await import(pathToFileURL(require.resolve('webgpu')).href)) as unknown as NodeWebGPU;
  }
}

async function openAdapter(): Promise<{ adapter: GPUAdapter; info: Record<string, unknown> }> {
  const mod = await loadDawn();
  for (const [key, value] of Object.entries(mod.globals)) {
    if (!(key in globalThis)) (globalThis as Record<string, unknown>)[key] = value;
  }
  const gpu = mod.create([]);
  keepAlive.push(gpu);
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) throw new Error('no WebGPU adapter (Vulkan loader or driver missing? see tooling/scripts/gpu-bench.sh)');
  keepAlive.push(adapter);
  const info = adapter.info as GPUAdapterInfo | undefined;
  const limits: Record<string, number> = {};
  const source = adapter.limits as unknown as Record<string, unknown>;
  const names = new Set<string>();
  for (const key in source) names.add(key);
  for (let proto = Object.getPrototypeOf(source) as object | null; proto && proto !== Object.prototype; proto = Object.getPrototypeOf(proto) as object | null) {
    for (const key of Object.getOwnPropertyNames(proto)) names.add(key);
  }
  for (const key of [...names].sort()) {
    const value = source[key];
    if (typeof value === 'number') limits[key] = value;
  }
  return {
    adapter,
    info: {
      vendor: info?.vendor ?? '', architecture: info?.architecture ?? '', device: info?.device ?? '', description: info?.description ?? '',
      features: [...adapter.features].map(String).sort(), limits,
      vkIcd: process.env['VK_ICD_FILENAMES'] ?? process.env['VK_DRIVER_FILES'] ?? null,
    },
  };
}

// ---------------------------------------------------------------- sections

function random(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

async function matmul(gpu: WebGPUBackend, c: MatmulCase, deadline: number): Promise<{ measurement: Measurement; seconds: number }> {
  const a = gpu.fromArray(random(c.m * c.k, 1), 'float32');
  const b = gpu.fromArray(random(c.k * c.n, 2), 'float32');
  try {
    const t = await medianSeconds(async () => {
      const out = gpu.matmul({ storage: a, shape: [1, c.m, c.k], strides: [0, c.k, 1], offset: 0 }, { storage: b, shape: [1, c.k, c.n], strides: [0, c.n, 1], offset: 0 });
      gpu.materialize(out);
      await gpu.sync();
      gpu.dispose(out);
    }, deadline);
    const flops = 2 * c.m * c.k * c.n;
    return {
      measurement: { value: round(flops / t.seconds / 1e9), unit: 'GFLOP/s', detail: { ms: round(t.seconds * 1e3), variant: gpu.lastMatmulVariant ?? null, reps: t.reps } },
      seconds: t.seconds,
    };
  } finally {
    gpu.dispose(a);
    gpu.dispose(b);
  }
}

async function attention(gpu: WebGPUBackend, c: AttentionCase, deadline: number): Promise<{ measurement: Measurement; seconds: number }> {
  const n = c.heads * c.tokens * c.headDim;
  const dims: AttentionDims = { batchHeads: c.heads, queryLength: c.tokens, keyLength: c.tokens, headDim: c.headDim, valueDim: c.headDim };
  const options = { causal: true, window: c.window, prefix: 0, scale: 1 / Math.sqrt(c.headDim) };
  const inputs = [1, 2, 3, 4].map((seed) => gpu.fromArray(random(n, seed), 'float32')) as [Storage, Storage, Storage, Storage];
  const [q, k, v, g] = inputs;
  try {
    const t = await medianSeconds(async () => {
      const f = gpu.attention(q, k, v, dims, options);
      const outs: Storage[] = [f.out, f.lse];
      if (c.backward) {
        const b = gpu.attentionBackward(q, k, v, f.out, f.lse, g, dims, options);
        outs.push(b.dq, b.dk, b.dv);
      }
      for (const s of outs) gpu.materialize(s);
      await gpu.sync();
      for (const s of outs) gpu.dispose(s);
    }, deadline);
    return { measurement: { value: round(c.tokens / t.seconds), unit: 'tokens/s', detail: { ms: round(t.seconds * 1e3), reps: t.reps } }, seconds: t.seconds };
  } finally {
    for (const s of inputs) gpu.dispose(s);
  }
}

function memoryRule(c: MemoryCase): MemoryRule {
  const headDim = c.dim / c.heads;
  return c.kind === 'linear'
    ? memoryPreset('titans-linear', headDim, { chunkSize: c.chunk })
    : memoryPreset('titans', headDim, { chunkSize: c.chunk, architecture: mlpArchitecture(4 * headDim, { residual: false, norm: false }) });
}

async function memory(c: MemoryCase, deadline: number): Promise<{ measurement: Measurement; seconds: number }> {
  const headDim = c.dim / c.heads;
  if (!Number.isInteger(headDim)) throw new Error(`dim ${c.dim} is not divisible by heads ${c.heads}`);
  const rule = memoryRule(c);
  const rng = new Rng(7);
  const rows = [1, c.heads, c.tokens, headDim];
  const gates = [1, c.heads, c.tokens];
  const leaves = tidy(() => ({
    k: l2Normalize(rng.normal(rows), -1), v: rng.normal(rows), q: l2Normalize(rng.normal(rows), -1),
    theta: rng.uniform(gates, 0.01, 0.05), eta: rng.uniform(gates, 0.5, 0.9), alpha: rng.uniform(gates, 0, 0.02),
    weights: weightShapes(rule.architecture, headDim).map(([out, inp]) => rng.normal([c.heads, out, inp], 0, 1 / Math.sqrt(inp))),
    g: rng.normal(rows),
  }));
  const all: Tensor[] = [leaves.k, leaves.v, leaves.q, leaves.theta, leaves.eta, leaves.alpha, ...leaves.weights, leaves.g];
  try {
    const t = await medianSeconds(async () => {
      const total = tidy(() => {
        const { k, v, q, theta, eta, alpha, weights, g } = leaves;
        if (!c.backward) return noGrad(() => sum(scanParallel(rule, { k, v, q, theta, eta, alpha }, initialState(weights, rule)).yPost));
        // Tracked copies: gradients needs inputs with requiresGrad (plain leaves were refused
        // since; before that they silently got zeros and this timed no backward pass at all).
        const wrt = [k, v, q, theta, eta, alpha, ...weights].map((t) => {
          const leaf = t.detach();
          leaf.requiresGrad = true;
          return leaf;
        });
        const [tk, tv, tq, tTheta, tEta, tAlpha] = wrt as [Tensor, Tensor, Tensor, Tensor, Tensor, Tensor];
        const y = scanParallel(rule, { k: tk, v: tv, q: tq, theta: tTheta, eta: tEta, alpha: tAlpha }, initialState(wrt.slice(6), rule)).yPost;
        const grads = gradients(sum(mul(y, g)), wrt);
        return grads.map((x) => sum(x)).reduce((acc, x) => add(acc, x));
      });
      await total.data();
      total.dispose();
    }, deadline);
    return { measurement: { value: round(c.tokens / t.seconds), unit: 'tokens/s', detail: { ms: round(t.seconds * 1e3), headDim, reps: t.reps } }, seconds: t.seconds };
  } finally {
    for (const x of all) x.dispose();
  }
}

/** Fixed pseudo-random bytes (Knuth's multiplicative hash) as next-byte rows. */
class Bytes implements BatchSource<number> {
  private position = 0;
  constructor(private readonly batchSize: number, private readonly sequenceLength: number) {}
  next(): TrainingBatch {
    const n = this.batchSize * this.sequenceLength;
    const token = (i: number): number => (Math.imul(i + 1, 2654435761) >>> 24) % 256;
    const inputs = Int32Array.from({ length: n }, (_, i) => token(this.position + i));
    const targets = Int32Array.from({ length: n }, (_, i) => token(this.position + i + 1));
    this.position += n;
    return { inputs, targets, batchSize: this.batchSize, sequenceLength: this.sequenceLength };
  }
  state(): number { return this.position; }
  restore(position: number): void { this.position = position; }
}


async function training(gpu: WebGPUBackend, c: TrainCase, deadline: number, casesLeft: number): Promise<{ measurement: Measurement; seconds: number }> {
  const config = defineConfig({
    architecture: c.architecture, vocabSize: 256, dim: c.dim, layers: c.layers, heads: c.heads, mlpHidden: c.mlpHidden,
    window: c.window, segmentLength: c.segmentLength, persistentTokens: c.persistentTokens, tieEmbeddings: false, seed: 0,
    memory: { heads: c.memoryHeads, chunkSize: c.memoryChunk },
  });
  const model = createModel(config);
  const params = countParameters(model);
  const controller = new AbortController();
  const share = Math.max(1, (deadline - now()) / casesLeft);
  const timer = setTimeout(() => controller.abort(), share * 1000);
  const marks: number[] = [];
  let loss = NaN;
  const start = now();
  try {
    await train({
      model, steps: c.steps, batches: new Bytes(c.batch, c.seq), optimizer: { lr: 1e-3, weightDecay: 0.1 }, schedule: 'constant', clipNorm: 1,
      signal: controller.signal,
      log: (e) => {
        if (e.type !== 'step') return;
        marks.push(now());
        loss = e.loss;
      },
    });
  } finally {
    clearTimeout(timer);
    for (const p of model.parameters()) p.dispose();
    gpu.trim();
  }
  // The first steps trace and compile the step (train() compiles by default: steps 1 and 2
  // trace); the rate is taken over the steps after them.
  const untimed = c.untimedSteps;
  const firstStepS = marks.length > 0 ? marks[0]! - start : now() - start;
  if (marks.length < untimed + 2) {
    return { measurement: { skipped: `budget: ${marks.length} of ${c.steps} steps in ${share.toFixed(1)} s (first step ${firstStepS.toFixed(1)} s), too few to time` }, seconds: now() - start };
  }
  const timed = marks.length - untimed;
  const seconds = marks[marks.length - 1]! - marks[untimed - 1]!;
  const tokens = timed * c.batch * c.seq;
  return {
    measurement: {
      value: round(tokens / seconds), unit: 'tokens/s',
      detail: { params, stepMs: round((seconds / timed) * 1e3), firstStepS: round(firstStepS), steps: marks.length, batch: c.batch, seq: c.seq, loss: round(loss) },
    },
    seconds: now() - start,
  };
}

// ---------------------------------------------------------------- commands

async function run(): Promise<void> {
  const plan = JSON.parse(readFileSync(required('--plan'), 'utf8')) as Plan;
  const out = required('--out');
  const only = option('--only')?.split(',');
  const result: { -readonly [K in keyof SideResult]: SideResult[K] } = { side: 'ours', available: true, info: {}, sections: {} };
  const save = (): void => writeJsonAtomic(out, result);
  let gpu: WebGPUBackend;
  try {
    const { adapter, info } = await openAdapter();
    gpu = await createWebGPUBackend({ adapter });
    result.info = { ...info, adapterName: gpu.adapterName, node: process.version, platform: `${process.platform}-${process.arch}` };
    log(`adapter: ${gpu.adapterName} (${String(info['vendor'])} ${String(info['architecture'])})`);
  } catch (err) {
    result.available = false;
    result.reason = `no WebGPU device: ${err instanceof Error ? err.message : String(err)}`;
    save();
    log(result.reason);
    return;
  }
  save();
  setBackend(gpu);
  const s = plan.sections;
  const wanted = (name: SectionName): boolean => only === undefined || only.includes(name);
  try {
    if (wanted('matmul')) {
      result.sections.matmul = await runSection('matmul', s.matmul.budgetS, s.matmul.cases,
        (c) => (c.m === c.k && c.k === c.n ? 'square' : `skinny ${c.id}`), (c) => c.m * c.k * c.n, (c, d) => matmul(gpu, c, d));
      save();
    }
    if (wanted('attention')) {
      result.sections.attention = await runSection('attention', s.attention.budgetS, s.attention.cases,
        (c) => `${c.window}/${c.backward}`, (c) => (c.window > 0 ? c.tokens * Math.min(c.window, c.tokens) : c.tokens * c.tokens / 2), (c, d) => attention(gpu, c, d));
      save();
    }
    if (wanted('memory')) {
      result.sections.memory = await runSection('memory', s.memory.budgetS, s.memory.cases,
        (c) => `${c.kind}/${c.backward}`, (c) => c.tokens * c.dim * (c.dim / c.heads), (c, d) => memory(c, d));
      save();
    }
    if (wanted('train')) {
      const cases = s.train.cases;
      let index = 0;
      result.sections.train = await runSection('train', s.train.budgetS, cases,
        (c) => c.architecture, () => 0, (c, d) => training(gpu, c, d, cases.length - index++));
      save();
    }
  } finally {
    setBackend(cpuBackend);
    gpu.destroy();
  }
}

function main(): Promise<void> | void {
  const command = process.argv[2];
  if (command === 'plan') {
    const mode = process.argv.includes('--smoke') ? 'smoke' : 'full';
    writeJsonAtomic(required('--out'), makePlan(mode));
    return;
  }
  if (command === 'run') return run();
  if (command === 'merge') {
    merge(required('--dir'), { commit: option('--commit') ?? null, elapsedS: option('--elapsed') === undefined ? null : Number(option('--elapsed')) });
    return;
  }
  throw new Error(`gpu bench: unknown command ${String(command)} (plan | run | merge); sections: ${SECTIONS.join(', ')}`);
}

try {
  await main();
  process.exit(0);
} catch (err) {
  log(err instanceof Error ? (err.stack ?? err.message) : String(err));
  process.exit(1);
}
