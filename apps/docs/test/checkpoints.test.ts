// The shipped checkpoint sets, in Node on the CPU backend: every manifest the demos offer
// parses and lists files that are there, and the scale plan's models load and give the
// run's answers (the same cells correct) on the run's own prompts.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpuBackend, setBackend } from '@titans/tensor';
import { describe, expect, it } from 'vitest';
import {
  CHECKPOINT_SETS, answerPasskey, checkpointsUrl, isCheckpointSet, modelFromCheckpoint, parseManifest, passkeyPrompt, promptSeed, setLabel,
  type CheckpointManifest, type CheckpointSet, type ShippedModel,
} from '../.vitepress/theme/demos/checkpoints';

const publicRoot = fileURLToPath(new URL('../public/', import.meta.url));
/** A set's folder on disk: the same path the site serves it from under '/'. */
const folder = (set: CheckpointSet): string => join(publicRoot, checkpointsUrl('/', set).slice(1));
const readManifest = (set: CheckpointSet): CheckpointManifest => {
  const file = join(folder(set), 'manifest.json');
  return parseManifest(JSON.parse(readFileSync(file, 'utf8')), file);
};
const loadModel = (set: CheckpointSet, entry: ShippedModel) =>
  modelFromCheckpoint(JSON.parse(readFileSync(join(folder(set), entry.configFile), 'utf8')), new Uint8Array(readFileSync(join(folder(set), entry.weights))), entry.weights);

/** Answers every prompt of one length of the run's grid and counts the correct ones per depth. */
async function cellsAt(set: CheckpointSet, manifest: CheckpointManifest, entry: ShippedModel, length: number): Promise<{ depth: number; correct: number }[]> {
  const model = loadModel(set, entry);
  const out: { depth: number; correct: number }[] = [];
  for (const depth of manifest.task.depths) {
    let correct = 0;
    for (let i = 0; i < manifest.task.samplesPerCell; i++) if ((await answerPasskey(model, manifest, length, depth, i, entry)).correct) correct++;
    out.push({ depth, correct });
  }
  return out;
}

const measuredCells = (entry: ShippedModel, length: number): { depth: number; correct: number }[] =>
  entry.measured.cells.filter((c) => c.length === length).map(({ depth, correct }) => ({ depth, correct }));

describe('checkpoint sets', () => {
  it('puts the full set in checkpoints/ and every other set in its own folder', () => {
    expect(checkpointsUrl('/', 'full')).toBe('/checkpoints/');
    expect(checkpointsUrl('/titans-ts', 'scale')).toBe('/titans-ts/checkpoints/scale/');
    expect(checkpointsUrl('/titans-ts/', 'scale')).toBe('/titans-ts/checkpoints/scale/');
    expect(CHECKPOINT_SETS[0]).toBe('scale');
    expect(CHECKPOINT_SETS.every(isCheckpointSet)).toBe(true);
    expect(isCheckpointSet('medium')).toBe(false);
  });

  it.each(CHECKPOINT_SETS)('the %s manifest parses and lists files that are there', (set) => {
    const manifest = readManifest(set);
    expect(manifest.source.plan).toBe(set);
    for (const m of manifest.models) {
      expect(statSync(join(folder(set), m.weights)).size, m.weights).toBe(m.bytes);
      expect(existsSync(join(folder(set), m.configFile)), m.configFile).toBe(true);
      // Every cell of the grid the run measured is in the manifest.
      expect(m.measured.cells.length, m.name).toBe(manifest.task.lengths.length * manifest.task.depths.length);
    }
    if (manifest.budget) expect(manifest.models.reduce((s, m) => s + m.bytes, 0)).toBeLessThanOrEqual(manifest.budget.bytes);
    const k = manifest.models.map((m) => Math.round(m.parameters / 1000));
    const multiples = `${Math.min(...manifest.task.lengths) / manifest.task.trainLength}x-${Math.max(...manifest.task.lengths) / manifest.task.trainLength}x`;
    expect(setLabel(manifest)).toBe(`${set} plan (${Math.min(...k) === Math.max(...k) ? `${k[0]}k` : `${Math.min(...k)}k-${Math.max(...k)}k`} parameters, ${multiples})`);
  });

  it('rejects a manifest the demos could not use, naming the problem', () => {
    const good = readManifest('scale');
    const bad = (patch: Record<string, unknown>): unknown => ({ ...good, ...patch });
    expect(() => parseManifest(bad({ version: 2 }), 'm.json')).toThrow('m.json: not a checkpoint manifest of version 1');
    expect(() => parseManifest(bad({ versus: { ...good.versus, window: 'nope' } }), 'm.json')).toThrow('versus names nope');
    expect(() => parseManifest(bad({ models: [] }), 'm.json')).toThrow('lists no models');
    expect(() => parseManifest(bad({ models: [good.models[0], good.models[0]] }), 'm.json')).toThrow('listed twice');
    expect(() => parseManifest(bad({ task: { ...good.task, lengths: [] } }), 'm.json')).toThrow('lengths and depths');
    expect(() => parseManifest(bad({ source: { plan: 'scale' } }), 'm.json')).toThrow('command, the plan and the commit');
  });

  it("derives each scale model's prompts from its own seed", () => {
    const manifest = readManifest('scale');
    for (const m of manifest.models) expect(promptSeed(manifest, m)).toBe(m.seed ?? manifest.task.seed);
    const other = manifest.models.find((m) => m.seed !== undefined && m.seed !== manifest.task.seed);
    if (other) expect(passkeyPrompt(manifest, 64, 0, 0, other).prompt).not.toBe(passkeyPrompt(manifest, 64, 0, 0).prompt);
  });

  it('the scale models load and answer the 1x prompts as the run measured', async () => {
    setBackend(cpuBackend);
    const manifest = readManifest('scale');
    const length = manifest.task.trainLength;
    expect(manifest.task.lengths).toContain(length);
    for (const entry of manifest.models) expect(await cellsAt('scale', manifest, entry, length), entry.name).toEqual(measuredCells(entry, length));
  }, 300_000);

  // At 16x the prompts of the model's own seed (MAC: seed 1) and those of the run's seed 0
  // give different cells today ([0, 1, 1, 2] against [0, 0, 1, 2] correct), so this also
  // checks that each model is prompted with its own seed.
  it('the scale memory model reproduces its cells at the longest length', async () => {
    setBackend(cpuBackend);
    const manifest = readManifest('scale');
    const entry = manifest.models.find((m) => m.name === manifest.versus.memory)!;
    const length = Math.max(...manifest.task.lengths);
    expect(await cellsAt('scale', manifest, entry, length)).toEqual(measuredCells(entry, length));
  }, 300_000);
});
