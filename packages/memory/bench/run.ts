// Throughput and memory use of the neural memory on the CPU backend: tokens/s of the chunked
// parallel scan (forward, and forward + backward through the outer loop) and of the reference
// loop, dispatches per chunk, peak live bytes, how time grows with length, and a long stream
// in pieces with flat memory. Writes bench-results/memory.json.
//
// Run: pnpm bench (node --conditions=source --import tsx bench/run.ts). The whole run is capped
// at MEMORY_BENCH_BUDGET_S seconds (default 300): measurements that would not fit are skipped
// and listed as such. Shared machines are noisy: the load average is recorded with the results.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { cpus, loadavg } from 'node:os';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import * as tensorLib from '@titans/tensor';
import {
  Rng, add, compile, configureCpu, cpuBackend, cpuConfig, cpuInfo, l2Normalize, liveTensors, mul, noGrad, sum, tidy, valueAndGrad, type Backend, type Tensor,
} from '@titans/tensor';
import {
  NeuralMemory, detachState, initialState, memoryPreset, mlpArchitecture, scanLoop, scanParallel, setFusedMemoryKernels, weightShapes,
  type MemoryInputs, type MemoryRule, type MemoryState,
} from '../src/index.js';

const budgetMs = Number(process.env.MEMORY_BENCH_BUDGET_S ?? 300) * 1000;
const started = performance.now();
const elapsed = (): number => performance.now() - started;
const remaining = (): number => budgetMs - elapsed();

// ---------------------------------------------------------------- backend probe

/** Counts primitive calls and tracks the peak of live bytes by wrapping the backend's methods. */
class BackendProbe {
  readonly calls = new Map<string, number>();
  peakBytes = 0;
  constructor(private readonly backend: Backend) {
    const methods = [
      'unary', 'binary', 'where', 'cast', 'reduceRows', 'argReduceRows', 'matmul', 'scanRows', 'linearScanRows',
      'concatRows', 'gatherRows', 'scatterAddRows', 'fill', 'fromArray', 'attention', 'attentionBackward',
    ] as const;
    const target = backend as unknown as Record<string, (...args: unknown[]) => unknown>;
    for (const name of methods) {
      const original = target[name]!.bind(backend);
      target[name] = (...args: unknown[]): unknown => {
        const result = original(...args);
        const key = typeof args[0] === 'string' ? `${name}:${args[0]}` : name;
        this.calls.set(key, (this.calls.get(key) ?? 0) + 1);
        const live = backend.liveBytes();
        if (live > this.peakBytes) this.peakBytes = live;
        return result;
      };
    }
  }
  reset(): void {
    this.calls.clear();
    this.peakBytes = this.backend.liveBytes();
  }
  total(): number {
    let n = 0;
    for (const c of this.calls.values()) n += c;
    return n;
  }
  count(prefix: string): number {
    let n = 0;
    for (const [k, c] of this.calls) if (k === prefix || k.startsWith(`${prefix}:`)) n += c;
    return n;
  }
}
const probe = new BackendProbe(cpuBackend);

// ---------------------------------------------------------------- workloads

const dim = 256;
const heads = 4;
const headDim = dim / heads;
type Arch = 'linear' | 'mlp2';
const archOf: Record<Arch, 'titans-linear' | 'titans'> = { linear: 'titans-linear', mlp2: 'titans' };

function ruleOf(arch: Arch, chunkSize: number, width = headDim): MemoryRule {
  return memoryPreset(archOf[arch], width, { chunkSize });
}

function makeInputs(tokens: number, seed: number, lead = [1, heads], width = headDim): MemoryInputs {
  const rng = new Rng(seed);
  const rows = [...lead, tokens, width];
  return {
    k: l2Normalize(rng.normal(rows), -1),
    v: rng.normal(rows),
    q: l2Normalize(rng.normal(rows), -1),
    theta: rng.uniform([...lead, tokens], 0.01, 0.05), // as the peer: larger steps make the MLP memory diverge
    eta: rng.uniform([...lead, tokens], 0.5, 0.9),
    alpha: rng.uniform([...lead, tokens], 0, 0.02),
  };
}

function makeWeights(rule: MemoryRule, seed: number, count = heads, width = headDim): Tensor[] {
  const rng = new Rng(seed);
  return weightShapes(rule.architecture, width).map(([out, inp]) => rng.normal([count, out, inp], 0, 1 / Math.sqrt(inp)));
}

type Mode = 'forward' | 'forward+backward';

/**
 * Wall and CPU (user + system, all threads) seconds of one scan, and its peak live bytes
 * above what was live when it started (inputs are made outside the measured part).
 */
