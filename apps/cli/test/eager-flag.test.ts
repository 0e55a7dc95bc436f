// --eager passes through titans demo and titans reproduce down to the training calls (and
// its absence leaves compiled steps on): the training functions are replaced by spies that
// record their options and stop the run.
import { describe, expect, it, vi } from 'vitest';
import { scratchDirectory } from './helpers.js';
import { titansInProcess } from './in-process.js';

const seen = vi.hoisted(() => ({ runTraining: [] as (boolean | undefined)[], train: [] as (boolean | undefined)[] }));

vi.mock('../src/training.js', async (importOriginal) => {
  const original = await importOriginal<typeof import('../src/training.js')>();
  return {
    ...original,
    runTraining: (options: { compile?: boolean }) => {
      seen.runTraining.push(options.compile);
      throw new Error('stopped by the test');
    },
  };
});

vi.mock('@titans/models', async (importOriginal) => {
  const original = await importOriginal<typeof import('@titans/models')>();
  return {
    ...original,
    train: (options: { compile?: boolean }) => {
      seen.train.push(options.compile);
      throw new Error('stopped by the test');
    },
  };
});

describe('--eager pass-through', () => {
  it('titans demo trains compiled by default and eagerly with --eager', async () => {
    await titansInProcess(['demo', '--quick', '--out', 'demo-compiled'], scratchDirectory('demo-flag'));
    await titansInProcess(['demo', '--quick', '--eager', '--out', 'demo-eager'], scratchDirectory('demo-flag'));
    expect(seen.runTraining).toEqual([true, false]);
  }, 120_000);

  it('titans reproduce trains compiled by default and eagerly with --eager', async () => {
    const dir = scratchDirectory('reproduce-flag');
    await titansInProcess(['reproduce', '--smoke', '--only', 'lmm', '--out', 'compiled'], dir);
    const compiledCalls = seen.train.length;
    expect(compiledCalls).toBeGreaterThan(0);
    expect(seen.train.every((c) => c === true)).toBe(true);
    await titansInProcess(['reproduce', '--smoke', '--only', 'lmm', '--out', 'eager', '--eager'], dir);
    expect(seen.train.length).toBeGreaterThan(compiledCalls);
    expect(seen.train.slice(compiledCalls).every((c) => c === false)).toBe(true);
  }, 120_000);
});
