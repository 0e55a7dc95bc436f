// Resuming training from weights saved at another revision of the model's architecture:
// refused unless train({ allowRevisionMismatch: true }), and the resumed run's next
// checkpoint records the current revision.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { architectureRevision } from '../src/index.ts';
import { ARCHITECTURE_KEY, CheckpointRevisionError, REVISION_KEY, readSafetensors, writeSafetensors } from '../src/checkpoint/index.ts';
import { train, type TrainOptions } from '../src/train/index.ts';
import { Bigram, TokenStream } from './train-fixtures.ts';

const root = await mkdtemp(join(tmpdir(), 'titans-train-revision-'));
afterAll(() => rm(root, { recursive: true, force: true }));

// A bigram that declares itself a MAC (revision 2): what the revision check looks at is the config's architecture.
const config = { vocabSize: 16, dim: 8, seed: 3, architecture: 'mac' as const };
const values = (model: Bigram): number[][] => model.parameters().map((p) => Array.from(p.dataSync()));
const common = (dir: string): Omit<TrainOptions<{ position: number }>, 'model' | 'steps' | 'batches'> => ({
  optimizer: { lr: 0.05 }, schedule: { warmupSteps: 2 }, checkpointDir: dir, compile: false,
});

async function recorded(dir: string): Promise<Record<string, string>> {
  return (await readSafetensors(join(dir, 'model.safetensors'))).metadata;
}

/** Rewrites model.safetensors as if saved at `revision` of its architecture. */
async function restamp(dir: string, revision: string): Promise<void> {
  const file = join(dir, 'model.safetensors');
  const { tensors, metadata } = await readSafetensors(file);
  await writeSafetensors(file, tensors, { ...metadata, [REVISION_KEY]: revision });
}

describe('train: resuming across architecture revisions', () => {
  it('refuses another revision without allowRevisionMismatch, naming the option and leaving the checkpoint as it was', async () => {
    const dir = join(root, 'refused');
    await train({ ...common(dir), model: new Bigram(config), steps: 3, batches: new TokenStream(2, 8) });
    expect(await recorded(dir)).toMatchObject({ [ARCHITECTURE_KEY]: 'mac', [REVISION_KEY]: String(architectureRevision('mac')) });
    await restamp(dir, '1');
    const before = await Promise.all(['model.safetensors', 'optimizer.safetensors', 'trainer.json'].map((f) => readFile(join(dir, f))));
    let ready = false;
    const error = await train({
      ...common(dir), model: new Bigram({ ...config, seed: 9 }), steps: 5, batches: new TokenStream(2, 8), resume: true, onReady: () => { ready = true; },
    }).then(() => null, (e: unknown) => e);
    expect(error).toBeInstanceOf(CheckpointRevisionError);
    expect((error as CheckpointRevisionError).savedRevision).toBe(1);
    expect((error as Error).message).toMatch(/was saved by mac revision 1, but this version computes mac revision 2/);
    expect((error as Error).message).toContain('allowRevisionMismatch: true');
    expect(ready).toBe(false);
    const after = await Promise.all(['model.safetensors', 'optimizer.safetensors', 'trainer.json'].map((f) => readFile(join(dir, f))));
    expect(after).toEqual(before);
    // The refused trainer released its lock: the same resume with the option goes ahead.
    const resumed = await train({ ...common(dir), model: new Bigram({ ...config, seed: 9 }), steps: 5, batches: new TokenStream(2, 8), resume: true, allowRevisionMismatch: true });
    expect(resumed.resumedFrom).toBe(3);
  });

  it('with allowRevisionMismatch resumes exactly, and the next checkpoint records the current revision', async () => {
    const straight = new Bigram(config);
    const expected = await train({ ...common(join(root, 'straight')), model: straight, steps: 6, batches: new TokenStream(2, 8) });

    const dir = join(root, 'accepted');
    const controller = new AbortController();
    const first = await train({
      ...common(dir), model: new Bigram(config), steps: 6, batches: new TokenStream(2, 8), signal: controller.signal,
      log: (e) => e.type === 'step' && e.step === 3 && controller.abort(),
    });
    expect(first).toMatchObject({ interrupted: true, step: 3 });
    await restamp(dir, '1');
    const model = new Bigram({ ...config, seed: 9 });
    const resumed = await train({ ...common(dir), model, steps: 6, batches: new TokenStream(2, 8), resume: true, allowRevisionMismatch: true });
    expect(resumed.resumedFrom).toBe(3);
    expect(resumed.step).toBe(6);
    // The weights were the same ones (only the recorded revision differed): the run continues bit for bit.
    expect(resumed.losses).toStrictEqual(expected.losses);
    expect(values(model)).toStrictEqual(values(straight));
    // Trained on by this version, the checkpoint now records its revision: a later resume needs no option.
    expect((await recorded(dir))[REVISION_KEY]).toBe(String(architectureRevision('mac')));
    const again = await train({ ...common(dir), model: new Bigram({ ...config, seed: 11 }), steps: 7, batches: new TokenStream(2, 8), resume: true });
    expect(again).toMatchObject({ resumedFrom: 6, step: 7 });
  });
});