function runOnce(rule: MemoryRule, tokens: number, mode: Mode, path: 'parallel' | 'loop'): { seconds: number; cpuSeconds: number; peakBytes: number } {
  const scan = path === 'loop' ? scanLoop : scanParallel;
  let seconds = 0;
  let cpuSeconds = 0;
  let peakBytes = 0;
  tidy(() => {
    const inputs = makeInputs(tokens, 1);
    const weights = makeWeights(rule, 2);
    const r = new Rng(3).normal([1, heads, tokens, headDim]);
    probe.reset();
    const liveBefore = cpuBackend.liveBytes();
    const start = performance.now();
    const cpuStart = process.cpuUsage();
    if (mode === 'forward') {
      noGrad(() => scan(rule, inputs, initialState(weights, rule)).yPost.dataSync());
    } else {
      const [, grads] = valueAndGrad((x: { inputs: Tensor[]; weights: Tensor[] }) => {
        const [k, v, q, theta, eta, alpha] = x.inputs as [Tensor, Tensor, Tensor, Tensor, Tensor, Tensor];
        const out = scan(rule, { k, v, q, theta, eta, alpha }, initialState(x.weights, rule));
        return add(sum(mul(out.yPost, r)), sum(mul(out.yPre, r)));
      })({ inputs: [inputs.k, inputs.v, inputs.q, inputs.theta, inputs.eta, inputs.alpha], weights });
      grads.weights[0]!.dataSync();
    }
    seconds = (performance.now() - start) / 1000;
    const cpu = process.cpuUsage(cpuStart);
    cpuSeconds = (cpu.user + cpu.system) / 1e6;
    peakBytes = probe.peakBytes - liveBefore;
  });
  return { seconds, cpuSeconds, peakBytes };
}

interface Measurement {
  arch: Arch;
  chunk: number;
  tokens: number;
  mode: Mode;
  path: 'parallel' | 'loop';
  seconds: number;
  tokensPerSecond: number;
  /** CPU seconds (user + system, all threads) of the median run: less sensitive to other load than wall time. */
  cpuSeconds: number;
  /** tokens / cpuSeconds: what an otherwise idle core would see (single-threaded runs). */
  tokensPerCpuSecond: number;
  runs: number;
  /** Backend primitive calls (kernel dispatches) per chunk of the measured run. */
  dispatchesPerChunk: number;
  matmulsPerChunk: number;
  /** Peak live bytes of the scan above what was live before it (intermediates, outputs, gradients; not the inputs). */
  peakLiveBytes: number;
}

const measurements: Measurement[] = [];
const skipped: string[] = [];
const secondsPerToken = new Map<string, number>();
const bytesPerToken = new Map<string, number>();
const maxPeakBytes = Number(process.env.MEMORY_BENCH_MAX_BYTES ?? 4 * 2 ** 30);
const keyOf = (arch: Arch, chunk: number, mode: Mode, path: string): string => `${arch}/${chunk}/${mode}/${path}`;

