// Throughput of every architecture against context length: training tokens/s (forward,
// backward and an AdamW step on one sequence), prefill tokens/s (the prompt in one forward
// pass without gradients, through generate()'s streaming state) and decode tokens/s (token by
// token from the state the prefill left), for a tiny and a small config at 1K-16K tokens,
// batch 1. From those: per config, the context at which each memory model's throughput
// overtakes full attention (Transformer++), and how time grows with length (the exponent p of
// seconds ~ tokens^p: 1 = linear, 2 = quadratic). Writes bench-results/models.json
// (models-webgpu.json for --backend webgpu) and prints tables.
//
// Run: pnpm bench (node --conditions=source --import tsx bench/run.ts) from packages/models.
//   --quick                 tiny config, 256 and 512 tokens, 90 s budget (a smoke run)
//   --backend cpu|webgpu    default cpu; webgpu is Dawn (SwiftShader on machines without a GPU)
//   --contexts 1K,2K,...    default 1K,2K,4K,8K,16K (webgpu: 256,512,1K)
//   --configs tiny,small    default both (webgpu: tiny)
//   --archs lmm,mac,...     default lmm mac mag mal transformer swa deltanet gated-deltanet moneta
//   --budget SECONDS        whole run (default 510, webgpu 300); TITANS_BENCH_BUDGET_S
//   --cell-budget SECONDS   per measurement (default 40); TITANS_BENCH_CELL_BUDGET_S
// The environment variables TITANS_BENCH_BACKEND, _CONTEXTS, _CONFIGS, _ARCHS and _QUICK=1 do
// the same as the flags (flags win).
//
// Budgets: contexts run in increasing order; before each measurement its time is projected
// from the same architecture's last measured lengths (local log-log slope, clamped to [1, 2])
// and it is skipped, with the reason and the projected seconds, when that is over the
// per-cell budget or over what is left of its config's share of the whole budget (tiny 60 %,
// small the rest). A skipped length skips the longer ones. Shared machines are noisy: the
// load average and CPU seconds (all threads) are recorded next to wall-clock times.
import { mkdirSync, writeFileSync } from 'node:fs';
import { arch as machineArch, cpus, loadavg, platform, totalmem } from 'node:os';
import { parseArgs } from 'node:util';
import {
  cpuInfo, getBackend, gradients, optim, setBackend, tensor, tidyAsync, type Backend, type Tensor,
} from '@titans/tensor';
import {
  ARCHITECTURES, countParameters, createModel, generate, tinyConfig,
  type ArchitectureName, type ModelConfig, type TitansLanguageModel,
} from '../src/index.js';

// ---------------------------------------------------------------- options

const { values: flags } = parseArgs({
  options: {
    quick: { type: 'boolean' },
    backend: { type: 'string' },
    contexts: { type: 'string' },
    configs: { type: 'string' },
    archs: { type: 'string' },
    budget: { type: 'string' },
    'cell-budget': { type: 'string' },
  },
  strict: true,
});
const env = process.env;
const quick = flags.quick ?? env.TITANS_BENCH_QUICK === '1';
const backendName = flags.backend ?? env.TITANS_BENCH_BACKEND ?? 'cpu';
if (backendName !== 'cpu' && backendName !== 'webgpu') throw new Error(`--backend must be cpu or webgpu, got ${backendName}`);
const gpuRun = backendName === 'webgpu';

function list(value: string | undefined): string[] | undefined {
  return value === undefined ? undefined : value.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
}
function tokensOf(s: string): number {
  const m = /^(\d+)([kK]?)$/.exec(s);
  if (!m) throw new Error(`--contexts: ${JSON.stringify(s)} is not a length (e.g. 1024 or 1K)`);
  return Number(m[1]) * (m[2] ? 1024 : 1);
}
function seconds(value: string | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!(n > 0)) throw new Error(`${name} must be a positive number of seconds, got ${value}`);
  return n;
}

