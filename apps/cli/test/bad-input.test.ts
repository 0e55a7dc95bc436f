// Bad input never half-runs: an unknown command or flag, a missing or malformed file or an
// invalid config value gets one line on stderr naming the problem, exit code 2, nothing on
// stdout and nothing written. The table runs in this process through main() (no launcher
// start-up per case, never an internal error); a few cases, one of each kind of input the
// launcher passes on (command, flag, file, checkpoint), also run as a real `titans` process.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { filesUnder, scratchDirectory, titans, type Outcome } from './helpers.js';
import { titansInProcess } from './in-process.js';

const scratch = scratchDirectory('bad-input');

beforeAll(() => {
  writeFileSync(join(scratch, 'malformed.json'), '{"model": {"dim": 32,');
  writeFileSync(join(scratch, 'unknown-key.json'), JSON.stringify({ model: { preset: 'tiny-mac', dimm: 32 } }));
  writeFileSync(join(scratch, 'wrong-type.json'), JSON.stringify({ model: { architecture: 'mac' }, train: { lr: 'fast' } }));
  mkdirSync(join(scratch, 'not-a-checkpoint'));
  writeFileSync(join(scratch, 'not-a-checkpoint', 'notes.txt'), 'hello');
  mkdirSync(join(scratch, 'taken'));
  writeFileSync(join(scratch, 'taken', 'keep.txt'), 'mine');
});

const cases: [string, string[], RegExp][] = [
  ['an unknown command', ['frobnicate'], /^titans: unknown command 'frobnicate'/],
  ['an unknown flag', ['train', '--fast', '--out', 'out'], /^titans train: unknown option --fast$/],
  ['a flag without its value', ['train', '--steps'], /^titans train: option --steps needs a value$/],
  ['a missing config file', ['train', '--config', 'missing.json', '--out', 'out'], /^titans train: cannot read missing\.json: no such file$/],
  ['a malformed config file', ['train', '--config', 'malformed.json', '--out', 'out'], /^titans train: malformed\.json: not valid JSON/],
  ['an unknown config key in a file', ['train', '--config', 'unknown-key.json', '--out', 'out'], /^titans train: unknown-key\.json: unknown config key 'model\.dimm'$/],
  ['a wrongly typed config value', ['train', '--config', 'wrong-type.json', '--out', 'out'], /^titans train: invalid config value train\.lr='fast': expected a number >= 0$/],
  ['a negative width', ['train', '--set', 'model.dim=-3', '--out', 'out'], /^titans train: invalid config value model\.dim=-3: expected an integer >= 2$/],
  ['widths that do not fit together', ['train', '--set', 'model.dim=30', '--set', 'model.heads=4', '--out', 'out'], /^titans train: invalid config: model config \(mac\): dim 30 is not divisible by heads 4$/],
  ['an unknown --set key', ['train', '--set', 'model.dimm=3', '--out', 'out'], /^titans train: --set: unknown config key 'model\.dimm'$/],
  ['an unknown data task', ['train', '--data', 'imagenet', '--out', 'out'], /^titans train: --data must be one of sotu, moby-dick, passkey, mqar, passkey\+sotu, compact-passkey\+sotu, text, got 'imagenet'$/],
  ['a passkey row too short for the prompt', ['train', '--data', 'passkey', '--set', 'data.sequenceLength=100', '--out', 'out'], /^titans train: invalid config: data\.sequenceLength 100 is too short for a passkey prompt/],
  ['an unknown preset', ['train', '--preset', 'huge-mac', '--out', 'out'], /^titans train: unknown preset 'huge-mac'/],
  ['a bad step count', ['train', '--steps', 'ten', '--out', 'out'], /^titans train: --steps must be an integer, got 'ten'$/],
  ['an unknown backend', ['train', '--backend', 'tpu', '--out', 'out'], /^titans train: unknown backend 'tpu' \(expected cpu, webgpu or auto\)$/],
  ['resuming nothing', ['train', '--resume', '--out', 'out'], /^titans train: nothing to resume: out holds no checkpoint$/],
  ['--allow-revision-mismatch on a new run', ['train', '--allow-revision-mismatch', '--out', 'out'], /^titans train: --allow-revision-mismatch applies to --resume \(a new run loads no weights\)$/],
  ['training into a directory that holds a run', ['train', '--out', 'taken-run'], /already holds a run/],
  ['eval of a missing checkpoint', ['eval', 'nowhere', '--out', 'out'], /^titans eval: cannot read checkpoint nowhere: no such directory$/],
  ['eval of a directory that is not a checkpoint', ['eval', 'not-a-checkpoint', '--out', 'out'], /^titans eval: not-a-checkpoint is not a checkpoint \(no model\.safetensors\)$/],
  ['eval of an unknown task', ['eval', 'not-a-checkpoint', '--tasks', 'perplexity,vibes'], /^titans eval: --tasks must be one of perplexity, passkey, niah, babilong, mqar, got 'vibes'$/],
  ['niah with a bad depth', ['niah', 'not-a-checkpoint', '--depths', '0,1.5', '--out', 'out'], /^titans niah: --depths must be at most 1, got 1\.5$/],
  ['niah without a checkpoint', ['niah', '--out', 'out'], /^titans niah: needs a checkpoint directory$/],
  ['generate with a missing prompt file', ['generate', 'not-a-checkpoint', '--prompt-file', 'missing.txt'], /^titans generate: cannot read missing\.txt: no such file$/],
  ['generate with a bad temperature', ['generate', 'not-a-checkpoint', '--prompt', 'x', '--temperature', 'hot'], /^titans generate: --temperature must be a number, got 'hot'$/],
  ['info of a missing path', ['info', 'missing'], /^titans info: cannot read missing: no such file or directory$/],
  ['data with an unknown dataset', ['data', 'preview', 'imagenet'], /^titans data: unknown dataset 'imagenet' \(datasets: sotu, moby-dick, passkey, niah, babilong, mqar\)$/],
  ['data prepare of a too-short task', ['data', 'prepare', 'passkey', '--length', '50', '--out', 'out'], /^titans data: passkey: generatePasskeySample: length 50 is shorter than the prompt/],
  ['demo into a non-empty directory', ['demo', '--quick', '--out', 'taken'], /^titans demo: --out taken is not empty/],
  ['demo with an argument', ['demo', 'now'], /^titans demo: unexpected argument 'now'$/],
  ['a dry run of a reproduce selection that matches nothing', ['reproduce', '--smoke', '--only', 'xyz', '--dry-run'], /^titans reproduce: --only: 'xyz' names no experiment, model or track of this plan/],
  ['bench of an unknown package', ['bench', '--filter', 'nope'], /^titans bench: --filter: no benchmark in package 'nope'/],
];