/** Times one configuration (median of up to 3 runs while each is under a second), unless it would not fit the budget. */
function measure(arch: Arch, chunk: number, tokens: number, mode: Mode, path: 'parallel' | 'loop', reserveMs = 0): Measurement | null {
  const key = keyOf(arch, chunk, mode, path);
  const label = `${arch} chunk ${chunk} ${tokens} tokens ${mode} (${path})`;
  const known = secondsPerToken.get(key);
  if (known !== undefined && known * tokens * 1000 > remaining() - reserveMs) {
    skipped.push(`${label}: projected ${(known * tokens).toFixed(0)} s does not fit the remaining budget`);
    console.log(`skip  ${label}`);
    return null;
  }
  const bytes = bytesPerToken.get(key);
  if (bytes !== undefined && bytes * tokens > maxPeakBytes) {
    skipped.push(`${label}: projected peak ${(bytes * tokens / 2 ** 30).toFixed(1)} GiB of live tensors is above the ${(maxPeakBytes / 2 ** 30).toFixed(0)} GiB guard`);
    console.log(`skip  ${label} (memory)`);
    return null;
  }
  const rule = ruleOf(arch, chunk);
  const times = [runOnce(rule, tokens, mode, path)];
  const dispatches = probe.total();
  const matmuls = probe.count('matmul');
  const peak = times[0]!.peakBytes;
  while (times.length < 3 && times[0]!.seconds < 1 && remaining() > 30_000) times.push(runOnce(rule, tokens, mode, path));
  times.sort((a, b) => a.seconds - b.seconds);
  const { seconds, cpuSeconds } = times[Math.floor(times.length / 2)]!;
  const chunks = Math.ceil(tokens / chunk);
  const m: Measurement = {
    arch, chunk, tokens, mode, path, seconds: round(seconds, 4), tokensPerSecond: Math.round(tokens / seconds), cpuSeconds: round(cpuSeconds, 3),
    tokensPerCpuSecond: Math.round(tokens / cpuSeconds), runs: times.length,
    dispatchesPerChunk: round(dispatches / chunks, 1), matmulsPerChunk: round(matmuls / chunks, 1), peakLiveBytes: peak,
  };
  secondsPerToken.set(key, Math.max(known ?? 0, seconds / tokens));
  bytesPerToken.set(key, Math.max(bytes ?? 0, peak / tokens));
  measurements.push(m);
  console.log(`${label.padEnd(52)} ${String(m.tokensPerSecond).padStart(8)} tok/s (${String(m.tokensPerCpuSecond).padStart(6)} per CPU s)  ${m.seconds.toFixed(2).padStart(7)} s  ` +
    `${m.dispatchesPerChunk} dispatches/chunk  peak ${(peak / 2 ** 20).toFixed(1)} MiB`);
  return m;
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** Least-squares fit seconds = a + b tokens, and the exponent of seconds ~ tokens^p (1 = linear). */
function fit(points: { tokens: number; seconds: number }[]): { secondsPerToken: number; interceptSeconds: number; r2: number; exponent: number } | null {
  if (points.length < 2) return null;
  const n = points.length;
  const mean = (f: (p: { tokens: number; seconds: number }) => number): number => points.reduce((s, p) => s + f(p), 0) / n;
  const mx = mean((p) => p.tokens);
  const my = mean((p) => p.seconds);
  const sxy = points.reduce((s, p) => s + (p.tokens - mx) * (p.seconds - my), 0);
  const sxx = points.reduce((s, p) => s + (p.tokens - mx) ** 2, 0);
  const b = sxy / sxx;
  const a = my - b * mx;
  const ssRes = points.reduce((s, p) => s + (p.seconds - a - b * p.tokens) ** 2, 0);
  const ssTot = points.reduce((s, p) => s + (p.seconds - my) ** 2, 0);
  const lx = points.map((p) => Math.log(p.tokens));
  const ly = points.map((p) => Math.log(p.seconds));
  const lmx = lx.reduce((s, v) => s + v, 0) / n;
  const lmy = ly.reduce((s, v) => s + v, 0) / n;
  const exponent = lx.reduce((s, v, i) => s + (v - lmx) * (ly[i]! - lmy), 0) / lx.reduce((s, v) => s + (v - lmx) ** 2, 0);
  return { secondsPerToken: b, interceptSeconds: round(a, 4), r2: round(1 - ssRes / Math.max(ssTot, 1e-30), 4), exponent: round(exponent, 3) };
}

// ---------------------------------------------------------------- the long stream

interface StreamResult {
  tokens: number;
  targetTokens: number;
  seconds: number;
  tokensPerSecond: number;
  cpuSeconds: number;
  config: string;
  /** Live bytes and tensors after each sampled piece (state, pending chunk and nothing else survives a piece). */
  liveBytes: { tokens: number; bytes: number; tensors: number }[];
  peakLiveBytesWithinPiece: number;
  note?: string;
}

function stream(targetTokens: number, capMs: number): StreamResult {
  const piece = 8192;
  const chunk = 64;
  const rule = ruleOf('linear', chunk, 64);
  let state: MemoryState = initialState(makeWeights(rule, 5, 1, 64), rule);
  const liveBytes: { tokens: number; bytes: number; tensors: number }[] = [{ tokens: 0, bytes: cpuBackend.liveBytes(), tensors: liveTensors() }];
  let peak = 0;
  let tokens = 0;
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  // Pieces of 8192 tokens with an odd tail, so the state crosses pieces mid-chunk (pending tokens).
  for (let i = 0; tokens < targetTokens; i++) {
    if (performance.now() - t0 > capMs) break;
    const size = Math.min(piece - (i % 2) * 37, targetTokens - tokens);
    probe.reset();
    const next = tidy(() => noGrad(() => {
      const out = scanParallel(rule, makeInputs(size, 100 + i, [1, 1], 64), state);
      out.yPost.dataSync();
      return detachState(out.state);
    }));
    peak = Math.max(peak, probe.peakBytes);
    for (const t of [...state.weights, ...state.momentum]) if (!next.weights.includes(t) && !next.momentum.includes(t)) t.dispose();
    if (state.pending) for (const t of Object.values(state.pending)) (t as Tensor).dispose();
    state = next;
    tokens += size;
    if (i % 8 === 7 || tokens >= targetTokens) liveBytes.push({ tokens, bytes: cpuBackend.liveBytes(), tensors: liveTensors() });
  }
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  return {
    tokens, targetTokens, seconds: round(seconds, 2), tokensPerSecond: Math.round(tokens / seconds), cpuSeconds: round((cpu.user + cpu.system) / 1e6, 2),
    config: 'linear memory, d = 64, 1 head, chunk 64, float32, forward (scanParallel, noGrad), pieces of 8192/8155 tokens; ' +
      'between pieces only the state lives: weights, momentum and the 0-63 pending tokens of the unfinished chunk',
    liveBytes, peakLiveBytesWithinPiece: peak,
    ...(tokens < targetTokens ? { note: `stopped at ${tokens} tokens: the ${Math.round(capMs / 1000)} s cap for the stream` } : {}),
  };
}

// ---------------------------------------------------------------- PyTorch peer

interface PeerResult {
  status: 'skipped' | 'ran' | 'failed';
  reason?: string;
  /** The peer's figures in our keys per memory, and its setup and torch version and threads. */
  output?: { results: Record<Arch, Record<keyof OursResult, number>>; setup: unknown; peer: unknown };
}

/** One memory's figures as tooling/bench/peers/memory_forward.py prints them. */
interface PeerFigures { moduleTokPerS: number; scanTokPerS: number; moduleTokPerCpuS: number; scanTokPerCpuS: number }

/**
 * Runs the PyTorch peer of the side-by-side benches, tooling/bench/peers/memory_forward.py (the
 * same recurrence: per-token theta, eta, alpha, surprise at chunk start, retrieval after every
 * token; the same module around it) at COMPARE's shapes, 1 thread, OpenBLAS's OpenMP build
 * when Debian has it (python3-torch with libopenblas0-openmp), when python3 can import torch.
 */
function torchPeer(): PeerResult {
  // The first Python that imports torch: $MEMORY_BENCH_PYTHON, python3 on the PATH, Debian's own.
  const candidates = [process.env.MEMORY_BENCH_PYTHON, 'python3', '/usr/bin/python3'].filter((p): p is string => Boolean(p));
  const python = candidates.find((p) => spawnSync(p, ['-c', 'import torch'], { timeout: 120_000 }).status === 0);
  if (!python) return { status: 'skipped', reason: `peer not installed: none of ${candidates.join(', ')} can import torch` };
  const openmpBlas = '/usr/lib/x86_64-linux-gnu/openblas-openmp';
  const env = {
    ...process.env, THREADS: '1', OMP_WAIT_POLICY: 'PASSIVE',
    ...(existsSync(openmpBlas) ? { LD_LIBRARY_PATH: [openmpBlas, process.env.LD_LIBRARY_PATH].filter(Boolean).join(':') } : {}),
  };
  const script = fileURLToPath(new URL('../../../tooling/bench/peers/memory_forward.py', import.meta.url));
  if (!existsSync(script)) return { status: 'skipped', reason: `peer script not found: ${script}` };
  const args = [
    script, '--tokens', String(COMPARE.tokens), '--dim', String(COMPARE.dim), '--heads', String(COMPARE.heads), '--chunk', String(COMPARE.chunk),
    '--reps', process.env.MEMORY_BENCH_PEER_REPS ?? '5',
  ];
  const run = spawnSync(python, args, { encoding: 'utf8', env, timeout: 900_000 });
  if (run.status !== 0) return { status: 'failed', reason: (run.error?.message ?? run.stderr.trim().split('\n').pop() ?? '').slice(0, 200) };
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(run.stdout.trim().split('\n').pop() ?? '') as Record<string, unknown>;
  } catch {
    return { status: 'failed', reason: `unreadable peer output: ${run.stdout.slice(0, 200)}` };
  }
  const figures = (name: string): Record<keyof OursResult, number> => {
    const f = raw[name] as PeerFigures | undefined;
    if (!f) throw new Error(`the peer printed no '${name}' figures`);
    return {
      moduleTokensPerSecond: Math.round(f.moduleTokPerS), moduleTokensPerCpuSecond: Math.round(f.moduleTokPerCpuS),
      scanTokensPerSecond: Math.round(f.scanTokPerS), scanTokensPerCpuSecond: Math.round(f.scanTokPerCpuS),
    };
  };
  try {
    return { status: 'ran', output: { results: { linear: figures('linear'), mlp2: figures('mlp') }, setup: raw['setup'], peer: raw['peer'] } };
  } catch (e) {
    return { status: 'failed', reason: (e as Error).message };
  }
}

