// Exporting and running beyond the per-architecture suites: batches, stateless exports,
// the metadata inside the model, the limits of an export, and checkpoints to .onnx files.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import * as ortNode from 'onnxruntime-node';
import { noGrad } from '@titans/tensor';
import { createModel, saveCheckpoint } from '@titans/models';
import { decodeModel, exportCheckpointToOnnx, exportOnnx, OnnxRunner, readOnnxMetadata } from '../src/index.js';
import { randomIds, relativeError, tinyConfig } from './helpers.js';

const node = { ort: ortNode, threads: 1 } as const;

describe('exportOnnx', () => {
  it('streams a batch of two sequences (tied embeddings)', async () => {
    const model = createModel({ ...tinyConfig('mag'), tieEmbeddings: true });
    const ids = randomIds(2, 12, 4);
    const expected = noGrad(() => model.forward(ids.tensor).logits).dataSync();
    const runner = await OnnxRunner.create(exportOnnx(model, { sequenceLength: 4, batch: 2 }), node);
    const result = await runner.stream(ids.flat);
    expect(result.dims).toEqual([2, 12, 64]);
    expect(relativeError(result.logits, expected)).toBeLessThan(1e-4);
  });

  it('a stateless export takes only the token ids and starts from the initial state', async () => {
    const model = createModel(tinyConfig('mac'));
    const ids = randomIds(1, 8, 5);
    const exported = exportOnnx(model, { sequenceLength: 8, stateful: false });
    const graph = decodeModel(exported.bytes).graph;
    expect(graph.input.map((i) => i.name)).toEqual(['input_ids']);
    expect(graph.output.map((o) => o.name)).toEqual(['logits']);
    const runner = await OnnxRunner.create(exported, node);
    const result = await runner.forward([Array.from(ids.flat)]);
    expect(relativeError(result.logits, noGrad(() => model.forward(ids.tensor).logits).dataSync())).toBeLessThan(1e-4);
  });

  it('describes its state in the metadata inside the model, and uses no Loop or Scan', () => {
    const exported = exportOnnx(createModel(tinyConfig('lmm')), { sequenceLength: 8 });
    expect(readOnnxMetadata(exported.bytes)).toEqual(JSON.parse(JSON.stringify(exported.metadata)));
    const { state } = exported.metadata;
    expect(state.map((s) => s.path)).toContain('layers.0.memory.memory.weights.0');
    expect(state.find((s) => s.path === 'layers.0.memory.memory.weights.0')).toMatchObject({ shape: [1, 2, 16, 8], initial: 'learned' });
    expect(state.find((s) => s.path === 'layers.1.memory.convCache')).toMatchObject({ shape: [1, 3, 48], initial: 'zeros' });
    const model = decodeModel(exported.bytes);
    expect(model.opsetImport).toEqual([{ domain: '', version: 17 }]);
    const ops = new Set(model.graph.node.map((n) => n.opType));
    expect(ops.has('Loop') || ops.has('Scan') || ops.has('If')).toBe(false);
    expect(model.graph.input.map((i) => i.name)).toEqual(['input_ids', 'state.position', ...state.map((s) => s.input)]);
  });

  it('refuses piece lengths that would leave a partial memory chunk or MAC segment', () => {
    expect(() => exportOnnx(createModel(tinyConfig('lmm')), { sequenceLength: 6 })).toThrow(/multiple of memory.chunkSize 4/);
    expect(() => exportOnnx(createModel({ ...tinyConfig('mac'), segmentLength: 8 }), { sequenceLength: 4 })).toThrow(/multiple of segmentLength/);
  });

  it('full attention keeps maxContext tokens in view, and the runner stops where that no longer matches', async () => {
    const model = createModel(tinyConfig('transformer'));
    const ids = randomIds(1, 12, 6);
    const expected = noGrad(() => model.forward(ids.tensor).logits).dataSync();
    const exported = exportOnnx(model, { sequenceLength: 4, maxContext: 12 });
    expect(exported.metadata.maxPosition).toBe(8);
    const runner = await OnnxRunner.create(exported, node);
    const result = await runner.stream(ids.flat);
    expect(relativeError(result.logits, expected)).toBeLessThan(1e-5);
    await expect(runner.forward(ids.flat.subarray(0, 4), result.state)).rejects.toThrow(/past 8/);
  });
});

describe('exportCheckpointToOnnx', () => {
  it('writes the model of a checkpoint directory and its metadata, and the file runs', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'titans-onnx-'));
    try {
      const model = createModel(tinyConfig('mal'));
      await saveCheckpoint(join(dir, 'ckpt'), { model, config: model.config });
      const out = join(dir, 'out', 'mal.onnx');
      const result = await exportCheckpointToOnnx(join(dir, 'ckpt'), out, { sequenceLength: 4 });
      expect(result.metadataFile).toBe(`${out}.json`);
      expect(JSON.parse(await readFile(result.metadataFile, 'utf8'))).toMatchObject({ architecture: 'mal', sequenceLength: 4 });
      const runner = await OnnxRunner.create(new Uint8Array(await readFile(out)), node);
      const ids = randomIds(1, 8, 9);
      const streamed = await runner.stream(ids.flat);
      expect(relativeError(streamed.logits, noGrad(() => model.forward(ids.tensor).logits).dataSync())).toBeLessThan(1e-4);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
