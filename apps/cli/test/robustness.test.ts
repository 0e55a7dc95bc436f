// What a hostile or unlucky user tries, command by command: every case must end in exit 0,
// 1 (could not finish: divergence, full disk) or 2 (bad input, one line naming it), never
// an internal error (exit 70 with a stack trace), never run past its time limit, never
// leave a half-written file, and readers never change the checkpoint they read.
// Commands run in this process (no launcher start-up) so the table stays fast.
import { existsSync, readdirSync } from 'node:fs';
import { chmod, cp, mkdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { decodeSafetensors, encodeSafetensors, nodeFileSystem, type CheckpointFileSystem } from '@titans/models';
import { scratchDirectory } from './helpers.js';
import { halfWritten, snapshot, titansInProcess, type InProcessOutcome } from './in-process.js';

const scratch = scratchDirectory('robust');
// A two-block SWA of width 8 on 16-byte rows: a checkpoint in well under a second.
const TINY = ['--preset', 'tiny-swa', '--set', 'model.dim=8', '--set', 'model.heads=2', '--set', 'data.sequenceLength=16', '--set', 'data.batchSize=1'];
const run = (args: readonly string[], options: { checkpointFileSystem?: CheckpointFileSystem } = {}): Promise<InProcessOutcome> => titansInProcess(args, scratch, options);

/** The commands that open a checkpoint, with arguments that keep each one short. */
const READERS: Record<string, (dir: string) => string[]> = {
  info: (dir) => ['info', dir],
  eval: (dir) => ['eval', dir, '--tasks', 'perplexity', '--tokens', '8'],
  generate: (dir) => ['generate', dir, '--prompt', 'hi', '--max-tokens', '2', '--json'],
  niah: (dir) => ['niah', dir, '--lengths', '64', '--depths', '1', '--samples', '1', '--out', join(dir, '..', `${dir.split('/').pop()}-niah`)],
};
const resumeOf = (dir: string): string[] => ['train', '--resume', '--out', dir, '--steps', '3'];

/** A clean outcome: an allowed exit code, no stack trace, a one-line message when refused, in time. */
function expectClean(outcome: InProcessOutcome, codes: readonly number[], message?: RegExp, limitMs = 20_000): void {
  expect(outcome.thrown, `internal error: ${outcome.stderr}`).toBeUndefined();
  expect(codes).toContain(outcome.code);
  expect(outcome.stderr).not.toMatch(/\n\s+at .+\(.+:\d+:\d+\)/);
  expect(outcome.ms).toBeLessThan(limitMs);
  if (message) expect(outcome.stderr).toMatch(message);
}

let base: string;
beforeAll(async () => {
  base = join(scratch, 'base');
  const made = await run(['train', ...TINY, '--steps', '2', '--set', 'train.checkpointEvery=1', '--out', base]);
  expect(made.code, made.stderr).toBe(0);
}, 60_000);

async function copyOf(name: string): Promise<string> {
  const dir = join(scratch, name);
  await rm(dir, { recursive: true, force: true });
  await cp(base, dir, { recursive: true });
  return dir;
}

/** Rewrites model.safetensors through `change` (tensors and metadata), keeping it well-formed. */
async function rewriteWeights(dir: string, change: (tensors: Record<string, { dtype: 'float32' | 'float64' | 'int32'; shape: readonly number[]; data: Float32Array | Float64Array | Int32Array }>, metadata: Record<string, string>) => void): Promise<void> {
  const file = join(dir, 'model.safetensors');
  const { tensors, metadata } = decodeSafetensors(new Uint8Array(await readFile(file)));
  const copy = Object.fromEntries(Object.entries(tensors).map(([n, t]) => [n, { dtype: t.dtype, shape: t.shape, data: t.data }]));
  const meta = { ...metadata };
  change(copy as never, meta);
  await writeFile(file, encodeSafetensors(copy, meta));
}

describe('checkpoints that readers and train --resume must refuse without writing', () => {
  const broken: [string, (dir: string) => Promise<void>, RegExp, { infoPasses?: boolean }?][] = [
    ['a journal renaming a file outside the directory', async (dir) => {
      await mkdir(join(dir, '..', 'victim'), { recursive: true });
      await writeFile(join(dir, '..', 'victim', 'f'), 'victim');
      await writeFile(join(dir, '.x.tmp-e'), 'x');
      await writeFile(join(dir, 'commit.json'), JSON.stringify({ renames: [['.x.tmp-e', '../victim/f']] }));
    }, /refusing the save journal: it names "\.\.\/victim\/f", which is not a file of this checkpoint directory/],
    ['a journal renaming config.json over model.safetensors', async (dir) => {
      await writeFile(join(dir, 'commit.json'), JSON.stringify({ renames: [['config.json', 'model.safetensors']] }));
    }, /refusing the save journal: it would rename "config\.json" to "model\.safetensors"/],
    ['files of two saves (trainer.json of another step)', async (dir) => {
      const trainer = JSON.parse(await readFile(join(dir, 'trainer.json'), 'utf8')) as { __checkpoint__: { step: number } };
      trainer.__checkpoint__.step = 1;
      await writeFile(join(dir, 'trainer.json'), JSON.stringify(trainer));
    }, /mixed checkpoint: model\.safetensors is step 2 of run .*, trainer\.json is step 1 of run/],
    ['NaN weights', (dir) => rewriteWeights(dir, (tensors) => {
      for (const t of Object.values(tensors)) t.data.fill(Number.NaN);
    }), /holds a non-finite value \(NaN at element 0\)/, { infoPasses: true }],
    ['an infinite weight', (dir) => rewriteWeights(dir, (tensors) => {
      Object.values(tensors)[1]!.data[3] = Number.POSITIVE_INFINITY;
    }), /holds a non-finite value \(Infinity at element 3\)/, { infoPasses: true }],
    ['model.safetensors linked to /dev/zero', async (dir) => {
      await rm(join(dir, 'model.safetensors'));
      await symlink('/dev/zero', join(dir, 'model.safetensors'));
    }, /model\.safetensors: is not a regular file/],
    ['a directory in place of model.safetensors', async (dir) => {
      await rm(join(dir, 'model.safetensors'));
      await mkdir(join(dir, 'model.safetensors'));
    }, /model\.safetensors: is a directory, not a file/],
    ['a truncated model.safetensors', async (dir) => {
      const file = join(dir, 'model.safetensors');
      const bytes = await readFile(file);
      await writeFile(file, bytes.subarray(0, bytes.length - 100));
    }, /model\.safetensors: tensor '.+': data_offsets .* out of range/],
    ['a config of a billion blocks', async (dir) => {
      const config = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
      await writeFile(join(dir, 'config.json'), JSON.stringify({ ...config, layers: 1e9 }));
    }, /config\.json: [\d,]+ parameters need about [\d.]+ TiB .* more than the/],
    ['a config of width 1e9', async (dir) => {
      const config = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
      await writeFile(join(dir, 'config.json'), JSON.stringify({ ...config, dim: 1e9, heads: 1, mlpHidden: 8 }));
    }, /config\.json: /],
    ['a config of another width (shapes do not match)', async (dir) => {
      const config = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
      await writeFile(join(dir, 'config.json'), JSON.stringify({ ...config, dim: 16 }));
    }, /model\.safetensors: holds [\d,]+ values but config\.json describes a model of [\d,]+ parameters/],
  ];

  for (const [name, breakIt, message, options] of broken) {
    it(`${name}: info, eval, generate, niah and train --resume refuse it in one line, changing nothing`, async () => {
      const dir = await copyOf(name.replace(/\W+/g, '-'));
      await breakIt(dir);
      const before = await snapshot(join(dir, '..'));
      for (const [reader, args] of Object.entries(READERS)) {
        const outcome = await run(args(dir));
        if (reader === 'info' && options?.infoPasses) {
          // info reads headers, not weights: non-finite values are the loader's to find.
          expectClean(outcome, [0]);
          continue;
        }
        expectClean(outcome, [2], message);
        expect(outcome.stderr.trim().split('\n'), outcome.stderr).toHaveLength(1);
      }
      const resumed = await run(resumeOf(dir));
      expectClean(resumed, [2], message);
      expect(await snapshot(join(dir, '..'))).toEqual(before);
    }, 60_000);
  }
});

describe('checkpoints written before step and run marks', () => {
  const docs = fileURLToPath(new URL('../../docs/public/checkpoints/', import.meta.url));
  for (const name of readdirSync(docs).filter((n) => existsSync(join(docs, n, 'model.safetensors')))) {
    it(`the docs checkpoint ${name} still opens (info, generate), unchanged`, async () => {
      const before = await snapshot(join(docs, name));
      expectClean(await run(['info', join(docs, name)]), [0]);
      const generated = await run(['generate', join(docs, name), '--prompt', 'The', '--max-tokens', '2', '--json']);
      expectClean(generated, [0]);
      expect(await snapshot(join(docs, name))).toEqual(before);
    }, 30_000);
  }
});

describe('a table of bad input: one line, exit 1 or 2, nothing half-written', () => {
  beforeAll(async () => {
    await writeFile(join(scratch, 'a-file'), 'not a directory');
    await symlink('/dev/zero', join(scratch, 'zero.json'));
  });

  const table: [string, string[], number, RegExp][] = [
    ['--out under a regular file', ['train', ...TINY, '--steps', '1', '--out', 'a-file/run'], 2, /--out .*a-file\/run: .*a-file is a file, not a directory/],
    ['--out where nothing can be created', ['train', ...TINY, '--steps', '1', '--out', '/proc/titans-run'], 2, /--out \/proc\/titans-run: cannot create it/],
    ['data prepare --out under a regular file', ['data', 'prepare', 'passkey', '--out', 'a-file/data'], 2, /a-file is a file, not a directory/],
    ['a huge data.sequenceLength', ['train', ...TINY, '--set', 'data.sequenceLength=1000000000', '--out', 'huge-1'], 2, /data\.sequenceLength 1000000000 needs at least .* of activations/],
    ['a huge data.batchSize', ['train', ...TINY, '--set', 'data.batchSize=1000000000', '--out', 'huge-2'], 2, /data\.batchSize 1000000000 x .* needs at least/],
    ['a huge model.memory.chunkSize', ['train', '--preset', 'tiny-mac', '--set', 'model.memory.chunkSize=1000000000', '--out', 'huge-3'], 2, /model\.memory\.chunkSize 1,000,000,000 is more than 65,536 tokens/],
    ['model.layers 1e8', ['train', ...TINY, '--set', 'model.layers=100000000', '--out', 'huge-4'], 2, /[\d,]+ parameters need about .* more than the/],
    ['model.dim 1e9', ['train', ...TINY, '--set', 'model.dim=1000000000', '--set', 'model.heads=1', '--out', 'huge-5'], 2, /invalid config: /],
    ['--set model.__proto__.x', ['train', ...TINY, '--set', 'model.__proto__.polluted=1', '--out', 'p1'], 2, /'__proto__' is not a config key/],
    ['--set model.__proto__', ['train', ...TINY, '--set', 'model.__proto__={"dim":4}', '--out', 'p2'], 2, /'__proto__' is not a config key/],
    ['--set model.memory.constructor', ['train', ...TINY, '--set', 'model.memory.constructor=1', '--out', 'p3'], 2, /'constructor' is not a config key/],
    ['--set model.toString', ['train', ...TINY, '--set', 'model.toString=1', '--out', 'p4'], 2, /unknown config key 'model\.toString'/],
    ['a config file that is /dev/zero', ['train', '--config', 'zero.json', '--out', 'z1'], 2, /cannot read zero\.json: not a regular file/],
    ['a prompt file that is a directory', ['generate', 'base', '--prompt-file', 'base'], 2, /cannot read base: is a directory/],
    ['eval --lengths 1e12', ['eval', 'base', '--tasks', 'passkey', '--lengths', '1000000000000'], 2, /--lengths 1000000000000: at most 1,048,576 tokens per prompt/],
    ['niah --lengths 1e11', ['niah', 'base', '--lengths', '100000000000', '--out', 'n1'], 2, /--lengths 100000000000: at most 1,048,576 tokens/],
    ['eval --tokens 1e12', ['eval', 'base', '--tasks', 'perplexity', '--tokens', '1000000000000'], 2, /--tokens 1000000000000: the sotu test split has \d+ predictions to score/],
    ['generate --max-tokens 1e12', ['generate', 'base', '--prompt', 'x', '--max-tokens', '1000000000000'], 2, /--max-tokens must be at most 1048576/],
    ['reproduce --quick --smoke', ['reproduce', '--quick', '--smoke', '--out', 'r1'], 2, /--smoke and --quick each choose a plan; give one of them/],
    ['reproduce --report-only on an empty directory', ['reproduce', '--report-only', '--out', 'empty-report'], 2, /--report-only: empty-report holds no results to report/],
    ['train --resume of a directory that is a file', ['train', '--resume', '--out', 'a-file'], 2, /nothing to resume: a-file is not a directory/],
    ['reproduce --out under a regular file', ['reproduce', '--smoke', '--out', 'a-file/r'], 2, /--out .*a-file\/r: .*a-file is a file, not a directory/],
    ['data prepare --out where nothing can be created', ['data', 'prepare', 'passkey', '--out', '/proc/titans-data'], 2, /--out \/proc\/titans-data: cannot create it/],
  ];

  for (const [name, args, code, message] of table) {
    it(name, async () => {
      const before = await snapshot(scratch);
      const outcome = await run(args);
      expectClean(outcome, [code], message);
      expect(outcome.stderr.trim().split('\n'), outcome.stderr).toHaveLength(1);
      expect(await snapshot(scratch)).toEqual(before);
    }, 30_000);
  }

  // Root writes anywhere, so a read-only directory can only be tested as another user (CI).
  it.skipIf(process.getuid?.() === 0)('--out in a read-only directory (train, data prepare, reproduce)', async () => {
    const readOnly = join(scratch, 'read-only');
    await mkdir(readOnly, { recursive: true });
    await chmod(readOnly, 0o555);
    try {
      const before = await snapshot(scratch);
      for (const args of [['train', ...TINY, '--steps', '1', '--out', 'read-only/run'], ['data', 'prepare', 'passkey', '--out', 'read-only/data'], ['reproduce', '--smoke', '--out', 'read-only/r']]) {
        const outcome = await run(args);
        expectClean(outcome, [2], /read-only is not writable/);
        expect(outcome.stderr.trim().split('\n')).toHaveLength(1);
      }
      expect(await snapshot(scratch)).toEqual(before);
    } finally {
      await chmod(readOnly, 0o755);
    }
  }, 30_000);

  it('train.lr=1e30 stops with the step the loss became non-finite and the last good checkpoint', async () => {
    const outcome = await run(['train', ...TINY, '--steps', '30', '--set', 'train.lr=1e30', '--set', 'train.checkpointEvery=1', '--out', 'diverged']);
    expectClean(outcome, [1], /titans train: loss became non-finite at step (\d+) and stayed so for \d+ steps .*; the run has diverged: the last good checkpoint is step \d+ in .*diverged$/);
    expect(await halfWritten(join(scratch, 'diverged'))).toEqual([]);
    // The checkpoint left behind is whole with finite weights; if they already overflow, readers say so in one line.
    for (const args of [['eval', 'diverged', '--tasks', 'perplexity', '--tokens', '8'], ['generate', 'diverged', '--prompt', 'x', '--max-tokens', '2', '--json']]) {
      const outcome = await run(args);
      expectClean(outcome, [0, 1]);
      if (outcome.code === 1) expect(outcome.stderr).toMatch(/the model's (outputs are not finite \(.+\)|loss at token \d+ is NaN); its weights are corrupt or overflow$/);
    }
  }, 60_000);

  it('a full disk during a save stops training cleanly; the previous checkpoint is intact', async () => {
    let saves = 0;
    const full: CheckpointFileSystem = {
      ...nodeFileSystem,
      async writeFile(file, bytes) {
        // Each save writes four files and a journal; the third save runs out of space.
        if (basename(file).startsWith('.model.safetensors.tmp-')) saves++;
        if (saves >= 3) throw Object.assign(new Error(`ENOSPC: no space left on device, write '${file}'`), { code: 'ENOSPC' });
        return nodeFileSystem.writeFile(file, bytes);
      },
    };
    const outcome = await run(['train', ...TINY, '--steps', '6', '--set', 'train.checkpointEvery=1', '--out', 'full-disk'], { checkpointFileSystem: full });
    expectClean(outcome, [1], /titans train: could not save the checkpoint of step 3 in .*full-disk \(ENOSPC: no space left on device.*\); the checkpoint there is still step 2$/);
    expect(await halfWritten(join(scratch, 'full-disk'))).toEqual([]);
    const info = await run(['info', 'full-disk', '--json']);
    expectClean(info, [0]);
    expect((JSON.parse(info.stdout) as { trainer: { step: number } }).trainer.step).toBe(2);
  }, 60_000);

  it('a first run that failed before its first save: --resume says to start again, and the same command does', async () => {
    const args = ['train', ...TINY, '--steps', '30', '--set', 'train.checkpointEvery=0', '--out', 'failed-first'];
    const failed = await run([...args, '--set', 'train.lr=1e30']);
    expectClean(failed, [1], /loss became non-finite at step \d+ .*: no checkpoint was saved in/);
    const resumed = await run(['train', '--resume', '--out', 'failed-first']);
    expectClean(resumed, [2], /nothing to resume: failed-first holds no checkpoint \(its run stopped before the first save\); start it again with the same command without --resume/);
    const again = await run(['train', ...TINY, '--steps', '2', '--out', 'failed-first']);
    expectClean(again, [0], /note: failed-first holds a run that stopped before its first checkpoint; starting it again/);
    expect(await halfWritten(join(scratch, 'failed-first'))).toEqual([]);
  }, 60_000);

  it('train --resume refusing a checkpoint leaves run.json as it was', async () => {
    const dir = await copyOf('resume-keeps-run');
    await rewriteWeights(dir, (tensors) => Object.values(tensors)[0]!.data.fill(Number.NaN));
    const before = await snapshot(dir);
    const outcome = await run(['train', '--resume', '--out', dir, '--steps', '9']);
    expectClean(outcome, [2], /non-finite/);
    expect(await snapshot(dir)).toEqual(before);
  }, 30_000);
});
