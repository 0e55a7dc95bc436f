// What a checkpoint directory must never do, whatever is in it: write outside itself, be
// changed by a reader, be written by two processes at once, pass off files of different
// saves as one checkpoint, read a device or a directory as weights, load non-finite weights,
// or lose the last good checkpoint when training diverges or the disk fills.
import { spawn } from 'node:child_process';
import { cp, lstat, mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { optim, type Tensor } from '@titans/tensor';
import {
  CheckpointError, CheckpointLockedError, LOCK_FILE, MixedCheckpointError, encodeSafetensors, hasCheckpoint, inspectCheckpoint, loadCheckpoint,
  lockCheckpoint, nodeFileSystem, readCheckpointConfig, recoverCheckpoint, saveCheckpoint, type CheckpointFileSystem,
} from '../src/checkpoint/index.ts';
import { CheckpointSaveError, TrainingDivergedError, train } from '../src/train/index.ts';
import { Bigram, TokenStream } from './train-fixtures.ts';

const root = await mkdtemp(join(tmpdir(), 'titans-safety-'));
afterAll(() => rm(root, { recursive: true, force: true }));
let dirs = 0;
const freshDir = (): string => join(root, `d${dirs++}`);

const values = (model: { namedParameters(): [string, Tensor][] }): number[] => model.namedParameters().flatMap(([, p]) => Array.from(p.dataSync()));

/** Every path under `dir` with its kind, size and bytes: what "nothing changed" compares. */
async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    const file = join(entry.parentPath, entry.name);
    const info = await lstat(file);
    out[file] = info.isFile() ? `file ${(await readFile(file)).toString('base64')}` : info.isSymbolicLink() ? 'link' : 'dir';
  }
  return out;
}

async function savedCheckpoint(dir: string, seed = 1, step = 1, runId = 'run-a'): Promise<Bigram> {
  const model = new Bigram({ vocabSize: 16, dim: 8, seed });
  const opt = new optim.AdamW(model.parameters(), { lr: 0.01 });
  await saveCheckpoint(dir, { model, optimizer: opt, config: { seed }, trainer: { step }, runId });
  opt.dispose();
  return model;
}

async function refusal(promise: Promise<unknown>): Promise<Error> {
  const error = await promise.then(() => null, (e: unknown) => e);
  expect(error).toBeInstanceOf(Error);
  return error as Error;
}