/** The refusal every case must get: its one-line message on stderr, exit code 2, no stdout, no file written since `before`. */
function expectRejected(outcome: Outcome, message: RegExp, before: ReturnType<typeof filesUnder>): void {
  expect(outcome.stderr.trimEnd()).toMatch(message);
  expect(outcome.stderr.trimEnd().split('\n')).toHaveLength(1);
  expect(outcome.code).toBe(2);
  expect(outcome.stdout).toBe('');
  expect(filesUnder(scratch)).toEqual(before);
}

describe('bad input: one line, exit code 2, nothing written', () => {
  beforeAll(async () => {
    // A real run in the way, so `train --out taken-run` must refuse to overwrite it.
    const made = await titansInProcess(['train', '--preset', 'tiny-swa', '--set', 'model.dim=8', '--set', 'model.heads=2', '--set', 'data.sequenceLength=16', '--set', 'data.batchSize=1', '--steps', '1', '--out', 'taken-run'], scratch);
    expect(made.code, made.stderr).toBe(0);
  }, 120_000);

  for (const [name, args, message] of cases) {
    it(name, async () => {
      const before = filesUnder(scratch);
      const { code, stdout, stderr, thrown } = await titansInProcess(args, scratch);
      expect(thrown, `internal error: ${stderr}`).toBeUndefined();
      expectRejected({ code, stdout, stderr }, message, before);
    }, 60_000);
  }
});

describe('bad input through the installed command (a real process)', () => {
  const real = ['an unknown command', 'an unknown flag', 'a malformed config file', 'eval of a missing checkpoint'];
  for (const [name, args, message] of cases.filter(([n]) => real.includes(n))) {
    it(name, () => {
      const before = filesUnder(scratch);
      expectRejected(titans(args, { cwd: scratch }), message, before);
    }, 60_000);
  }

  it('runs each of the cases above', () => {
    expect(cases.filter(([n]) => real.includes(n))).toHaveLength(real.length);
  });
});
