// Checkpoint fuzzing: a real (tiny) checkpoint mutated in every part of its files:
// truncations, header lengths, dtypes, shapes, offsets, names, metadata, save marks,
// non-finite weights and slots, and its JSON files. `info`, `eval`, `generate` and
// `train --resume` must each refuse a broken checkpoint in one line (exit 2), never an
// internal error, and readers must leave the directory exactly as it was. A fixed seed
// picks the random positions, so a failure replays.
import { cp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { Rng } from '@titans/tensor';
import { scratchDirectory } from './helpers.js';
import { snapshot, titansInProcess, type InProcessOutcome } from './in-process.js';

const scratch = scratchDirectory('fuzz');
const SEED = Number(process.env.TITANS_FUZZ_SEED ?? 24);
const TINY = ['--preset', 'tiny-swa', '--set', 'model.dim=8', '--set', 'model.heads=2', '--set', 'data.sequenceLength=16', '--set', 'data.batchSize=1', '--set', 'train.checkpointEvery=1'];
const run = (args: readonly string[]): Promise<InProcessOutcome> => titansInProcess(args, scratch);

type Commands = 'info' | 'eval' | 'generate' | 'resume';
const COMMANDS: Record<Commands, (dir: string) => string[]> = {
  info: (dir) => ['info', dir],
  eval: (dir) => ['eval', dir, '--tasks', 'perplexity', '--tokens', '8'],
  generate: (dir) => ['generate', dir, '--prompt', 'hi', '--max-tokens', '2', '--json'],
  resume: (dir) => ['train', '--resume', '--out', dir, '--steps', '3'],
};

interface Header {
  json: Record<string, unknown>;
  data: Uint8Array;
}

function splitSafetensors(bytes: Uint8Array): Header {
  const length = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  return { json: JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + length))) as Record<string, unknown>, data: bytes.subarray(8 + length) };
}

function joinSafetensors(header: Header, lengthOverride?: bigint): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header.json));
  const out = new Uint8Array(8 + json.length + header.data.length);
  new DataView(out.buffer).setBigUint64(0, lengthOverride ?? BigInt(json.length), true);
  out.set(json, 8);
  out.set(header.data, 8 + json.length);
  return out;
}

type Entry = { dtype: unknown; shape: unknown; data_offsets: unknown };
const tensorNames = (h: Header): string[] => Object.keys(h.json).filter((k) => k !== '__metadata__');

/** How the mutated file should be met: every command refuses, or only those that read what was broken. */
type Depth = 'structure' | 'weights' | 'slots';
interface Mutation {
  readonly name: string;
  readonly file: 'model.safetensors' | 'optimizer.safetensors' | 'config.json' | 'trainer.json';
  readonly depth: Depth;
  apply(bytes: Uint8Array, rng: Rng): Uint8Array;
}

const pick = <T>(items: readonly T[], rng: Rng): T => items[Math.floor(rng.uniformArray(1)[0]! * items.length)]!;
const randomInt = (n: number, rng: Rng): number => Math.floor(rng.uniformArray(1)[0]! * n);

function headerMutation(name: string, file: Mutation['file'], change: (h: Header, rng: Rng) => void): Mutation {
  return {
    name, file, depth: 'structure',
    apply(bytes, rng) {
      const h = splitSafetensors(bytes);
      change(h, rng);
      return joinSafetensors(h);
    },
  };
}

function entryMutation(name: string, file: Mutation['file'], change: (e: Entry, rng: Rng) => void): Mutation {
  return headerMutation(name, file, (h, rng) => change(h.json[pick(tensorNames(h), rng)] as Entry, rng));
}

function nonFinite(file: 'model.safetensors' | 'optimizer.safetensors', value: number): Mutation {
  return {
    name: `${value} in a ${file === 'model.safetensors' ? 'weight' : 'slot'}`, file, depth: file === 'model.safetensors' ? 'weights' : 'slots',
    apply(bytes, rng) {
      const h = splitSafetensors(bytes);
      const entry = h.json[pick(tensorNames(h), rng)] as { data_offsets: [number, number] };
      const [begin, end] = entry.data_offsets;
      const data = h.data.slice();
      new DataView(data.buffer).setFloat32(begin + 4 * randomInt((end - begin) / 4, rng), value, true);
      return joinSafetensors({ json: h.json, data });
    },
  };
}