/** The two model sizes: the repo's tiny preset, and a wider, deeper model with a longer window. */
const CONFIGS = {
  tiny: {
    describe: 'tinyConfig(arch): byte vocabulary, width 48, 2 blocks, 2 heads, SwiGLU 128, window 64, MAC segment 32, 4 persistent tokens, memory 2 heads (MLP x2, chunk 16, conv 4)',
    make: (a: ArchitectureName): ModelConfig => tinyConfig(a),
  },
  small: {
    describe: 'tinyConfig(arch, { dim: 128, layers: 4, heads: 4, window: 256, segmentLength: 128, memory: { heads: 4 } }): width 128, 4 blocks, 4 heads, SwiGLU 352, window 256, MAC segment 128, memory 4 heads (MLP x2, chunk 16, conv 4)',
    make: (a: ArchitectureName): ModelConfig => tinyConfig(a, { dim: 128, layers: 4, heads: 4, window: 256, segmentLength: 128, memory: { heads: 4 } }),
  },
} as const;
type ConfigName = keyof typeof CONFIGS;
/** Share of the whole budget each config may use up to (cumulative deadlines: what tiny leaves goes to small). */
const SHARE: Record<ConfigName, number> = { tiny: 0.6, small: 0.4 };

const DEFAULT_ARCHS: ArchitectureName[] = ['transformer', 'lmm', 'mac', 'mag', 'mal', 'swa', 'deltanet', 'gated-deltanet', 'moneta'];
const archs = (list(flags.archs ?? env.TITANS_BENCH_ARCHS) ?? DEFAULT_ARCHS) as ArchitectureName[];
for (const a of archs) if (!ARCHITECTURES.includes(a)) throw new Error(`--archs: unknown architecture ${a} (have ${ARCHITECTURES.join(', ')})`);
const configNames = (list(flags.configs ?? env.TITANS_BENCH_CONFIGS) ?? (quick || gpuRun ? ['tiny'] : ['tiny', 'small'])) as ConfigName[];
for (const c of configNames) if (!(c in CONFIGS)) throw new Error(`--configs: unknown config ${c} (have ${Object.keys(CONFIGS).join(', ')})`);
const contexts = (list(flags.contexts ?? env.TITANS_BENCH_CONTEXTS)?.map(tokensOf)
  ?? (quick ? [256, 512] : gpuRun ? [256, 512, 1024] : [1024, 2048, 4096, 8192, 16384])).sort((a, b) => a - b);
const budgetMs = 1000 * seconds(flags.budget ?? env.TITANS_BENCH_BUDGET_S, quick ? 90 : gpuRun ? 300 : 510, '--budget');
const cellBudgetS = seconds(flags['cell-budget'] ?? env.TITANS_BENCH_CELL_BUDGET_S, quick ? 15 : 40, '--cell-budget');
/** Tokens of the untimed warm-up and of the timed probe that seeds the projections. */
const PROBE_TOKENS = 128;
/** New tokens per generate() call: the first comes from the prefill, the rest are decode steps. */
const NEW_TOKENS = 8;

const started = performance.now();
const elapsedMs = (): number => performance.now() - started;
const totalShare = configNames.reduce((s, c) => s + SHARE[c], 0);
/** Milliseconds left before config `c`'s deadline. */
function remainingMs(c: ConfigName): number {
  let deadline = 0;
  for (const name of configNames) {
    deadline += (SHARE[name] / totalShare) * budgetMs;
    if (name === c) break;
  }
  return deadline - elapsedMs();
}

// ---------------------------------------------------------------- backend

/** Set when running on WebGPU; kept for the process's life (Dawn's objects must stay reachable). */
let gpu: (Backend & { readonly adapterName: string; sync(): Promise<void>; materialize(s: unknown): void; destroy(): void }) | null = null;
if (gpuRun) {
  const { createWebGPUBackend } = await import('@titans/webgpu');
  gpu = await createWebGPUBackend();
  setBackend(gpu);
}
const backend = getBackend();

/** Waits until the backend has finished everything the tensors depend on (lazy WebGPU work included). */
async function settle(tensors: readonly Tensor[]): Promise<void> {
  if (!gpu) return;
  for (const t of tensors) gpu.materialize(t.view().storage);
  await gpu.sync();
}

// ---------------------------------------------------------------- workloads

/** Deterministic pseudo-random byte ids (Knuth's multiplicative hash). */
function ids(length: number, seed: number, vocab: number): Int32Array {
  return Int32Array.from({ length }, (_, i) => (Math.imul(i + seed * 7919 + 1, 2654435761) >>> 8) % vocab);
}

interface Timing {
  seconds: number;
  cpuSeconds: number;
}

async function timed(run: () => Promise<void>): Promise<Timing> {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await run();
  const cpu = process.cpuUsage(cpu0);
  return { seconds: (performance.now() - t0) / 1000, cpuSeconds: (cpu.user + cpu.system) / 1e6 };
}

