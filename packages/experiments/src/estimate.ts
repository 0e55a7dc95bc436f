// The time a plan takes, estimated before running it: every experiment's tokens (training
// tokens, prompt tokens read, tokens decoded one at a time) divided by a measured throughput
// of this machine (CALIBRATION, from bench/calibrate.ts). Explicit and rough: it is what the
// `scale` plan is sized with, and `titans reproduce --dry-run` prints it per experiment.
import { countParameters, type ArchitectureName, type ModelConfig } from '@titans/models';
import { customTrack, planExperiments, trackConfig, trainRecipe, type Experiment } from './experiments.ts';
import type { ReproducePlan, Track } from './recipes.ts';
import { selectExperiments } from './run.ts';

/** Training throughput of one architecture as measured (tokens per CPU second at a parameter count). */
export interface ThroughputMeasurement {
  readonly tokensPerSecond: number;
  readonly parameters: number;
}

/** What bench/calibrate.ts measured on one track: the track's own batch and length. */
export interface TrackCalibration {
  /** The command, date and load average of the measurement. */
  readonly source: string;
  readonly batch: number;
  /** Sequence length of the measured steps: attention's share at other lengths is scaled from it. */
  readonly length: number;
  readonly training: Readonly<Partial<Record<ArchitectureName, ThroughputMeasurement>>>;
  /**
   * Further measurements of an architecture on this track at other parameter counts: the
   * estimate scales from the measurement (here or in `training`) nearest the model's size on a
   * log scale. For architectures whose cost grows faster with size than parameterExponent says.
   */
  readonly sizes?: Readonly<Partial<Record<ArchitectureName, readonly ThroughputMeasurement[]>>>;
}

/** An architecture's measurement on a track nearest (log scale) to `parameters`, if any. */
function nearestMeasurement(c: TrackCalibration | undefined, architecture: ArchitectureName, parameters: number): ThroughputMeasurement | undefined {
  const all = [c?.training[architecture], ...(c?.sizes?.[architecture] ?? [])].filter((m): m is ThroughputMeasurement => m !== undefined);
  const distance = (m: ThroughputMeasurement): number => Math.abs(Math.log(m.parameters / parameters));
  return all.reduce<ThroughputMeasurement | undefined>((best, m) => (best === undefined || distance(m) < distance(best) ? m : best), undefined);
}

export interface Calibration {
  /** Where the numbers come from (command, machine, date). */
  readonly source: string;
  /**
   * Training throughput of one process (one thread, compiled steps) in tokens per second,
   * measured for an architecture at a parameter count on the bytes track; other sizes scale
   * inversely with the parameter count. Used for every track without its own entry in `tracks`.
   */
  readonly training: Readonly<Partial<Record<ArchitectureName, ThroughputMeasurement>>>;
  /** Sequence length of the `training` measurements (absent: no attention correction across lengths). */
  readonly trainingLength?: number;
  /** Per-track measurements (the track's batch and length), preferred over `training` where they name the architecture. */
  readonly tracks?: Readonly<Partial<Record<Track, TrackCalibration>>>;
  /**
   * Measurements of one plan's track where that plan trains it in a shape of its own (another
   * batch, length or model than the track's entry in `tracks` measured), by plan name: for that
   * plan they replace the track's entry in `tracks` as a whole, so a model they leave out is
   * extrapolated (and named) rather than scaled from another shape's row.
   */
  readonly planTracks?: Readonly<Record<string, Readonly<Partial<Record<Track, TrackCalibration>>>>>;
  /**
   * Unmeasured architectures that run at about a measured one's rate per parameter (a variant
   * with the same memory), used before the fallback; the estimate says it extrapolated them.
   */
  readonly like?: Readonly<Partial<Record<ArchitectureName, ArchitectureName>>>;
  /** Throughput of an architecture that was not measured, at 1M parameters. */
  readonly fallbackTokensPerSecond: number;
  /**
   * How throughput follows the parameter count: tokens per second scale with
   * (measured parameters / parameters) ^ parameterExponent (default 1, inverse proportion).
   * Below 1 where small models are held back by per-op and per-token overheads.
   */
  readonly parameterExponent?: number;
  /**
   * CPU seconds a training run spends before its steps reach their steady rate (tracing and
   * compiling the step, the first slow replays), added once per training experiment.
   */
  readonly trainingStartSeconds?: number;
  /** Cost of a token read by an evaluation (forward only) relative to a training token. */
  readonly forwardFraction: number;
  /** Cost of a token decoded one at a time relative to a training token. */
  readonly decodeFactor: number;
}