/**
 * The peer's figures as the mean of its run before ours and its run after (each figure; both runs kept in `runs`), or
 * the one run that there is.
 */
function bracketed(before: PeerResult | null, after: PeerResult): PeerResult & { runs?: number; each?: PeerResult[] } {
  if (!before?.output || !after.output) return after.output || !before ? after : before;
  const mean = (a: Record<keyof OursResult, number>, b: Record<keyof OursResult, number>): Record<keyof OursResult, number> => ({
    moduleTokensPerSecond: Math.round((a.moduleTokensPerSecond + b.moduleTokensPerSecond) / 2),
    moduleTokensPerCpuSecond: Math.round((a.moduleTokensPerCpuSecond + b.moduleTokensPerCpuSecond) / 2),
    scanTokensPerSecond: Math.round((a.scanTokensPerSecond + b.scanTokensPerSecond) / 2),
    scanTokensPerCpuSecond: Math.round((a.scanTokensPerCpuSecond + b.scanTokensPerCpuSecond) / 2),
  });
  const [x, y] = [before.output, after.output];
  return {
    status: 'ran', runs: 2, each: [before, after],
    output: { ...y, results: { linear: mean(x.results.linear, y.results.linear), mlp2: mean(x.results.mlp2, y.results.mlp2) } },
  };
}

// ---------------------------------------------------------------- ours against PyTorch

/**
 * The comparison of issue 21: B = 1, T = 4096, D = 256, 4 heads of 64, chunk 64, float32,
 * forward only; linear memory and a 2-layer MLP memory (hidden 4x = 256, SiLU, no residual,
 * no norm). "module": NeuralMemory.forward (projections, conv, gates, scan, output gate and
 * projection); "scan": scanParallel alone on prepared inputs. Each fused (Backend.memoryScan)
 * and unfused (the composite chunked form), then the PyTorch peer.
 */