/**
 * One training step on one sequence of `length` tokens, as train() takes it: forward, backward,
 * global-norm clipping at 1, and the AdamW update unless the loss or gradient is not finite
 * (then the update is skipped, as train() does, and the step reported).
 */
class Trainer {
  private readonly params: Tensor[];
  private readonly optimizer: optim.AdamW;
  /** Whether the last step's loss and gradient norm were finite, and their values. */
  last = { finite: true, loss: 0, gradNorm: 0 };
  constructor(private readonly model: TitansLanguageModel) {
    this.params = model.parameters();
    // A small learning rate: the weights barely move over the few steps timed here.
    this.optimizer = new optim.AdamW(this.params, { lr: 1e-5, weightDecay: 0 });
  }
  async step(length: number): Promise<void> {
    this.model.train();
    const seq = ids(length + 1, 1, this.model.config.vocabSize);
    this.last = await tidyAsync(async () => {
      const loss = this.model.loss(tensor(seq.subarray(0, length), [1, length], { dtype: 'int32' }), tensor(seq.subarray(1), [1, length], { dtype: 'int32' }));
      const { grads, norm } = optim.clipGradNorm(gradients(loss, this.params), 1);
      const value = (await loss.data())[0]!;
      const gradNorm = (await norm.data())[0]!;
      const finite = Number.isFinite(value) && Number.isFinite(gradNorm);
      if (finite) this.optimizer.step(grads);
      return { finite, loss: value, gradNorm };
    });
    await settle(this.params);
  }
  dispose(): void {
    this.optimizer.dispose();
    for (const p of this.params) p.dispose();
  }
}

interface InferTiming {
  prefill: Timing;
  /** Wall seconds of the NEW_TOKENS - 1 decode steps. */
  decodeSeconds: number;
  total: Timing;
  /** Wall seconds of the whole call (what the median is taken over). */
  seconds: number;
}

/** generate() with the whole prompt as one prefill chunk; times the prefill (to the first token) and the decode steps. */
async function infer(model: TitansLanguageModel, length: number): Promise<InferTiming> {
  model.eval();
  const prompt = ids(length, 2, model.config.vocabSize);
  let first = 0;
  let cpuAtFirst = { user: 0, system: 0 };
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await generate(model, prompt, {
    maxNewTokens: NEW_TOKENS, prefillChunk: length,
    onToken: (_token, i) => {
      if (i === 0) {
        first = performance.now();
        cpuAtFirst = process.cpuUsage(cpu0);
      }
    },
  });
  const end = performance.now();
  const cpu = process.cpuUsage(cpu0);
  return {
    prefill: { seconds: (first - t0) / 1000, cpuSeconds: (cpuAtFirst.user + cpuAtFirst.system) / 1e6 },
    decodeSeconds: (end - first) / 1000,
    total: { seconds: (end - t0) / 1000, cpuSeconds: (cpu.user + cpu.system) / 1e6 },
    seconds: (end - t0) / 1000,
  };
}

/** Median (by wall time) of up to 3 runs while a run takes under a second and time is left. */
async function repeat<T extends { seconds: number }>(run: () => Promise<T>, timeLeft: () => number): Promise<{ median: T; runs: T[] }> {
  const runs = [await run()];
  while (runs.length < 3 && runs[0]!.seconds < 1 && timeLeft() > 5_000) runs.push(await run());
  const sorted = [...runs].sort((a, b) => a.seconds - b.seconds);
  return { median: sorted[Math.floor(sorted.length / 2)]!, runs };
}

// ---------------------------------------------------------------- projections and fits

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** Least-squares exponent p of seconds ~ tokens^p and its r2 in log-log space. */
function logLogFit(points: readonly { tokens: number; seconds: number }[]): { exponent: number; r2: number } | null {
  if (points.length < 2) return null;
  const xs = points.map((p) => Math.log(p.tokens));
  const ys = points.map((p) => Math.log(p.seconds));
  const mx = xs.reduce((s, v) => s + v, 0) / xs.length;
  const my = ys.reduce((s, v) => s + v, 0) / ys.length;
  const sxx = xs.reduce((s, v) => s + (v - mx) ** 2, 0);
  const sxy = xs.reduce((s, v, i) => s + (v - mx) * (ys[i]! - my), 0);
  const syy = ys.reduce((s, v) => s + (v - my) ** 2, 0);
  if (sxx === 0) return null;
  const p = sxy / sxx;
  return { exponent: p, r2: syy === 0 ? 1 : (p * sxy) / syy };
}