describe('a journal (commit.json) may only name the checkpoint\'s own files', () => {
  const escapes: [string, (dir: string, victim: string) => Promise<[string, string][]>][] = [
    ['a path with ..', async (_dir, victim) => [['.model.safetensors.tmp-e', `../${victim.split('/').slice(-2).join('/')}`]]],
    ['an absolute path', async (_dir, victim) => [['.model.safetensors.tmp-e', victim]]],
    ['a temporary outside the directory', async () => [['../outside.tmp-e', 'model.safetensors']]],
    ['a directory linked outside', async (dir, victim) => {
      await symlink(join(victim, '..'), join(dir, 'linked'));
      return [['.model.safetensors.tmp-e', 'linked/f']];
    }],
    ['config.json renamed over model.safetensors', async () => [['config.json', 'model.safetensors']]],
    ['another file\'s temporary', async () => [['.config.json.tmp-e', 'model.safetensors']]],
    ['the journal itself', async () => [['.commit.json.tmp-e', 'commit.json']]],
  ];
  for (const [name, journal] of escapes) {
    it(`refuses ${name}: loading, inspecting and recovering write nothing anywhere`, async () => {
      const dir = freshDir();
      await savedCheckpoint(dir);
      const outside = freshDir();
      await mkdir(outside);
      const victim = join(outside, 'f');
      await writeFile(victim, 'victim');
      for (const temp of ['.model.safetensors.tmp-e', '.config.json.tmp-e', '.commit.json.tmp-e']) await writeFile(join(dir, temp), 'x');
      await writeFile(join(dir, 'commit.json'), JSON.stringify({ renames: await journal(dir, victim) }));
      const before = { ...(await snapshot(dir)), ...(await snapshot(outside)) };
      const model = new Bigram({ vocabSize: 16, dim: 8, seed: 9 });
      for (const attempt of [
        () => loadCheckpoint(dir, { model }), () => inspectCheckpoint(dir), () => readCheckpointConfig(dir), () => hasCheckpoint(dir), () => recoverCheckpoint(dir),
        () => saveCheckpoint(dir, { model }),
      ]) {
        const error = await refusal(attempt());
        expect(error).toBeInstanceOf(CheckpointError);
        expect(error.message).toMatch(/refusing the save journal/);
      }
      expect({ ...(await snapshot(dir)), ...(await snapshot(outside)) }).toEqual(before);
      expect(await readFile(victim, 'utf8')).toBe('victim');
    });
  }

  it('readers see a committed but unfinished save without finishing it; the next writer does', async () => {
    const dir = freshDir();
    await savedCheckpoint(dir, 1, 1, 'old');
    const staged = freshDir();
    const newer = await savedCheckpoint(staged, 2, 2, 'new');
    // The state a crash right after the commit point leaves: temporaries and the journal.
    const names = ['model.safetensors', 'optimizer.safetensors', 'config.json', 'trainer.json'];
    for (const name of names) await cp(join(staged, name), join(dir, `.${name}.tmp-abc`));
    await writeFile(join(dir, 'commit.json'), JSON.stringify({ renames: names.map((n) => [`.${n}.tmp-abc`, n]) }));
    const before = await snapshot(dir);
    const model = new Bigram({ vocabSize: 16, dim: 8, seed: 9 });
    const loaded = await loadCheckpoint(dir, { model, optimizer: new optim.AdamW(model.parameters(), { lr: 0.01 }) });
    expect(loaded.mark).toEqual({ step: 2, run: 'new' });
    expect(values(model)).toEqual(values(newer));
    expect((await inspectCheckpoint(dir)).mark).toEqual({ step: 2, run: 'new' });
    expect(await readCheckpointConfig(dir)).toEqual({ seed: 2 });
    expect(await snapshot(dir)).toEqual(before);
    await recoverCheckpoint(dir);
    expect((await readdir(dir)).sort()).toEqual(['config.json', 'model.safetensors', 'optimizer.safetensors', 'trainer.json']);
  });
});

