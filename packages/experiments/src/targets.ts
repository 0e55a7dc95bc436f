// The targets of issue 25 (the `scale` plan) checked against a run's results, and what the
// next order of magnitude of training would cost: every number is computed from the run's
// result files (mean over seeds), the plan's estimate (estimate.ts) and the training
// throughput the run measured, so the report says by how much a target was missed and what
// ten times the budget would take, on this machine and on a GPU.
import { COMPACT_PASSKEY_QUESTION } from '@titans/data';
import { estimatePlan, type Calibration } from './estimate.ts';
import {
  mqarTrackModels, planExperiments, trackConfig, type MqarExperimentResult, type NiahExperimentResult, type PasskeyExperimentResult, type TrainResultSummary,
} from './experiments.ts';
import { planModels } from './models.ts';
import { ABLATIONS, type ModelName, type ReproducePlan } from './recipes.ts';
import type { CollectedResults } from './report.ts';

/** One target: what was asked, what the run measured, and by how much it was missed. */
export interface TargetCheck {
  readonly id: string;
  readonly target: string;
  /** What the run measured (mean over seeds), in words and numbers. */
  readonly measured: string;
  /** true met, false missed, null not measured by this plan or run. */
  readonly met: boolean | null;
  /** Percentage points short of the target (0 when met; absent when not measured). */
  readonly shortBy?: number;
}

/** A GPU to express training cost in: a peak rate and the share of it small models reach. */
export interface GpuAssumption {
  readonly name: string;
  /** Peak dense floating-point operations per second. */
  readonly peakFlopsPerSecond: number;
  /** Share of the peak a training run of this size sustains (tiny models are latency-bound). */
  readonly utilization: number;
}

/**
 * The GPU of the cost column: one H100 at its dense TF32 peak (about 495 TFLOP/s) and 1% of
 * it sustained. Not measured here (this machine has no GPU). A training step of a 1M-parameter
 * model on a few thousand tokens is a few hundred small kernels whose launch latency, not
 * arithmetic, bounds it, and the memory models add a sequential scan over chunks, so such
 * models reach a small share of the peak; the GPU hours are an order-of-magnitude figure.
 * Pass a measured `gpu` to `checkTargets` to replace it.
 */
export const GPU_ASSUMPTION: GpuAssumption = { name: 'one H100 (dense TF32 peak ~495 TFLOP/s)', peakFlopsPerSecond: 495e12, utilization: 0.01 };

/** What more training would cost, from the tokens and throughput of this run. */
export interface ScaleUpCost {
  /** Training tokens of the plan (all experiments, all seeds). */
  readonly trainTokens: number;
  /** Training tokens per bytes-track model and seed. */
  readonly bytesTrackTokensPerModel: number;
  /** Core-seconds of the plan's training at the measured throughput (the estimate where nothing was measured). */
  readonly trainCoreSeconds: number;
  /** How many training experiments had a measured throughput (the rest use the estimate). */
  readonly measuredExperiments: number;
  readonly trainExperiments: number;
  readonly jobs: number;
  /** Ten times the training tokens: wall-clock hours on this machine with `jobs` processes, and GPU hours. */
  readonly nextOrder: { readonly factor: number; readonly wallHours: number; readonly gpuHours: number };
  /** The issue's 20M training tokens per bytes-track model: the factor over this plan, wall hours here, GPU hours. */
  readonly issueBudget: { readonly tokensPerModel: number; readonly factor: number; readonly wallHours: number; readonly gpuHours: number };
  readonly gpu: GpuAssumption;
  /** Floating-point operations of the plan's training (6 x parameters x tokens). */
  readonly trainFlops: number;
}

export interface TargetReport {
  readonly checks: readonly TargetCheck[];
  readonly cost: ScaleUpCost;
}

const TITANS: readonly ModelName[] = ['lmm', 'mac', 'mag', 'mal'];
const ATTENTION: readonly ModelName[] = ['transformer', 'swa'];
/** The training tokens per model the issue asks for. */
export const ISSUE_TOKENS_PER_MODEL = 20_000_000;

function mean(values: readonly (number | undefined)[]): number | undefined {
  const xs = values.filter((x): x is number => x !== undefined && Number.isFinite(x));
  return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : undefined;
}

/** Mean over seeds of a metric of one experiment (by the id of its first seed). */
function overSeeds<R>(r: CollectedResults, baseId: string, metric: (result: R) => number | undefined): number | undefined {
  return mean(Object.values(r.bySeed[baseId] ?? {}).map((x) => metric(x as R)));
}