/** A table of measurements, one `architecture: [tokens per second, parameters]` row each. */
function measured(rows: Partial<Record<ArchitectureName, readonly [tokensPerSecond: number, parameters: number]>>): Partial<Record<ArchitectureName, ThroughputMeasurement>> {
  return Object.fromEntries(Object.entries(rows).map(([architecture, [tokensPerSecond, parameters]]) => [architecture, { tokensPerSecond, parameters }]));
}

/**
 * Measured with bench/calibrate.ts in packages/experiments on the 2-core development VM while
 * other jobs ran on it, each track with its own batch and length and compiled steps, one
 * thread: `--track long --warmup 2 --steps 2` (4 x 512 bytes a step, the bytes track, which
 * every other track without its own entry falls back to) and `--track passkey --warmup 3
 * --steps 4` (8 x 64 bytes). Tokens per second of the process's own CPU time, which is what
 * one dedicated core would give up to cache contention; each figure is the faster of two runs.
 * The untimed first steps (tracing, compiling, the first slow replays) cost a few CPU seconds
 * more than steady steps: trainingStartSeconds. An earlier calibration (`--steps 2 --batch 1`,
 * one warm-up step, the memory with 2 heads: LMM 1,078,168 parameters) gave 71 (LMM), 67
 * (MAC), 84 (MAG), 105 (MAL), 608 (Transformer++), 696 (SWA) and 313 (Gated DeltaNet) tokens
 * per CPU second, several times too slow for the plan as it trains. Rerun the bench on the
 * machine of a real run and pass its numbers as `calibration`.
 *
 * The passkey rows of the Titans variants and baselines were measured again when the scale
 * plan's passkey track took the full plan's 2-block shape at width 128 (521k parameters, 16 x 64
 * tokens a step): one run each at a load average of 8-46, so they are CPU-time figures of a
 * crowded machine. The earlier rows, at the 4-block shape (963-969k parameters, 8 x 64), were
 * 1355 (LMM), 779 (MAC), 1244 (MAG), 1236 (MAL), 2248 (Transformer++), 2531 (SWA), 1217 (Gated
 * DeltaNet); scaled to 521k with parameterExponent they predicted 0.71-1.03x the new rows.
 *
 * Hope's cost grows faster with its size than parameterExponent says: at the scale plan's
 * passkey size (523k parameters) it trains 132 tokens per CPU second where the 47,790-parameter
 * row scaled by the exponent says 451, so that size has its own measurement (`sizes`), and
 * its first two steps took 117 CPU seconds (trainingStartSeconds says 10). On the MQAR track
 * the scale plan has its own shape and rows (`planTracks.scale`): Hope there (486k parameters)
 * trains 182 tokens per CPU second, where the 44,650-parameter row scaled by the exponent
 * says 450, and its first two steps took 87 CPU seconds (203 and 164 in the first scale
 * recipe's 8 x 128 shape, 502k parameters).
 *
 * The Atlas and Hope families (2026-12-07, helper H): bench/calibrate.ts on the scale plan's
 * passkey gave OmegaNet 159 tokens per CPU second (81 wall) at 971k parameters (795 at 48k on the
 * full plan's, the row used); Atlas there
 * grew past 21 GB and was killed by the kernel, and on the full plan's passkey (48k
 * parameters, 16 x 64 tokens) past 10 GB before its first timed step, so Atlas's row is not a
 * bench figure: a full-plan run's compiled steps took 22-45 s of wall-clock (1024 tokens),
 * times a wall/CPU ratio of 0.53 (a Hope run beside it at load 9) gives ~58 tokens per CPU
 * second, uncertain by about 2x. Hope: 1174 (passkey) and 1168 (MQAR) at 45-48k parameters,
 * its first two steps 31-40 CPU seconds (with one fewer warm-up step: 497 and 315); a full-plan
 * run trained the passkey in 1437 s of wall-clock at load 6-11 (jobs 1). Hope-Attention: 3239
 * (passkey), 8272 (MQAR). Atlas-MAG/MAL borrow Atlas's rate (`like`), and every rate of
 * an architecture on a track without its own row is extrapolated: formatEstimate lists them.
 */