/** Measured wall seconds of one run of each part, by `${config}/${arch}/${part}`, probe included. */
const history = new Map<string, { tokens: number; seconds: number }[]>();

/** Projected wall seconds of one run at `tokens`, from the last two lengths measured (exponent clamped to [1, 2]). */
function project(key: string, tokens: number): number | null {
  const points = history.get(key) ?? [];
  const last = points.at(-1);
  if (!last) return null;
  const fit = logLogFit(points.slice(-2));
  const p = Math.min(2, Math.max(1, fit?.exponent ?? 1));
  return last.seconds * (tokens / last.tokens) ** p;
}

// ---------------------------------------------------------------- the cells

interface Measured {
  tokensPerSecond: number;
  seconds: number;
  cpuSeconds: number;
  tokensPerCpuSecond: number;
  runs: number;
  /** Training only: the loss or gradient was not finite, so the update was skipped (as train() skips such steps). */
  nonFinite?: string;
}
interface Skipped {
  skipped: string;
  projectedSeconds: number | null;
}
type Result = Measured | Skipped;
const isMeasured = (r: Result | undefined): r is Measured => r !== undefined && 'tokensPerSecond' in r;

interface Cell {
  architecture: ArchitectureName;
  config: ConfigName;
  parameters: number;
  context: number;
  train: Result;
  prefill: Result;
  decode: Result;
}

const cells: Cell[] = [];
const failures: string[] = [];
/** Non-finite training steps (timed all the same: the forward and backward passes ran). */
const warnings: string[] = [];
type Part = 'train' | 'infer';
const loadBefore = loadavg();

function measured(tokens: number, t: Timing, runs: number): Measured {
  return {
    tokensPerSecond: round(tokens / t.seconds, 1), seconds: round(t.seconds, 4), cpuSeconds: round(t.cpuSeconds, 3),
    tokensPerCpuSecond: round(tokens / Math.max(t.cpuSeconds, 1e-6), 1), runs,
  };
}

/** Whether a part fits: null when it does, else why not (a longer context after a skipped one is skipped too). */
function verdict(config: ConfigName, key: string, tokens: number, blocked: Map<string, string>): Skipped | null {
  const projected = project(key, tokens);
  const estimate = projected === null ? null : round(projected, 1);
  const earlier = blocked.get(key);
  if (earlier !== undefined) return { skipped: `a shorter context was skipped (${earlier})`, projectedSeconds: estimate };
  if (projected !== null && projected > cellBudgetS) {
    const reason = `projected ${projected.toFixed(0)} s is over the per-cell budget of ${cellBudgetS} s`;
    blocked.set(key, reason);
    return { skipped: reason, projectedSeconds: estimate };
  }
  const left = remainingMs(config);
  if ((projected ?? 0) * 1000 > left) {
    return { skipped: `projected ${(projected ?? 0).toFixed(0)} s does not fit the ${Math.max(0, left / 1000).toFixed(0)} s left of the ${config} config's share of the budget`, projectedSeconds: estimate };
  }
  return null;
}

const line = (s: string): void => console.log(s);
const fmtRate = (r: Result): string => (isMeasured(r) ? `${r.tokensPerSecond >= 100 ? r.tokensPerSecond.toFixed(0) : r.tokensPerSecond.toFixed(1)}${r.nonFinite ? '*' : ''}` : 'skip');

/** One architecture in one config: its model and optimizer live across the contexts. */
interface Subject {
  readonly config: ConfigName;
  readonly architecture: ArchitectureName;
  readonly parameters: number;
  readonly model: TitansLanguageModel;
  readonly trainer: Trainer;
  /** Parts skipped for the per-cell budget (longer contexts are skipped too), with the reason. */
  readonly blocked: Map<string, string>;
  /** Untimed warm-up plus the timed probe, seconds; null when it failed. */
  setupSeconds: number | null;
  failed: string | null;
  /** Why it was not set up (no time left), when it was not. */
  notSetUp: string | null;
}
const subjects: Subject[] = [];
const keyOf = (s: Subject, part: Part): string => `${s.config}/${s.architecture}/${part}`;
const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error)).split('\n')[0]!;

