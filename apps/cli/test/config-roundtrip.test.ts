// The CLI reads every config it writes: for every preset and every model of the reproduce
// plans and the demo, a 1-step `titans train` (shrunk data, the model exactly as configured),
// then `info`, `eval`, `export` (ONNX) and `generate` on the checkpoint it wrote; the paper-size presets (too
// large to build on a CPU) round-trip through run.json / config.json and `titans info FILE`.
// Commands run in-process through main() (one process, no launcher start per command).
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { describe, expect, it } from 'vitest';
import { countParameters, type ModelConfig } from '@titans/models';
import { main } from '../src/main.js';
import { runTraining } from '../src/training.js';
import { DEMO_MODELS, demoRunConfig } from '../src/demo/demo.js';
import { DEMO_RECIPE, demoModelConfig, quickRecipe } from '../src/demo/recipe.js';
import { PLANS, planModelConfig, planModels, type PlanName, type Track } from '@titans/experiments';
import { parseRunConfig, presetConfig, presetNames, resolveRunConfig } from '../src/run-config.js';
import { scratchDirectory } from './helpers.js';

interface Captured {
  code: number;
  out: string;
  err: string;
}

async function titansInProcess(args: readonly string[], cwd: string): Promise<Captured> {
  let out = '';
  let err = '';
  const code = await main(args, { out: (t) => (out += `${t}\n`), err: (t) => (err += `${t}\n`), cwd });
  return { code, out, err };
}

/** Every model config the CLI can write: presets (CPU-sized), reproduce plans' models on every track, the demo's. */
function trainableConfigs(): { name: string; config: ModelConfig }[] {
  const seen = new Set<string>();
  const configs: { name: string; config: ModelConfig }[] = [];
  const add = (name: string, config: ModelConfig): void => {
    const key = JSON.stringify(config);
    if (seen.has(key)) return;
    seen.add(key);
    configs.push({ name, config });
  };
  for (const preset of presetNames().filter((p) => !p.startsWith('paper-'))) add(`preset ${preset}`, presetConfig(preset));
  // The scale plan's models are the same architectures at width 128 (1M parameters): left out,
  // they would add dozens of minute-long cases and nothing the tiny ones do not cover.
  for (const plan of (Object.keys(PLANS) as PlanName[]).filter((name) => name !== 'scale')) {
    const p = PLANS[plan];
    const tracks: [Track, readonly string[]][] = [['long', planModels(p)], ['mqar', p.mqar.models ?? planModels(p)], ['passkey', p.passkey.models]];
    for (const [track, models] of tracks) {
      for (const model of models) add(`reproduce ${plan} ${track} ${model}`, planModelConfig(p, model as never, track));
    }
  }
  add('demo --quick mag', demoModelConfig('mag', quickRecipe()));
  add('demo --quick swa', demoModelConfig('swa', quickRecipe()));
  return configs;
}