const COMPARE = { tokens: 4096, dim: 256, heads: 4, chunk: 64, thetaMax: 0.1, conv: 4 } as const;

function compareRule(arch: Arch): MemoryRule {
  const width = COMPARE.dim / COMPARE.heads;
  return arch === 'linear'
    ? memoryPreset('titans-linear', width, { chunkSize: COMPARE.chunk })
    : memoryPreset('titans', width, { chunkSize: COMPARE.chunk, architecture: mlpArchitecture(4 * width, { residual: false, norm: false }) });
}

/**
 * A full garbage collection (V8's gc(), exposed at run time): timed() runs one before each timed
 * run, so that V8's helper threads do not collect the garbage of earlier runs (the module's
 * projections, the previous run's outputs) while a run is timed. With threads: 1 the compute runs
 * on this one thread; the process's other threads are V8's (concurrent and parallel garbage
 * collection, background JIT compilation), and process.cpuUsage() counts them: a run's CPU time
 * can exceed its wall time (one closing run: MLP scan 0.41 s wall, 0.82 s CPU). The peer frees
 * its tensors by reference counting on its one thread.
 */
const collect: () => void = (() => {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
})();

/**
 * Median wall seconds and their CPU seconds over `reps` runs of each function after one warm-up of each, each run
 * after a full collection; the functions' runs alternate (one run of each per round): on a shared machine a load that changes during the bench then moves all of them alike, so their
 * ratios (compiled / eager) hold. Timed one after the other, the compiled module came out at 0.78-0.82x eager
 * for the MLP memory in some runs and 1.07-1.20x in others.
 */
function timedAlternating(fns: readonly (() => void)[], reps: number): { seconds: number; cpuSeconds: number }[] {
  for (const fn of fns) fn();
  const runs = fns.map((): { seconds: number; cpuSeconds: number }[] => []);
  for (let i = 0; i < reps; i++) {
    for (const [j, fn] of fns.entries()) {
      collect();
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      fn();
      const cpu = process.cpuUsage(cpu0);
      runs[j]!.push({ seconds: (performance.now() - t0) / 1000, cpuSeconds: (cpu.user + cpu.system) / 1e6 });
    }
  }
  return runs.map((r) => {
    r.sort((a, b) => a.seconds - b.seconds);
    return r[Math.floor(r.length / 2)]!;
  });
}

interface OursResult {
  moduleTokensPerSecond: number;
  moduleTokensPerCpuSecond: number;
  scanTokensPerSecond: number;
  scanTokensPerCpuSecond: number;
}

/** The module forward under compile() (as train() runs it): its figures, and its largest difference from eager. */
interface CompiledResult {
  compiledModuleTokensPerSecond: number;
  compiledModuleTokensPerCpuSecond: number;
  compiledMaxAbsDiffFromEager: number;
}

function ours(arch: Arch, fused: boolean, reps: number, withCompiled: true): OursResult & CompiledResult;
function ours(arch: Arch, fused: boolean, reps: number, withCompiled?: false): OursResult;
function ours(arch: Arch, fused: boolean, reps: number, withCompiled = false): OursResult & Partial<CompiledResult> {
  const previous = setFusedMemoryKernels(fused);
  try {
    const rule = compareRule(arch);
    const width = COMPARE.dim / COMPARE.heads;
    const { tokens } = COMPARE;
    return tidy(() => {
      const memory = new NeuralMemory(COMPARE.dim, { heads: COMPARE.heads, rule, thetaMax: COMPARE.thetaMax, convKernel: COMPARE.conv, seed: 1 });
      const x = new Rng(7).normal([1, tokens, COMPARE.dim]);
      const inputs = makeInputs(tokens, 1, [1, COMPARE.heads], width);
      const weights = makeWeights(rule, 2, COMPARE.heads, width);
      const forward = (): void => tidy(() => noGrad(() => { memory.forward(x).output.dataSync(); }));
      // y_post only, as the peer (and NeuralMemory reading 'post'): the fused kernel leaves y_pre out.
      const scanOnce = (): void => tidy(() => noGrad(() => { scanParallel(rule, inputs, initialState(weights, rule), { yPre: false }).yPost.dataSync(); }));
      let compiled: CompiledResult | null = null;
      let module: { seconds: number; cpuSeconds: number };
      let scan: { seconds: number; cpuSeconds: number };
      if (withCompiled) {
        // The same forward traced once and replayed (the trace and its verification are the warm-up calls).
        const step = compile((input: Tensor) => noGrad(() => memory.forward(input).output));
        const replay = (): void => { const y = step(x); y.dataSync(); y.dispose(); };
        const replayValues = (): number[] => { const y = step(x); const values = Array.from(y.dataSync()); y.dispose(); return values; };
        replay();
        const eager = noGrad(() => memory.forward(x).output.dataSync());
        const replayed = replayValues();
        let diff = 0;
        for (let i = 0; i < eager.length; i++) diff = Math.max(diff, Math.abs(eager[i]! - replayed[i]!));
        // Eager module, scan alone and compiled module alternating.
        let run: { seconds: number; cpuSeconds: number };
        [module, scan, run] = timedAlternating([forward, scanOnce, replay], reps) as [typeof module, typeof module, typeof module];
        step.dispose();
        compiled = {
          compiledModuleTokensPerSecond: Math.round(tokens / run.seconds), compiledModuleTokensPerCpuSecond: Math.round(tokens / run.cpuSeconds),
          compiledMaxAbsDiffFromEager: diff,
        };
      } else [module, scan] = timedAlternating([forward, scanOnce], reps) as [typeof module, typeof module];
      return {
        ...compiled,
        moduleTokensPerSecond: Math.round(tokens / module.seconds), moduleTokensPerCpuSecond: Math.round(tokens / module.cpuSeconds),
        scanTokensPerSecond: Math.round(tokens / scan.seconds), scanTokensPerCpuSecond: Math.round(tokens / scan.cpuSeconds),
      };
    });
  } finally {
    setFusedMemoryKernels(previous);
  }
}

