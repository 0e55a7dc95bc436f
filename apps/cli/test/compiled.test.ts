// Compiled steps by default, --eager to opt out: train (including the passkey answer
// weighting, whose targets travel inside the targets tensor), generate (the compiled decode
// step of a model without attention), and demo/reproduce passing the option through.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { scratchDirectory } from './helpers.js';
import { titansInProcess } from './in-process.js';

const scratch = scratchDirectory('compiled');
const run = (args: string[]) => titansInProcess(args, scratch);

// An LMM (no attention: generate compiles its decode step) small enough for seconds.
const LMM = ['--preset', 'tiny-lmm', '--set', 'model.dim=16', '--set', 'model.layers=1', '--set', 'model.memory.chunkSize=4',
  '--set', 'data.sequenceLength=32', '--set', 'data.batchSize=2', '--set', 'train.checkpointEvery=0', '--set', 'train.evalEvery=0'];

interface TrainSummary { step: number; loss: number; compiled: { traces: number; replays: number } | null }
interface GenerateSummary { tokens: number[]; decode: { compiledSteps: number; eagerSteps: number; eagerReason: string | null; replays: number } }

describe('compiled steps in the CLI', () => {
  it('titans train compiles its step by default and --eager runs it op by op', async () => {
    const compiled = await run(['train', ...LMM, '--steps', '4', '--out', 'lmm', '--json']);
    expect(compiled.stderr).not.toContain('Error');
    expect(compiled.code).toBe(0);
    const c = JSON.parse(compiled.stdout) as TrainSummary;
    expect(c.compiled).not.toBeNull();
    expect(c.compiled!.replays).toBeGreaterThan(0);
    const eager = await run(['train', ...LMM, '--steps', '4', '--out', 'lmm-eager', '--json', '--eager']);
    expect(eager.code).toBe(0);
    const e = JSON.parse(eager.stdout) as TrainSummary;
    expect(e.compiled).toBeNull();
    expect(Math.abs(c.loss - e.loss)).toBeLessThan(1e-3 * Math.abs(e.loss));
  }, 240_000);

  it('passkey answer weighting trains the same compiled and eager', async () => {
    const args = ['--preset', 'tiny-mag', '--data', 'passkey', '--set', 'model.dim=16', '--set', 'model.layers=1', '--set', 'data.sequenceLength=256',
      '--set', 'data.batchSize=2', '--set', 'train.checkpointEvery=0', '--set', 'train.evalEvery=0', '--steps', '3', '--json'];
    const compiled = await run(['train', ...args, '--out', 'pk']);
    expect(compiled.stderr).not.toContain('Error');
    expect(compiled.code).toBe(0);
    const eager = await run(['train', ...args, '--out', 'pk-eager', '--eager']);
    expect(eager.code).toBe(0);
    const c = JSON.parse(compiled.stdout) as TrainSummary;
    const e = JSON.parse(eager.stdout) as TrainSummary;
    expect(c.compiled!.replays).toBeGreaterThan(0);
    expect(e.compiled).toBeNull();
    expect(Math.abs(c.loss - e.loss)).toBeLessThan(1e-3 * Math.abs(e.loss));
  }, 240_000);

  it('titans generate decodes with the compiled step by default; --eager gives the same tokens op by op', async () => {
    const common = ['generate', join(scratch, 'lmm'), '--prompt', 'The state of', '--max-tokens', '16', '--temperature', '1', '--seed', '5', '--json'];
    const compiled = await run(common);
    expect(compiled.code).toBe(0);
    const eager = await run([...common, '--eager']);
    expect(eager.code).toBe(0);
    const c = JSON.parse(compiled.stdout) as GenerateSummary;
    const e = JSON.parse(eager.stdout) as GenerateSummary;
    expect(c.tokens).toEqual(e.tokens);
    expect(c.decode).toMatchObject({ compiledSteps: 15, eagerSteps: 0, eagerReason: null });
    expect(c.decode.replays).toBeGreaterThan(0);
    expect(e.decode).toMatchObject({ compiledSteps: 0, eagerSteps: 15 });
  }, 240_000);
});