export const CALIBRATION: Calibration = {
  source: 'bench/calibrate.ts --track long --warmup 2 --steps 2 (tokens per CPU second, faster of two runs, load average 6-11) and --plan scale --track passkey --warmup 3 --steps 4 (one run, load 8-46; Hope --warmup 3 --steps 3, load 15), 2-core AMD EPYC VM, 2026-12-07',
  training: measured({
    lmm: [467, 1_015_728],
    mac: [364, 1_012_656],
    mag: [512, 1_012_656],
    mal: [441, 1_012_144],
    transformer: [1818, 1_017_728],
    swa: [1867, 1_017_728],
    'gated-deltanet': [918, 1_015_728],
  }),
  trainingLength: 512,
  tracks: {
    passkey: {
      source: 'bench/calibrate.ts --plan scale --track passkey --warmup 3 --steps 4 (the scale plan\'s passkey model: 2 blocks, width 128, 16 x 64 tokens a step), one run, load average 8-13 rising to 46, 2026-12-07 14:53-15:00 UTC; omeganet: --plan full --arch omeganet --warmup 2 --steps 1, load 9, 13:42 UTC (at 971k parameters on the scale plan --warmup 2 --steps 2: 159); hope, hope-attention: --plan full --arch hope(-attention) --warmup 3 --steps 2 (--warmup 2 for hope-attention), load 4-5, 13:45 UTC; omeganet, atlas, atlas-mag, atlas-mal: --plan full --arch omeganet,atlas,atlas-mag,atlas-mal --warmup 3 --steps 4, load 2-3 (a background run at nice 10), 17:16 UTC, after the low-rank Muon and the float64 WebAssembly matmul (atlas was 58 before)',
      batch: 16, length: 64,
      training: measured({
        lmm: [1680, 523_148],
        mac: [1217, 520_588],
        mag: [1717, 520_588],
        mal: [1823, 520_332],
        transformer: [3396, 523_648],
        swa: [3220, 523_648],
        'gated-deltanet': [2180, 523_148],
        omeganet: [3070, 47_944],
        atlas: [746, 48_076],
        'atlas-mag': [697, 56_652],
        'atlas-mal': [739, 56_588],
        hope: [1174, 47_790],
        'hope-attention': [3239, 46_886],
      }),
      // Hope at the scale plan's passkey size: --plan scale --track passkey --arch hope --warmup 3 --steps 3,
      // load 15, 2026-12-07 15:35 UTC: 132 tokens per CPU second (7.5-9.6 CPU s a step; 65 in a run with one
      // fewer warm-up step), 3.4x slower than the 47,790-parameter row scaled with parameterExponent (451).
      sizes: { hope: [{ tokensPerSecond: 132, parameters: 522_894 }] },
    },
    mqar: {
      source: 'bench/calibrate.ts --plan full --track mqar --warmup 3 --steps 2 --arch hope,hope-attention (16 x 64 tokens a step), load average 4.5-5, 2026-12-07 13:45 UTC; omeganet, atlas, atlas-mag, atlas-mal: the same with --arch omeganet,atlas,atlas-mag,atlas-mal, load 2-3 (a background run at nice 10), 2026-12-07 17:18 UTC (after the low-rank Muon and the float64 WebAssembly matmul)',
      batch: 16, length: 64,
      training: measured({
        hope: [1168, 44_650], 'hope-attention': [8272, 37_606],
        omeganet: [1096, 85_300], atlas: [287, 85_366], 'atlas-mag': [230, 93_942], 'atlas-mal': [222, 93_878],
      }),
    },
  },
  planTracks: {
    scale: {
      // The scale plan's MQAR shape (SCALE_MQAR_MODEL: width 128, 2 blocks, a linear memory in 4 heads, ~467k
      // parameters, 16 x 64 tokens a step), measured in it rather than scaled from the full plan's 45k-parameter
      // rows or the bytes track's 1M-parameter ones (which said 1.3x the LMM's cost for MAC where the first scale
      // run took 5.5x). The LMM's row is the slower of its two measurements: 2376 at load 9-11 (as the deep-memory
      // recipe's lmm-linear, the same model) and 3295 at load 5. Hope was measured in this shape with the deep
      // memory (its row; it is not on the plan's MQAR track): 44 tokens per second of wall-clock, its first two
      // steps 87 CPU seconds.
      mqar: {
        source: 'bench/calibrate.ts --plan scale --track mqar --warmup 3 --steps 2 (16 x 64 tokens a step), nice 5 beside a --jobs 2 run, load average 4.5-5.5, 2026-12-07 19:02-19:04 UTC; lmm: the slower of that and --warmup 2 --steps 3 at load 9-11, 18:45 UTC; hope: the latter, with the deep memory, 18:56 UTC',
        batch: 16, length: 64,
        training: measured({
          lmm: [2376, 467_096],
          mac: [1565, 464_536],
          mag: [2312, 464_536],
          mal: [2391, 464_280],
          transformer: [3741, 468_096],
          swa: [3999, 468_096],
          'gated-deltanet': [2935, 467_096],
          hope: [182, 485_782],
        }),
      },
    },
  },
  // Variants with the same memory as a measured architecture (the estimate marks them extrapolated).
  like: { 'atlas-mag': 'atlas', 'atlas-mal': 'atlas' },
  // Architectures measured nowhere (none in this table now) at the LMM's rate, marked extrapolated.
  fallbackTokensPerSecond: 467 * 1.016,
  // Fitted to the one plan of small models that was run end to end: the full plan's 47k-parameter
  // models (experiment times adding up to 213 minutes, two at once) are estimated at 1.9 h with
  // 0.4; inverse proportion (1) would say 22 minutes. Near 1M parameters it changes nothing.
  parameterExponent: 0.4,
  trainingStartSeconds: 10,
  forwardFraction: 1 / 3,
  decodeFactor: 3,
};