function niahAt(result: NiahExperimentResult, task: string, length: number): number | undefined {
  const cells = result.tasks.find((t) => t.task === task)?.cells.filter((c) => c.length === length);
  if (!cells?.length) return undefined;
  return cells.reduce((s, c) => s + c.correct, 0) / cells.reduce((s, c) => s + c.total, 0);
}

const pct = (x: number): string => `${(100 * x).toFixed(1)}%`;

/** The best of `models` by a metric: its name and value (undefined when none has one). */
function best(models: readonly ModelName[], value: (m: ModelName) => number | undefined): { model: ModelName; value: number } | undefined {
  let top: { model: ModelName; value: number } | undefined;
  for (const model of models) {
    const v = value(model);
    if (v !== undefined && (!top || v > top.value)) top = { model, value: v };
  }
  return top;
}

function atLeast(id: string, target: string, threshold: number, found: { model: ModelName; value: number } | undefined, what: string): TargetCheck {
  if (!found) return { id, target, measured: `not measured (${what})`, met: null };
  const met = found.value >= threshold;
  return { id, target, measured: `${found.model.toUpperCase()} ${pct(found.value)}`, met, shortBy: met ? 0 : 100 * (threshold - found.value) };
}

/**
 * Share of a passkey cell grid's needles that a sliding-window model can see from the end of
 * the prompt. What it has to reach is the passkey's first digit: for a needle at depth d of a
 * prompt of `length` bytes that is about (1 - d) x filler bytes, plus the digits, the needle's
 * full stop and the question, from the end; inside when that is at most the model's reach
 * (layers x window). The words before the digits ("The pass key is") need not be seen.
 */
export function needlesInsideWindow(length: number, depths: readonly number[], digits: number, reach: number): number {
  const needle = `The pass key is ${'0'.repeat(digits)}.`.length;
  const fromFirstDigit = digits + 1 + COMPACT_PASSKEY_QUESTION.length;
  // Filler: what the prompt holds besides the needle and the question, less the answer's slack.
  const filler = Math.max(0, length - needle - COMPACT_PASSKEY_QUESTION.length - digits - 3);
  const inside = depths.filter((d) => (1 - d) * filler + fromFirstDigit <= reach).length;
  return depths.length ? inside / depths.length : 0;
}

