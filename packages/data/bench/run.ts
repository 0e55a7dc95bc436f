// Throughput of tokenizers and generators. Writes bench-results/data.json.
// Run: pnpm bench (node --conditions=source --import tsx bench/run.ts)

import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { ByteTokenizer, generateBabilongSample, generateMqarBatch, generateNiahSample, Gpt2Tokenizer, loadCorpus, mobyDickText, TokenLoader, type Tokenizer } from '../src/index.ts';

interface Result {
  name: string;
  tokens: number;
  seconds: number;
  tokensPerSecond: number;
}

const results: Result[] = [];

function measure(name: string, run: () => number): void {
  run(); // warm-up (also fills per-tokenizer sentence-count caches)
  const start = performance.now();
  let tokens = 0;
  let rounds = 0;
  do {
    tokens += run();
    rounds++;
  } while (performance.now() - start < 1000 && rounds < 50);
  const seconds = (performance.now() - start) / 1000;
  const result = { name, tokens, seconds: Number(seconds.toFixed(3)), tokensPerSecond: Math.round(tokens / seconds) };
  results.push(result);
  console.log(`${name.padEnd(44)} ${result.tokensPerSecond.toLocaleString('en-US').padStart(14)} tokens/s`);
}

const byte = new ByteTokenizer();
const gpt2 = await Gpt2Tokenizer.load();
const text = mobyDickText().slice(0, 200_000);

for (const tokenizer of [byte, gpt2] as Tokenizer[]) {
  measure(`encode ${tokenizer.name} (200 KB of Moby Dick)`, () => tokenizer.encode(text).length);
  const ids = tokenizer.encode(text);
  measure(`decode ${tokenizer.name}`, () => tokenizer.decode(ids).length && ids.length);
}

for (const tokenizer of [byte, gpt2] as Tokenizer[]) {
  for (const task of ['pk', 'n', 'w'] as const) {
    let seed = 0;
    measure(`S-NIAH ${task} 16K ${tokenizer.name} (materialised)`, () => generateNiahSample({ task, tokenizer, length: 16_384, depth: 0.5, seed: seed++ }).tokens().length);
  }
}

const streamed = (tokenizer: Tokenizer, length: number) => (): number => {
  const sample = generateNiahSample({ task: 'n', tokenizer, length, depth: 0.5, seed: 1 });
  let count = 0;
  for (const chunk of sample.chunks()) count += chunk.tokens.length;
  return count;
};
measure('S-NIAH n 1M byte (streamed)', streamed(byte, 1_000_000));
measure('S-NIAH n 1M gpt2 (streamed)', streamed(gpt2, 1_000_000));
measure('BABILong qa2 128K gpt2 (streamed)', () => {
  let count = 0;
  for (const chunk of generateBabilongSample({ task: 'qa2', tokenizer: gpt2, length: 131_072, seed: 1 }).chunks()) count += chunk.tokens.length;
  return count;
});
measure('MQAR batch 64 x 512 (V=8192, N=64)', () => generateMqarBatch({ vocabSize: 8192, sequenceLength: 512, numPairs: 64, batchSize: 64, seed: 1 }).tokens.length);

const documents = loadCorpus('sotu', { split: 'train' });
const loader = new TokenLoader({ documents, tokenizer: gpt2, batchSize: 8, sequenceLength: 1024, seed: 1 });
measure('TokenLoader gpt2 SOTU 8 x 1024', () => loader.next().inputs.length);

mkdirSync(new URL('../bench-results/', import.meta.url), { recursive: true });
const out = new URL('../bench-results/data.json', import.meta.url);
writeFileSync(out, JSON.stringify({ package: '@titans/data', date: new Date().toISOString(), node: process.version, cpu: cpus()[0]?.model ?? 'unknown', results }, null, 2) + '\n');
console.log(`wrote ${out.pathname}`);
