// Training throughput of train() with eager steps and with compiled steps (TrainOptions.compile)
// on the tiny configs, one CPU thread, same data and seed: tokens per second of wall-clock time
// and per CPU second of this process (steadier on a shared machine), over the steps after
// the first three (the compiled run traces at steps 1 and 2).
//
//   node --conditions=source --import tsx bench/compiled-train.ts [archs] [steps] [batch] [seq] [--profile]
//   (defaults: mag,transformer 20 4 64). --profile adds a separate compiled run per architecture
//   that times every replayed step by kind (TrainOptions.compile { profile: true }) and prints
//   the slowest kinds; its rate is not reported (the timers cost time of their own).
//   --compare=N alternates compiled runs without and with the plan's buffer pool
//   (CompileOptions.pool) N times and reports the median of each, for a before/after on a
//   shared machine. --kernels=N alternates compiled runs on the CPU backend as it is and with
//   the reference paths that its newer kernels replaced put back (row sums one row at a time,
//   reductions over leading axes through a transposed copy, the JavaScript causal-conv
//   gradient and softmax rows), N times each, and reports the medians: the before/after of
//   those kernels.
//   A JSON line with every figure ends the output.
import { configureCpu, cpuBackend, type CompileOptions, type StepProfile } from '@titans/tensor';
// Bench only: the reference loops, to put them back for the "before" runs of --kernels.
import { causalConvBackwardKernel } from '../../tensor/src/cpu/qkv-rows.js';
import { reduceRowsReference } from '../../tensor/src/cpu/reduce.js';
import { softmaxRowsBackwardJs, softmaxRowsJs } from '../../tensor/src/cpu/rows.js';
import { createModel, tinyConfig, type ArchitectureName } from '../src/index.js';
import { train, type BatchSource, type TrainingBatch } from '../src/train/index.js';

const profile = process.argv.includes('--profile');
const compareArg = process.argv.find((a) => a.startsWith('--compare'));
const compareRounds = compareArg === undefined ? 0 : Number(compareArg.split('=')[1] ?? 3);
const kernelsArg = process.argv.find((a) => a.startsWith('--kernels'));
const kernelRounds = kernelsArg === undefined ? 0 : Number(kernelsArg.split('=')[1] ?? 3);
const argv = process.argv.filter((a) => a !== '--profile' && !a.startsWith('--compare') && !a.startsWith('--kernels'));
const archs = (argv[2] ?? 'mag,transformer').split(',') as ArchitectureName[];
const steps = Number(argv[3] ?? 20);
const batchSize = Number(argv[4] ?? 4);
const sequenceLength = Number(argv[5] ?? 64);

/** Bytes of a fixed pseudo-random text, as (input, next byte) rows. */
class Bytes implements BatchSource<number> {
  private position = 0;
  next(): TrainingBatch {
    const n = batchSize * sequenceLength;
    const token = (i: number): number => (Math.imul(i + 1, 2654435761) >>> 24) % 256;
    const inputs = Int32Array.from({ length: n }, (_, i) => token(this.position + i));
    const targets = Int32Array.from({ length: n }, (_, i) => token(this.position + i + 1));
    this.position += n;
    return { inputs, targets, batchSize, sequenceLength };
  }
  state(): number {
    return this.position;
  }
  restore(position: number): void {
    this.position = position;
  }
}

async function measure(architecture: ArchitectureName, compile: boolean | CompileOptions): Promise<{ wall: number; cpu: number; loss: number; profile: readonly StepProfile[] }> {
  const model = createModel(tinyConfig(architecture));
  const marks: { t: number; cpu: number }[] = [];
  let loss = NaN;
  const result = await train({
    model, steps, batches: new Bytes(), optimizer: { lr: 1e-3 }, compile,
    log: (e) => {
      if (e.type !== 'step') return;
      const c = process.cpuUsage();
      marks.push({ t: performance.now(), cpu: (c.user + c.system) / 1e6 });
      loss = e.loss;
    },
  });
  const first = marks[2]!;
  const last = marks.at(-1)!;
  const tokens = (marks.length - 3) * batchSize * sequenceLength;
  return { wall: tokens / ((last.t - first.t) / 1000), cpu: tokens / (last.cpu - first.cpu), loss, profile: result.compiled?.profile ?? [] };
}

