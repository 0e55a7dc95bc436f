// A tiny language model and data stream for the training and checkpoint tests: an
// embedding followed by a linear head (a bigram model), trained on a seeded token stream.
import { Rng, crossEntropy, dropout, nn, type Tensor } from '@titans/tensor';
import type { TrainingBatch, BatchSource, StepContext } from '../src/train/index.ts';

export interface BigramConfig {
  vocabSize: number;
  dim: number;
  seed: number;
  /** Dropout on the embeddings while training, drawn from the loop's generator. */
  dropout?: number;
}

export class Bigram extends nn.Module {
  readonly embed: nn.Embedding;
  readonly head: nn.Linear;
  /** Calls to `loss` so far; tests use it to poison a chosen call. */
  calls = 0;
  /** Loss calls (0-based) whose loss is multiplied by NaN. */
  poison = new Set<number>();

  constructor(readonly config: BigramConfig = { vocabSize: 16, dim: 8, seed: 0 }) {
    super();
    const rng = new Rng(config.seed);
    this.embed = new nn.Embedding(config.vocabSize, config.dim, { rng, std: 0.5 });
    this.head = new nn.Linear(config.dim, config.vocabSize, { rng });
  }

  forward(ids: Tensor): Tensor {
    return this.head.forward(this.embed.forward(ids));
  }

  loss(ids: Tensor, targets: Tensor, context?: StepContext): Tensor {
    let hidden = this.embed.forward(ids);
    const p = this.config.dropout ?? 0;
    if (p > 0 && this.training && context) hidden = dropout(hidden, p, context.rng.uniform(hidden.shape));
    const loss = crossEntropy(this.head.forward(hidden), targets);
    return this.poison.has(this.calls++) ? loss.mul(Number.NaN) : loss;
  }
}

/**
 * A deterministic token stream: mostly `next = (3 * prev + 1) mod V`, sometimes a random
 * token, so there is something to learn. Rows are consecutive stretches of the stream.
 */
export class TokenStream implements BatchSource<{ position: number }> {
  private position = 0;
  constructor(
    readonly batchSize: number,
    readonly sequenceLength: number,
    readonly vocabSize = 16,
    readonly seed = 7,
  ) {}

  private readonly stream: number[] = [];

  private token(i: number): number {
    while (this.stream.length <= i) {
      const at = this.stream.length;
      const noise = new Rng(this.seed, 2 * at).uniformArray(2);
      const previous = this.stream[at - 1] ?? 0;
      this.stream.push(noise[0]! < 0.2 ? Math.floor(noise[1]! * this.vocabSize) : (3 * previous + 1) % this.vocabSize);
    }
    return this.stream[i]!;
  }

  next(): TrainingBatch {
    const n = this.batchSize * this.sequenceLength;
    const inputs = new Int32Array(n);
    const targets = new Int32Array(n);
    for (let row = 0; row < this.batchSize; row++) {
      const start = this.position + row * this.sequenceLength;
      let previous = this.token(start);
      for (let t = 0; t < this.sequenceLength; t++) {
        const following = this.token(start + t + 1);
        inputs[row * this.sequenceLength + t] = previous;
        targets[row * this.sequenceLength + t] = following;
        previous = following;
      }
    }
    this.position += this.batchSize * this.sequenceLength;
    return { inputs, targets, batchSize: this.batchSize, sequenceLength: this.sequenceLength };
  }

  state(): { position: number } {
    return { position: this.position };
  }

  restore(state: { position: number }): void {
    this.position = state.position;
  }
}
