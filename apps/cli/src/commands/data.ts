// `titans data list | preview | prepare`: the bundled corpora and synthetic tasks, a look at
// one sample, and files ready for other tools (token ids as binary, task samples as JSONL).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  babilongTasks, corpusSplits, deriveSeed, generateBabilongSample, generateMqarBatch, generateNiahSample, generatePasskeySample,
  loadCorpus, loadTokenizer, type BabilongTask, type CorpusName, type Split, type Tokenizer,
} from '@titans/data';
import { EXIT, UsageError, type Command } from '../command.js';
import { formatBytes, formatTable, grouped } from '../format.js';
import { choiceValue, expectPositional, integerValue, numberValue, parseArgs } from '../options.js';
import { checkWritableDirectory, makeOutputDirectory, outputDirectory } from '../paths.js';

const CORPORA = ['sotu', 'moby-dick'] as const;
const TASKS = ['passkey', 'niah', 'babilong', 'mqar'] as const;
const DATASETS = [...CORPORA, ...TASKS] as const;
type Dataset = (typeof DATASETS)[number];
const TOKENIZER_CHOICES = ['byte', 'gpt2'] as const;

const usage = `usage: titans data list
       titans data preview <dataset> [options]
       titans data prepare <dataset> [options]

datasets: corpora sotu, moby-dick (fixed train/val/test splits); tasks passkey, niah,
babilong, mqar (generated from a seed).

  list                   corpora with documents and bytes per split, tasks, tokenizers
  preview                print one sample (a corpus excerpt, a task prompt and its answer)
  prepare                corpora: token ids as little-endian uint16/int32 (.bin) + manifest (.json);
                         tasks: --samples prompts with answers as JSONL

options:
  --split train|val|test|all     corpus split (default train; preview default test)
  --tokenizer byte|gpt2          tokenizer (default byte)
  --chars N                      preview: characters of corpus text shown (default 600)
  --length N                     task prompt length in tokens (default 512; mqar 64)
  --depth D                      passkey/niah needle depth in [0, 1] (default 0.5)
  --task T                       niah pk|n|w (default pk), babilong qa1..qa5 (default qa1)
  --samples N                    prepare: task samples (default 100)
  --out DIR                      prepare: where files go (default runs/data-<timestamp>)
  --seed N, --json

exit codes: 0 done, 2 bad input`;

interface TaskSample {
  readonly prompt: string;
  readonly answer: string;
  readonly tokens: number;
  readonly meta: Record<string, string | number>;
}

interface TaskSettings {
  readonly tokenizer: Tokenizer;
  readonly length: number;
  readonly depth: number;
  readonly task: string;
}

function taskSample(dataset: Exclude<Dataset, CorpusName>, settings: TaskSettings, seed: number): TaskSample {
  const { tokenizer, length, depth } = settings;
  try {
    switch (dataset) {
      case 'passkey': {
        const s = generatePasskeySample({ tokenizer, length, depth, seed });
        return { prompt: s.text(), answer: s.answer, tokens: s.length, meta: { passkey: s.passkey, depth: s.depth } };
      }
      case 'niah': {
        const s = generateNiahSample({ task: settings.task as 'pk' | 'n' | 'w', tokenizer, length, depth, seed });
        return { prompt: s.text(), answer: ` ${s.value}.`, tokens: s.length, meta: { key: s.key, value: s.value, depth: s.depth } };
      }
      case 'babilong': {
        const s = generateBabilongSample({ task: settings.task as BabilongTask, tokenizer, length, seed });
        return { prompt: s.text(), answer: s.target, tokens: s.length, meta: { task: s.task, facts: s.facts.length } };
      }
      case 'mqar': {
        const b = generateMqarBatch({ vocabSize: Math.max(256, length + 1), sequenceLength: length, numPairs: Math.max(1, Math.floor(length / 8)), seed });
        const queries = Array.from(b.mask.keys()).filter((i) => b.mask[i]);
        return {
          prompt: Array.from(b.tokens).join(' '),
          answer: queries.map((i) => b.targets[i]).join(' '),
          tokens: length,
          meta: { vocabSize: b.vocabSize, numPairs: b.numPairs, queryPositions: queries.join(' ') },
        };
      }
    }
  } catch (error) {
    throw new UsageError(`${dataset}: ${(error as Error).message}`);
  }
}

