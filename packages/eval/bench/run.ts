// Harness and report throughput with the text baselines (no neural model): how much of an
// evaluation's time is the harness itself. Writes bench-results/eval.json.
// Run: pnpm bench (node --conditions=source --import tsx bench/run.ts)

import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { ByteTokenizer, Gpt2Tokenizer, loadCorpus } from '@titans/data';
import { BabilongOracleModel, evaluateBabilong, evaluateNiah, evaluatePerplexity, NeedleLookupModel, NgramModel, niahHeatmapSvg, lineChartSvg } from '../src/index.ts';

interface Result {
  name: string;
  unit: string;
  value: number;
}
const results: Result[] = [];
function record(name: string, unit: string, value: number): void {
  results.push({ name, unit, value: Math.round(value) });
  console.log(`${name.padEnd(48)} ${Math.round(value).toLocaleString('en-US').padStart(12)} ${unit}`);
}

const gpt2 = await Gpt2Tokenizer.load();
const byte = new ByteTokenizer();

// Warm-up: builds the GPT-2 sentence-count cache for the haystack, a one-off cost.
await evaluateNiah({ model: new NeedleLookupModel(gpt2), tokenizer: gpt2, task: 'n', lengths: [1024], depths: 1, samplesPerCell: 1, seed: 0 });
for (const length of [16_384, 131_072]) {
  const start = performance.now();
  const result = await evaluateNiah({ model: new NeedleLookupModel(gpt2), tokenizer: gpt2, task: 'n', lengths: [length], depths: 3, samplesPerCell: 2, seed: 1, keepRecords: false });
  const seconds = (performance.now() - start) / 1000;
  record(`evaluateNiah n ${length / 1024}K gpt2, lookup model`, 'prompt tokens/s', (result.cells.reduce((n, c) => n + c.meanPromptTokens * c.total, 0)) / seconds);
}

{
  const start = performance.now();
  const result = await evaluateBabilong({ model: new BabilongOracleModel(gpt2), tokenizer: gpt2, tasks: ['qa1', 'qa2', 'qa3', 'qa4', 'qa5'], lengths: [16_384], samplesPerCell: 2, seed: 1, keepRecords: false });
  const seconds = (performance.now() - start) / 1000;
  record('evaluateBabilong qa1-5 16K gpt2, oracle model', 'prompt tokens/s', result.cells.reduce((n, c) => n + c.meanPromptTokens * c.total, 0) / seconds);
}

{
  const train = byte.encode(loadCorpus('moby-dick', { split: 'train' }).map((d) => d.text).join('\n'));
  const model = NgramModel.fit(train, { order: 2, vocabSize: byte.vocabSize });
  const tokens = Int32Array.from(byte.encode(loadCorpus('moby-dick', { split: 'test' }).map((d) => d.text).join('\n')));
  const start = performance.now();
  const result = await evaluatePerplexity({ model, tokens, bucketSize: 4096, tokenizer: byte });
  record('evaluatePerplexity bigram, byte-level', 'tokens/s', result.predictions / ((performance.now() - start) / 1000));
}

{
  const lengths = [1024, 4096, 16384, 65536, 262144, 1048576];
  const depths = [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1];
  const accuracy = depths.map(() => lengths.map(() => 0.5));
  const start = performance.now();
  let n = 0;
  while (performance.now() - start < 500) {
    niahHeatmapSvg({ title: 'bench', lengths, depths, accuracy });
    lineChartSvg({ title: 'bench', series: [{ name: 'a', points: Array.from({ length: 2000 }, (_, i) => [i, Math.sin(i / 50)] as const) }] });
    n++;
  }
  record('heat map (6x11) + 2000-point line chart', 'figure pairs/s', n / ((performance.now() - start) / 1000));
}

mkdirSync(new URL('../bench-results/', import.meta.url), { recursive: true });
const out = new URL('../bench-results/eval.json', import.meta.url);
writeFileSync(out, JSON.stringify({ package: '@titans/eval', date: new Date().toISOString(), node: process.version, cpu: cpus()[0]?.model ?? 'unknown', results }, null, 2) + '\n');
console.log(`wrote ${out.pathname}`);