/** Checks the issue's targets against a run's results and prices the next order of magnitude. */
export function checkTargets(plan: ReproducePlan, r: CollectedResults, options: { jobs?: number; calibration?: Calibration; gpu?: GpuAssumption } = {}): TargetReport {
  const checks: TargetCheck[] = [];
  const pk = plan.passkey;
  const at4 = 4 * pk.trainLength;
  const passkeyAt = (m: ModelName, length: number, heldOut: boolean): number | undefined => overSeeds<PasskeyExperimentResult>(r, `passkey-${m}`, (x) => (heldOut ? x.heldOut : x)?.byLength.find((b) => b.length === length)?.accuracy);
  const memory = pk.models.filter((m) => m === 'mac' || m === 'mag');
  if (pk.multiples.includes(4)) {
    checks.push(atLeast('passkey-4x', 'passkey at 4x the training length: MAC or MAG >= 95%', 0.95, best(memory, (m) => passkeyAt(m, at4, false)), 'no MAC or MAG passkey result'));
    if (pk.heldOutFiller) {
      checks.push(atLeast('passkey-4x-held-out', 'the same with filler never seen in training: MAC or MAG >= 95%', 0.95, best(memory, (m) => passkeyAt(m, at4, true)), 'no held-out filler result'));
    }
    const swa = passkeyAt('swa', at4, false);
    const swaResult = r.passkey.swa;
    if (swa !== undefined && swaResult && pk.models.includes('swa')) {
      const config = trackConfig(plan, 'swa', 'passkey');
      const share = needlesInsideWindow(at4, swaResult.depths, pk.digits, config.layers * config.window);
      const met = swa <= share + 1e-9;
      checks.push({
        id: 'passkey-4x-swa', target: `SWA at 4x no better than the share of needles inside its reach (${config.layers} layers x ${config.window} bytes): ${pct(share)}`,
        measured: `SWA ${pct(swa)}`, met, shortBy: met ? 0 : 100 * (swa - share),
      });
    } else {
      checks.push({ id: 'passkey-4x-swa', target: 'SWA at 4x no better than the share of needles inside its window', measured: 'not measured (no SWA passkey result)', met: null });
    }
  }
  const { trainLength, niah } = plan.longContext;
  const titans = planModels(plan).filter((m) => TITANS.includes(m));
  const niahMean = (m: ModelName, task: string, length: number): number | undefined => overSeeds<NiahExperimentResult>(r, `niah-${m}`, (x) => niahAt(x, task, length));
  if (niah.multiples.includes(4)) {
    for (const [task, threshold] of [['pk', 0.9], ['n', 0.9], ['w', 0.5]] as const) {
      if (!niah.tasks.includes(task)) continue;
      checks.push(atLeast(`niah-${task}-4x`, `S-NIAH-${task.toUpperCase()} at 4x: the best Titans variant >= ${100 * threshold}%`, threshold, best(titans, (m) => niahMean(m, task, 4 * trainLength)), 'no Titans S-NIAH result'));
    }
  }
  // At 16x: the best Titans variant ahead of every attention-only baseline on every task.
  const attention = planModels(plan).filter((m) => ATTENTION.includes(m));
  const margins: { task: string; margin: number; titans: { model: ModelName; value: number }; baseline: { model: ModelName; value: number } }[] = [];
  if (niah.multiples.includes(16)) {
    for (const task of niah.tasks) {
      const t = best(titans, (m) => niahMean(m, task, 16 * trainLength));
      const a = best(attention, (m) => niahMean(m, task, 16 * trainLength));
      if (t && a) margins.push({ task: `S-NIAH-${task.toUpperCase()}`, margin: t.value - a.value, titans: t, baseline: a });
    }
  }
  if (pk.multiples.includes(16)) {
    const t = best(pk.models.filter((m) => TITANS.includes(m)), (m) => passkeyAt(m, 16 * pk.trainLength, false));
    const a = best(pk.models.filter((m) => ATTENTION.includes(m)), (m) => passkeyAt(m, 16 * pk.trainLength, false));
    if (t && a) margins.push({ task: 'passkey', margin: t.value - a.value, titans: t, baseline: a });
  }
  if (niah.multiples.includes(16) || pk.multiples.includes(16)) {
    const target = 'at 16x: the best Titans variant ahead of every attention-only baseline on every task';
    if (!margins.length) {
      checks.push({ id: 'ahead-16x', target, measured: 'not measured (no Titans and attention results at 16x)', met: null });
    } else {
      const worst = margins.reduce((a, b) => (b.margin < a.margin ? b : a));
      const met = margins.every((x) => x.margin > 0);
      checks.push({
        id: 'ahead-16x', target,
        measured: margins.map((x) => `${x.task} ${x.titans.model.toUpperCase()} ${pct(x.titans.value)} vs ${x.baseline.model.toUpperCase()} ${pct(x.baseline.value)}`).join('; '),
        met, shortBy: met ? 0 : Math.max(0, 100 * -worst.margin),
      });
    }
  }
  // The ablation ordering on MQAR at N = 16.
  const mqarModels = mqarTrackModels(plan);
  const ablations = plan.ablations.filter((a) => mqarModels.includes(a) && mqarModels.includes(ABLATIONS[a].base));
  if (ablations.length && plan.mqar.evalPairs.includes(16)) {
    const at16 = (m: ModelName): number | undefined => overSeeds<MqarExperimentResult>(r, `mqar-${m}`, (x) => x.results.find((y) => y.numPairs === 16)?.accuracy);
    const rows = ablations.map((a) => {
      const base = at16(ABLATIONS[a].base);
      const ours = at16(a);
      return { a, difference: base === undefined || ours === undefined ? undefined : base - ours };
    });
    const measured = rows.filter((x) => x.difference !== undefined);
    const failing = measured.filter((x) => x.difference! <= 0);
    checks.push({
      id: 'ablations', target: 'MQAR at N=16: each full model better than each of its ablations',
      measured: measured.length ? rows.map((x) => `${ABLATIONS[x.a].label}: ${x.difference === undefined ? 'not measured' : `${x.difference >= 0 ? '+' : ''}${(100 * x.difference).toFixed(1)} points`}`).join('; ') : 'not measured (no MQAR results)',
      met: measured.length ? failing.length === 0 : null,
      ...(measured.length ? { shortBy: failing.length ? Math.max(0, ...failing.map((x) => 100 * -x.difference!)) : 0 } : {}),
    });
  }
  return { checks, cost: scaleUpCost(plan, r, options) };
}

/**
 * What ten times this plan's training, and the issue's 20M tokens per model, would take:
 * every training experiment's tokens divided by the throughput this run measured for it
 * (tokens / training seconds of its result), the estimate's seconds where the run has none.
 */