function versusPyTorch(): unknown {
  const reps = Number(process.env.MEMORY_BENCH_COMPARE_REPS ?? 3);
  // One thread on our side too (the peer runs THREADS=1); restored afterwards.
  // The peer runs before and after ours (MEMORY_BENCH_PEER_TWICE=0: after only), so that a load that changes while the
  // bench runs moves both sides' figures alike: ratios are taken against the mean of its two runs.
  const peerBefore = process.env.MEMORY_BENCH_PEER_TWICE === '0' ? null : torchPeer();
  const threadsBefore = cpuConfig().threads;
  configureCpu({ threads: 1 });
  const rows: Record<string, unknown> = {};
  const fusedRuns: Partial<Record<Arch, OursResult & CompiledResult>> = {};
  const unfusedRuns: Partial<Record<Arch, OursResult>> = {};
  for (const arch of ['linear', 'mlp2'] as const) {
    fusedRuns[arch] = ours(arch, true, reps, true);
    unfusedRuns[arch] = ours(arch, false, reps);
  }
  // The opt-in relaxed-SIMD FMA GEMM (configureCpu({ fma: true }): float32 rounding, may differ between machines; off by
  // default) on the module's matmuls, eager and compiled (MEMORY_BENCH_FMA=0 skips it; the scan has no matmul).
  const fmaBefore = cpuConfig().fma;
  const fmaRuns: Partial<Record<Arch, OursResult & CompiledResult>> = {};
  if (process.env.MEMORY_BENCH_FMA !== '0') {
    configureCpu({ fma: true });
    if (cpuInfo().fma) for (const arch of ['linear', 'mlp2'] as const) fmaRuns[arch] = ours(arch, true, reps, true);
    configureCpu({ fma: fmaBefore });
  }
  configureCpu({ threads: threadsBefore });
  const peerAfter = torchPeer();
  const peer = bracketed(peerBefore, peerAfter);
  console.log(`PyTorch peer: ${peer.status}${peer.reason ? ` (${peer.reason})` : ''}${peer.runs ? ` (${peer.runs} runs, before and after ours: ratios against their mean)` : ''}`);
  for (const [i, run] of (peer.each ?? []).entries()) {
    const r = run.output!.results;
    console.log(`  PyTorch run ${i + 1}, tokens/CPU-second: linear module ${r.linear.moduleTokensPerCpuSecond}, scan ${r.linear.scanTokensPerCpuSecond}; ` +
      `mlp2 module ${r.mlp2.moduleTokensPerCpuSecond}, scan ${r.mlp2.scanTokensPerCpuSecond}`);
  }
  const ratio = (a: number, b: number | undefined): number | null => (b ? round(a / b, 3) : null);
  // Wall clock, and tokens per CPU-second (what to read on a loaded machine: both sides run one thread).
  for (const clock of ['wall', 'cpu'] as const) {
    console.log(`issue 21 comparison, tokens/${clock === 'wall' ? 's (wall)' : 'CPU-second'}, 1 thread each:  fused  unfused  PyTorch  fused/PyTorch  fused/unfused`);
    for (const arch of ['linear', 'mlp2'] as const) {
      const f = fusedRuns[arch]!;
      const u = unfusedRuns[arch]!;
      const p = peer.output?.results[arch];
      for (const what of ['module', 'scan'] as const) {
        const key: keyof OursResult = `${what}TokensPer${clock === 'wall' ? 'Second' : 'CpuSecond'}`;
        rows[`${arch}/${what}/${clock}`] = {
          fused: f[key], unfused: u[key], pytorch: p?.[key] ?? null,
          fusedOverPytorch: ratio(f[key], p?.[key]), unfusedOverPytorch: ratio(u[key], p?.[key]), fusedOverUnfused: ratio(f[key], u[key]),
        };
        console.log(`  ${`${arch} ${what}`.padEnd(14)} ${String(f[key]).padStart(8)} ${String(u[key]).padStart(8)} ${String(p?.[key] ?? '-').padStart(8)}` +
          `  ${String(ratio(f[key], p?.[key]) ?? '-').padStart(12)}  ${String(ratio(f[key], u[key])).padStart(13)}`);
      }
      // The module forward compiled (fused kernels), against the same PyTorch figure.
      const ck: keyof CompiledResult = clock === 'wall' ? 'compiledModuleTokensPerSecond' : 'compiledModuleTokensPerCpuSecond';
      const pk: keyof OursResult = clock === 'wall' ? 'moduleTokensPerSecond' : 'moduleTokensPerCpuSecond';
      rows[`${arch}/module compiled/${clock}`] = {
        compiled: f[ck], eager: f[pk], pytorch: p?.[pk] ?? null, compiledOverPytorch: ratio(f[ck], p?.[pk]), compiledOverEager: ratio(f[ck], f[pk]),
      };
      console.log(`  ${`${arch} module compiled`.padEnd(14)} ${String(f[ck]).padStart(8)} ${'-'.padStart(8)} ${String(p?.[pk] ?? '-').padStart(8)}` +
        `  ${String(ratio(f[ck], p?.[pk]) ?? '-').padStart(12)}  compiled/eager ${ratio(f[ck], f[pk])}`);
      const fm = fmaRuns[arch];
      if (fm) {
        rows[`${arch}/module fma/${clock}`] = { fma: fm[pk], exact: f[pk], pytorch: p?.[pk] ?? null, fmaOverPytorch: ratio(fm[pk], p?.[pk]), fmaOverExact: ratio(fm[pk], f[pk]) };
        rows[`${arch}/module compiled fma/${clock}`] = {
          fma: fm[ck], exact: f[ck], pytorch: p?.[pk] ?? null, fmaOverPytorch: ratio(fm[ck], p?.[pk]), fmaOverExact: ratio(fm[ck], f[ck]),
        };
        console.log(`  ${`${arch} module, fma`.padEnd(14)} ${String(fm[pk]).padStart(8)} ${'-'.padStart(8)} ${String(p?.[pk] ?? '-').padStart(8)}` +
          `  ${String(ratio(fm[pk], p?.[pk]) ?? '-').padStart(12)}  fma/exact ${ratio(fm[pk], f[pk])}`);
        console.log(`  ${`${arch} module compiled, fma`.padEnd(14)} ${String(fm[ck]).padStart(8)} ${'-'.padStart(8)} ${String(p?.[pk] ?? '-').padStart(8)}` +
          `  ${String(ratio(fm[ck], p?.[pk]) ?? '-').padStart(12)}  fma/exact ${ratio(fm[ck], f[ck])}`);
      }
    }
  }
  return {
    setup: {
      ...COMPARE, batch: 1, dtype: 'float32', mode: 'forward (noGrad)', threads: 1,
      memories: { linear: 'W x, 64 x 64 per head', mlp2: 'W2 silu(W1 x), 64-256-64 per head, no residual, no norm' },
      ours: 'exact recurrence: per-token theta, eta, alpha; surprise at chunk start; y_post at every token (scanParallel { yPre: false }; NeuralMemory reading post scans the same way)',
      pytorch: 'tooling/bench/peers/memory_forward.py: the same recurrence in the chunked form (gate coefficients, rank-one surprises), y_post at every token',
      compiled: 'ours: the same NeuralMemory.forward under compile() from @titans/tensor (traced once, replayed), as train() runs it',
      fma: 'ours, rows marked fma: configureCpu({ fma: true }), the opt-in relaxed-SIMD FMA GEMM for the matmuls (off by default: float32 rounding, may differ between machines)',
      module: 'both: qkv projection, SiLU, depthwise conv (4), L2-normalised q and k, sigmoid gates (theta x 0.1), scan, RMSNorm x sigmoid(gate), output projection',
    },
    // The headline: the module forward as train() runs it (compiled), per CPU-second (1 thread each), over PyTorch.
    compiledModuleOverPytorch: Object.fromEntries((['linear', 'mlp2'] as const).map((arch) => [arch, {
      tokensPerCpuSecond: fusedRuns[arch]!.compiledModuleTokensPerCpuSecond, pytorchTokensPerCpuSecond: peer.output?.results[arch].moduleTokensPerCpuSecond ?? null,
      ratio: ratio(fusedRuns[arch]!.compiledModuleTokensPerCpuSecond, peer.output?.results[arch].moduleTokensPerCpuSecond),
      maxAbsDiffFromEager: fusedRuns[arch]!.compiledMaxAbsDiffFromEager,
    }])),
    rows, fused: fusedRuns, unfused: unfusedRuns, fma: fmaRuns, pytorchPeer: peer,
  };
}

