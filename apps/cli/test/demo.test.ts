// `titans demo --quick`: the main job's whole pipeline at toy size (train both models,
// evaluate passkey and perplexity, print the table, write the report).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { filesUnder, scratchDirectory, titans } from './helpers.js';

describe('titans demo --quick', () => {
  it('trains both models, prints the comparison table and writes the report', () => {
    const scratch = scratchDirectory('demo');
    const { code, stdout, stderr } = titans(['demo', '--quick', '--out', 'demo'], { cwd: scratch, timeoutMs: 170_000 });
    expect(stderr).not.toMatch(/internal error/);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^plan:$/m);
    expect(stdout).toMatch(/^model +params +steps +train +final loss +SOTU ppl +bits\/byte +passkey@64 +passkey@128$/m);
    expect(stdout).toMatch(/^Titans MAG +[\d,]+ +3 +\S+ +\d+\.\d{3} +\d+\.\d\d +\d\.\d{3} +\d+\.\d% \(\d\/2\) +\d+\.\d% \(\d\/2\)$/m);
    expect(stdout).toMatch(/^SWA Transformer +[\d,]+ +3 /m);
    expect(stdout).toMatch(/^final loss: the training objective over the last 10% of steps, .* does not rank the models' SOTU perplexity$/m);
    expect(stdout).toMatch(/^passkey answers by needle depth .*attention window \d+ bytes\):$/m);
    expect(stdout).toMatch(/^model +bytes +depth 0% +depth 100%$/m);
    expect(stdout).toMatch(/^Titans MAG +64 +[01]\/1 +[01]\/1$/m);
    expect(stdout).toMatch(/^SWA Transformer +128 +[01]\/1 +[01]\/1$/m);
    expect(stdout).toMatch(/report: .*demo\/report\.html$/m);
    const files = filesUnder(join(scratch, 'demo'));
    for (const file of ['report.html', 'report.json', 'loss-curves.svg', 'passkey-mag.svg', 'passkey-swa.svg', 'passkey-by-length.svg', 'mag/model.safetensors', 'swa/trainer.json']) {
      expect(files).toContain(file);
    }
    const html = readFileSync(join(scratch, 'demo', 'report.html'), 'utf8');
    expect(html).toContain('Passkey retrieval beyond the attention window');
    expect(html).toContain('final loss: the training objective over the last 10% of steps');
    expect(html.match(/<svg/g)?.length).toBeGreaterThanOrEqual(5);
    const report = JSON.parse(readFileSync(join(scratch, 'demo', 'report.json'), 'utf8')) as { models: { key: string; steps: number; passkey: { cells: unknown[] } }[] };
    expect(report.models.map((m) => [m.key, m.steps, m.passkey.cells.length])).toEqual([['mag', 3, 4], ['swa', 3, 4]]);
  }, 180_000);
});

describe('the demo step-time probe', () => {
  it('times the compiled step the demo trains with (answer targets inside the targets tensor), and the eager one for --eager', async () => {
    const { ByteTokenizer } = await import('@titans/data');
    const { DEMO_MODELS, demoRunConfig, measureStepSeconds } = await import('../src/demo/demo.js');
    const { DEMO_RECIPE } = await import('../src/demo/recipe.js');
    const run = demoRunConfig(DEMO_MODELS[0].key, DEMO_RECIPE, 0, DEMO_RECIPE.train.maxSteps);
    for (const compiled of [true, false]) {
      // Two timed steps after two warm-up steps: a compiled probe replays (the first call traces).
      const seconds = await measureStepSeconds(run, new ByteTokenizer(), 2, 2, compiled);
      expect(Number.isFinite(seconds) && seconds > 0).toBe(true);
    }
  }, 120_000);
});
