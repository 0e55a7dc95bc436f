// End to end: train a tiny MAC for a few steps, resume it, interrupt it with Ctrl-C, and use
// the checkpoint the way a user would (info, eval, niah, generate), plus the data, bench and
// export commands, on real files. Training, resuming, Ctrl-C, and info, eval, generate (stdin
// too) and export of the checkpoint are each a fresh `titans` process; the second and later
// views of the same command (info --json, the listings of data, bench --list, niah's files)
// run in this process through main(), without a launcher start-up each.
import { cpSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { REVISION_KEY, readSafetensors, writeSafetensors } from '@titans/models';
import { filesUnder, scratchDirectory, titans, titansInterrupted, type Outcome } from './helpers.js';
import { titansInProcess } from './in-process.js';

const scratch = scratchDirectory('cli');
const run = (args: string[], input?: string): Outcome => titans(args, { cwd: scratch, ...(input !== undefined ? { input } : {}) });
/** `titans ...args` in this process, from the scratch directory; an internal error fails the test. */
async function local(args: string[], cwd = scratch): Promise<Outcome> {
  const outcome = await titansInProcess(args, cwd);
  expect(outcome.thrown, `internal error: ${outcome.stderr}`).toBeUndefined();
  return outcome;
}

// A MAC small enough to train in seconds: 1 block of width 16, 64-byte rows of SOTU text.
const TINY = ['--preset', 'tiny-mac', '--set', 'model.dim=16', '--set', 'model.layers=1', '--set', 'data.sequenceLength=64', '--set', 'data.batchSize=2', '--set', 'train.checkpointEvery=0'];

let first: Outcome;
beforeAll(() => {
  first = run(['train', ...TINY, '--steps', '2', '--out', 'ckpt']);
}, 120_000);

describe('titans train', () => {
  it('trains a few steps and writes a checkpoint with its run config', () => {
    expect(first.stderr).toContain('training mac');
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/^trained mac to step 2\/2: loss \d+\.\d{4}/);
    expect(filesUnder(join(scratch, 'ckpt'))).toEqual(['config.json', 'model.safetensors', 'optimizer.safetensors', 'run.json', 'trainer.json']);
    const runConfig = JSON.parse(readFileSync(join(scratch, 'ckpt', 'run.json'), 'utf8')) as { model: { dim: number; architecture: string }; data: { task: string } };
    expect(runConfig.model).toMatchObject({ architecture: 'mac', dim: 16 });
    expect(runConfig.data.task).toBe('sotu');
  });

  it('--resume continues from the saved step up to a new --steps', () => {
    const resumed = run(['train', '--resume', '--out', 'ckpt', '--steps', '3', '--json']);
    expect(resumed.code).toBe(0);
    const summary = JSON.parse(resumed.stdout) as { step: number; resumedFrom: number; interrupted: boolean };
    expect(summary).toMatchObject({ step: 3, resumedFrom: 2, interrupted: false });
    expect(resumed.stderr).toContain('resuming at step 2/3');
    const trainer = JSON.parse(readFileSync(join(scratch, 'ckpt', 'trainer.json'), 'utf8')) as { step: number; losses: number[] };
    expect(trainer.step).toBe(3);
    expect(trainer.losses).toHaveLength(3);
  }, 120_000);

  it('--resume refuses a checkpoint saved by another revision of its architecture, naming the flag; --allow-revision-mismatch continues it and records the current revision', async () => {
    cpSync(join(scratch, 'ckpt'), join(scratch, 'resume-rev1'), { recursive: true });
    const file = join(scratch, 'resume-rev1', 'model.safetensors');
    const { tensors, metadata } = await readSafetensors(file);
    await writeSafetensors(file, tensors, { ...metadata, [REVISION_KEY]: '1' });
    const trainerBefore = readFileSync(join(scratch, 'resume-rev1', 'trainer.json'), 'utf8');
    const step = (JSON.parse(trainerBefore) as { step: number }).step;
    const refused = await local(['train', '--resume', '--out', 'resume-rev1', '--steps', String(step + 1)]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/saved by mac revision 1, but this version computes mac revision 2/);
    expect(refused.stderr).toContain('pass --allow-revision-mismatch');
    expect(refused.stderr).not.toContain('allowRevisionMismatch');
    expect(readFileSync(join(scratch, 'resume-rev1', 'trainer.json'), 'utf8')).toBe(trainerBefore);
    const resumed = await local(['train', '--resume', '--out', 'resume-rev1', '--steps', String(step + 1), '--allow-revision-mismatch', '--json']);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(JSON.parse(resumed.stdout)).toMatchObject({ step: step + 1, resumedFrom: step });
    expect((await readSafetensors(file)).metadata[REVISION_KEY]).toBe('2');
  }, 120_000);

  it('Ctrl-C saves a checkpoint and exits 130; --resume finishes the run', async () => {
    const interrupted = await titansInterrupted(['train', ...TINY, '--steps', '500', '--out', 'ctrlc'], { cwd: scratch, interruptWhen: /step \d+\/500/ });
    expect(interrupted.interrupted).toBe(true);
    expect(interrupted.code).toBe(130);
    expect(interrupted.stdout).toMatch(/interrupted mac to step \d+\/500/);
    expect(interrupted.stdout).toContain('continue with: titans train --resume --out');
    const saved = JSON.parse(readFileSync(join(scratch, 'ctrlc', 'trainer.json'), 'utf8')) as { step: number };
    expect(saved.step).toBeGreaterThanOrEqual(1);
    expect(saved.step).toBeLessThan(500);
    const resumed = run(['train', '--resume', '--out', 'ctrlc', '--steps', String(saved.step + 1), '--json']);
    expect(resumed.code).toBe(0);
    expect(JSON.parse(resumed.stdout)).toMatchObject({ step: saved.step + 1, resumedFrom: saved.step });
  }, 120_000);
});