export interface ExperimentEstimate {
  readonly id: string;
  readonly kind: Experiment['kind'];
  readonly model: string;
  readonly track: string;
  readonly parameters: number;
  /** Training tokens (train experiments), else 0. */
  readonly trainTokens: number;
  /** Tokens read by evaluations (prompts, held-out text). */
  readonly readTokens: number;
  /** Tokens decoded one at a time. */
  readonly decodedTokens: number;
  readonly seconds: number;
  /** How the rate was guessed where the calibration has no measurement of this architecture on this track (or the bytes track). */
  readonly extrapolated?: string;
}

export interface PlanEstimate {
  readonly plan: string;
  readonly experiments: readonly ExperimentEstimate[];
  /** Sum over experiments (one process each). */
  readonly cpuSeconds: number;
  /** Wall-clock seconds with `jobs` processes: the larger of cpuSeconds / jobs and the longest chain (a training and its evaluation). */
  readonly wallSeconds: number;
  readonly jobs: number;
  /** Training tokens over every experiment, and per trained model of the bytes track. */
  readonly trainTokens: number;
  readonly bytesTrackTokensPerModel: number;
  readonly calibration: string;
}

function measuredAnywhere(calibration: Calibration, architecture: ArchitectureName): boolean {
  return calibration.training[architecture] !== undefined || Object.values(calibration.tracks ?? {}).some((c) => c?.training[architecture] !== undefined || (c?.sizes?.[architecture]?.length ?? 0) > 0);
}

/**
 * Tokens per second of a model's training on one process at the length the rate was measured
 * at (`length`, absent where unknown), scaled with the parameter count: the track's own
 * measurement, else the bytes track's. An architecture measured on neither is extrapolated
 * (`extrapolated` says how): from its rate on another track relative to the LMM's there, else
 * the fallback rate.
 */