describe('one writer at a time', () => {
  it('refuses a second writer while another process holds the lock, naming it', async () => {
    const dir = freshDir();
    await mkdir(dir);
    const holder = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', '-e', `
      const { lockCheckpoint } = await import(${JSON.stringify(new URL('../src/checkpoint/index.ts', import.meta.url).href)});
      await lockCheckpoint(${JSON.stringify(dir)});
      process.stdout.write('locked\\n');
      setTimeout(() => undefined, 60000);`], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      await new Promise<void>((resolve, reject) => {
        holder.stdout.on('data', () => resolve());
        holder.on('exit', () => reject(new Error('lock holder exited')));
      });
      const error = await refusal(saveCheckpoint(dir, { model: new Bigram() }));
      expect(error).toBeInstanceOf(CheckpointLockedError);
      expect(error.message).toContain(`is being written by process ${holder.pid} on ${hostname()}`);
      await expect(train({ model: new Bigram(), steps: 1, batches: new TokenStream(1, 4), checkpointDir: dir })).rejects.toBeInstanceOf(CheckpointLockedError);
      expect(await readdir(dir)).toEqual([LOCK_FILE]);
    } finally {
      holder.kill('SIGKILL');
    }
    await new Promise((resolve) => holder.on('exit', resolve));
    // The holder died without releasing: its lock is stale on this host and is taken over.
    await saveCheckpoint(dir, { model: new Bigram() });
    expect((await readdir(dir)).sort()).toEqual(['model.safetensors']);
  }, 30_000);

  it.runIf(process.platform === 'linux')('takes over a lock whose pid now belongs to a process started after it (pid reuse)', async () => {
    const dir = freshDir();
    await mkdir(dir);
    // This process is alive, but it started long after this lock was taken: not the holder.
    await writeFile(join(dir, LOCK_FILE), JSON.stringify({ pid: process.pid, host: hostname(), startedAt: '2001-01-01T00:00:00.000Z' }));
    await saveCheckpoint(dir, { model: new Bigram() });
    expect((await readdir(dir)).sort()).toEqual(['model.safetensors']);
    // A lock taken after this process started is live: refused.
    await writeFile(join(dir, LOCK_FILE), JSON.stringify({ pid: process.pid, host: hostname(), startedAt: new Date().toISOString() }));
    expect(await refusal(saveCheckpoint(dir, { model: new Bigram() }))).toBeInstanceOf(CheckpointLockedError);
  });

  it('is re-entrant within a process and released when the last hold ends', async () => {
    const dir = freshDir();
    const outer = await lockCheckpoint(dir);
    await saveCheckpoint(dir, { model: new Bigram() });
    expect(await readdir(dir)).toContain(LOCK_FILE);
    const lock = JSON.parse(await readFile(join(dir, LOCK_FILE), 'utf8')) as { pid: number; host: string; startedAt: string };
    expect(lock).toMatchObject({ pid: process.pid, host: hostname() });
    expect(Number.isNaN(Date.parse(lock.startedAt))).toBe(false);
    await outer.release();
    expect(await readdir(dir)).toEqual(['model.safetensors']);
  });
});

describe('every file carries its save\'s step and run id', () => {
  it('refuses a checkpoint mixing files of two steps, naming the files that disagree', async () => {
    const one = freshDir();
    const two = freshDir();
    await savedCheckpoint(one, 1, 1, 'run-a');
    await savedCheckpoint(two, 1, 2, 'run-a');
    await cp(join(two, 'trainer.json'), join(one, 'trainer.json'));
    const model = new Bigram({ vocabSize: 16, dim: 8, seed: 9 });
    const before = values(model);
    for (const read of [() => loadCheckpoint(one, { model, optimizer: new optim.AdamW(model.parameters(), { lr: 0.01 }) }), () => inspectCheckpoint(one)]) {
      const error = await refusal(read());
      expect(error).toBeInstanceOf(MixedCheckpointError);
      expect(error.message).toMatch(/mixed checkpoint: model\.safetensors is step 1 of run run-a, optimizer\.safetensors is step 1 of run run-a, config\.json is step 1 of run run-a, trainer\.json is step 2 of run run-a/);
    }
    expect(values(model)).toEqual(before);
  });

  it('refuses files of two runs at the same step, and an unmarked file beside marked ones', async () => {
    const a = freshDir();
    const b = freshDir();
    await savedCheckpoint(a, 1, 3, 'run-a');
    await savedCheckpoint(b, 1, 3, 'run-b');
    await cp(join(b, 'optimizer.safetensors'), join(a, 'optimizer.safetensors'));
    expect((await refusal(inspectCheckpoint(a))).message).toMatch(/optimizer\.safetensors is step 3 of run run-b/);
    await writeFile(join(b, 'trainer.json'), JSON.stringify({ step: 3 }));
    expect((await refusal(inspectCheckpoint(b))).message).toMatch(/trainer\.json carries no step/);
  });

  it('loads checkpoints written before marks existed', async () => {
    const dir = freshDir();
    await mkdir(dir);
    const source = new Bigram({ vocabSize: 16, dim: 8, seed: 4 });
    const host = Object.fromEntries(source.namedParameters().map(([n, p]) => [n, { dtype: p.dtype, shape: [...p.shape], data: p.dataSync() }]));
    await writeFile(join(dir, 'model.safetensors'), encodeSafetensors(host, { format: 'pt' }));
    await writeFile(join(dir, 'config.json'), JSON.stringify({ seed: 4 }));
    const model = new Bigram({ vocabSize: 16, dim: 8, seed: 9 });
    expect((await loadCheckpoint(dir, { model })).mark).toBeNull();
    expect(values(model)).toEqual(values(source));
  });
});

describe('bounded, regular-file reads', () => {
  it('refuses a device or a directory in place of the weights without reading it', async () => {
    for (const [name, place] of [['/dev/zero', (file: string) => symlink('/dev/zero', file)], ['a directory', (file: string) => mkdir(file)]] as const) {
      const dir = freshDir();
      await savedCheckpoint(dir);
      await rm(join(dir, 'model.safetensors'));
      await place(join(dir, 'model.safetensors'));
      const model = new Bigram();
      const expected = name === 'a directory' ? /is a directory, not a file/ : /is not a regular file/;
      expect((await refusal(loadCheckpoint(dir, { model }))).message).toMatch(expected);
      expect((await refusal(inspectCheckpoint(dir))).message).toMatch(expected);
    }
  });

  it('refuses non-finite weights naming the tensor (unless allowed)', async () => {
    const dir = freshDir();
    const source = await savedCheckpoint(dir);
    source.head.bias!.assign(source.head.bias!.mul(Number.NaN));
    const opt = new optim.AdamW(source.parameters(), { lr: 0.01 });
    await saveCheckpoint(dir, { model: source, optimizer: opt, config: { seed: 1 }, trainer: { step: 2 }, runId: 'r' });
    const model = new Bigram();
    const error = await refusal(loadCheckpoint(dir, { model }));
    expect(error.message).toMatch(/tensor 'head\.bias': holds a non-finite value \(NaN at element 0\)/);
    await loadCheckpoint(dir, { model, allowNonFinite: true });
    expect(values(model).some(Number.isNaN)).toBe(true);
  });
});

describe('training keeps the last good checkpoint', () => {
  it('a diverging run stops naming the step and the checkpoint on disk, which stays finite', async () => {
    const dir = freshDir();
    const model = new Bigram();
    // Steps 0-2 are fine; from loss call 3 on every loss is NaN.
    for (let i = 3; i < 100; i++) model.poison.add(i);
    const error = await refusal(train({ model, steps: 30, batches: new TokenStream(2, 4), checkpointDir: dir, checkpointEvery: 1, maxSkippedSteps: 2, optimizer: { lr: 0.01 } }));
    expect(error).toBeInstanceOf(TrainingDivergedError);
    expect(error.message).toBe(`train: loss became non-finite at step 4 and stayed so for 3 steps (loss is NaN); the run has diverged: the last good checkpoint is step 3 in ${dir}`);
    expect((error as TrainingDivergedError).lastCheckpointStep).toBe(3);
    const loaded = await loadCheckpoint(dir, { model: new Bigram() });
    expect(loaded.mark?.step).toBe(3);
    expect(await readdir(dir)).not.toContain(LOCK_FILE);
  });

  it('a full disk (ENOSPC) during a save stops training cleanly; the previous checkpoint is intact', async () => {
    const dir = freshDir();
    let writes = 0;
    const full: CheckpointFileSystem = {
      ...nodeFileSystem,
      async writeFile(file, bytes) {
        // Two saves of four files and a journal go through; the third save fails half-way.
        if (++writes > 12) throw Object.assign(new Error(`ENOSPC: no space left on device, write '${file}'`), { code: 'ENOSPC' });
        return nodeFileSystem.writeFile(file, bytes);
      },
    };
    const model = new Bigram();
    const error = await refusal(train({ model, steps: 10, batches: new TokenStream(2, 4), checkpointDir: dir, checkpointEvery: 1, fileSystem: full, config: { seed: 0 } }));
    expect(error).toBeInstanceOf(CheckpointSaveError);
    expect(error.message).toMatch(new RegExp(`^train: could not save the checkpoint of step 3 in .* \\(ENOSPC: no space left on device.*\\); the checkpoint there is still step 2$`));
    expect((await readdir(dir)).sort()).toEqual(['config.json', 'model.safetensors', 'optimizer.safetensors', 'trainer.json']);
    const reloaded = new Bigram();
    const opt = new optim.AdamW(reloaded.parameters(), { lr: 0.01 });
    expect((await loadCheckpoint(dir, { model: reloaded, optimizer: opt })).mark?.step).toBe(2);
    expect(opt.steps).toBe(2);
    expect((await stat(join(dir, 'model.safetensors'))).size).toBeGreaterThan(0);
  });
});