/** Builds the model; untimed warm-up (JIT, kernel caches, CPU workers, optimizer slots), then a timed probe that seeds the projections. */
async function setUp(config: ConfigName, architecture: ArchitectureName): Promise<Subject> {
  const model = createModel(CONFIGS[config].make(architecture));
  const subject: Subject = {
    config, architecture, parameters: countParameters(model), model, trainer: new Trainer(model), blocked: new Map(), setupSeconds: null, failed: null, notSetUp: null,
  };
  subjects.push(subject);
  if (remainingMs(config) <= 0) {
    subject.notSetUp = `no time left in the ${config} config's share of the budget for the warm-up`;
    line(`${config.padEnd(5)} ${architecture.padEnd(14)} not set up: ${subject.notSetUp}`);
    return subject;
  }
  const t0 = performance.now();
  try {
    await subject.trainer.step(PROBE_TOKENS);
    await infer(model, PROBE_TOKENS);
    const probeTrain = await timed(() => subject.trainer.step(PROBE_TOKENS));
    const probeInfer = await infer(model, PROBE_TOKENS);
    history.set(keyOf(subject, 'train'), [{ tokens: PROBE_TOKENS, seconds: probeTrain.seconds }]);
    history.set(keyOf(subject, 'infer'), [{ tokens: PROBE_TOKENS, seconds: probeInfer.seconds }]);
    subject.setupSeconds = round((performance.now() - t0) / 1000, 2);
    line(`${config.padEnd(5)} ${architecture.padEnd(14)} ${String(subject.parameters).padStart(8)} parameters; warm-up and probe at ${PROBE_TOKENS} tokens ${subject.setupSeconds.toFixed(1)} s ` +
      `(train ${(PROBE_TOKENS / probeTrain.seconds).toFixed(0)}, prefill ${(PROBE_TOKENS / probeInfer.prefill.seconds).toFixed(0)} tok/s)`);
  } catch (error) {
    subject.failed = messageOf(error);
    failures.push(`${config} ${architecture} (warm-up): ${subject.failed}`);
    line(`FAILED ${config} ${architecture} warm-up: ${subject.failed}`);
  }
  return subject;
}

async function measureCell(subject: Subject, context: number): Promise<void> {
  const { config, architecture, model, trainer, blocked } = subject;
  const notRun = (why: string): Skipped => ({ skipped: why, projectedSeconds: null });
  const cell: Cell = { architecture, config, parameters: subject.parameters, context, train: notRun('not run'), prefill: notRun('not run'), decode: notRun('not run') };
  cells.push(cell);
  if (subject.failed !== null || subject.notSetUp !== null) {
    cell.train = cell.prefill = cell.decode = notRun(subject.notSetUp ?? `failed: ${subject.failed}`);
    return;
  }
  try {
    const inferSkip = verdict(config, keyOf(subject, 'infer'), context, blocked);
    if (inferSkip) {
      cell.prefill = cell.decode = inferSkip;
    } else {
      const { median, runs } = await repeat(() => infer(model, context), () => remainingMs(config));
      cell.prefill = measured(context, median.prefill, runs.length);
      cell.decode = measured(NEW_TOKENS - 1, { seconds: median.decodeSeconds, cpuSeconds: median.total.cpuSeconds - median.prefill.cpuSeconds }, runs.length);
      history.get(keyOf(subject, 'infer'))!.push({ tokens: context, seconds: median.seconds });
    }
    const trainSkip = verdict(config, keyOf(subject, 'train'), context, blocked);
    if (trainSkip) {
      cell.train = trainSkip;
    } else {
      const { median, runs } = await repeat(() => timed(() => trainer.step(context)), () => remainingMs(config));
      cell.train = measured(context, median, runs.length);
      if (!trainer.last.finite) {
        cell.train.nonFinite = `loss ${trainer.last.loss}, gradient norm ${trainer.last.gradNorm}: update skipped`;
        warnings.push(`${config} ${architecture} at ${context} tokens: training ${cell.train.nonFinite}`);
      }
      history.get(keyOf(subject, 'train'))!.push({ tokens: context, seconds: median.seconds });
    }
  } catch (error) {
    subject.failed = messageOf(error);
    failures.push(`${config} ${architecture} at ${context} tokens: ${subject.failed}`);
    line(`FAILED ${config} ${architecture} at ${context} tokens: ${subject.failed}`);
    return;
  }
  const why = [...new Set([cell.prefill, cell.train].filter((r): r is Skipped => !isMeasured(r)).map((r) => r.skipped))];
  line(`${config.padEnd(5)} ${architecture.padEnd(14)} ${String(context).padStart(6)} tokens  train ${fmtRate(cell.train).padStart(7)}  prefill ${fmtRate(cell.prefill).padStart(7)}  decode ${fmtRate(cell.decode).padStart(6)} tok/s` +
    `  (${(elapsedMs() / 1000).toFixed(0)} s)${why.length ? `  [${why.join('; ')}]` : ''}`);
}

