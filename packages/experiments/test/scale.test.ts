// The `scale` plan: its structure is what issue 25 asks for (model sizes, seeds, lengths,
// tracks, ablations), its estimate fits six hours of a 2-core machine, and its structure
// runs end to end on a tiny budget (every kind of experiment, two seeds, the time-series and
// DNA tracks, the report's seed and track tables). The full plan was not run here.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { countParameters } from '@titans/models';
import { describe, expect, it } from 'vitest';
import {
  ABLATIONS, PLANS, checkTargets, planCalibration, collectResults, estimatePlan, experimentHash, exportForDocs, formatEstimate, formatTargets, hashText, longContextModels, mqarTrackModels,
  planExperiments, planModelConfig, planModels, runPlan, trackSettings, trainRecipe, validatePlan, withBudget, type ReproducePlan,
} from '../src/index.ts';

const scale = PLANS.scale;

describe('the scale plan', () => {
  it('has 0.5-2M-parameter models of width 128-256 and 4-6 blocks, 3 seeds, 1x-16x evaluation, every ablation and the extra tracks', () => {
    expect(scale.architectures).toEqual(expect.arrayContaining(['lmm', 'mac', 'mag', 'mal', 'transformer', 'swa', 'gated-deltanet', 'hope']));
    // Atlas's compiled step at this width needs more memory than the machine the plan is sized for.
    expect(scale.architectures).not.toContain('atlas');
    expect([...scale.ablations].sort()).toEqual(Object.keys(ABLATIONS).sort());
    // The ablations are judged on MQAR (the ablation target) and train there, not on the bytes track;
    // Hope trains on the passkey only (its bytes-track rate is only extrapolated, its MQAR rate in this shape
    // 1.25 core-hours a seed, and no target reads it on either).
    expect(mqarTrackModels(scale)).toEqual(planModels(scale).filter((m) => m !== 'hope'));
    expect(longContextModels(scale)).toEqual(scale.architectures.filter((m) => m !== 'hope'));
    for (const model of longContextModels(scale)) {
      const config = planModelConfig(scale, model, 'long');
      const parameters = countParameters(config);
      expect(parameters, model).toBeGreaterThanOrEqual(500_000);
      expect(parameters, model).toBeLessThanOrEqual(2_000_000);
      expect(config.dim, model).toBeGreaterThanOrEqual(128);
      expect(config.dim, model).toBeLessThanOrEqual(256);
      expect(config.layers, model).toBeGreaterThanOrEqual(4);
      expect(config.layers, model).toBeLessThanOrEqual(6);
    }
    // The passkey track: the shape the pilots saw generalise (bench/passkey-pilot.ts `tinywide`): 2 blocks at
    // width 128, about 521k parameters, every baseline matched to the LMM's count within 1%, 8,000 training sequences.
    const lmmPasskey = countParameters(planModelConfig(scale, 'lmm', 'passkey'));
    for (const model of scale.passkey.models) {
      const config = planModelConfig(scale, model, 'passkey');
      expect(config.dim, model).toBe(128);
      expect(config.layers, model).toBe(2);
      expect(countParameters(config), model).toBeGreaterThanOrEqual(500_000);
      expect(Math.abs(countParameters(config) - lmmPasskey) / lmmPasskey, model).toBeLessThan(0.01);
    }
    expect(scale.passkey.train.steps * scale.passkey.train.batchSize).toBe(8000);
    // The MQAR track: the full plan's task and training at width 128 (2 blocks, ~467k parameters, matched within
    // 1%) with a linear memory in 4 heads that forgets, so the no-forgetting ablation differs from the LMM (the
    // linear-memory one is the LMM itself, as in the full plan: in pilots a deep memory barely learned MQAR here).
    const full = PLANS.full.mqar;
    expect({ ...scale.mqar, model: undefined, evalSamples: undefined, models: undefined, trainByModel: undefined })
      .toEqual({ ...full, model: undefined, evalSamples: undefined, models: undefined, trainByModel: undefined });
    // MAC's learning rate as in the full plan, and the same for its ablation (the hybrids keep 800 steps: budget).
    expect(trainRecipe(scale, 'mac', 'mqar')).toEqual({ ...full.train, lr: trainRecipe(PLANS.full, 'mac', 'mqar').lr });
    expect(trainRecipe(scale, 'mac-no-persistent', 'mqar').lr).toBe(trainRecipe(scale, 'mac', 'mqar').lr);
    const lmmMqar = planModelConfig(scale, 'lmm', 'mqar');
    expect(lmmMqar.memory).toMatchObject({ depth: 1, heads: 4 });
    expect(lmmMqar.memory.ruleOverrides?.forgetting).not.toBe(false);
    for (const model of mqarTrackModels(scale)) {
      const config = planModelConfig(scale, model, 'mqar');
      expect([config.dim, config.layers], model).toEqual([128, 2]);
      if (!(model in ABLATIONS)) expect(Math.abs(countParameters(config) - countParameters(lmmMqar)) / countParameters(lmmMqar), model).toBeLessThan(0.01);
    }
    expect(scale.seeds).toHaveLength(3);
    expect(scale.longContext.niah.multiples).toEqual([1, 2, 4, 8, 16]);
    expect(scale.passkey.multiples).toEqual([1, 2, 4, 8, 16]);
    expect(scale.longContext.mix?.tasks).toEqual(expect.arrayContaining(['pk', 'n', 'w', 'passkey', 'qa1', 'qa2']));
    expect(Object.keys(scale.tracks ?? {})).toEqual(['timeseries', 'dna']);
    expect(scale.tracks!.timeseries!.models).toEqual(expect.arrayContaining(['swa', 'transformer']));
    // Every seed has the same experiments, the first with the historical ids, but Hope's passkey training and evaluation (one seed).
    const ids = planExperiments(scale).map((e) => e.id);
    expect(new Set(ids).size).toBe(ids.length);
    const first = ids.filter((id) => !/-s\d+$/.test(id));
    expect(ids.filter((id) => id.endsWith('-s1')).sort()).toEqual(first.filter((id) => !/passkey-hope$/.test(id)).map((id) => `${id}-s1`).sort());
  });

  it('is estimated at 4-6 hours with --jobs 2 (at most 12 hours of one core), most of it on the passkey, bytes and MQAR tracks', () => {
    const estimate = estimatePlan(scale, { jobs: 2 });
    expect(estimate.experiments).toHaveLength(planExperiments(scale).length);
    expect(estimate.wallSeconds).toBeLessThanOrEqual(6 * 3600);
    expect(estimate.cpuSeconds).toBeLessThanOrEqual(12 * 3600);
    // Sized to use most of the budget, with room for the estimate's error (its rates measured on a crowded machine).
    expect(estimate.wallSeconds).toBeGreaterThan(4 * 3600);
    const byTrack = (track: string): number => estimate.experiments.filter((e) => e.track === track).reduce((s, e) => s + e.seconds, 0);
    // The passkey track (where the passkey targets are judged) gets at least a quarter of the plan's time.
    expect(byTrack('passkey')).toBeGreaterThan(0.25 * estimate.cpuSeconds);
    expect(formatEstimate(estimate)).toMatch(/^plan 'scale': \d+ experiments, estimated [\d.]+ h of one core, [\d.]+ h wall-clock with --jobs 2/);
  });

  it("keeps the MQAR, time-series and DNA experiments and the bytes track's remaining ones exactly as the run in progress has them", () => {
    // Digests of `${id} ${experimentHash}` (sorted) per track, recorded before the passkey and bytes tracks were
    // re-balanced: a change here invalidates results of a scale run already made (--resume would redo them).
    // The MQAR track's changed with its recipe (SCALE_MQAR_MODEL, 800 steps; it was 65e59278 with the first
    // recipe, whose seed-0 results stayed at chance).
    const digest = (track: string): string => hashText(planExperiments(scale).filter((e) => e.track === track).map((e) => `${e.id} ${experimentHash(scale, e)}`).sort().join('\n'));
    // MAG and MAL moved to MAC's learning rate after their seed 0 stayed at chance at 1e-2: only their MQAR
    // experiments changed (the rest of the track is pinned apart, as the run in progress has it).
    const hybrid = /^(train-)?mqar-(mag|mal)(-s\d+)?$/;
    const mqarRest = hashText(planExperiments(scale).filter((e) => e.track === 'mqar' && !hybrid.test(e.id)).map((e) => `${e.id} ${experimentHash(scale, e)}`).sort().join('\n'));
    expect(planExperiments(scale).filter((e) => e.track === 'mqar' && hybrid.test(e.id))).toHaveLength(12);
    expect({ mqar: digest('mqar'), mqarRest, timeseries: digest('timeseries'), dna: digest('dna'), long: digest('long') })
      .toEqual({ mqar: '78084f05', mqarRest: 'a5861326', timeseries: 'e13577dd', dna: '6fe2f68e', long: '12369641' });
    // The passkey track is the `tinywide` pilot's (its MAG seed-0 results: train 43989db1, evaluation 89121843).
    const mag = planExperiments(scale).filter((e) => e.seed === 0 && e.model === 'mag' && e.track === 'passkey');
    expect(mag.map((e) => [e.id, experimentHash(scale, e)])).toEqual([['train-passkey-mag', '43989db1'], ['passkey-mag', '89121843']]);
  });

  it("leaves the bytes track's list of models out of its spec hash, as the MQAR track's", () => {
    const everyModel: ReproducePlan = { ...scale, longContext: { ...scale.longContext, models: planModels(scale) } };
    const e = planExperiments(scale).find((x) => x.id === 'train-long-lmm')!;
    expect(experimentHash(everyModel, e)).toBe(experimentHash(scale, e));
    expect(planExperiments(everyModel).filter((x) => x.track === 'long')).toHaveLength(3 * 3 * planModels(scale).length);
    expect(trackSettings(scale, 'long', 'lmm')).not.toHaveProperty('models');
  });

  it('estimates what --only selects (same names and errors as runPlan), small plans in minutes', () => {
    const smoke = PLANS.smoke;
    const mqar = estimatePlan(smoke, { jobs: 2, only: ['mqar'] });
    expect(mqar.experiments.length).toBeGreaterThan(0);
    expect(mqar.experiments.length).toBeLessThan(planExperiments(smoke).length);
    expect(mqar.experiments.every((e) => e.track === 'mqar')).toBe(true);
    expect(mqar.cpuSeconds).toBeLessThan(estimatePlan(smoke, { jobs: 2 }).cpuSeconds);
    expect(() => estimatePlan(smoke, { only: ['xyz'] })).toThrow(/--only: 'xyz' names no experiment, model or track of this plan/);
    expect(formatEstimate(mqar)).toMatch(/^plan 'smoke': \d+ experiments, estimated [\d.]+ min of one core/);
  });

  it('uses a track\'s own calibration where it has one, the attention cost relative to the measured length, and a start cost per training run', () => {
    const base = { source: 'test', training: { lmm: { tokensPerSecond: 100, parameters: 1_000_000 }, swa: { tokensPerSecond: 100, parameters: 1_000_000 } }, trainingLength: 512, fallbackTokensPerSecond: 100, forwardFraction: 1 / 3, decodeFactor: 3 };
    const plain = estimatePlan(scale, { jobs: 2, calibration: base, only: ['lmm', 'swa'] });
    const fastPasskey = estimatePlan(scale, { jobs: 2, only: ['lmm', 'swa'], calibration: { ...base, tracks: { passkey: { source: 'test', batch: 8, length: 64, training: { lmm: { tokensPerSecond: 400, parameters: 1_000_000 } } } } } });
    const byId = (e: typeof plain): Map<string, number> => new Map(e.experiments.map((x) => [x.id, x.seconds]));
    const [a, b] = [byId(plain), byId(fastPasskey)];
    for (const e of plain.experiments) {
      // LMM has no attention: four times the rate is a quarter of the time; SWA (not measured on the passkey) keeps the bytes track's rate.
      const ratio = e.track === 'passkey' && e.model === 'lmm' ? 0.25 : 1;
      expect(b.get(e.id)! / a.get(e.id)!, e.id).toBeCloseTo(ratio, 9);
    }
    // SWA trained at the measured length costs tokens / rate exactly (the measured rate holds its attention).
    const swaLong = plain.experiments.find((e) => e.id === 'train-long-swa')!;
    expect(swaLong.seconds).toBeCloseTo(swaLong.trainTokens / ((100 * 1_000_000) / swaLong.parameters), 6);
    const started = estimatePlan(scale, { jobs: 2, only: ['lmm', 'swa'], calibration: { ...base, trainingStartSeconds: 10 } });
    const trainRuns = started.experiments.filter((e) => e.kind === 'train').length;
    expect(started.cpuSeconds - plain.cpuSeconds).toBeCloseTo(10 * trainRuns, 6);
  });

  it("uses a plan's own measurements of a track (planTracks) for that plan only, in place of the track's shared ones", () => {
    const lmm = { tokensPerSecond: 100, parameters: 1_000_000 };
    const base = { source: 'test', training: { lmm }, trainingLength: 512, fallbackTokensPerSecond: 100, parameterExponent: 1, forwardFraction: 1 / 3, decodeFactor: 3 };
    const shared = { source: 'shared', batch: 16, length: 64, training: { lmm, hope: lmm } };
    const own = { source: 'own rows', batch: 16, length: 64, training: { lmm: { tokensPerSecond: 400, parameters: 1_000_000 } } };
    const calibration = { ...base, tracks: { mqar: shared }, planTracks: { scale: { mqar: own } } };
    expect(planCalibration(calibration, 'full')).toBe(calibration);
    expect(planCalibration(calibration, 'scale').source).toBe("test; scale plan's mqar track: own rows");
    const train = (plan: ReproducePlan, c: typeof base) => estimatePlan(plan, { jobs: 2, calibration: c, only: ['train-mqar-lmm'] }).experiments[0]!;
    // The scale plan's LMM at the rate its own row says (4x the shared one); the full plan keeps the shared row.
    expect(train(scale, calibration).seconds / train(scale, { ...base, tracks: { mqar: shared } } as typeof base).seconds).toBeCloseTo(0.25, 9);
    expect(train(PLANS.full, calibration).seconds).toBe(train(PLANS.full, { ...base, tracks: { mqar: shared } } as typeof base).seconds);
    // The plan's rows replace the track's as a whole: a model they leave out is extrapolated and named, not read from the shared rows.
    const withHope: ReproducePlan = { ...scale, mqar: { ...scale.mqar, models: [...mqarTrackModels(scale), 'hope'] } };
    const hope = estimatePlan(withHope, { jobs: 2, calibration, only: ['train-mqar-hope'] }).experiments[0]!;
    expect(hope.extrapolated).toBeDefined();
    // The built-in calibration: the scale plan's MQAR rows are its own; the full plan's estimate does not read them.
    expect(estimatePlan(scale, { jobs: 2, only: ['train-mqar-lmm'] }).experiments[0]!.extrapolated).toBeUndefined();
    expect(estimatePlan(scale, { jobs: 2, only: ['train-mqar-lmm'] }).calibration).toContain("scale plan's mqar track");
    expect(estimatePlan(PLANS.full, { jobs: 2, only: ['train-mqar-lmm'] }).calibration).not.toContain("scale plan's mqar track");
  });

  it('scales from the measurement nearest a model\'s size where a track has several', () => {
    const lmm = { tokensPerSecond: 100, parameters: 1_000_000 };
    const base = { source: 'test', training: { lmm }, trainingLength: 512, fallbackTokensPerSecond: 100, parameterExponent: 0.4, forwardFraction: 1 / 3, decodeFactor: 3 };
    const small = { tokensPerSecond: 1000, parameters: 50_000 };
    const big = { tokensPerSecond: 60, parameters: 500_000 };
    const passkey = (sizes: boolean) => ({ source: 'test', batch: 16, length: 64, training: { lmm, hope: small }, ...(sizes ? { sizes: { hope: [big] } } : {}) });
    const hope = (sizes: boolean) => estimatePlan(scale, { jobs: 2, calibration: { ...base, tracks: { passkey: passkey(sizes) } }, only: ['train-passkey-hope'] }).experiments[0]!;
    const [without, withSizes] = [hope(false), hope(true)];
    const rate = (m: { tokensPerSecond: number; parameters: number }): number => m.tokensPerSecond * (m.parameters / without.parameters) ** 0.4;
    // Hope's passkey model (~523k parameters) is nearer the 500k measurement than the 50k one.
    expect(without.seconds).toBeCloseTo(without.trainTokens / rate(small), 6);
    expect(withSizes.seconds).toBeCloseTo(withSizes.trainTokens / rate(big), 6);
    expect(withSizes.extrapolated).toBeUndefined();
  });

  it('trains a passkey model on the seeds seedsByModel gives it, its hashes unchanged', () => {
    // The scale plan trains Hope on the passkey with one seed (1.1 core-hours a seed at this size).
    expect(scale.passkey.seedsByModel).toEqual({ hope: [0] });
    const every: ReproducePlan = { ...scale, passkey: { ...scale.passkey, seedsByModel: {} } };
    const ids = (plan: ReproducePlan): string[] => planExperiments(plan).map((e) => e.id);
    expect(ids(every).filter((id) => !ids(scale).includes(id)).sort()).toEqual(['passkey-hope-s1', 'passkey-hope-s2', 'train-passkey-hope-s1', 'train-passkey-hope-s2']);
    for (const e of planExperiments(scale)) expect(experimentHash(scale, e), e.id).toBe(experimentHash(every, e));
    expect(() => validatePlan({ ...scale, passkey: { ...scale.passkey, seedsByModel: { hope: [7] } } })).toThrow(/passkey\.seedsByModel\.hope: seed 7 is not a seed of the plan \(0, 1, 2\)/);
  });

  it('never guesses silently: an architecture no calibration measured is extrapolated, relative to the LMM where another track measured both, and named', () => {
    const lmm = { tokensPerSecond: 100, parameters: 1_000_000 };
    const base = { source: 'test', training: { lmm }, trainingLength: 512, fallbackTokensPerSecond: 100, parameterExponent: 1, forwardFraction: 1 / 3, decodeFactor: 3 };
    const withAtlas: ReproducePlan = {
      ...scale, architectures: [...scale.architectures, 'atlas'], passkey: { ...scale.passkey, models: [...scale.passkey.models, 'atlas'] },
      longContext: { ...scale.longContext, models: [...longContextModels(scale), 'atlas'] }, mqar: { ...scale.mqar, models: [...mqarTrackModels(scale), 'atlas'] },
    };
    const fallback = estimatePlan(withAtlas, { jobs: 2, calibration: base, only: ['atlas'] });
    expect(fallback.experiments.length).toBeGreaterThan(0);
    expect(fallback.experiments.every((e) => e.extrapolated === 'fallback rate')).toBe(true);
    const text = formatEstimate(fallback);
    expect(text).toMatch(/^extrapolated \(not calibrated; [\d.]+ (h|min) of the estimate\): /m);
    for (const track of ['bytes', 'passkey', 'mqar']) expect(text).toContain(`atlas on ${track} (fallback rate)`);
    // Atlas measured on the passkey at a tenth of the LMM's rate (same parameters): a tenth on every other track too.
    const passkey = { source: 'test', batch: 8, length: 64, training: { lmm, atlas: { tokensPerSecond: 10, parameters: 1_000_000 } } };
    const relative = estimatePlan(withAtlas, { jobs: 2, calibration: { ...base, tracks: { passkey } }, only: ['atlas', 'lmm'] });
    const train = (e: typeof relative, id: string) => e.experiments.find((x) => x.id === id)!;
    const atlasLong = train(relative, 'train-long-atlas');
    expect(atlasLong.extrapolated).toBe("passkey track's rate relative to the LMM");
    expect(atlasLong.seconds).toBeCloseTo(atlasLong.trainTokens / ((10 * 1_000_000) / atlasLong.parameters), 6);
    expect(train(relative, 'train-passkey-atlas').extrapolated).toBeUndefined();
    expect(relative.experiments.filter((e) => e.model === 'lmm').every((e) => e.extrapolated === undefined)).toBe(true);
    // The shipped calibration names what it extrapolates.
    const shipped = formatEstimate(estimatePlan(scale, { jobs: 2 }));
    const guessed = estimatePlan(scale, { jobs: 2 }).experiments.filter((e) => e.extrapolated !== undefined);
    if (guessed.length) expect(shipped).toMatch(/^extrapolated \(not calibrated/m);
    else expect(shipped).not.toMatch(/extrapolated/);
  });

  it('runs end to end on a tiny budget: every kind of experiment, two seeds, the extra tracks, the seed and track tables', async () => {
    const budget = withBudget(scale, {
      steps: 1, batchSize: 1, samples: 1, seeds: [0, 1], models: ['lmm', 'swa', 'lmm-no-conv'], evalTokens: 256,
      model: { dim: 16, layers: 1, heads: 2, window: 32, segmentLength: 32, persistentTokens: 2 },
    });
    // S-NIAH evaluated on PK only (the prompts at 16x are the slowest part); trained on the whole mix.
    const plan = { ...budget, longContext: { ...budget.longContext, niah: { ...budget.longContext.niah, tasks: ['pk'] as const } } };
    const out = mkdtempSync(join(tmpdir(), 'titans-scale-'));
    const summary = await runPlan(plan, { out });
    expect(summary.failed).toEqual([]);
    expect(summary.missing).toEqual([]);
    const kinds = new Set(planExperiments(plan).map((e) => `${e.kind}:${e.track}`));
    expect([...kinds].sort()).toEqual(['mqar:mqar', 'niah:long', 'passkey:passkey', 'perplexity:long', 'track:dna', 'track:timeseries', 'train:dna', 'train:long', 'train:mqar', 'train:passkey', 'train:timeseries'].sort());
    const results = collectResults(plan, out);
    expect(Object.keys(results.bySeed['niah-lmm'] ?? {})).toEqual(['0', '1']);
    expect(results.niah.lmm?.tasks[0]?.lengths).toEqual([1, 2, 4, 8, 16].map((m) => m * plan.longContext.trainLength));
    expect(Object.keys(results.tracks.timeseries?.swa?.metrics ?? {})).toEqual(expect.arrayContaining(['mse', 'mae', 'linear mse', 'linear mae']));
    expect(results.tracks.dna?.lmm?.metrics.perplexity).toBeGreaterThan(1);
    const summaryMd = readFileSync(join(out, 'summary.md'), 'utf8');
    expect(summaryMd).toContain('## Seeds: mean and spread');
    expect(summaryMd).toMatch(/\d+\.\d ± \d+\.\d \(2\)/);
    expect(summaryMd).toContain('## Time-series forecasting');
    expect(summaryMd).toContain('## DNA modelling');
    expect(existsSync(join(out, 'report.html'))).toBe(true);

    // The passkey with both fillers, side by side in the report.
    expect(results.passkey.lmm?.heldOut?.byLength.map((b) => b.length)).toEqual(results.passkey.lmm?.byLength.map((b) => b.length));
    expect(summaryMd).toContain('held-out filler');

    // The targets: each measured, met or missed by how much, and the cost of more training from this run's throughput.
    const targets = checkTargets(plan, results, { jobs: 2 });
    expect(targets.checks.map((c) => c.id)).toEqual(expect.arrayContaining(['passkey-4x', 'passkey-4x-held-out', 'passkey-4x-swa', 'niah-pk-4x', 'ahead-16x', 'ablations']));
    // A missed threshold is missed by a positive amount; 'ahead' and 'better' targets are missed by 0 points on a tie.
    for (const c of targets.checks.filter((x) => x.met === false)) expect(c.shortBy, c.id).toBeGreaterThanOrEqual(/^(passkey-4x|niah-)/.test(c.id) && c.id !== 'passkey-4x-swa' ? 1e-9 : 0);
    const lmmAt4 = (results.bySeed['passkey-lmm']![0] as { byLength: { length: number; accuracy: number }[] }).byLength;
    expect(targets.checks.find((c) => c.id === 'passkey-4x')?.met).toBeNull(); // no MAC or MAG in this budget
    expect(lmmAt4).toHaveLength(5);
    expect(targets.cost.measuredExperiments).toBe(targets.cost.trainExperiments);
    const trained = planExperiments(plan).filter((e) => e.kind === 'train');
    const measuredSeconds = trained.reduce((sum, e) => {
      const t = results.bySeed[e.id.replace(/-s\d+$/, '')]![e.seed] as { tokens: number; trainSeconds: number };
      return sum + t.trainSeconds;
    }, 0);
    // Every run measured: the plan's training core-seconds are the measured seconds (tokens / measured rate = seconds).
    expect(targets.cost.trainCoreSeconds).toBeCloseTo(measuredSeconds, 6);
    expect(targets.cost.nextOrder.wallHours).toBeCloseTo((10 * measuredSeconds) / 2 / 3600, 9);
    expect(targets.cost.nextOrder.gpuHours).toBeGreaterThan(0);
    expect(formatTargets(targets).cost).toMatch(/next order of magnitude \(10x the training tokens\) would take about [\d.]+ (min|h|days) on this machine/);
    expect(summaryMd).toContain('## Targets');

    // The best checkpoint per family to the docs demos, within the budget, with a manifest.
    const dest = join(out, 'docs', 'checkpoints', 'scale');
    mkdirSync(dest, { recursive: true });
    writeFileSync(join(dest, 'stale.txt'), 'from an earlier export');
    const exported = exportForDocs(plan, { run: out, dest, budgetBytes: 2_000_000 });
    expect(exported.models.map((m) => [m.family, m.name])).toEqual([['titans', 'lmm'], ['attention', 'swa']]);
    expect(exported.dropped.map((d) => d.family)).toEqual(['recurrent', 'atlas', 'hope']);
    expect(exported.totalBytes).toBeLessThanOrEqual(2_000_000);
    expect(readdirSync(dest).sort()).toEqual(['lmm', 'manifest.json', 'swa']);
    expect(readdirSync(join(out, 'docs', 'checkpoints'))).toEqual(['scale']); // no temporary folder left
    const manifest = JSON.parse(readFileSync(join(dest, 'manifest.json'), 'utf8')) as { format: string; versus: { memory: string; window: string }; models: { name: string; seed: number; bytes: number; weights: string }[] };
    expect(manifest.format).toBe('titans-docs-checkpoints');
    expect(manifest.versus).toMatchObject({ memory: 'lmm', window: 'swa' });
    for (const m of manifest.models) {
      expect(readFileSync(join(dest, m.weights)).length).toBe(m.bytes);
      expect([0, 1]).toContain(m.seed);
    }
    // A budget the required families do not fit is an error, and the previous export stays.
    expect(() => exportForDocs(plan, { run: out, dest, budgetBytes: 20_000 })).toThrow(/family 'titans': lmm \([\d.]+ MB\) would pass the 0.02 MB budget/);
    expect(readdirSync(dest).sort()).toEqual(['lmm', 'manifest.json', 'swa']);
  }, 300_000);
});