function jsonMutation(name: string, file: 'config.json' | 'trainer.json', change: (value: Record<string, unknown>) => void): Mutation {
  return {
    name, file, depth: 'structure',
    apply(bytes) {
      const value = JSON.parse(new TextDecoder().decode(bytes)) as Record<string, unknown>;
      change(value);
      return new TextEncoder().encode(JSON.stringify(value));
    },
  };
}

const MUTATIONS: Mutation[] = [];
for (const file of ['model.safetensors', 'optimizer.safetensors'] as const) {
  MUTATIONS.push(
    { name: 'truncated to nothing', file, depth: 'structure', apply: () => new Uint8Array(0) },
    { name: 'truncated inside the length', file, depth: 'structure', apply: (b) => b.subarray(0, 5) },
    { name: 'truncated inside the header', file, depth: 'structure', apply: (b, rng) => b.subarray(0, 9 + randomInt(Number(new DataView(b.buffer, b.byteOffset).getBigUint64(0, true)) - 2, rng)) },
    { name: 'truncated inside the data', file, depth: 'structure', apply: (b, rng) => b.subarray(0, b.length - 1 - randomInt(64, rng)) },
    { name: 'a byte too many', file, depth: 'structure', apply: (b) => new Uint8Array([...b, 0]) },
    { name: 'header length 0', file, depth: 'structure', apply: (b) => joinSafetensors(splitSafetensors(b), 0n) },
    { name: 'header length one short', file, depth: 'structure', apply: (b) => { const h = splitSafetensors(b); return joinSafetensors(h, BigInt(JSON.stringify(h.json).length - 1)); } },
    { name: 'header length one long', file, depth: 'structure', apply: (b) => { const h = splitSafetensors(b); return joinSafetensors(h, BigInt(JSON.stringify(h.json).length + 1)); } },
    { name: 'header length 2^40', file, depth: 'structure', apply: (b) => joinSafetensors(splitSafetensors(b), 2n ** 40n) },
    { name: 'header length 2^63', file, depth: 'structure', apply: (b) => joinSafetensors(splitSafetensors(b), 2n ** 63n) },
    headerMutation('a header that is a list', file, (h) => { h.json = [] as unknown as Record<string, unknown>; }),
    entryMutation('dtype F16', file, (e) => { e.dtype = 'F16'; }),
    entryMutation('dtype F64', file, (e) => { e.dtype = 'F64'; }),
    entryMutation('dtype I32', file, (e) => { e.dtype = 'I32'; }),
    entryMutation('dtype __proto__', file, (e) => { e.dtype = '__proto__'; }),
    entryMutation('dtype null', file, (e) => { e.dtype = null; }),
    entryMutation('shape with an extra axis of 1', file, (e) => { e.shape = [...(e.shape as number[]), 1]; }),
    entryMutation('shape with a negative size', file, (e) => { e.shape = (e.shape as number[]).map((d, i) => (i === 0 ? -d : d)); }),
    entryMutation('shape with a fraction', file, (e) => { e.shape = [...(e.shape as number[]), 0.5]; }),
    entryMutation('shape a string', file, (e) => { e.shape = '8'; }),
    entryMutation('shape of 2^60 elements', file, (e) => { e.shape = [2 ** 30, 2 ** 30]; }),
    entryMutation('offsets shifted by 4', file, (e) => { e.data_offsets = (e.data_offsets as number[]).map((o) => o + 4); }),
    entryMutation('offsets reversed', file, (e) => { e.data_offsets = [...(e.data_offsets as number[])].reverse(); }),
    entryMutation('offsets past the end', file, (e) => { e.data_offsets = [2 ** 40, 2 ** 40 + 4]; }),
    entryMutation('offsets not integers', file, (e) => { e.data_offsets = [0.5, 4]; }),
    entryMutation('offsets missing', file, (e) => { delete (e as Partial<Entry>).data_offsets; }),
    headerMutation('a tensor renamed', file, (h, rng) => { const n = pick(tensorNames(h), rng); h.json[`${n}.renamed`] = h.json[n]; delete h.json[n]; }),
    headerMutation('a tensor removed', file, (h, rng) => { delete h.json[pick(tensorNames(h), rng)]; }),
    headerMutation('two names for one range', file, (h, rng) => { h.json.extra = h.json[pick(tensorNames(h), rng)]; }),
    headerMutation('a tensor named __proto__', file, (h, rng) => { const n = pick(tensorNames(h), rng); Object.defineProperty(h.json, '__proto__', { value: h.json[n], enumerable: true }); delete h.json[n]; }),
    headerMutation('metadata not an object', file, (h) => { h.json.__metadata__ = ['x']; }),
    headerMutation('a metadata value not a string', file, (h) => { (h.json.__metadata__ as Record<string, unknown>).format = 7; }),
    headerMutation('the save mark of another step', file, (h) => { (h.json.__metadata__ as Record<string, string>)['titans.step'] = '1'; }),
    headerMutation('the save mark of another run', file, (h) => { (h.json.__metadata__ as Record<string, string>)['titans.run'] = 'other'; }),
    headerMutation('the save mark removed', file, (h) => { delete (h.json.__metadata__ as Record<string, string>)['titans.step']; }),
    nonFinite(file, Number.NaN), nonFinite(file, Number.POSITIVE_INFINITY), nonFinite(file, Number.NEGATIVE_INFINITY),
  );
}
MUTATIONS.push(
  headerMutation('optimizer step not a count', 'optimizer.safetensors', (h) => { (h.json.__metadata__ as Record<string, string>).step = '-1'; }),
  headerMutation('optimizer slots named twice', 'optimizer.safetensors', (h) => { (h.json.__metadata__ as Record<string, string>).slots = 'm,m'; }),
  { name: 'config.json truncated', file: 'config.json', depth: 'structure', apply: (b) => b.subarray(0, b.length >> 1) },
  jsonMutation('config.json of another width', 'config.json', (c) => { c.dim = 16; }),
  jsonMutation('config.json of an unknown architecture', 'config.json', (c) => { c.architecture = 'rnn'; }),
  jsonMutation('config.json of 1e9 blocks', 'config.json', (c) => { c.layers = 1e9; }),
  jsonMutation('config.json with the mark of another step', 'config.json', (c) => { (c.__checkpoint__ as { step: number }).step = 1; }),
  { name: 'trainer.json truncated', file: 'trainer.json', depth: 'structure', apply: (b) => b.subarray(0, b.length - 3) },
  jsonMutation('trainer.json of another step', 'trainer.json', (t) => { t.step = 5; }),
  jsonMutation('trainer.json losses not numbers', 'trainer.json', (t) => { t.losses = ['a']; }),
  jsonMutation('trainer.json of an unknown format', 'trainer.json', (t) => { t.format = 'other'; }),
  jsonMutation('trainer.json with a negative step', 'trainer.json', (t) => { t.step = -1; (t.__checkpoint__ as { step: number }).step = -1; }),
);