// ---------------------------------------------------------------- run

line(`@titans/models bench: backend ${backend.name}${gpu ? ` (${gpu.adapterName})` : ''}, configs ${configNames.join(', ')}, contexts ${contexts.join(', ')}, batch 1; ` +
  `budget ${budgetMs / 1000} s, ${cellBudgetS} s per cell; load ${loadBefore.map((l) => l.toFixed(1)).join(' ')}`);
for (const config of configNames) {
  line(`${config}: ${CONFIGS[config].describe}`);
  // Every architecture is set up first, then the contexts run shortest first across all of
  // them: a tight budget drops the longest contexts, not the last architectures.
  const group: Subject[] = [];
  for (const architecture of archs) group.push(await setUp(config, architecture));
  for (const context of contexts) for (const subject of group) await measureCell(subject, context);
  for (const subject of group) subject.trainer.dispose();
}

// ---------------------------------------------------------------- analysis

type Component = 'train' | 'prefill' | 'decode';
/** Wall-clock time, or CPU time of all threads (steadier when other processes share the cores). */
type Clock = 'wall' | 'cpu';
const CLOCKS: readonly Clock[] = ['wall', 'cpu'];
const cellOf = (config: ConfigName, arch: ArchitectureName, context: number): Cell | undefined =>
  cells.find((c) => c.config === config && c.architecture === arch && c.context === context);
const rateOf = (r: Measured, clock: Clock): number => (clock === 'wall' ? r.tokensPerSecond : r.tokensPerCpuSecond);

interface Slope {
  exponent: number;
  r2: number;
  contexts: number[];
}
type Slopes = Record<string, Record<string, Record<Component, Slope | null>>>;

/** Exponent of time against length per architecture and component (decode: seconds per token against the context it follows). */
function slopesFor(clock: Clock): Slopes {
  const out: Slopes = {};
  for (const config of configNames) {
    out[config] = {};
    for (const arch of archs) {
      const entry = {} as Record<Component, Slope | null>;
      for (const part of ['train', 'prefill', 'decode'] as const) {
        const points = contexts.flatMap((context) => {
          const r = cellOf(config, arch, context)?.[part];
          // seconds for `context` tokens; for decode, seconds per token.
          return isMeasured(r) ? [{ tokens: context, seconds: (part === 'decode' ? 1 : context) / rateOf(r, clock) }] : [];
        });
        const f = logLogFit(points);
        entry[part] = f && { exponent: round(f.exponent, 3), r2: round(f.r2, 3), contexts: points.map((p) => p.tokens) };
      }
      out[config][arch] = entry;
    }
  }
  return out;
}

interface Crossover {
  /** 'faster-throughout': already faster at the shortest common context; 'crosses': slower, then faster; 'never-in-range': slower wherever both ran. */
  status: 'faster-throughout' | 'crosses' | 'never-in-range' | 'no-common-context';
  /** First measured context at which the model's tokens/s is above the transformer's. */
  context: number | null;
  /** Where the log-log lines between the bracketing contexts meet (status 'crosses'). */
  interpolatedContext: number | null;
  /** Where the fitted power laws (slopes) meet, when the model never wins in range, the transformer's time grows faster and that is within 32x the last common context. */
  extrapolatedContext: number | null;
  /** Model tokens/s divided by the transformer's, per common context. */
  ratios: Record<string, number>;
}
type Crossovers = Record<string, Record<string, Record<'train' | 'prefill', Crossover>>>;