describe('every config the CLI writes, it reads back', () => {
  const configs = trainableConfigs();

  it('covers the presets, every reproduce model and the demo, gate biases and rule overrides included', () => {
    expect(configs.length).toBeGreaterThan(20);
    expect(configs.some((c) => c.config.memory.gateBias !== undefined)).toBe(true);
    expect(configs.some((c) => c.config.memory.ruleOverrides?.forgetting === false)).toBe(true);
    for (const { config } of configs) expect(countParameters(config)).toBeLessThan(2_000_000);
  });

  // One test per config (each with its own time limit, failures named by config).
  const root = scratchDirectory('roundtrip');
  for (const [i, { name, config }] of configs.entries()) {
    it(`${name}: train 1 step, then info, eval, export and generate`, async () => {
      const failures: string[] = [];
      const dir = join(root, `m${i}`);
      mkdirSync(dir);
      // A bare model config, exactly as saved in a checkpoint's config.json (all fields explicit).
      writeFileSync(join(dir, 'model.json'), JSON.stringify(config));
      const byte = config.vocabSize >= 259;
      const data = byte ? ['--data', 'sotu'] : ['--data', 'mqar', '--set', 'data.numPairs=2'];
      const length = config.architecture === 'mac' ? Math.max(16, Math.min(2 * config.segmentLength, 64)) : 16;
      const steps: [string, string[]][] = [
        ['train', ['train', '--config', join(dir, 'model.json'), ...data, '--steps', '1', '--set', `data.sequenceLength=${length}`, '--set', 'data.batchSize=1', '--set', 'train.warmupSteps=0', '--set', 'train.evalBatches=1', '--out', join(dir, 'ckpt')]],
        ['info', ['info', join(dir, 'ckpt')]],
        ['info --json', ['--json', 'info', join(dir, 'ckpt')]],
        ['eval', byte
          ? ['eval', join(dir, 'ckpt'), '--tasks', 'perplexity', '--tokens', '32']
          : ['eval', join(dir, 'ckpt'), '--tasks', 'mqar', '--mqar-length', '16', '--mqar-pairs', '2', '--mqar-samples', '1']],
        ['export', ['export', join(dir, 'ckpt'), '--out', join(dir, 'model.onnx')]],
        ['generate', ['generate', join(dir, 'ckpt'), '--prompt', byte ? 'The ' : '', '--max-tokens', '3', '--temperature', '0', '--json']],
      ];
      if (!byte) steps.pop(); // generate decodes text: byte models only
      for (const [what, args] of steps) {
        const result = await titansInProcess(args, root);
        if (result.code !== 0) {
          failures.push(`${name}: titans ${what} exited ${result.code}: ${result.err.trim().split('\n').at(-1)}`);
          break;
        }
        if (what === 'info --json') {
          const info = JSON.parse(result.out) as { config: ModelConfig };
          if (!isDeepStrictEqual(info.config, config)) failures.push(`${name}: info reports another config than the one trained`);
        }
      }
      if (failures.length === 0) {
        // run.json parses back to the same run, model included.
        const runJson = JSON.parse(readFileSync(join(dir, 'ckpt', 'run.json'), 'utf8')) as unknown;
        const parsed = parseRunConfig(runJson, 'run.json');
        expect(parsed, name).toEqual(runJson);
        expect(parsed.model, name).toEqual(config);
      }
      expect(failures).toEqual([]);
    }, 60_000);
  }

  it('the run.json the demo writes (gate biases included) parses back to the same run', () => {
    for (const recipe of [DEMO_RECIPE, quickRecipe()]) {
      for (const { key } of DEMO_MODELS) {
        const run = demoRunConfig(key, recipe, 0, 10);
        if (run.model.architecture === 'mag') expect(run.model.memory.gateBias).toEqual({ eta: -4, alpha: -4 });
        expect(parseRunConfig(JSON.parse(JSON.stringify(run)), `demo/${key}/run.json`)).toEqual(run);
      }
    }
  });

  it('a checkpoint written the way `titans demo` writes it (its run config, runTraining) opens in info, eval, generate and export', async () => {
    const root = scratchDirectory('roundtrip-demo');
    for (const { key } of DEMO_MODELS) {
      const dir = join(root, key);
      const quick = quickRecipe();
      const recipe = { ...quick, data: { ...quick.data, sequenceLength: 64, batchSize: 2, passkeyRows: 1 } };
      await runTraining({ run: demoRunConfig(key, recipe, 0, 1), dir, resume: false, log: () => {} });
      for (const args of [
        ['info', dir], ['eval', dir, '--tasks', 'perplexity', '--tokens', '32'], ['generate', dir, '--prompt', 'The pass key is', '--max-tokens', '3', '--json'],
        ['export', dir, '--out', join(root, `${key}.onnx`)],
      ]) {
        const result = await titansInProcess(args, root);
        expect(result.code, `${key}: titans ${args[0]}: ${result.err}`).toBe(0);
      }
    }
  }, 60_000);

  it('the paper-size presets round-trip through run.json and `titans info FILE`', async () => {
    const root = scratchDirectory('roundtrip-paper');
    const papers = presetNames().filter((p) => p.startsWith('paper-'));
    expect(papers.length).toBeGreaterThan(0);
    for (const preset of papers) {
      const run = resolveRunConfig({ model: { preset } });
      const text = JSON.stringify(run);
      expect(parseRunConfig(JSON.parse(text), `${preset}/run.json`)).toEqual(run);
      const file = join(root, `${preset}.json`);
      writeFileSync(file, JSON.stringify(run.model));
      const result = await titansInProcess(['info', file], root);
      expect(result.code, `${preset}: ${result.err}`).toBe(0);
    }
  });
});
