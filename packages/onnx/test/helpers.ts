// Fixtures for the export tests: tiny configs whose chunks, segments and windows are short
// enough that a dozen tokens cross each of them, and a closeness measure for logits.
import { describe, expect, it } from 'vitest';
import * as ortNode from 'onnxruntime-node';
import * as ortWeb from 'onnxruntime-web';
import { noGrad, Rng, tensor, type Tensor } from '@titans/tensor';
import { createModel, defineConfig, type ArchitectureName, type ModelConfig } from '@titans/models';
import { exportOnnx, OnnxRunner, type OrtModule } from '../src/index.js';

export const VOCAB = 64;

/** Width 16, 2 blocks, 2 heads, window 6, MAC segment 4, memory chunk 4. */
export function tinyConfig(architecture: ArchitectureName, dtype: 'float32' | 'float64' = 'float32'): ModelConfig {
  return defineConfig({
    architecture, vocabSize: VOCAB, dim: 16, layers: 2, heads: 2, mlpHidden: 32, window: 6, segmentLength: 4, dtype, seed: 7,
    memory: { heads: 2, chunkSize: 4, expansion: 2 },
  });
}

/** Random ids as an int32 tensor [batch, tokens] and as the flat array the runner takes. */
export function randomIds(batch: number, tokens: number, seed: number): { tensor: Tensor; flat: Int32Array } {
  const rng = new Rng(seed);
  const flat = Int32Array.from({ length: batch * tokens }, () => rng.int(VOCAB));
  return { tensor: tensor(flat, [batch, tokens], { dtype: 'int32' }), flat };
}

/** max |actual - expected| / max |expected|: the error relative to the logits' scale. */
export function relativeError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  if (actual.length !== expected.length) throw new Error(`relativeError: ${actual.length} vs ${expected.length} values`);
  let worst = 0;
  let scale = 0;
  for (let i = 0; i < expected.length; i++) {
    const e = expected[i]!;
    const a = actual[i]!;
    if (!Number.isFinite(a)) return Infinity;
    worst = Math.max(worst, Math.abs(a - e));
    scale = Math.max(scale, Math.abs(e));
  }
  return worst / scale;
}

// ---------------------------------------------------------------- the per-architecture suite


ortWeb.env.wasm.numThreads = 1;

/** Both runtimes, one CPU thread each (test files run in parallel). */
export const RUNTIMES: readonly (readonly [string, OrtModule, number])[] = [
  ['onnxruntime-node', ortNode, 1],
  ['onnxruntime-web (wasm)', ortWeb, 1],
];

const PIECE = 4;

/**
 * For each architecture: float32 logits from onnxruntime-node and -web match the runtime
 * to 1e-4 (relative to the logits' scale) for one call over the sequence and for two
 * streamed pieces; in float64 the graph matches the runtime to 1e-9 over three pieces.
 * (Float32 runs stop at two pieces because some memories at random init amplify rounding
 * quickly: the runtime's own float32 and float64 results part at the same rate.)
 */
export function architectureSuite(architectures: readonly ArchitectureName[]): void {
  describe.each(architectures)('%s', (architecture) => {
    it('float32: one pass and 2 streamed pieces match the runtime to 1e-4 in onnxruntime-node and -web', async () => {
      const model = createModel(tinyConfig(architecture));
      const ids = randomIds(1, 2 * PIECE, 11);
      const expected = noGrad(() => model.forward(ids.tensor).logits).dataSync();
      const streamed = exportOnnx(model, { sequenceLength: PIECE });
      const whole = exportOnnx(model, { sequenceLength: 2 * PIECE });
      for (const [name, ort, threads] of RUNTIMES) {
        const stepper = await OnnxRunner.create(streamed, { ort, threads });
        const stream = await stepper.stream(ids.flat);
        expect(stream.state.position).toBe(2 * PIECE);
        expect(relativeError(stream.logits, expected), `${name}, streamed`).toBeLessThan(1e-4);
        const single = await OnnxRunner.create(whole, { ort, threads });
        const once = await single.forward(ids.flat);
        expect(relativeError(once.logits, expected), `${name}, one pass`).toBeLessThan(1e-4);
        await Promise.all([stepper.release(), single.release()]);
      }
    });

    it('float64: 3 streamed pieces compute exactly what the runtime does (1e-9)', async () => {
      const model = createModel(tinyConfig(architecture, 'float64'));
      const ids = randomIds(1, 3 * PIECE, 12);
      const expected = noGrad(() => model.forward(ids.tensor).logits).dataSync();
      const runner = await OnnxRunner.create(exportOnnx(model, { sequenceLength: PIECE }), { ort: ortNode, threads: 1 });
      const result = await runner.stream(ids.flat);
      expect(result.logits).toBeInstanceOf(Float64Array);
      expect(relativeError(result.logits, expected)).toBeLessThan(1e-9);
      await runner.release();
    });
  });
}