export const dataCommand: Command = {
  name: 'data',
  summary: 'list, preview and prepare the bundled corpora and synthetic tasks',
  usage,
  async run(args, context) {
    const parsed = parseArgs(args, { values: ['split', 'tokenizer', 'chars', 'length', 'depth', 'task', 'samples'] });
    const [action, dataset, ...extra] = parsed.positional;
    if (action === undefined) throw new UsageError('needs an action: list, preview or prepare');
    if (extra.length > 0) throw new UsageError(`unexpected argument '${extra[0]}'`);
    const v = parsed.values;
    const json = parsed.global.json;
    if (action === 'list') {
      expectPositional(parsed.positional, 1, 1, 'no dataset');
      const corpora = CORPORA.map((name) => ({
        name, splits: Object.fromEntries((['train', 'val', 'test'] as const).map((split) => {
          const docs = loadCorpus(name, { split });
          return [split, { documents: docs.length, bytes: docs.reduce((n, d) => n + Buffer.byteLength(d.text), 0), covers: corpusSplits[name][split] }];
        })),
      }));
      const tasks = [
        { name: 'passkey', about: 'a 5-digit pass key hidden in repeated filler (byte-level friendly)' },
        { name: 'niah', about: 'RULER S-NIAH: pk (filler), n (number in essays), w (UUID in essays)' },
        { name: 'babilong', about: `bAbI-style ${babilongTasks.join(', ')} facts hidden in long text` },
        { name: 'mqar', about: 'multi-query associative recall (Zoology)' },
      ];
      const tokenizers = [{ name: 'byte', vocabSize: 259 }, { name: 'gpt2', vocabSize: 50257 }];
      if (json) context.out(JSON.stringify({ corpora, tasks, tokenizers }, null, 2));
      else {
        context.out(formatTable(['corpus', 'split', 'covers', 'documents', 'size'], corpora.flatMap((c) => Object.entries(c.splits).map(([split, s]) => [c.name, split, s.covers, s.documents, formatBytes(s.bytes)]))));
        context.out('');
        context.out(formatTable(['task', 'what'], tasks.map((t) => [t.name, t.about])));
        context.out('');
        context.out(`tokenizers: ${tokenizers.map((t) => `${t.name} (${grouped(t.vocabSize)} ids)`).join(', ')}`);
      }
      return EXIT.ok;
    }
    if (action !== 'preview' && action !== 'prepare') throw new UsageError(`unknown action '${action}' (expected list, preview or prepare)`);
    if (dataset === undefined) throw new UsageError(`${action} needs a dataset (${DATASETS.join(', ')})`);
    if (!(DATASETS as readonly string[]).includes(dataset)) throw new UsageError(`unknown dataset '${dataset}' (datasets: ${DATASETS.join(', ')})`);
    const name = dataset as Dataset;
    const tokenizer = await loadTokenizer(v.tokenizer ? choiceValue('tokenizer', v.tokenizer, TOKENIZER_CHOICES) : 'byte');
    const seed = parsed.global.seed;
    if (name === 'sotu' || name === 'moby-dick') {
      const split = v.split ? choiceValue('split', v.split, ['train', 'val', 'test', 'all'] as const) : action === 'preview' ? 'test' : 'train';
      const documents = loadCorpus(name, { split: split as Split });
      if (action === 'preview') {
        const chars = v.chars ? integerValue('chars', v.chars, { min: 1 }) : 600;
        const doc = documents[seed % documents.length]!;
        const text = doc.text.slice(0, chars);
        if (json) context.out(JSON.stringify({ corpus: name, split, documents: documents.length, id: doc.id, text, tokens: tokenizer.encode(text).length }, null, 2));
        else {
          context.out(`${doc.id} (${split} split, document ${(seed % documents.length) + 1} of ${documents.length}; first ${text.length} characters = ${tokenizer.encode(text).length} ${tokenizer.name} tokens)`);
          context.out(text);
        }
        return EXIT.ok;
      }
      const out = outputDirectory(parsed.global.out, 'data', context);
      checkWritableDirectory(out);
      const ids: number[] = [];
      for (const doc of documents) {
        ids.push(...tokenizer.encode(doc.text));
        if (tokenizer.eosId !== undefined) ids.push(tokenizer.eosId);
      }
      const wide = tokenizer.vocabSize > 65535;
      const array = wide ? Int32Array.from(ids) : Uint16Array.from(ids);
      const stem = `${name}-${split}-${tokenizer.name}`;
      makeOutputDirectory(out);
      const bin = join(out, `${stem}.bin`);
      writeFileSync(bin, new Uint8Array(array.buffer, array.byteOffset, array.byteLength));
      const manifest = { corpus: name, split, tokenizer: tokenizer.name, vocabSize: tokenizer.vocabSize, eosId: tokenizer.eosId ?? null, dtype: wide ? 'int32' : 'uint16', endianness: 'little', tokens: ids.length, documents: documents.map((d) => d.id) };
      writeFileSync(join(out, `${stem}.json`), `${JSON.stringify(manifest, null, 2)}\n`);
      if (json) context.out(JSON.stringify({ files: [bin, join(out, `${stem}.json`)], tokens: ids.length, dtype: manifest.dtype }, null, 2));
      else context.out(`wrote ${grouped(ids.length)} ${tokenizer.name} tokens of ${documents.length} documents to ${bin} (${manifest.dtype}) and ${stem}.json`);
      return EXIT.ok;
    }
    const defaultTask = name === 'niah' ? 'pk' : 'qa1';
    const settings: TaskSettings = {
      tokenizer,
      length: v.length ? integerValue('length', v.length, { min: 1 }) : name === 'mqar' ? 64 : 512,
      depth: v.depth ? numberValue('depth', v.depth, { min: 0, max: 1 }) : 0.5,
      task: v.task ? choiceValue('task', v.task, name === 'niah' ? ['pk', 'n', 'w'] : (babilongTasks as readonly string[])) : defaultTask,
    };
    if (action === 'preview') {
      const sample = taskSample(name, settings, seed);
      if (json) context.out(JSON.stringify({ dataset: name, ...sample }, null, 2));
      else {
        context.out(`${name} sample (seed ${seed}, ${sample.tokens} ${tokenizer.name} tokens; ${Object.entries(sample.meta).map(([k, x]) => `${k} ${x}`).join(', ')})`);
        context.out(sample.prompt);
        context.out(`answer: ${JSON.stringify(sample.answer)}`);
      }
      return EXIT.ok;
    }
    const samples = v.samples ? integerValue('samples', v.samples, { min: 1 }) : 100;
    taskSample(name, settings, seed); // fails here, before anything is written
    const out = outputDirectory(parsed.global.out, 'data', context);
    checkWritableDirectory(out);
    makeOutputDirectory(out);
    const file = join(out, `${name}-${settings.length}-${tokenizer.name}.jsonl`);
    const lines: string[] = [];
    for (let i = 0; i < samples; i++) lines.push(JSON.stringify(taskSample(name, { ...settings, depth: name === 'passkey' || name === 'niah' ? (i % 11) / 10 : settings.depth }, deriveSeed(seed, 'prepare', i))));
    writeFileSync(file, `${lines.join('\n')}\n`);
    if (json) context.out(JSON.stringify({ files: [file], samples }, null, 2));
    else context.out(`wrote ${samples} ${name} samples to ${file}`);
    return EXIT.ok;
  },
};