function throughput(config: ModelConfig, calibration: Calibration, track: Track, trackLength: number): { tokensPerSecond: number; length?: number; extrapolated?: string } {
  const like = calibration.like?.[config.architecture];
  if (like !== undefined && !measuredAnywhere(calibration, config.architecture) && like !== config.architecture) {
    const other = { ...config, architecture: like };
    const rate = throughput(other, calibration, track, trackLength);
    const perParameter = (countParameters(other) / countParameters(config)) ** (calibration.parameterExponent ?? 1);
    return { ...rate, tokensPerSecond: rate.tokensPerSecond * perParameter, extrapolated: `${like}'s rate${rate.extrapolated ? `, ${rate.extrapolated}` : ''}` };
  }
  const own = calibration.tracks?.[track];
  const parameters = countParameters(config);
  const measuredOnTrack = nearestMeasurement(own, config.architecture, parameters);
  const measured = measuredOnTrack ?? calibration.training[config.architecture];
  const exponent = calibration.parameterExponent ?? 1;
  const at = (m: ThroughputMeasurement): number => m.tokensPerSecond * (m.parameters / parameters) ** exponent;
  if (measured) {
    const length = measuredOnTrack ? own!.length : calibration.trainingLength;
    return length === undefined ? { tokensPerSecond: at(measured) } : { tokensPerSecond: at(measured), length };
  }
  // Not measured here: its rate on a track measured at this length (same work per token), else
  // its speed relative to the LMM's on a track that measured both.
  for (const [other, c] of Object.entries(calibration.tracks ?? {}) as [Track, TrackCalibration][]) {
    const mine = nearestMeasurement(c, config.architecture, parameters);
    if (mine && c.length === trackLength) return { tokensPerSecond: at(mine), length: c.length, extrapolated: `${other} track's rate at the same length` };
  }
  const reference = own?.training.lmm ?? calibration.training.lmm;
  for (const [other, c] of Object.entries(calibration.tracks ?? {}) as [Track, TrackCalibration][]) {
    const mine = nearestMeasurement(c, config.architecture, parameters);
    const lmm = c.training.lmm;
    if (!mine || !lmm || !reference) continue;
    const relative = (mine.tokensPerSecond * mine.parameters ** exponent) / (lmm.tokensPerSecond * lmm.parameters ** exponent);
    const length = own?.training.lmm ? own.length : calibration.trainingLength;
    return { tokensPerSecond: at(reference) * relative, ...(length === undefined ? {} : { length }), extrapolated: `${other} track's rate relative to the LMM` };
  }
  return { tokensPerSecond: calibration.fallbackTokensPerSecond * (1_000_000 / parameters) ** exponent, extrapolated: 'fallback rate' };
}

/**
 * Attention's extra cost per token at a context: about 4 * context * dim multiply-adds per
 * block against about 24 * dim^2 for the projections and MLP, so 1 + context / (6 dim) for
 * full attention (average context L / 2) and windowed attention (context <= window).
 */
function attentionFactor(config: ModelConfig, length: number): number {
  const context = config.architecture === 'transformer' || config.architecture === 'hope-attention' ? length / 2
    : config.architecture === 'mac' ? Math.min(length, 2 * config.segmentLength)
      : config.architecture === 'swa' || config.architecture === 'mag' || config.architecture === 'mal' || config.architecture === 'atlas-mag' || config.architecture === 'atlas-mal' ? Math.min(length, config.window) : 0;
  return 1 + context / (6 * config.dim);
}

/** The sequence length a track trains at (its batches'; bench/calibrate.ts measures at it). */
export function trackSequenceLength(plan: ReproducePlan, track: string): number {
  if (track === 'long') return plan.longContext.trainLength;
  if (track === 'mqar') return plan.mqar.sequenceLength;
  if (track === 'passkey') return plan.passkey.trainLength;
  const options = customTrack(plan, track).options;
  return Number(options.sequenceLength ?? options.lookback ?? 256);
}

