// The README's memory example as a function: an untrained NeuralMemory(64, { heads: 4,
// rule: 'titans' }) reading `pieces` pieces of 256 random tokens (piece i from Rng(i)), state
// carried; returns every token's surprise (per head), in order.
import { Rng, tidy, type DType, type Tensor } from '@titans/tensor';
import { NeuralMemory, type NeuralMemoryOptions, type NeuralMemoryState } from '../src/index.js';

export interface ReadmeRun {
  readonly pieces: number;
  readonly dtype?: DType;
  /** Options on top of the README's { heads: 4, rule: 'titans' }. */
  readonly memory?: NeuralMemoryOptions;
  /** Moves each input piece somewhere (e.g. to a WebGPU backend) before the forward pass. */
  readonly place?: (x: Tensor) => Tensor;
}

/** Synchronous (CPU): the surprises of every token, [piece][head][token] flattened. */
export function readmeSurprises(options: ReadmeRun): Float64Array {
  const out = new Float64Array(options.pieces * 4 * 256);
  const memory = new NeuralMemory(64, { heads: 4, rule: 'titans', ...(options.dtype ? { dtype: options.dtype } : {}), ...options.memory });
  let state: NeuralMemoryState = memory.initialState();
  for (let piece = 0; piece < options.pieces; piece++) {
    const { loss, next } = tidy(() => {
      const x = new Rng(piece).normal([1, 256, 64], 0, 1, options.dtype ? { dtype: options.dtype } : {});
      const result = memory.forward(options.place ? options.place(x) : x, state);
      return { loss: result.surprise.loss, next: result.state };
    });
    state = next;
    out.set(loss.dataSync(), piece * 4 * 256);
  }
  return out;
}

/** The same on any backend (reads each piece's surprises asynchronously). */
export async function readmeSurprisesAsync(options: ReadmeRun, build: () => NeuralMemory = () => new NeuralMemory(64, { heads: 4, rule: 'titans', ...options.memory })): Promise<Float64Array> {
  const out = new Float64Array(options.pieces * 4 * 256);
  const memory = build();
  let state: NeuralMemoryState = memory.initialState();
  for (let piece = 0; piece < options.pieces; piece++) {
    const x = new Rng(piece).normal([1, 256, 64]);
    const result = memory.forward(options.place ? options.place(x) : x, state);
    state = result.state;
    out.set(await result.surprise.loss.data(), piece * 4 * 256);
  }
  return out;
}
