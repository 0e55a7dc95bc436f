import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Tensor } from '@titans/tensor';
import { architectureRevision, architectureRevisionChanges, createModel, type ArchitectureName } from '../src/index.ts';
import {
  ARCHITECTURE_KEY, CheckpointError, CheckpointRevisionError, REVISION_KEY, decodeSafetensors, encodeModel, encodeSafetensors, loadCheckpoint, loadModelBytes,
  readSafetensors, saveCheckpoint, writeSafetensors,
} from '../src/checkpoint/index.ts';
import { testConfig } from './helpers.ts';
import { Bigram } from './train-fixtures.ts';

const root = await mkdtemp(join(tmpdir(), 'titans-revision-'));
afterAll(() => rm(root, { recursive: true, force: true }));
let dirs = 0;
const freshDir = (): string => join(root, `c${dirs++}`);

const values = (model: { namedParameters(): [string, Tensor][] }): Record<string, number[]> =>
  Object.fromEntries(model.namedParameters().map(([name, p]) => [name, Array.from(p.dataSync())]));

/** A saved checkpoint of `architecture` (seed 1) and a fresh model of it (seed 2) to load into. */
async function saved(architecture: ArchitectureName): Promise<{ dir: string; source: ReturnType<typeof createModel>; target: ReturnType<typeof createModel> }> {
  const dir = freshDir();
  const source = createModel(testConfig(architecture, { seed: 1 }));
  await saveCheckpoint(dir, { model: source, config: source.config });
  return { dir, source, target: createModel(testConfig(architecture, { seed: 2 })) };
}

/** Rewrites the checkpoint's model.safetensors with its metadata changed (undefined deletes a key). */
async function restamp(dir: string, changes: Record<string, string | undefined>): Promise<void> {
  const file = join(dir, 'model.safetensors');
  const { tensors, metadata } = await readSafetensors(file);
  const next: Record<string, string> = { ...metadata };
  for (const [key, value] of Object.entries(changes)) {
    if (value === undefined) delete next[key];
    else next[key] = value;
  }
  await writeSafetensors(file, tensors, next);
}

async function revisionError(promise: Promise<unknown>): Promise<CheckpointRevisionError> {
  const error = await promise.then(() => null, (e: unknown) => e);
  expect(error).toBeInstanceOf(CheckpointRevisionError);
  return error as CheckpointRevisionError;
}