const REFERENCE: ArchitectureName = 'transformer';
function crossoversFor(clock: Clock, slopes: Slopes): Crossovers {
  const out: Crossovers = {};
  if (!archs.includes(REFERENCE)) return out;
  for (const config of configNames) {
    out[config] = {};
    for (const arch of archs.filter((a) => a !== REFERENCE)) {
      const entry = {} as Record<'train' | 'prefill', Crossover>;
      for (const part of ['train', 'prefill'] as const) {
        const common = contexts.flatMap((context) => {
          const mine = cellOf(config, arch, context)?.[part];
          const ref = cellOf(config, REFERENCE, context)?.[part];
          return isMeasured(mine) && isMeasured(ref) ? [{ context, mine: rateOf(mine, clock), ref: rateOf(ref, clock) }] : [];
        });
        const ratios = Object.fromEntries(common.map((c) => [String(c.context), round(c.mine / c.ref, 3)]));
        const firstWin = common.findIndex((c) => c.mine > c.ref);
        const status: Crossover['status'] = common.length === 0 ? 'no-common-context' : firstWin === 0 ? 'faster-throughout' : firstWin > 0 ? 'crosses' : 'never-in-range';
        let interpolated: number | null = null;
        if (status === 'crosses') {
          const a = common[firstWin - 1]!;
          const b = common[firstWin]!;
          // log(ratio) is linear in log(context) between the two points; find its zero.
          const ra = Math.log(a.mine / a.ref);
          const rb = Math.log(b.mine / b.ref);
          interpolated = Math.round(Math.exp(Math.log(a.context) + (ra / (ra - rb)) * (Math.log(b.context) - Math.log(a.context))));
        }
        let extrapolated: number | null = null;
        const mineSlope = slopes[config]?.[arch]?.[part];
        const refSlope = slopes[config]?.[REFERENCE]?.[part];
        if (status === 'never-in-range' && mineSlope && refSlope && refSlope.exponent > mineSlope.exponent) {
          // time ~ c L^p for both, so the tokens/s ratio grows as L^(p_ref - p_mine) from the last common context.
          const last = common.at(-1)!;
          const at = last.context * (last.ref / last.mine) ** (1 / (refSlope.exponent - mineSlope.exponent));
          // Farther than 32x the last common context is not a forecast worth printing.
          if (at <= 32 * last.context) extrapolated = Math.round(at);
        }
        entry[part] = { status, context: firstWin >= 0 ? common[firstWin]!.context : null, interpolatedContext: interpolated, extrapolatedContext: extrapolated, ratios };
      }
      out[config][arch] = entry;
    }
  }
  return out;
}

const slopes = { wall: slopesFor('wall'), cpu: slopesFor('cpu') };
const crossovers = { wall: crossoversFor('wall', slopes.wall), cpu: crossoversFor('cpu', slopes.cpu) };

// ---------------------------------------------------------------- report

function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const fmt = (r: readonly string[]): string => r.map((v, i) => (i === 0 ? v.padEnd(widths[i]!) : v.padStart(widths[i]!))).join('  ');
  return [fmt(headers), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(fmt)].join('\n');
}
const kTokens = (n: number): string => (n % 1024 === 0 ? `${n / 1024}K` : String(n));
const describeCrossover = (c: Crossover): string => {
  switch (c.status) {
    case 'faster-throughout': return `faster from ${kTokens(c.context!)}`;
    case 'crosses': return `at ${kTokens(c.context!)} (~${c.interpolatedContext ?? '?'})`;
    case 'never-in-range': return c.extrapolatedContext ? `not in range (~${c.extrapolatedContext})` : 'not in range';
    default: return 'no common context';
  }
};
for (const config of configNames) {
  for (const part of ['train', 'prefill', 'decode'] as const) {
    const about = part === 'decode' ? `, ${NEW_TOKENS - 1} steps after a prefill of the context; exponent of seconds per token` : '; exponent of seconds for the context';
    line(`\n${config}: ${part} tokens/s (${backend.name}${about}; skip (N s) = projected N s over budget${part === 'train' ? '; * = non-finite loss or gradient, update skipped' : ''})`);
    line(table(['architecture', 'params', ...contexts.map(kTokens), 'exponent', 'cpu exp.'], archs.map((arch) => {
      const row = contexts.map((context) => {
        const r = cellOf(config, arch, context)?.[part];
        if (!r) return '-';
        if (isMeasured(r)) return fmtRate(r);
        return r.projectedSeconds === null ? 'skip' : `skip (${r.projectedSeconds.toFixed(0)} s)`;
      });
      const params = cellOf(config, arch, contexts[0]!)?.parameters ?? 0;
      const exponents = CLOCKS.map((clock) => slopes[clock][config]?.[arch]?.[part]?.exponent.toFixed(2) ?? '-');
      return [arch, String(params), ...row, ...exponents];
    })));
  }
  const wall = crossovers.wall[config];
  const cpu = crossovers.cpu[config];
  if (wall && cpu) {
    line(`\n${config}: where tokens/s overtakes Transformer++ (first measured context (~interpolated); not in range (~extrapolated from the exponents)), by wall and by CPU time`);
    line(table(['architecture', 'train (wall)', 'train (cpu)', 'prefill (wall)', 'prefill (cpu)'], Object.keys(wall).map((arch) => [
      arch, describeCrossover(wall[arch]!.train), describeCrossover(cpu[arch]!.train), describeCrossover(wall[arch]!.prefill), describeCrossover(cpu[arch]!.prefill),
    ])));
  }
}
const skippedList = cells.flatMap((c) => (['train', 'prefill', 'decode'] as const).flatMap((part) => {
  const r = c[part];
  return isMeasured(r) ? [] : [`${c.config} ${c.architecture} ${c.context} ${part}: ${r.skipped}${r.projectedSeconds !== null ? ` (projected ${r.projectedSeconds} s)` : ''}`];
}));

