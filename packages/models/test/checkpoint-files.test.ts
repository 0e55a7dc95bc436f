import { spawn } from 'node:child_process';
import { cp, mkdtemp, readdir, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { gradients, optim, tensor, tidy, type Tensor } from '@titans/tensor';
import {
  CheckpointError, hasCheckpoint, loadCheckpoint, nodeFileSystem, readCheckpointConfig, readSafetensors, recoverCheckpoint, saveCheckpoint, writeSafetensors,
  type CheckpointFileSystem,
} from '../src/checkpoint/index.ts';
import { Big } from './checkpoint-crash-child.ts';
import { Bigram, TokenStream, type BigramConfig } from './train-fixtures.ts';

const root = await mkdtemp(join(tmpdir(), 'titans-checkpoint-'));
afterAll(() => rm(root, { recursive: true, force: true }));
let dirs = 0;
const freshDir = (): string => join(root, `c${dirs++}`);

const values = (model: { namedParameters(): [string, Tensor][] }): Record<string, number[]> =>
  Object.fromEntries(model.namedParameters().map(([name, p]) => [name, Array.from(p.dataSync())]));

function lossAndLogits(model: Bigram): { loss: number; logits: number[] } {
  const batch = new TokenStream(2, 6).next();
  return tidy(() => {
    const ids = tensor(batch.inputs, [2, 6], { dtype: 'int32' });
    const targets = tensor(batch.targets, [2, 6], { dtype: 'int32' });
    return { loss: model.loss(ids, targets).item(), logits: Array.from(model.forward(ids).dataSync()) };
  });
}

async function rejection(promise: Promise<unknown>): Promise<CheckpointError> {
  const error = await promise.then(() => null, (e: unknown) => e);
  expect(error).toBeInstanceOf(CheckpointError);
  return error as CheckpointError;
}

describe('checkpoint directories', () => {
  it('saves and loads a model: the same logits and loss, and the config to rebuild it', async () => {
    const dir = freshDir();
    const trained = new Bigram({ vocabSize: 16, dim: 8, seed: 1 });
    await saveCheckpoint(dir, { model: trained, config: trained.config, trainer: { step: 3 } });
    expect((await readdir(dir)).sort()).toEqual(['config.json', 'model.safetensors', 'trainer.json']);

    const config = (await readCheckpointConfig(dir)) as BigramConfig;
    const restored = new Bigram({ ...config, seed: 99 });
    expect(lossAndLogits(restored)).not.toEqual(lossAndLogits(trained));
    const loaded = await loadCheckpoint(dir, { model: restored });
    expect(loaded.trainer).toEqual({ step: 3 });
    expect(lossAndLogits(restored)).toEqual(lossAndLogits(trained));
  });

  it('restores optimizer slots and step, so the next update is identical', async () => {
    const dir = freshDir();
    const stepWith = (model: Bigram, opt: optim.AdamW): void =>
      tidy(() => {
        const batch = new TokenStream(2, 5).next();
        const ids = tensor(batch.inputs, [2, 5], { dtype: 'int32' });
        const targets = tensor(batch.targets, [2, 5], { dtype: 'int32' });
        const loss = model.loss(ids, targets);
        opt.step(gradients(loss, model.parameters()));
      });
    const model = new Bigram();
    const opt = new optim.AdamW(model.parameters(), { lr: 0.01 });
    for (let i = 0; i < 3; i++) stepWith(model, opt);
    await saveCheckpoint(dir, { model, optimizer: opt });

    const other = new Bigram({ vocabSize: 16, dim: 8, seed: 5 });
    const otherOpt = new optim.AdamW(other.parameters(), { lr: 0.01 });
    await loadCheckpoint(dir, { model: other, optimizer: otherOpt });
    expect(otherOpt.steps).toBe(3);
    stepWith(model, opt);
    stepWith(other, otherOpt);
    expect(values(other)).toEqual(values(model));
  });

  it('names the file and tensor when a shape does not fit, and leaves the model untouched', async () => {
    const dir = freshDir();
    await saveCheckpoint(dir, { model: new Bigram({ vocabSize: 16, dim: 8, seed: 1 }) });
    const narrow = new Bigram({ vocabSize: 16, dim: 4, seed: 2 });
    const before = values(narrow);
    const error = await rejection(loadCheckpoint(dir, { model: narrow }));
    expect(error.message).toBe(`${join(dir, 'model.safetensors')}: tensor 'embed.weight': shape [16, 8] does not match the model's [16, 4]`);
    expect(error.tensor).toBe('embed.weight');
    expect(values(narrow)).toEqual(before);
  });

  it('reports missing and unexpected tensors', async () => {
    const dir = freshDir();
    const model = new Bigram();
    await writeSafetensors(join(dir, 'model.safetensors'), { 'embed.weight': { dtype: 'float32', shape: [16, 8], data: new Float32Array(128) } });
    expect((await rejection(loadCheckpoint(dir, { model }))).message).toMatch(/missing 2 tensor\(s\) the model has: 'head.weight', 'head.bias'/);
    const stray = { dtype: 'float32', shape: [1], data: new Float32Array(1) } as const;
    const host = Object.fromEntries(model.namedParameters().map(([n, p]) => [n, { dtype: p.dtype, shape: p.shape, data: p.dataSync() }]));
    await writeSafetensors(join(dir, 'model.safetensors'), { ...host, stray });
    expect((await rejection(loadCheckpoint(dir, { model }))).message).toMatch(/has 1 tensor\(s\) the model does not: 'stray'/);
  });

  it('rejects a truncated model file, naming it, without touching the model', async () => {
    const dir = freshDir();
    await saveCheckpoint(dir, { model: new Bigram({ vocabSize: 16, dim: 8, seed: 1 }) });
    const file = join(dir, 'model.safetensors');
    const size = (await readFile(file)).length;
    await truncate(file, size - 10);
    const model = new Bigram();
    const before = values(model);
    const error = await rejection(loadCheckpoint(dir, { model }));
    expect(error.message).toMatch(new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: tensor '.+': data_offsets .* out of range`));
    expect(values(model)).toEqual(before);
  });

  it('loads nothing when a later file is bad: a corrupt optimizer file leaves the model untouched', async () => {
    const dir = freshDir();
    const source = new Bigram({ vocabSize: 16, dim: 8, seed: 1 });
    const opt = new optim.AdamW(source.parameters(), { lr: 0.01 });
    opt.step(source.parameters().map((p) => tidy(() => p.mul(0.5))));
    await saveCheckpoint(dir, { model: source, optimizer: opt, trainer: { step: 1 } });
    await writeFile(join(dir, 'optimizer.safetensors'), new Uint8Array([255, 255, 255, 255, 0, 0, 0, 0, 1]));
    const model = new Bigram();
    const before = values(model);
    const error = await rejection(loadCheckpoint(dir, { model, optimizer: new optim.AdamW(model.parameters(), { lr: 0.01 }) }));
    expect(error.message).toMatch(/optimizer\.safetensors: oversized header/);
    expect(values(model)).toEqual(before);
  });

  it('rejects a failed validation of trainer.json before assigning anything', async () => {
    const dir = freshDir();
    await saveCheckpoint(dir, { model: new Bigram({ vocabSize: 16, dim: 8, seed: 1 }), trainer: { step: 'x' } });
    const model = new Bigram();
    const before = values(model);
    const validate = (): void => {
      throw new Error('bad trainer.json');
    };
    await expect(loadCheckpoint(dir, { model, validate })).rejects.toThrow('bad trainer.json');
    expect(values(model)).toEqual(before);
  });
});

/**
 * File operations that "crash" at operation number `crashAt`: that write is torn (half its
 * bytes land on disk) and every later operation fails, as if the process had died.
 */
class CrashingFileSystem implements CheckpointFileSystem {
  private operations = 0;
  crashed = false;
  constructor(private readonly crashAt: number) {}

  private async run<T>(fn: () => Promise<T>, torn?: () => Promise<void>): Promise<T> {
    if (this.crashed || this.operations++ === this.crashAt) {
      if (!this.crashed) await torn?.();
      this.crashed = true;
      throw new Error('simulated crash');
    }
    return fn();
  }
  writeFile(file: string, bytes: Uint8Array): Promise<void> {
    return this.run(() => nodeFileSystem.writeFile(file, bytes), () => nodeFileSystem.writeFile(file, bytes.subarray(0, bytes.length >> 1)));
  }
  rename(from: string, to: string): Promise<void> {
    return this.run(() => nodeFileSystem.rename(from, to));
  }
  remove(file: string): Promise<void> {
    return this.run(() => nodeFileSystem.remove(file));
  }
  syncDirectory(dir: string): Promise<void> {
    return this.run(() => nodeFileSystem.syncDirectory(dir));
  }
  readFile(file: string): Promise<Uint8Array | null> {
    return this.run(() => nodeFileSystem.readFile(file));
  }
  list(dir: string): Promise<string[]> {
    return this.run(() => nodeFileSystem.list(dir));
  }
  makeDirectory(dir: string): Promise<void> {
    return this.run(() => nodeFileSystem.makeDirectory(dir));
  }
}

describe('atomic checkpoint writes', () => {
  it('after a crash at any point of a save, the directory loads as the old checkpoint or the new one, never a mix', async () => {
    const original = freshDir();
    const oldModel = new Bigram({ vocabSize: 16, dim: 8, seed: 1 });
    const newModel = new Bigram({ vocabSize: 16, dim: 8, seed: 2 });
    const oldOpt = new optim.SGD(oldModel.parameters(), { lr: 0.1, momentum: 0.9 });
    const newOpt = new optim.SGD(newModel.parameters(), { lr: 0.1, momentum: 0.9 });
    oldOpt.step(oldModel.parameters().map((p) => tidy(() => p.mul(1))));
    newOpt.step(newModel.parameters().map((p) => tidy(() => p.mul(2))));
    newOpt.step(newModel.parameters().map((p) => tidy(() => p.mul(2))));
    await saveCheckpoint(original, { model: oldModel, optimizer: oldOpt, config: { version: 'old' }, trainer: { step: 1 } });

    const outcomes = new Set<string>();
    for (let crashAt = 0; ; crashAt++) {
      const dir = freshDir();
      await cp(original, dir, { recursive: true });
      const fileSystem = new CrashingFileSystem(crashAt);
      await saveCheckpoint(dir, { model: newModel, optimizer: newOpt, config: { version: 'new' }, trainer: { step: 2 }, fileSystem }).catch(() => undefined);

      const model = new Bigram({ vocabSize: 16, dim: 8, seed: 3 });
      const opt = new optim.SGD(model.parameters(), { lr: 0.1, momentum: 0.9 });
      const loaded = await loadCheckpoint(dir, { model, optimizer: opt });
      const outcome = (loaded.trainer as { step: number }).step === 1 ? 'old' : 'new';
      outcomes.add(`${outcome}${fileSystem.crashed ? ' after a crash' : ''}`);
      expect(loaded.config).toEqual({ version: outcome });
      expect(values(model)).toEqual(values(outcome === 'old' ? oldModel : newModel));
      expect(opt.steps).toBe(outcome === 'old' ? 1 : 2);
      // Reading changed nothing; the next writer's recovery leaves no temporaries or journal behind.
      await recoverCheckpoint(dir);
      expect((await readdir(dir)).sort()).toEqual(['config.json', 'model.safetensors', 'optimizer.safetensors', 'trainer.json']);
      const again = new Bigram({ vocabSize: 16, dim: 8, seed: 4 });
      expect((await loadCheckpoint(dir, { model: again })).config).toEqual({ version: outcome });
      if (!fileSystem.crashed) break;
      expect(crashAt).toBeLessThan(100);
    }
    // Crashes before the journal is committed keep the old files; later ones roll forward.
    expect([...outcomes].sort()).toEqual(['new', 'new after a crash', 'old after a crash']);
  });

  it('survives the saving process being killed (SIGKILL) mid-write', async () => {
    const child = fileURLToPath(new URL('./checkpoint-crash-child.ts', import.meta.url));
    for (let run = 0; run < 3; run++) {
      const dir = freshDir();
      const proc = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', child, dir], { stdio: ['ignore', 'pipe', 'inherit'] });
      const exited = new Promise<void>((resolve) => proc.on('exit', () => resolve()));
      let output = '';
      // Wait for the first complete save, then kill at a different moment each run.
      await new Promise<void>((resolve, reject) => {
        proc.stdout.on('data', (chunk: Buffer) => {
          output += chunk.toString();
          if (output.includes('\n')) resolve();
        });
        proc.on('exit', () => reject(new Error(`child exited early: ${output}`)));
      });
      await new Promise((resolve) => setTimeout(resolve, 7 + 23 * run));
      proc.kill('SIGKILL');
      await exited;

      expect(await hasCheckpoint(dir)).toBe(true);
      const model = new Big();
      const loaded = await loadCheckpoint(dir, { model });
      const generation = (loaded.trainer as { generation: number }).generation;
      expect(generation).toBeGreaterThanOrEqual(1);
      expect(loaded.config).toEqual({ generation });
      for (const [, p] of model.namedParameters()) expect(p.dataSync().every((v) => v === generation)).toBe(true);
      expect((await readSafetensors(join(dir, 'model.safetensors'))).metadata.format).toBe('pt');
    }
  }, 60_000);
});
