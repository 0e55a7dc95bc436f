// `titans train --text FILE` and `titans eval --text FILE`: training on the user's own text
// (the loss falls), the held-out tail for evaluation, and a one-line exit-2 error naming the
// file and the problem for every kind of bad input.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../src/main.js';
import { scratchDirectory, titans } from './helpers.js';

async function run(args: readonly string[], cwd: string): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(args, { out: (t) => (out += `${t}\n`), err: (t) => (err += `${t}\n`), cwd });
  return { code, out, err };
}

function sampleText(lines: number): string {
  const words = ['the', 'cat', 'sat', 'on', 'a', 'mat', 'and', 'dog', 'log', 'ran'];
  return Array.from({ length: lines }, (_, i) => `${words[i % 10]} ${words[(3 * i) % 10]} ${words[(7 * i + 1) % 10]} sat on the mat, line ${i % 5}.`).join('\n');
}

describe('titans train --text / titans eval --text', () => {
  it('trains a byte model on a text file (the loss falls) and evaluates its held-out tail', async () => {
    const dir = scratchDirectory('text-train');
    writeFileSync(join(dir, 'mine.txt'), sampleText(300));
    const trained = await run(['--json', 'train', '--text', 'mine.txt', '--preset', 'tiny-swa', '--steps', '24', '--set', 'data.sequenceLength=48', '--set', 'data.batchSize=4', '--set', 'train.lr=1e-2', '--set', 'train.warmupSteps=2', '--out', 'run'], dir);
    expect(trained.code, trained.err).toBe(0);
    const summary = JSON.parse(trained.out) as { loss: number; validation: number };
    const runJson = JSON.parse(readFileSync(join(dir, 'run', 'run.json'), 'utf8')) as { data: { task: string; textFiles: string[] } };
    expect(runJson.data.task).toBe('text');
    expect(runJson.data.textFiles).toEqual([join(dir, 'mine.txt')]);
    const trainer = JSON.parse(readFileSync(join(dir, 'run', 'trainer.json'), 'utf8')) as { losses: (number | null)[] };
    const losses = trainer.losses.filter((l): l is number => l !== null);
    const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
    // From ln(259) = 5.6 (uniform over bytes) to well below 3 nats on this repetitive text.
    expect(mean(losses.slice(0, 3))).toBeGreaterThan(4.5);
    expect(mean(losses.slice(-3))).toBeLessThan(3);
    expect(summary.validation).toBeLessThan(3);

    const held = await run(['--json', 'eval', 'run', '--text', 'mine.txt', '--tokens', '128'], dir);
    expect(held.code, held.err).toBe(0);
    const result = JSON.parse(held.out) as { results: { perplexity: { perplexity: number; predictions: number }; passkey?: unknown } };
    expect(result.results.passkey).toBeUndefined(); // --text implies --tasks perplexity
    expect(result.results.perplexity.predictions).toBe(128);
    expect(result.results.perplexity.perplexity).toBeLessThan(Math.exp(3));
    const tail = readFileSync(join(dir, 'mine.txt'), 'utf8');
    const whole = await run(['--json', 'eval', 'run', '--text', 'mine.txt'], dir);
    expect(whole.code, whole.err).toBe(0);
    const predictions = (JSON.parse(whole.out) as typeof result).results.perplexity.predictions;
    // Without --tokens: the whole held-out tail (about 10% of the file's bytes, one EOS added).
    expect(predictions).toBeGreaterThan(0.09 * tail.length);
    expect(predictions).toBeLessThan(0.11 * tail.length);
    const tooMany = await run(['eval', 'run', '--text', 'mine.txt', '--tokens', '100000'], dir);
    expect(tooMany.code).toBe(2);
    expect(tooMany.err.trim()).toBe(`titans eval: --tokens 100000: the held-out text of mine.txt has ${predictions} predictions to score (ask for at most that many)`);
    const all = await run(['--json', 'eval', 'run', '--text', 'mine.txt', '--split', 'all', '--tokens', '64'], dir);
    expect(all.code, all.err).toBe(0);
    // Another corpus is much less predictable to this model than its own text's held-out tail.
    const sotu = await run(['--json', 'eval', 'run', '--tasks', 'perplexity', '--tokens', '128'], dir);
    expect((JSON.parse(sotu.out) as typeof result).results.perplexity.perplexity).toBeGreaterThan(result.results.perplexity.perplexity);
  }, 120_000);

  it('GPT-2 BPE: --tokenizer gpt2 sets the vocabulary and trains', async () => {
    const dir = scratchDirectory('text-gpt2');
    writeFileSync(join(dir, 'mine.txt'), sampleText(200));
    const trained = await run(['--json', 'train', '--text', 'mine.txt', '--tokenizer', 'gpt2', '--preset', 'tiny-swa', '--set', 'model.dim=16', '--set', 'model.layers=1', '--steps', '2', '--set', 'data.sequenceLength=16', '--set', 'data.batchSize=1', '--out', 'run'], dir);
    expect(trained.code, trained.err).toBe(0);
    const runJson = JSON.parse(readFileSync(join(dir, 'run', 'run.json'), 'utf8')) as { model: { vocabSize: number }; data: { tokenizer: string } };
    expect(runJson.data.tokenizer).toBe('gpt2');
    expect(runJson.model.vocabSize).toBe(50257);
  }, 60_000);

  it('--resume continues on the same text and refuses a file that changed since the run started', async () => {
    const dir = scratchDirectory('text-resume');
    writeFileSync(join(dir, 'mine.txt'), sampleText(100));
    const args = ['--preset', 'tiny-swa', '--set', 'model.dim=16', '--set', 'model.layers=1', '--set', 'data.sequenceLength=16', '--set', 'data.batchSize=1'];
    const first = await run(['train', '--text', 'mine.txt', ...args, '--steps', '1', '--out', 'run'], dir);
    expect(first.code, first.err).toBe(0);
    // The hint after training scores the user's own text, not the built-in corpus.
    expect(first.out).toContain(`titans eval ${join(dir, 'run')} --text ${join(dir, 'mine.txt')}`);
    const saved = JSON.parse(readFileSync(join(dir, 'run', 'run.json'), 'utf8')) as { data: { textDigests: string[] } };
    expect(saved.data.textDigests).toHaveLength(1);
    expect(saved.data.textDigests[0]).toMatch(/^[0-9a-f]{64}$/);
    const resumed = await run(['train', '--resume', '--out', 'run', '--steps', '2'], dir);
    expect(resumed.code, resumed.err).toBe(0);
    writeFileSync(join(dir, 'mine.txt'), `${sampleText(100)}\nOne more line.`);
    const refused = await run(['train', '--resume', '--out', 'run', '--steps', '3'], dir);
    expect(refused.code).toBe(2);
    expect(refused.err.trim()).toBe('titans train: cannot resume: mine.txt changed since the run started (--resume continues exactly, on the same text; train a new run with --text)');
  }, 60_000);

  it('refuses empty, binary and non-UTF-8 files with one line naming the file (exit 2), before writing anything', async () => {
    const dir = scratchDirectory('text-bad');
    mkdirSync(join(dir, 'folder'));
    writeFileSync(join(dir, 'empty.txt'), '');
    writeFileSync(join(dir, 'blank.txt'), '\n \n\t\n');
    writeFileSync(join(dir, 'nul.bin'), Buffer.from([0x68, 0x65, 0x6c, 0x6c, 0x6f, 0x00, 0x01, 0x02]));
    writeFileSync(join(dir, 'controls.bin'), Buffer.from(`${'\u0001\u0002\u0003\u0004\u0005\u0006'.repeat(30)}${'some text '.repeat(20)}`));
    writeFileSync(join(dir, 'latin1.txt'), Buffer.from([...Buffer.from('caf'), 0xe9, ...Buffer.from(' au lait\n'.repeat(20))]));
    writeFileSync(join(dir, 'short.txt'), 'x');
    writeFileSync(join(dir, 'good.txt'), sampleText(50));
    const cases: [string[], RegExp][] = [
      [['--text', 'empty.txt'], /^titans train: empty\.txt: the file is empty$/],
      [['--text', 'blank.txt'], /^titans train: blank\.txt: the file holds only whitespace$/],
      [['--text', 'nul.bin'], /^titans train: nul\.bin: not a text file \(NUL byte at offset 5; binary data\?\)$/],
      [['--text', 'controls.bin'], /^titans train: controls\.bin: not a text file \(\d+\.\d% control characters; binary data\?\)$/],
      [['--text', 'latin1.txt'], /^titans train: latin1\.txt: not UTF-8 text \(invalid byte 0xe9 at offset 3; convert it, e\.g\. iconv -f latin1 -t utf-8\)$/],
      [['--text', 'missing.txt'], /^titans train: missing\.txt: cannot read it \(no such file\)$/],
      [['--text', 'folder'], /^titans train: folder: is a directory, not a text file$/],
      [['--text', 'short.txt'], /^titans train: short\.txt: too short to hold out 10% for validation \(1 characters\)$/],
      [['--text', 'good.txt', '--text', 'nul.bin'], /^titans train: nul\.bin: not a text file/],
      [['--text', 'good.txt', '--data', 'sotu'], /^titans train: --text trains on your files; it cannot be combined with --data sotu$/],
      [['--data', 'text'], /^titans train: invalid config: data\.task 'text' needs data\.textFiles \(titans train --text FILE\)$/],
    ];
    for (const [args, message] of cases) {
      const result = await run(['train', ...args, '--steps', '1', '--out', 'never'], dir);
      expect(result.code, args.join(' ')).toBe(2);
      expect(result.err.trim().split('\n'), args.join(' ')).toHaveLength(1);
      expect(result.err.trim(), args.join(' ')).toMatch(message);
    }
    // eval --text checks the file before loading anything (the checkpoint need not even exist for the file error to come first).
    writeFileSync(join(dir, 'good2.txt'), sampleText(50));
    const trained = await run(['train', '--text', 'good2.txt', '--preset', 'tiny-swa', '--set', 'model.dim=16', '--set', 'model.layers=1', '--steps', '1', '--set', 'data.sequenceLength=16', '--set', 'data.batchSize=1', '--out', 'ok'], dir);
    expect(trained.code, trained.err).toBe(0);
    for (const [file, message] of [['latin1.txt', /^titans eval: latin1\.txt: not UTF-8 text/], ['empty.txt', /^titans eval: empty\.txt: the file is empty$/], ['nul.bin', /^titans eval: nul\.bin: not a text file \(NUL byte/]] as const) {
      const result = await run(['eval', 'ok', '--text', file], dir);
      expect(result.code, file).toBe(2);
      expect(result.err.trim().split('\n'), file).toHaveLength(1);
      expect(result.err.trim(), file).toMatch(message);
    }
    expect(await run(['eval', 'ok', '--text', 'good2.txt', '--tasks', 'passkey'], dir)).toMatchObject({ code: 2 });
    // Nothing was written for the refused runs.
    expect(() => readFileSync(join(dir, 'never', 'run.json'))).toThrow();
  }, 120_000);

  it('the installed command exits 2 with one line on stderr (a real process)', () => {
    const dir = scratchDirectory('text-bin');
    writeFileSync(join(dir, 'data.bin'), Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0x02, 0x01, 0x01, 0x00]));
    const result = titans(['train', '--text', 'data.bin', '--steps', '1'], { cwd: dir });
    expect(result.code).toBe(2);
    expect(result.stderr.trim()).toBe('titans train: data.bin: not a text file (NUL byte at offset 7; binary data?)');
  }, 60_000);
});