/** Tokens an evaluation reads and decodes, as [length of each prompt read, tokens decoded after it] pairs summed. */
function evaluationWork(plan: ReproducePlan, e: Experiment): { reads: [number, number][]; decoded: number } {
  const reads: [number, number][] = [];
  let decoded = 0;
  switch (e.kind) {
    case 'niah': {
      const { trainLength, niah } = plan.longContext;
      for (const task of niah.tasks) {
        for (const m of niah.multiples) {
          const prompts = niah.depths * niah.samplesPerCell;
          reads.push([m * trainLength, prompts]);
          decoded += prompts * (task === 'w' ? 40 : 12);
        }
      }
      break;
    }
    case 'perplexity':
      reads.push([plan.longContext.perplexity.bytes, plan.longContext.perplexity.documents]);
      break;
    case 'passkey':
      for (const m of plan.passkey.multiples) {
        // Every prompt twice with held-out filler: the training filler's, then the held-out one's.
        const prompts = plan.passkey.depths * plan.passkey.samplesPerCell * (plan.passkey.heldOutFiller ? 2 : 1);
        reads.push([m * plan.passkey.trainLength, prompts]);
        decoded += prompts * (plan.passkey.digits + 2);
      }
      break;
    case 'mqar':
      reads.push([plan.mqar.sequenceLength, plan.mqar.evalPairs.length * plan.mqar.evalSamples]);
      break;
    case 'track': {
      const options = customTrack(plan, e.track).options;
      if (e.track === 'timeseries') reads.push([Number(options.lookback ?? 64), Number(options.testWindows ?? 256)]);
      else reads.push([Number(options.sequenceLength ?? 256), Math.ceil(Number(options.evalBases ?? 8192) / Number(options.sequenceLength ?? 256))]);
      break;
    }
    case 'train':
      break;
  }
  return { reads, decoded };
}

/** The calibration a plan is estimated with: its own track measurements (`planTracks`) in place of the tracks' shared ones. */
export function planCalibration(calibration: Calibration, plan: string): Calibration {
  const own = calibration.planTracks?.[plan];
  if (!own || Object.keys(own).length === 0) return calibration;
  const sources = Object.entries(own).map(([track, c]) => `${plan} plan's ${track === 'long' ? 'bytes' : track} track: ${c!.source}`);
  return { ...calibration, source: [calibration.source, ...sources].join('; '), tracks: { ...calibration.tracks, ...own } };
}

/** Estimates every experiment of `plan` and the wall-clock time with `jobs` processes. */
export function estimatePlan(plan: ReproducePlan, options: { jobs?: number; calibration?: Calibration; only?: readonly string[] } = {}): PlanEstimate {
  const calibration = planCalibration(options.calibration ?? CALIBRATION, plan.name);
  const jobs = Math.max(1, Math.floor(options.jobs ?? 2));
  const all = planExperiments(plan);
  // --only: the same selection (and the same error for a name that matches nothing) as runPlan.
  const selected = options.only?.length ? selectExperiments(plan, all, options.only) : all;
  const experiments = selected.map((e): ExperimentEstimate => {
    const seeded = e.seed === plan.seed ? plan : { ...plan, seed: e.seed };
    const config = trackConfig(seeded, e.model, e.track);
    const rate = throughput(config, calibration, e.track, trackSequenceLength(plan, e.track));
    // The measured rate already holds attention's cost at the measured length: only the change of it counts.
    const tps = rate.tokensPerSecond * (rate.length === undefined ? 1 : attentionFactor(config, rate.length));
    const parameters = countParameters(config);
    const guess = rate.extrapolated === undefined ? {} : { extrapolated: rate.extrapolated };
    if (e.kind === 'train') {
      const recipe = trainRecipe(seeded, e.model, e.track);
      const length = trackSequenceLength(plan, e.track);
      const tokens = recipe.steps * recipe.batchSize * length;
      return { id: e.id, kind: e.kind, model: e.model, track: e.track, parameters, trainTokens: tokens, readTokens: 0, decodedTokens: 0, seconds: (calibration.trainingStartSeconds ?? 0) + (tokens * attentionFactor(config, length)) / tps, ...guess };
    }
    const { reads, decoded } = evaluationWork(plan, e);
    let seconds = 0;
    let readTokens = 0;
    for (const [length, count] of reads) {
      readTokens += length * count;
      seconds += (count * length * calibration.forwardFraction * attentionFactor(config, length)) / tps;
    }
    const longest = Math.max(0, ...reads.map(([length]) => length));
    seconds += (decoded * calibration.decodeFactor * attentionFactor(config, longest)) / tps;
    return { id: e.id, kind: e.kind, model: e.model, track: e.track, parameters, trainTokens: 0, readTokens, decodedTokens: decoded, seconds, ...guess };
  });
  const cpuSeconds = experiments.reduce((s, e) => s + e.seconds, 0);
  const byId = new Map(experiments.map((e) => [e.id, e]));
  const chain = selected.map((e) => byId.get(e.id)!.seconds + Math.max(0, ...e.after.map((a) => byId.get(a)?.seconds ?? 0)));
  const trainTokens = experiments.reduce((s, e) => s + e.trainTokens, 0);
  const bytesTrack = experiments.filter((e) => e.kind === 'train' && e.track === 'long');
  return {
    plan: plan.name, experiments, cpuSeconds, wallSeconds: Math.max(cpuSeconds / jobs, ...chain), jobs, trainTokens,
    bytesTrackTokensPerModel: bytesTrack.length ? bytesTrack[0]!.trainTokens : 0, calibration: calibration.source,
  };
}

