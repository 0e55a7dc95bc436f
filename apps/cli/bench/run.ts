// Speed of the demo's two models on this machine: seconds per training step (the demo's
// batch), prefill tokens/s through the streaming state and decode tokens/s. Writes
// bench-results/cli.json. Run: pnpm bench (node --conditions=source --import tsx bench/run.ts)
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { ByteTokenizer, generatePasskeySample } from '@titans/data';
import { createModel, generate } from '@titans/models';
import { DEMO_MODELS, demoRunConfig, measureStepSeconds } from '../src/demo/demo.ts';
import { DEMO_RECIPE } from '../src/demo/recipe.ts';

const tokenizer = new ByteTokenizer();
const results = [];
for (const { key, label } of DEMO_MODELS) {
  const run = demoRunConfig(key, DEMO_RECIPE, 0, 100);
  const secondsPerStep = await measureStepSeconds(run, tokenizer, 3);
  const model = createModel(run.model);
  model.eval();
  const prompt = generatePasskeySample({ tokenizer, length: 4 * DEMO_RECIPE.data.sequenceLength, depth: 0.5, seed: 0 }).tokens();
  const started = performance.now();
  let firstToken = 0;
  const newTokens = 32;
  await generate(model, prompt, { maxNewTokens: newTokens, prefillChunk: 256, onToken: (_t, i) => { if (i === 0) firstToken = performance.now(); } });
  const prefillSeconds = (firstToken - started) / 1000;
  const decodeSeconds = (performance.now() - firstToken) / 1000;
  const result = {
    model: label, architecture: key, trainTokensPerStep: run.data.batchSize * run.data.sequenceLength,
    secondsPerTrainStep: Number(secondsPerStep.toFixed(4)),
    prefillTokensPerSecond: Math.round(prompt.length / prefillSeconds),
    decodeTokensPerSecond: Number(((newTokens - 1) / decodeSeconds).toFixed(1)),
  };
  results.push(result);
  console.log(`${label.padEnd(16)} train ${result.secondsPerTrainStep.toFixed(3)} s/step  prefill ${result.prefillTokensPerSecond} tok/s  decode ${result.decodeTokensPerSecond} tok/s`);
}
mkdirSync(new URL('../bench-results/', import.meta.url), { recursive: true });
writeFileSync(new URL('../bench-results/cli.json', import.meta.url), `${JSON.stringify({ cpus: cpus().length, node: process.version, results }, null, 2)}\n`);