describe('using the checkpoint', () => {
  it('info summarises architecture, parameters and trainer step', async () => {
    const text = run(['info', 'ckpt']);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/architecture +mac/);
    expect(text.stdout).toMatch(/parameters +[\d,]+ \(embedding/);
    expect(text.stdout).toMatch(/trainer step +3 of 3 \(complete\)/);
    const json = JSON.parse((await local(['info', 'ckpt', '--json'])).stdout) as { config: { dim: number }; parameters: { total: number }; trainer: { step: number } };
    expect(json.config.dim).toBe(16);
    expect(json.parameters.total).toBeGreaterThan(1000);
    expect(json.trainer.step).toBe(3);
    expect((await local(['info', '--preset', 'paper-mac-170M'])).stdout).toMatch(/parameters +[\d,]{11}/);
  }, 60_000);

  it('info --presets lists each preset with its shape, and the note on paper size labels holds', async () => {
    const text = (await local(['info', '--presets'])).stdout;
    expect(text).toMatch(/paper-mac-170M +[\d,]+ parameters +12 blocks x 768, 16 heads/);
    expect(text).toMatch(/The label names the paper's shape, not a parameter count/);
    const rows = JSON.parse((await local(['info', '--presets', '--json'])).stdout) as { name: string; parameters: number; layers: number }[];
    const nominal: Record<string, number> = { '170M': 170e6, '340M': 340e6, '760M': 760e6, '1.3B': 1.3e9 };
    // The ranges PAPER_PRESET_NOTE states, checked for every paper preset.
    const range = (arch: string): [number, number] => ['transformer', 'swa'].includes(arch) ? [0.75, 1.1]
      : ['mac', 'mag', 'mal'].includes(arch) ? [1.0, 1.55]
        : ['hope', 'hope-attention'].includes(arch) ? [1.2, 2.0]
          : [0.8, 1.25];
    const paper = rows.filter((r) => r.name.startsWith('paper-'));
    expect(paper.length).toBeGreaterThanOrEqual(44);
    for (const r of paper) {
      const [, arch, size] = /^paper-(.+)-(170M|340M|760M|1\.3B)$/.exec(r.name)!;
      const [lo, hi] = range(arch!);
      expect(r.parameters / nominal[size!]!, r.name).toBeGreaterThanOrEqual(lo);
      expect(r.parameters / nominal[size!]!, r.name).toBeLessThanOrEqual(hi);
    }
  }, 60_000);

  it('eval reports perplexity, passkey, S-NIAH, BABILong and MQAR', () => {
    const result = run([
      'eval', 'ckpt', '--tokens', '256', '--lengths', '400', '--depths', '2', '--samples', '1',
      '--mqar-length', '64', '--mqar-pairs', '4', '--mqar-samples', '2', '--json',
    ]);
    expect(result.stderr).not.toMatch(/error/i);
    expect(result.code).toBe(0);
    const report = JSON.parse(result.stdout) as { results: Record<string, { kind: string }>; step: number };
    expect(Object.keys(report.results).sort()).toEqual(['babilong', 'mqar', 'niah', 'passkey', 'perplexity']);
    const perplexity = report.results.perplexity as unknown as { predictions: number; perplexity: number; bitsPerByte: number };
    expect(perplexity.predictions).toBe(256);
    expect(perplexity.perplexity).toBeGreaterThan(1);
    expect(perplexity.bitsPerByte).toBeGreaterThan(0);
    expect((report.results.passkey as unknown as { cells: unknown[] }).cells).toHaveLength(2);
    expect(report.step).toBe(3);
  }, 120_000);

  it('niah runs a tiny grid and writes the heat map SVG and HTML', async () => {
    const result = await local(['niah', 'ckpt', '--lengths', '400,500', '--depths', '2', '--samples', '1', '--out', 'niah-out']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/depth +400 +500/);
    expect(filesUnder(join(scratch, 'niah-out'))).toEqual(['niah-heatmap.svg', 'niah.html', 'niah.json']);
    const svg = readFileSync(join(scratch, 'niah-out', 'niah-heatmap.svg'), 'utf8');
    expect(svg).toMatch(/<svg[^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    expect(svg).toContain('needle depth');
  }, 120_000);

  it('a checkpoint saved by an older revision of its architecture is refused, naming the flag; --allow-revision-mismatch loads it', async () => {
    cpSync(join(scratch, 'ckpt'), join(scratch, 'ckpt-rev1'), { recursive: true });
    const file = join(scratch, 'ckpt-rev1', 'model.safetensors');
    const { tensors, metadata } = await readSafetensors(file);
    expect(metadata[REVISION_KEY]).toBe('2');
    await writeSafetensors(file, tensors, { ...metadata, [REVISION_KEY]: '1' });
    const refused = run(['generate', 'ckpt-rev1', '--prompt', 'The', '--max-tokens', '2']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/saved by mac revision 1, but this version computes mac revision 2/);
    expect(refused.stderr).toContain('pass --allow-revision-mismatch');
    expect(refused.stderr).not.toContain('allowRevisionMismatch');
    const loaded = run(['generate', 'ckpt-rev1', '--prompt', 'The', '--max-tokens', '2', '--allow-revision-mismatch']);
    expect(loaded.code, loaded.stderr).toBe(0);
  });

  it('generate streams a continuation of --prompt, and of stdin with --json', () => {
    const streamed = run(['generate', 'ckpt', '--prompt', 'The Congress', '--max-tokens', '12', '--seed', '3']);
    expect(streamed.code).toBe(0);
    expect(streamed.stdout.length).toBeGreaterThan(1);
    expect(streamed.stderr).toMatch(/12 prompt tokens .* \d+ generated/);
    const long = 'Fellow citizens of the Senate and House of Representatives. '.repeat(20); // far past the window
    const json = JSON.parse(run(['generate', 'ckpt', '--max-tokens', '5', '--temperature', '0', '--chunk', '64', '--json'], long).stdout) as { promptTokens: number; generatedTokens: number; text: string };
    expect(json.promptTokens).toBe(long.length);
    expect(json.generatedTokens).toBeGreaterThan(0);
    // Greedy decoding is deterministic: the same prompt gives the same text.
    const again = JSON.parse(run(['generate', 'ckpt', '--max-tokens', '5', '--temperature', '0', '--chunk', '128', '--json'], long).stdout) as { text: string };
    expect(again.text).toBe(json.text);
  }, 120_000);
});

describe('titans data, bench, export', () => {
  it('data list shows the corpora splits and tasks', async () => {
    const list = await local(['data', 'list']);
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/sotu +test +years 2010-2021 +12/);
    expect(list.stdout).toContain('passkey');
    const json = JSON.parse((await local(['data', 'list', '--json'])).stdout) as { corpora: { name: string }[] };
    expect(json.corpora.map((c) => c.name)).toEqual(['sotu', 'moby-dick']);
  }, 60_000);

  it('data preview prints a corpus excerpt and a task prompt with its answer', async () => {
    const sotu = await local(['data', 'preview', 'sotu', '--chars', '80']);
    expect(sotu.code).toBe(0);
    expect(sotu.stdout).toMatch(/^sotu\/20\d\d_/);
    const passkey = await local(['data', 'preview', 'passkey', '--length', '400', '--seed', '2']);
    expect(passkey.stdout).toContain('What is the pass key? The pass key is');
    expect(passkey.stdout).toMatch(/answer: " \d{5}\."/);
  }, 60_000);

  it('data prepare writes token ids and a manifest', async () => {
    const result = await local(['data', 'prepare', 'sotu', '--split', 'test', '--out', 'prepared']);
    expect(result.code).toBe(0);
    const manifest = JSON.parse(readFileSync(join(scratch, 'prepared', 'sotu-test-byte.json'), 'utf8')) as { tokens: number; dtype: string };
    expect(manifest.dtype).toBe('uint16');
    expect(readFileSync(join(scratch, 'prepared', 'sotu-test-byte.bin')).length).toBe(2 * manifest.tokens);
  }, 60_000);

  it('bench --list finds the package benchmarks', async () => {
    const result = await local(['bench', '--list'], process.cwd());
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/@titans\/tensor +packages\/tensor\/bench\/run\.ts/);
  }, 60_000);

  it('export writes the checkpoint as an ONNX model (@titans/onnx is a dependency of the CLI)', () => {
    const result = run(['export', 'ckpt', '--out', 'model.onnx', '--json']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const summary = JSON.parse(result.stdout) as { file: string; bytes: number };
    expect(summary.file).toBe(join(scratch, 'model.onnx'));
    expect(readFileSync(join(scratch, 'model.onnx')).length).toBe(summary.bytes);
    const metadata = JSON.parse(readFileSync(join(scratch, 'model.onnx.json'), 'utf8')) as { format: string };
    expect(metadata.format).toBe('titans-onnx/v1');
  }, 120_000);
});