// ---------------------------------------------------------------- run

const loadBefore = loadavg();
console.log(`@titans/memory bench: d = ${dim}, ${heads} heads, float32, CPU backend; budget ${budgetMs / 1000} s; load ${loadBefore.map((l) => l.toFixed(1)).join(' ')}`);
const comparison = versusPyTorch();
const onlyCompare = process.env.MEMORY_BENCH_ONLY === 'compare';
const streamResult = onlyCompare ? null : fullRun();

/** Everything else: dispatch counts, backward, length scaling, the long stream (skipped by MEMORY_BENCH_ONLY=compare). */
function fullRun(): StreamResult {
// Warm the JIT, the kernel caches and the CPU backend's workers first (the first measured
// configuration otherwise pays for them).
for (const arch of ['linear', 'mlp2'] as const) {
  for (const chunk of [16, 64]) runOnce(ruleOf(arch, chunk), 1024, 'forward', 'parallel');
  runOnce(ruleOf(arch, 64), 256, 'forward+backward', 'parallel');
}

// In order of importance, so a tight budget drops the least useful runs.
const configs: [Arch, number][] = [['linear', 16], ['linear', 64], ['mlp2', 16], ['mlp2', 64]];
for (const [arch, chunk] of configs) measure(arch, chunk, 1024, 'forward', 'parallel');
for (const [arch, chunk] of configs) measure(arch, chunk, 1024, 'forward+backward', 'parallel');
const streamCapMs = Math.max(20_000, Math.min(150_000, remaining() - 90_000));
const result = stream(1_000_000, streamCapMs);
const liveRange = (xs: number[]): string => `${Math.min(...xs)}-${Math.max(...xs)}`;
console.log(`stream: ${result.tokens} tokens in ${result.seconds} s (${result.tokensPerSecond} tok/s); between pieces ` +
  `${liveRange(result.liveBytes.map((x) => x.bytes))} live bytes, ${liveRange(result.liveBytes.map((x) => x.tensors))} live tensors; ` +
  `peak within a piece ${(result.peakLiveBytesWithinPiece / 2 ** 20).toFixed(1)} MiB`);
for (const tokens of [2048, 4096]) for (const [arch, chunk] of configs) measure(arch, chunk, tokens, 'forward', 'parallel');
// The loop: estimated from 64 tokens, run at 1K when it fits.
for (const arch of ['linear', 'mlp2'] as const) {
  measure(arch, 16, 64, 'forward', 'loop');
  measure(arch, 16, 1024, 'forward', 'loop', 10_000);
}
for (const [arch, chunk] of configs) measure(arch, chunk, 4096, 'forward+backward', 'parallel', 10_000);
for (const tokens of [16_384, 65_536]) measure('linear', 64, tokens, 'forward', 'parallel', 5_000);
return result;
}