/** The estimate as text: totals, then the time by track and kind. */
export function formatEstimate(estimate: PlanEstimate): string {
  // Hours for long plans, minutes below an hour (a smoke plan is not "0.00 h").
  const hours = (s: number): string => (s >= 3600 ? `${(s / 3600).toFixed(2)} h` : `${(s / 60).toFixed(1)} min`);
  const groups = new Map<string, { count: number; seconds: number; tokens: number }>();
  for (const e of estimate.experiments) {
    const key = `${e.kind === 'train' ? 'train' : 'evaluate'} ${e.track === 'long' ? 'bytes' : e.track}`;
    const g = groups.get(key) ?? { count: 0, seconds: 0, tokens: 0 };
    groups.set(key, { count: g.count + 1, seconds: g.seconds + e.seconds, tokens: g.tokens + e.trainTokens + e.readTokens });
  }
  const lines = [
    `plan '${estimate.plan}': ${estimate.experiments.length} experiments, estimated ${hours(estimate.cpuSeconds)} of one core, ${hours(estimate.wallSeconds)} wall-clock with --jobs ${estimate.jobs}`,
    `training tokens: ${(estimate.trainTokens / 1e6).toFixed(2)}M in all, ${(estimate.bytesTrackTokensPerModel / 1e6).toFixed(2)}M per bytes-track model`,
    `calibration: ${estimate.calibration}`,
    ...[...groups].map(([key, g]) => `  ${key.padEnd(22)} ${String(g.count).padStart(4)} experiments  ${hours(g.seconds).padStart(9)}  ${(g.tokens / 1e6).toFixed(2)}M tokens`),
  ];
  // Never a silent guess: the architectures and tracks whose rate no calibration measured.
  const guessed = new Map<string, { seconds: number; how: Set<string> }>();
  for (const e of estimate.experiments) {
    if (e.extrapolated === undefined) continue;
    const key = `${e.model} on ${e.track === 'long' ? 'bytes' : e.track}`;
    const g = guessed.get(key) ?? { seconds: 0, how: new Set<string>() };
    g.seconds += e.seconds;
    g.how.add(e.extrapolated);
    guessed.set(key, g);
  }
  if (guessed.size) {
    const seconds = [...guessed.values()].reduce((s, g) => s + g.seconds, 0);
    lines.push(`extrapolated (not calibrated; ${hours(seconds)} of the estimate): ${[...guessed].map(([key, g]) => `${key} (${[...g.how].join(', ')})`).join('; ')}`);
  }
  return lines.join('\n');
}
