// The plans and the spec hashes that decide what a resumed run redoes: per-model training
// changes touch only that model's hash, and an architecture's revision only its experiments.
import { describe, expect, it } from 'vitest';
import { PLANS, estimatePlan, experimentHash, hashText, planExperiments, trackConfig, trackSettings, trainRecipe, type Experiment, type ModelName, type ReproducePlan } from '../src/index.ts';

describe('per-model training changes', () => {
  it('give a model of the MQAR or passkey track its own steps, learning rate and spec hash, leaving the others alone', () => {
    const plan = PLANS.full;
    const mqar = (model: ModelName): Experiment => ({ id: `train-mqar-${model}`, kind: 'train', model, track: 'mqar', after: [], seed: plan.seed });
    expect(trainRecipe(plan, 'mag', 'mqar').steps).toBe(plan.mqar.trainByModel!.mag!.steps);
    expect(trainRecipe(plan, 'lmm', 'mqar')).toEqual(plan.mqar.train);
    expect(trainRecipe(plan, 'mac', 'mqar').steps).toBe(plan.mqar.trainByModel!.mac!.steps);
    expect(trainRecipe(plan, 'mac', 'passkey')).toEqual(plan.passkey.train);
    // Changing MAG's steps changes MAG's spec hash only.
    const longer: ReproducePlan = { ...plan, mqar: { ...plan.mqar, trainByModel: { ...plan.mqar.trainByModel, mag: { steps: 5000 } } } };
    expect(experimentHash(longer, mqar('mag'))).not.toBe(experimentHash(plan, mqar('mag')));
    expect(experimentHash(longer, mqar('lmm'))).toBe(experimentHash(plan, mqar('lmm')));
    // Other settings too, in the recipe's own key order (the hash is of the JSON text).
    const slower: ReproducePlan = { ...plan, mqar: { ...plan.mqar, trainByModel: { mag: { lr: 1e-3, steps: 1200 } } } };
    expect(trainRecipe(slower, 'mag', 'mqar')).toEqual({ ...plan.mqar.train, lr: 1e-3, steps: 1200 });
    expect(Object.keys(trainRecipe(slower, 'mag', 'mqar'))).toEqual(Object.keys(plan.mqar.train));
    expect(experimentHash(slower, mqar('mag'))).not.toBe(experimentHash(plan, mqar('mag')));
  });
});

describe('architecture revisions', () => {
  it("make a resumed run redo a changed architecture's experiments and keep every other hash as it was", () => {
    const plan = PLANS.full;
    const experiments = planExperiments(plan);
    // The hash before revisions existed: the JSON of kind, seed, config and track settings.
    const unrevised = (e: Experiment): string => hashText(JSON.stringify({
      kind: e.kind, seed: plan.seed, config: trackConfig(plan, e.model, e.track), settings: trackSettings(plan, e.track, e.model),
    }));
    const changed = experiments.filter((e) => experimentHash(plan, e) !== unrevised(e)).map((e) => e.id);
    // The architectures at revision 2: MAC (residual in y), Hope (the bounded recurrence) and OmegaNet (the bounded Omega step).
    const revised = experiments.filter((e) => ['mac', 'hope', 'omeganet'].includes(trackConfig(plan, e.model, e.track).architecture)).map((e) => e.id);
    expect(revised).toContain('train-long-mac-no-persistent');
    expect(revised).toContain('train-passkey-hope');
    expect(revised).toContain('train-passkey-omeganet');
    expect(changed).toEqual(revised);
  });
});

describe('plan descriptions', () => {
  it("state the hours of the dry run's estimate (with --jobs 2) where they state hours", () => {
    const stated = Object.values(PLANS).flatMap((plan) => {
      const m = /^About ([\d.]+) hours on a 2-core CPU with --jobs 2 (?:\(([\d.]+) hours of one core\) )?by the dry run's estimate/.exec(plan.description);
      return m ? [{ plan, wall: Number(m[1]), core: m[2] === undefined ? undefined : Number(m[2]) }] : [];
    });
    expect(stated.map((s) => s.plan.name).sort()).toEqual(['extended', 'full', 'scale']);
    for (const { plan, wall, core } of stated) {
      const estimate = estimatePlan(plan, { jobs: 2 });
      // Rounded as a person would say it: within 15% of the estimate.
      expect(Math.abs(wall * 3600 - estimate.wallSeconds) / estimate.wallSeconds, plan.name).toBeLessThan(0.15);
      if (core !== undefined) expect(Math.abs(core * 3600 - estimate.cpuSeconds) / estimate.cpuSeconds, plan.name).toBeLessThan(0.15);
    }
    for (const plan of Object.values(PLANS)) expect(plan.description).not.toMatch(/most of a day/i);
  });
});