// Time against length, in wall seconds and in CPU seconds (the latter is what to read on a loaded machine).
const configs: [Arch, number][] = [['linear', 16], ['linear', 64], ['mlp2', 16], ['mlp2', 64]];
const slopes = Object.fromEntries(configs.flatMap(([arch, chunk]) => {
  const points = measurements.filter((m) => m.arch === arch && m.chunk === chunk && m.mode === 'forward' && m.path === 'parallel');
  return (['seconds', 'cpuSeconds'] as const).map((clock) => {
    const f = fit(points.map((p) => ({ tokens: p.tokens, seconds: p[clock] })));
    return [`${arch}/chunk ${chunk}/forward/${clock}`, f && { ...f, microsecondsPerToken: round(f.secondsPerToken * 1e6, 2), fromTokens: points.map((p) => p.tokens) }];
  });
}));
for (const [name, f] of Object.entries(slopes)) if (f) console.log(`slope ${name}: ${f.microsecondsPerToken} us/token (${f.interceptSeconds} s intercept), exponent ${f.exponent}, r2 ${f.r2}`);

const info = (tensorLib as Record<string, unknown>).cpuInfo;
const report = {
  benchmark: '@titans/memory',
  date: new Date().toISOString(),
  machine: {
    cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, node: process.version,
    loadAverageBefore: loadBefore.map((l) => round(l, 2)), loadAverageAfter: loadavg().map((l) => round(l, 2)),
    cpuBackend: typeof info === 'function' ? (info as () => unknown)() : null,
  },
  setup: {
    dim, heads, headDim, dtype: 'float32', batch: 1,
    architectures: { linear: 'M(x) = W x, 64 x 64 per head', mlp2: 'x + LN(W2 silu(W1 x)), 64-256-64 per head (titans preset)' },
    rule: 'titans presets: momentum and forgetting on, data-dependent gates',
    forwardBackward: 'valueAndGrad of sum(y_pre r) + sum(y_post r) with respect to k, v, q, theta, eta, alpha and the initial weights',
    peakLiveBytes: 'maximum of backend.liveBytes() after each primitive during the scan (and its backward pass), above the bytes live when it started: inputs and initial weights excluded',
  },
  measurements,
  slopes,
  stream: streamResult,
  versusPyTorch: comparison,
  skipped,
  totalSeconds: round(elapsed() / 1000, 1),
};
mkdirSync('bench-results', { recursive: true });
writeFileSync('bench-results/memory.json.tmp', `${JSON.stringify(report, null, 2)}\n`);
renameSync('bench-results/memory.json.tmp', 'bench-results/memory.json');
console.log(`wrote bench-results/memory.json (${report.totalSeconds} s)`);
process.exit(0);
