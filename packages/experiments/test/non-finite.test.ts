// A model that diverges (NaN outputs) on some passkey prompts: the grid counts those prompts
// as wrong and in `nonFinite`, and the report says so beside the accuracy, so a reader can
// tell divergence from wrong answers.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ByteTokenizer } from '@titans/data';
import { evaluatePasskey, isNonFiniteOutputError } from '@titans/eval';
import { NonFiniteOutputError, asGenerativeModel, createModel } from '@titans/models';
import { tensor } from '@titans/tensor';
import { describe, expect, it } from 'vitest';
import {
  PLANS, buildTables, collectResults, experimentHash, planExperiments, resultPath, withBudget, writeJsonAtomically, type PasskeyExperimentResult, type ReproducePlan,
} from '../src/index.ts';

const byte = new ByteTokenizer();

describe('non-finite outputs', () => {
  it("@titans/models' NonFiniteOutputError is what the eval grids recognise", () => {
    expect(isNonFiniteOutputError(new NonFiniteOutputError('x'))).toBe(true);
    expect(isNonFiniteOutputError(new Error('x'))).toBe(false);
  });

  it('a real model with a NaN weight scores 0% with every prompt non-finite instead of aborting the grid', async () => {
    const model = createModel({ architecture: 'transformer', vocabSize: 259, dim: 16, layers: 1, heads: 2, mlpHidden: 16, seed: 0 });
    model.eval();
    const weight = model.head ?? model.embedding;
    const values = Float32Array.from(weight.weight.dataSync());
    values[0] = Number.NaN;
    weight.weight.assign(tensor(values, weight.weight.shape));
    const result = await evaluatePasskey({ model: asGenerativeModel(model, { compile: false }), tokenizer: byte, lengths: [400], depths: 1, samplesPerCell: 2, seed: 0, maxNewTokens: 2 });
    expect(result.overall.accuracy).toBe(0);
    expect(result.nonFinite).toBe(2);
    expect(result.byLength[0]!.nonFinite).toBe(2);
    expect(result.records.every((r) => r.nonFinite && r.output === '')).toBe(true);
  });

  it('the passkey table and the seed rows show "(n of N non-finite)" beside the accuracy, and nothing for results without the count', () => {
    const plan: ReproducePlan = withBudget(PLANS.scale, { steps: 1, batchSize: 1, samples: 1, seeds: [0, 1], models: ['hope', 'swa'] });
    const T = plan.passkey.trainLength;
    const lengths = plan.passkey.multiples.map((m) => m * T);
    const depths = [0, 1];
    const out = mkdtempSync(join(tmpdir(), 'titans-non-finite-'));
    for (const e of planExperiments(plan).filter((x) => x.kind === 'passkey')) {
      // Hope diverges past 1x on held-out filler (every prompt) and at 4x on seen filler (one of two depths); the scale plan runs Hope on seed 0 only;
      // SWA's results are in the format written before the count existed (no nonFinite anywhere).
      const diverges = (length: number, heldOut: boolean): number => (e.model !== 'hope' ? 0 : heldOut ? (length > T ? 2 : 0) : length === 4 * T ? 1 : 0);
      const filler = (heldOut: boolean) => {
        const cells = lengths.flatMap((length) => depths.map((depth, d) => {
          const nonFinite = diverges(length, heldOut) > d ? 1 : 0;
          const correct = length === T ? 1 : 0;
          return { length, depth, correct, total: 1, accuracy: correct, ci95: [0, 1], ...(e.model === 'hope' ? { nonFinite } : {}) };
        }));
        const byLength = lengths.map((length) => ({ length, accuracy: length === T ? 1 : 0, ...(e.model === 'hope' ? { nonFinite: diverges(length, heldOut) } : {}) }));
        return { cells, byLength, records: [] };
      };
      const result = { model: e.model, trainLength: T, lengths, depths, ...filler(false), heldOut: filler(true) };
      writeJsonAtomically(resultPath(out, e.id), { id: e.id, plan: plan.name, specHash: experimentHash(plan, e), seconds: 1, result });
    }
    const results = collectResults(plan, out);
    expect((results.passkey.hope as PasskeyExperimentResult).heldOut?.byLength[1]?.nonFinite).toBe(2);
    const tables = buildTables(plan, results);
    const row = (m: string): (string | number | null)[] => tables.passkey.rows.find((r) => r[0] === m || String(r[0]).toLowerCase() === m)! as (string | number | null)[];
    const hope = row('hope');
    const swa = row('swa');
    // Columns after model, parameters, steps, loss: per length, seen then held-out filler.
    expect(hope.slice(4)).toEqual(['100.0', '100.0', '0.0', '0.0 (2 of 2 non-finite)', '0.0 (1 of 2 non-finite)', '0.0 (2 of 2 non-finite)', ...lengths.slice(3).flatMap(() => ['0.0', '0.0 (2 of 2 non-finite)'])]);
    expect(swa.slice(4).every((c) => !String(c).includes('non-finite'))).toBe(true);
    const seedRow = (model: string, label: string): string => String(tables.seeds.rows.find((r) => String(r[0]).toLowerCase().includes(model) && r[1] === label)![2]);
    expect(seedRow('hope', 'passkey 4x')).toBe('0.0 (1 of 2 non-finite)');
    expect(seedRow('hope', 'passkey 2x, held-out filler')).toBe('0.0 (2 of 2 non-finite)');
    expect(seedRow('hope', 'passkey 1x, held-out filler')).toBe('100.0');
    expect(seedRow('swa', 'passkey 2x, held-out filler')).toBe('0.0 ± 0.0 (2)');
  });
});