const result = {
  benchmark: '@titans/models',
  date: new Date().toISOString(),
  quick,
  backend: { name: backend.name, ...(gpu ? { adapter: gpu.adapterName } : {}) },
  machine: {
    platform: platform(), arch: machineArch(), cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, memoryBytes: totalmem(), node: process.version,
    loadAverageBefore: loadBefore.map((l) => round(l, 2)), loadAverageAfter: loadavg().map((l) => round(l, 2)),
    cpuBackend: gpu ? null : cpuInfo(),
  },
  setup: {
    batch: 1, dtype: 'float32', contexts, architectures: archs,
    configs: Object.fromEntries(configNames.map((c) => [c, CONFIGS[c].describe])),
    train: 'one sequence of `context` tokens as train() takes a step: model.loss (mean next-token cross-entropy), gradients of every parameter, global-norm clipping at 1, AdamW (lr 1e-5), skipped when the loss or gradient norm is not finite (flagged nonFinite); ' +
      `untimed warm-up and a timed probe at ${PROBE_TOKENS} tokens per model, then per context the median of up to 3 steps while a step takes under 1 s`,
    prefill: 'generate(model, prompt, { prefillChunk: context }): the prompt in one forward pass without gradients into the streaming state, timed to the first token',
    decode: `the same generate() call: ${NEW_TOKENS - 1} further tokens, one forward step each from the state (KV cache, memory state, MAC segment buffer)`,
    budget: { totalSeconds: budgetMs / 1000, perCellSeconds: cellBudgetS, shares: Object.fromEntries(configNames.map((c) => [c, round(SHARE[c] / totalShare, 3)])) },
    slopes: 'least-squares exponent p of seconds ~ tokens^p over the measured contexts (decode: seconds per token against the context it follows); 1 = linear, 2 = quadratic; by wall-clock and by CPU time (all threads)',
    crossover: 'per config, the first measured context at which the model\'s tokens/s is above Transformer++\'s, interpolated in log-log between the bracketing contexts; when it never is, where the two fitted power laws would meet; by wall-clock and by CPU time',
  },
  models: subjects.map((m) => ({ config: m.config, architecture: m.architecture, parameters: m.parameters, setupSeconds: m.setupSeconds, ...(m.failed ? { failed: m.failed } : {}), ...(m.notSetUp ? { notSetUp: m.notSetUp } : {}) })),
  cells,
  slopes,
  crossovers,
  skipped: skippedList,
  warnings,
  failures,
  totalSeconds: round(elapsedMs() / 1000, 1),
};
const file = `bench-results/${gpu ? 'models-webgpu' : 'models'}${quick ? '-quick' : ''}.json`;
mkdirSync('bench-results', { recursive: true });
writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
for (const w of warnings) line(`warning: ${w}`);
line(`\n${skippedList.length} skipped measurements${warnings.length ? `, ${warnings.length} non-finite training steps` : ''}${failures.length ? `, ${failures.length} failures` : ''}; wrote ${file} (${result.totalSeconds} s)`);
// Keep the device until the very end (Dawn's objects must stay reachable while work is pending).
gpu?.destroy();
process.exit(failures.length ? 1 : 0);