export function scaleUpCost(plan: ReproducePlan, r: Pick<CollectedResults, 'bySeed'>, options: { jobs?: number; calibration?: Calibration; gpu?: GpuAssumption } = {}): ScaleUpCost {
  const jobs = Math.max(1, Math.floor(options.jobs ?? 2));
  const gpu = options.gpu ?? GPU_ASSUMPTION;
  const estimate = estimatePlan(plan, { jobs, ...(options.calibration ? { calibration: options.calibration } : {}) });
  const experiments = planExperiments(plan);
  let coreSeconds = 0;
  let measured = 0;
  let flops = 0;
  let trainExperiments = 0;
  for (const e of estimate.experiments) {
    if (e.kind !== 'train') continue;
    trainExperiments++;
    const experiment = experiments.find((x) => x.id === e.id)!;
    const base = experiment.id.replace(/-s\d+$/, '');
    const result = r.bySeed[base]?.[experiment.seed] as TrainResultSummary | undefined;
    const rate = result && result.trainSeconds > 0 && result.tokens > 0 ? result.tokens / result.trainSeconds : undefined;
    const seconds = rate ? e.trainTokens / rate : e.seconds;
    if (rate) measured++;
    coreSeconds += seconds;
    flops += 6 * e.parameters * e.trainTokens;
  }
  const gpuHours = (f: number): number => f / (gpu.peakFlopsPerSecond * gpu.utilization) / 3600;
  const perModel = estimate.bytesTrackTokensPerModel;
  const factor = perModel > 0 ? ISSUE_TOKENS_PER_MODEL / perModel : Number.NaN;
  // The issue's budget scales every track's training by the bytes track's factor.
  return {
    trainTokens: estimate.trainTokens, bytesTrackTokensPerModel: perModel, trainCoreSeconds: coreSeconds, measuredExperiments: measured, trainExperiments, jobs,
    nextOrder: { factor: 10, wallHours: (10 * coreSeconds) / jobs / 3600, gpuHours: gpuHours(10 * flops) },
    issueBudget: { tokensPerModel: ISSUE_TOKENS_PER_MODEL, factor, wallHours: (factor * coreSeconds) / jobs / 3600, gpuHours: gpuHours(factor * flops) },
    gpu, trainFlops: flops,
  };
}

/** The targets as table rows and the cost as sentences, for the report. */
export function formatTargets(report: TargetReport): { headers: string[]; rows: string[][]; cost: string } {
  const rows = report.checks.map((c) => [c.target, c.measured, c.met === null ? 'not measured' : c.met ? 'met' : 'missed', c.met === false && c.shortBy !== undefined ? (c.shortBy > 0 ? `${c.shortBy.toFixed(1)} points` : 'tied (must be ahead)') : '–']);
  return { headers: ['target (scale plan, mean over seeds)', 'measured', 'status', 'missed by'], rows, cost: formatCost(report.cost) };
}

/** The cost of more training as sentences (the report's, and the dry run's from the estimate alone). */
export function formatCost(cost: ScaleUpCost): string {
  const hours = (h: number): string => (h >= 48 ? `${(h / 24).toFixed(1)} days` : h >= 1 ? `${h.toFixed(1)} h` : `${Math.max(1, Math.round(h * 60))} min`);
  const gpuHours = (h: number): string => (h >= 10 ? h.toFixed(0) : h.toPrecision(2));
  const text = [
    `Training in this plan: ${(cost.trainTokens / 1e6).toFixed(2)}M tokens over ${cost.trainExperiments} training runs, ${(cost.bytesTrackTokensPerModel / 1e3).toFixed(0)}k per bytes-track model; ${hours(cost.trainCoreSeconds / 3600)} of one core ${cost.measuredExperiments === 0 ? 'by the estimate (no training measured yet)' : `at the throughput this run measured (${cost.measuredExperiments} of ${cost.trainExperiments} runs measured, the estimate for the rest)`}.`,
    `The next order of magnitude (10x the training tokens) would take about ${hours(cost.nextOrder.wallHours)} on this machine with --jobs ${cost.jobs}, or about ${gpuHours(cost.nextOrder.gpuHours)} GPU hours on ${cost.gpu.name} at ${(100 * cost.gpu.utilization).toFixed(0)}% of its peak (${(10 * cost.trainFlops).toExponential(1)} FLOPs at 6 x parameters x tokens; an assumed rate, not measured).`,
    Number.isFinite(cost.issueBudget.factor)
      ? `The scale target of ${(cost.issueBudget.tokensPerModel / 1e6).toFixed(0)}M training tokens per model is ${cost.issueBudget.factor.toFixed(0)}x this plan's bytes track: about ${hours(cost.issueBudget.wallHours)} here, or about ${gpuHours(cost.issueBudget.gpuHours)} GPU hours at the same assumption.`
      : '',
  ].filter(Boolean).join(' ');
  return text;
}