/** Puts the reference paths back on the CPU backend (reference: true) or removes them again. */
const prototype = Object.getPrototypeOf(cpuBackend) as Record<string, unknown>;
const reduceMiddle = prototype['reduceMiddle'];
function referenceKernels(reference: boolean): void {
  const b = cpuBackend as unknown as Record<string, unknown>;
  for (const name of ['reduceRows', 'causalConvBackward', 'softmaxRows', 'softmaxRowsBackward']) delete b[name];
  prototype['reduceMiddle'] = reduceMiddle;
  if (!reference) return;
  // Removed from the class (not shadowed by an own undefined, which a trace would still list).
  delete prototype['reduceMiddle'];
  type Storage = Parameters<typeof cpuBackend.data>[0];
  const data = (s: Storage): Float32Array => cpuBackend.data(s) as Float32Array;
  b['reduceRows'] = (...[op, x, rows, cols]: Parameters<typeof cpuBackend.reduceRows>) => {
    const src = cpuBackend.data(x);
    const out = src instanceof Float32Array ? new Float32Array(rows) : src instanceof Float64Array ? new Float64Array(rows) : new Int32Array(rows);
    reduceRowsReference(op, src, rows, cols, out);
    return cpuBackend.fromArray(out, x.dtype);
  };
  b['softmaxRows'] = (...[x, rows, cols, log]: Parameters<typeof cpuBackend.softmaxRows>) => {
    const y = new Float32Array(rows * cols);
    softmaxRowsJs(data(x), rows, cols, log, y);
    return cpuBackend.fromArray(y, 'float32');
  };
  b['softmaxRowsBackward'] = (...[y, g, rows, cols, log]: Parameters<typeof cpuBackend.softmaxRowsBackward>) => {
    const dx = new Float32Array(rows * cols);
    softmaxRowsBackwardJs(data(y), data(g), rows, cols, log, dx);
    return cpuBackend.fromArray(dx, 'float32');
  };
  b['causalConvBackward'] = (...[x, weight, history, g, dims]: Parameters<typeof cpuBackend.causalConvBackward>) => {
    const dx = new Float32Array(dims.batch * dims.tokens * dims.channels);
    const dweight = new Float32Array(dims.channels * dims.kernel);
    const dbias = new Float32Array(dims.channels);
    const dhistory = new Float32Array(dims.batch * dims.past * dims.channels);
    causalConvBackwardKernel(data(x), data(weight), history ? data(history) : null, data(g), dims, dx, dweight, dbias, dhistory);
    const s = (a: Float32Array): Storage => cpuBackend.fromArray(a, 'float32');
    return { dx: s(dx), dweight: s(dweight), dbias: s(dbias), dhistory: s(dhistory) };
  };
}

const median = (xs: number[]): number => {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};
const json: Record<string, unknown>[] = [];
configureCpu({ threads: 1 });
console.log(`train() tokens/s, tiny configs, batch ${batchSize} x ${sequenceLength}, ${steps} steps (rate over steps 4..${steps}), 1 thread`);
for (const arch of archs) {
  const eager = await measure(arch, false);
  const compiled = await measure(arch, true);
  const f = (x: number): string => x.toFixed(0).padStart(7);
  console.log(
    `  ${arch.padEnd(12)} eager ${f(eager.wall)} wall ${f(eager.cpu)} cpu   compiled ${f(compiled.wall)} wall ${f(compiled.cpu)} cpu   ` +
    `(x${(compiled.cpu / eager.cpu).toFixed(2)} per CPU second; final loss ${eager.loss.toFixed(4)} / ${compiled.loss.toFixed(4)})`,
  );
  const row: Record<string, unknown> = { arch, eager, compiled: { wall: compiled.wall, cpu: compiled.cpu, loss: compiled.loss } };
  if (compareRounds > 0) {
    const off: { wall: number; cpu: number }[] = [];
    const on: { wall: number; cpu: number }[] = [];
    for (let i = 0; i < compareRounds; i++) {
      off.push(await measure(arch, { pool: false }));
      on.push(await measure(arch, { pool: true }));
    }
    const m = (xs: { wall: number; cpu: number }[]): { wall: number; cpu: number } => ({ wall: median(xs.map((x) => x.wall)), cpu: median(xs.map((x) => x.cpu)) });
    const [a, b] = [m(off), m(on)];
    console.log(`    compare (median of ${compareRounds}, alternated): pool off ${f(a.wall)} wall ${f(a.cpu)} cpu   pool on ${f(b.wall)} wall ${f(b.cpu)} cpu   (x${(b.cpu / a.cpu).toFixed(2)} per CPU second)`);
    row.compare = { rounds: compareRounds, poolOff: a, poolOn: b };
  }
  if (kernelRounds > 0) {
    const before: { wall: number; cpu: number }[] = [];
    const after: { wall: number; cpu: number }[] = [];
    for (let i = 0; i < kernelRounds; i++) {
      referenceKernels(true);
      before.push(await measure(arch, true));
      referenceKernels(false);
      after.push(await measure(arch, true));
    }
    const m = (xs: { wall: number; cpu: number }[]): { wall: number; cpu: number } => ({ wall: median(xs.map((x) => x.wall)), cpu: median(xs.map((x) => x.cpu)) });
    const [a, b] = [m(before), m(after)];
    console.log(`    kernels (median of ${kernelRounds}, alternated): reference ${f(a.wall)} wall ${f(a.cpu)} cpu   current ${f(b.wall)} wall ${f(b.cpu)} cpu   (x${(b.cpu / a.cpu).toFixed(2)} per CPU second)`);
    row.kernels = { rounds: kernelRounds, reference: a, current: b };
  }
  json.push(row);
  if (profile) {
    const kinds = (await measure(arch, { profile: true })).profile;
    const total = kinds.reduce((n, k) => n + k.ms, 0);
    const replays = steps - 2;
    console.log(`    profile: ${(total / replays).toFixed(2)} ms of replay per step (${replays} replayed steps); slowest step kinds:`);
    for (const k of kinds.slice(0, 25)) {
      console.log(`      ${k.kind.padEnd(36)} ${(k.ms / replays).toFixed(3).padStart(8)} ms/step ${(100 * k.ms / total).toFixed(1).padStart(5)}%  ${(k.calls / replays).toFixed(0).padStart(5)} calls/step  ${(1000 * k.ms / k.calls).toFixed(1).padStart(7)} us/call`);
    }
  }
}
console.log(JSON.stringify({ bench: 'compiled-train', batchSize, sequenceLength, steps, threads: 1, results: json }));
process.exit(0);