/** Exit codes each command may give: a broken checkpoint is refused (2) by every command that reads the broken part. */
function allowed(depth: Depth, command: Commands): number[] {
  if (depth === 'weights' && command === 'info') return [0]; // info reads headers, not weights
  if (depth === 'slots' && command !== 'resume') return [0]; // only a resume loads optimizer slots
  return [2];
}

let base: string;
beforeAll(async () => {
  base = join(scratch, 'base');
  const made = await run(['train', ...TINY, '--steps', '2', '--out', base]);
  expect(made.code, made.stderr).toBe(0);
}, 60_000);

describe(`checkpoint fuzz (seed ${SEED}): every mutation is refused cleanly by info, eval, generate and train --resume`, () => {
  MUTATIONS.forEach((mutation, index) => {
    it(`${mutation.file}: ${mutation.name}`, async () => {
      const rng = new Rng(SEED, index);
      const dir = join(scratch, `m${index}`);
      await rm(dir, { recursive: true, force: true });
      await cp(base, dir, { recursive: true });
      const file = join(dir, mutation.file);
      await writeFile(file, mutation.apply(new Uint8Array(await readFile(file)), rng));
      const before = await snapshot(dir);
      for (const command of ['info', 'eval', 'generate', 'resume'] as const) {
        const outcome = await run(COMMANDS[command](dir));
        expect(outcome.thrown, `${command}: internal error\n${outcome.stderr}`).toBeUndefined();
        expect(allowed(mutation.depth, command), `${command} exited ${outcome.code}: ${outcome.stderr}`).toContain(outcome.code);
        if (outcome.code === 2) expect(outcome.stderr.trim().split('\n'), outcome.stderr).toHaveLength(1);
        if (command !== 'resume' || outcome.code !== 0) expect(await snapshot(dir), `${command} changed the checkpoint`).toEqual(before);
      }
    }, 30_000);
  });
});