describe('checkpoint architecture revisions', () => {
  it('records the architecture and its revision, and a round trip loads', async () => {
    for (const architecture of ['mac', 'lmm'] as const) {
      const { dir, source, target } = await saved(architecture);
      const { metadata } = await readSafetensors(join(dir, 'model.safetensors'));
      expect(metadata[ARCHITECTURE_KEY]).toBe(architecture);
      expect(metadata[REVISION_KEY]).toBe(String(architectureRevision(architecture)));
      await loadCheckpoint(dir, { model: target });
      expect(values(target)).toEqual(values(source));
    }
    expect(architectureRevision('mac')).toBe(2);
  });

  it('refuses another revision, naming the architecture, both revisions and what changed, and leaves the model as it was', async () => {
    const { dir, target } = await saved('mac');
    await restamp(dir, { [REVISION_KEY]: '1' });
    const before = values(target);
    const error = await revisionError(loadCheckpoint(dir, { model: target }));
    expect(error.architecture).toBe('mac');
    expect(error.savedRevision).toBe(1);
    expect(error.currentRevision).toBe(2);
    expect(error.message).toContain('mac revision 1');
    expect(error.message).toContain('mac revision 2');
    expect(error.message).toContain(architectureRevisionChanges('mac', 1, 2)[0]!);
    expect(error.message).toContain("the gate's sigmoid is on y");
    expect(error.message).toContain('allowRevisionMismatch');
    expect(error.message).toContain(join(dir, 'model.safetensors'));
    expect(values(target)).toEqual(before);
    // A newer revision than this version knows is refused too.
    await restamp(dir, { [REVISION_KEY]: '3' });
    const newer = await revisionError(loadCheckpoint(dir, { model: target }));
    expect(newer.savedRevision).toBe(3);
    expect(newer.message).toContain('revision 3: (not a revision this version knows)');
  });

  it('loads another revision with allowRevisionMismatch', async () => {
    const { dir, source, target } = await saved('mac');
    await restamp(dir, { [REVISION_KEY]: '1' });
    await loadCheckpoint(dir, { model: target, allowRevisionMismatch: true });
    expect(values(target)).toEqual(values(source));
  });

  it('counts a checkpoint without the field as revision 1: old MAC and Hope checkpoints are refused, others load', async () => {
    for (const architecture of ['mac', 'hope', 'mag'] as const) {
      const { dir, source, target } = await saved(architecture);
      await restamp(dir, { [REVISION_KEY]: undefined, [ARCHITECTURE_KEY]: undefined });
      if (architectureRevision(architecture) === 1) {
        await loadCheckpoint(dir, { model: target });
        expect(values(target), architecture).toEqual(values(source));
      } else {
        const error = await revisionError(loadCheckpoint(dir, { model: target }));
        expect(error.savedRevision, architecture).toBe(1);
        expect(error.currentRevision, architecture).toBe(architectureRevision(architecture));
        expect(error.message).toContain(architectureRevisionChanges(architecture, 1, 2)[0]!);
      }
    }
  });

  it('assumeRevision stands in for a missing revision only', async () => {
    const { dir, source, target } = await saved('mac');
    await restamp(dir, { [REVISION_KEY]: undefined });
    await loadCheckpoint(dir, { model: target, assumeRevision: 2 });
    expect(values(target)).toEqual(values(source));
    expect((await revisionError(loadCheckpoint(dir, { model: target, assumeRevision: 1 }))).savedRevision).toBe(1);
    await restamp(dir, { [REVISION_KEY]: '1' });
    expect((await revisionError(loadCheckpoint(dir, { model: target, assumeRevision: 2 }))).savedRevision).toBe(1);
  });

  it('refuses weights recorded as another architecture and an invalid revision', async () => {
    const { dir, target } = await saved('mac');
    await restamp(dir, { [ARCHITECTURE_KEY]: 'mag' });
    const error = await loadCheckpoint(dir, { model: target }).then(() => null, (e: unknown) => e);
    expect(error).toBeInstanceOf(CheckpointError);
    expect((error as Error).message).toContain('saved from a mag model, not mac');
    await restamp(dir, { [ARCHITECTURE_KEY]: 'mac', [REVISION_KEY]: '2.5' });
    const invalid = await loadCheckpoint(dir, { model: target }).then(() => null, (e: unknown) => e);
    expect(invalid).toBeInstanceOf(CheckpointError);
    expect((invalid as Error).message).toContain('invalid titans.architectureRevision "2.5"');
  });

  it('records the config architecture when the model has none, and checks nothing for such a model', async () => {
    const dir = freshDir();
    const model = new Bigram({ vocabSize: 8, dim: 4, seed: 1 });
    await saveCheckpoint(dir, { model, config: { architecture: 'hope' } });
    const { metadata } = await readSafetensors(join(dir, 'model.safetensors'));
    expect(metadata[REVISION_KEY]).toBe('2');
    await restamp(dir, { [REVISION_KEY]: '1' });
    await loadCheckpoint(dir, { model }); // a Bigram computes no architecture: nothing to compare
  });

  it('loadModelBytes records and checks the same way', async () => {
    const source = createModel(testConfig('mac', { seed: 1 }));
    const bytes = await encodeModel(source);
    const target = createModel(testConfig('mac', { seed: 2 }));
    expect(loadModelBytes(target, bytes)[REVISION_KEY]).toBe('2');
    expect(values(target)).toEqual(values(source));
    const { tensors } = decodeSafetensors(bytes);
    const old = encodeSafetensors(tensors, { format: 'pt' });
    const fresh = createModel(testConfig('mac', { seed: 2 }));
    const before = values(fresh);
    expect(() => loadModelBytes(fresh, old, 'old.safetensors')).toThrow(CheckpointRevisionError);
    expect(() => loadModelBytes(fresh, old, 'old.safetensors')).toThrow(/old\.safetensors: was saved by mac revision 1, but this version computes mac revision 2/);
    expect(values(fresh)).toEqual(before);
    loadModelBytes(fresh, old, 'old.safetensors', { allowRevisionMismatch: true });
    expect(values(fresh)).toEqual(values(source));
  });
});
