// What a researcher adds from code: a model variant and a track, used by a plan; and the
// pure parts of the built-in extra tracks (quantisation, the linear forecast baseline).
import { countParameters } from '@titans/models';
import { describe, expect, it } from 'vitest';
import {
  PLANS, binCentre, fitLinearForecast, planExperiments, planModelConfig, quantize, registerModel, registerTrack, trackDefinition, validatePlan,
  type ReproducePlan,
} from '../src/index.ts';

describe('registerModel', () => {
  it('adds a variant that plans train beside the architectures, its parameters matched to the LMM', () => {
    registerModel('mag-wide-window', { base: 'mag', label: 'MAG, window 64', change: { window: 64 } });
    const plan: ReproducePlan = { ...PLANS.quick, name: 'quick-variant', architectures: [...PLANS.quick.architectures] };
    const withVariant: ReproducePlan = { ...plan, mqar: { ...plan.mqar, models: ['lmm', 'mag-wide-window'] } };
    const config = planModelConfig(withVariant, 'mag-wide-window', 'mqar');
    expect(config.architecture).toBe('mag');
    expect(config.window).toBe(64);
    const lmm = countParameters(planModelConfig(withVariant, 'lmm', 'mqar'));
    expect(Math.abs(countParameters(config) - lmm) / lmm).toBeLessThan(0.05);
    expect(planExperiments(withVariant).map((e) => e.id)).toEqual(expect.arrayContaining(['train-mqar-mag-wide-window', 'mqar-mag-wide-window']));
  });

  it('refuses names that are not file-safe or already taken, and unknown bases', () => {
    expect(() => registerModel('Bad Name', { base: 'mag', label: '', change: {} })).toThrow(/lower-case/);
    expect(() => registerModel('mac', { base: 'mag', label: '', change: {} })).toThrow(/already an architecture/);
    expect(() => registerModel('x-1', { base: 'nope' as never, label: '', change: {} })).toThrow(/unknown base/);
  });

  it('makes a plan with an unknown model fail validation before anything runs', () => {
    const plan: ReproducePlan = { ...PLANS.smoke, mqar: { ...PLANS.smoke.mqar, models: ['not-a-model'] } };
    expect(() => validatePlan(plan)).toThrow(/unknown model 'not-a-model'/);
  });
});

describe('registerTrack', () => {
  it('adds a track whose experiments a plan gets, and refuses built-in names', () => {
    registerTrack({ ...trackDefinition('dna'), name: 'dna-copy', title: 'DNA again' });
    expect(trackDefinition('dna-copy').title).toBe('DNA again');
    expect(() => registerTrack({ ...trackDefinition('dna'), name: 'mqar' })).toThrow(/built-in/);
    expect(() => trackDefinition('nope')).toThrow(/unknown track 'nope'/);
    const plan: ReproducePlan = { ...PLANS.smoke, tracks: { 'dna-copy': { ...PLANS.scale.tracks!.dna!, models: ['swa'] } } };
    expect(planExperiments(plan).filter((e) => e.track === 'dna-copy').map((e) => e.id)).toEqual(['train-dna-copy-swa', 'dna-copy-swa']);
    expect(planModelConfig(plan, 'swa', 'dna-copy').vocabSize).toBe(6);
  });
});

describe('the time-series track', () => {
  it('quantises into equal bins whose centres round-trip', () => {
    expect(quantize(-10, 64, 4)).toBe(0);
    expect(quantize(10, 64, 4)).toBe(63);
    for (let bin = 0; bin < 64; bin++) expect(quantize(binCentre(bin, 64, 4), 64, 4)).toBe(bin);
    expect(Math.abs(binCentre(quantize(0.3, 64, 4), 64, 4) - 0.3)).toBeLessThanOrEqual(4 / 64);
  });

  it('fits the linear AR baseline by least squares: an exact AR(2) series is forecast exactly', () => {
    // A slowly decaying oscillation: x_t = 2 r cos(w) x_{t-1} - r^2 x_{t-2}, r = 0.999, w = 0.3.
    const x = [0.5, 0.45];
    for (let t = 2; t < 200; t++) x.push(2 * 0.999 * Math.cos(0.3) * x[t - 1]! - 0.999 ** 2 * x[t - 2]!);
    const rows = Array.from({ length: 190 }, (_, i) => ({ input: x.slice(i, i + 8), target: x[i + 8]! }));
    const forecast = fitLinearForecast(rows, 3);
    const worst = Math.max(...rows.map((r) => Math.abs(forecast(r.input) - r.target)));
    expect(worst).toBeLessThan(1e-3);
    // The last value alone is a much worse forecast of this series.
    expect(Math.max(...rows.map((r) => Math.abs(r.input.at(-1)! - r.target)))).toBeGreaterThan(0.1);
  });
});
