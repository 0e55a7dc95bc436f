// Language-model batches from documents: tokenized, joined with EOS into one endless stream
// (documents reshuffled every epoch by a seeded permutation), cut into rows of
// sequenceLength + 1 tokens that overlap by one token, so every token is predicted once.
// The loader's whole position is three integers, so `state()` is small plain JSON and
// `new TokenLoader({ ..., resume: state })` continues with exactly the same batches.

import type { CorpusDocument } from '../corpora/corpus.ts';
import { deriveSeed, SeededRandom } from '../random.ts';
import type { Tokenizer } from '../tokenizers/tokenizer.ts';

/** Streaming packer: push documents, take out full windows of `sequenceLength + 1` tokens. */
export class TokenPacker {
  private buffer: Int32Array;
  private size = 0;
  readonly sequenceLength: number;
  readonly eosId: number | undefined;

  constructor(options: { sequenceLength: number; eosId?: number }) {
    if (!Number.isInteger(options.sequenceLength) || options.sequenceLength < 1) {
      throw new RangeError(`TokenPacker: sequenceLength must be a positive integer, got ${options.sequenceLength}`);
    }
    this.sequenceLength = options.sequenceLength;
    this.eosId = options.eosId;
    this.buffer = new Int32Array(Math.max(1024, 2 * (options.sequenceLength + 1)));
  }

  /** Appends one document's tokens, then EOS when the packer has one. */
  push(tokens: ArrayLike<number>): void {
    const extra = tokens.length + (this.eosId === undefined ? 0 : 1);
    if (this.size + extra > this.buffer.length) {
      const grown = new Int32Array(Math.max(this.buffer.length * 2, this.size + extra));
      grown.set(this.buffer.subarray(0, this.size));
      this.buffer = grown;
    }
    for (let i = 0; i < tokens.length; i++) this.buffer[this.size++] = tokens[i]!;
    if (this.eosId !== undefined) this.buffer[this.size++] = this.eosId;
  }

  /** Tokens waiting for the next window. */
  get pending(): number {
    return this.size;
  }

  /**
   * Takes out every full window (length sequenceLength + 1). Consecutive windows share one
   * token: the last target of a window is the first input of the next.
   */
  *drain(): Generator<Int32Array> {
    const width = this.sequenceLength + 1;
    let start = 0;
    while (this.size - start >= width) {
      yield this.buffer.slice(start, start + width);
      start += this.sequenceLength;
    }
    this.buffer.copyWithin(0, start, this.size);
    this.size -= start;
  }
}

/** JSON-serialisable position of a TokenLoader. */
export interface LoaderState {
  readonly version: 1;
  readonly seed: number;
  readonly epoch: number;
  /** Index into the epoch's document order. */
  readonly document: number;
  /** Token offset inside that document's tokens + EOS. */
  readonly offset: number;
  /** Batches produced so far. */
  readonly step: number;
  /** Identifies the document list, so a state is not resumed on other data. */
  readonly fingerprint: string;
}

export interface TokenLoaderOptions {
  documents: readonly CorpusDocument[];
  tokenizer: Tokenizer;
  batchSize: number;
  sequenceLength: number;
  seed: number;
  /** Reshuffle document order every epoch (default true). */
  shuffle?: boolean;
  /** Continue from a `state()` of a loader over the same documents. */
  resume?: LoaderState;
}

export interface TokenBatch {
  /** [batchSize * sequenceLength] input ids. */
  readonly inputs: Int32Array;
  /** [batchSize * sequenceLength] next-token ids. */
  readonly targets: Int32Array;
  readonly batchSize: number;
  readonly sequenceLength: number;
  /** Index of this batch (0-based) and the epoch its first token came from. */
  readonly step: number;
  readonly epoch: number;
}

function fingerprintOf(documents: readonly CorpusDocument[], tokenizer: Tokenizer): string {
  return `${documents.length}:${deriveSeed(0, tokenizer.name, ...documents.map((d) => d.id)).toString(16)}`;
}

interface Position {
  epoch: number;
  document: number;
  offset: number;
}

export class TokenLoader {
  readonly batchSize: number;
  readonly sequenceLength: number;
  private readonly documents: readonly CorpusDocument[];
  private readonly tokenizer: Tokenizer;
  private readonly seed: number;
  private readonly shuffle: boolean;
  private readonly fingerprint: string;
  private position: Position;
  private step: number;
  private orderEpoch = -1;
  private order: Int32Array = new Int32Array(0);
  private readonly tokenCache = new Map<number, Int32Array>();

  constructor(options: TokenLoaderOptions) {
    const { documents, batchSize, sequenceLength } = options;
    if (documents.length === 0) throw new Error('TokenLoader: no documents');
    for (const [name, v] of [['batchSize', batchSize], ['sequenceLength', sequenceLength]] as const) {
      if (!Number.isInteger(v) || v < 1) throw new RangeError(`TokenLoader: ${name} must be a positive integer, got ${v}`);
    }
    this.documents = documents;
    this.tokenizer = options.tokenizer;
    this.batchSize = batchSize;
    this.sequenceLength = sequenceLength;
    this.seed = options.seed >>> 0;
    this.shuffle = options.shuffle ?? true;
    this.fingerprint = fingerprintOf(documents, options.tokenizer);
    const resume = options.resume;
    if (resume) {
      if (resume.version !== 1) throw new Error(`TokenLoader: unknown state version ${String(resume.version)}`);
      if (resume.fingerprint !== this.fingerprint) throw new Error('TokenLoader: the state was saved for a different document list or tokenizer');
      if (resume.seed !== this.seed) throw new Error(`TokenLoader: the state was saved with seed ${resume.seed}, not ${this.seed}`);
      this.position = { epoch: resume.epoch, document: resume.document, offset: resume.offset };
      this.step = resume.step;
    } else {
      this.position = { epoch: 0, document: 0, offset: 0 };
      this.step = 0;
    }
  }

  /** The current position, to save with a checkpoint. */
  state(): LoaderState {
    return { version: 1, seed: this.seed, ...this.position, step: this.step, fingerprint: this.fingerprint };
  }

  private documentOrder(epoch: number): Int32Array {
    if (epoch !== this.orderEpoch) {
      const n = this.documents.length;
      this.order = this.shuffle ? new SeededRandom(deriveSeed(this.seed, 'epoch', epoch)).permutation(n) : Int32Array.from({ length: n }, (_, i) => i);
      this.orderEpoch = epoch;
      this.tokenCache.clear();
    }
    return this.order;
  }

  /** Tokens of the document at `index` of the epoch order, with EOS appended. */
  private documentTokens(epoch: number, index: number): Int32Array {
    const order = this.documentOrder(epoch);
    let tokens = this.tokenCache.get(index);
    if (!tokens) {
      const ids = this.tokenizer.encode(this.documents[order[index]!]!.text);
      const eos = this.tokenizer.eosId;
      tokens = new Int32Array(ids.length + (eos === undefined ? 0 : 1));
      tokens.set(ids);
      if (eos !== undefined) tokens[ids.length] = eos;
      if (this.tokenCache.size > 4) this.tokenCache.clear();
      this.tokenCache.set(index, tokens);
    }
    return tokens;
  }

  /** Copies `count` stream tokens from `from` into `out` and returns the position after them. */
  private read(from: Position, count: number, out: Int32Array, outOffset: number): Position {
    let { epoch, document, offset } = from;
    let written = 0;
    let emptyRun = 0;
    while (written < count) {
      const tokens = this.documentTokens(epoch, document);
      const take = Math.min(count - written, tokens.length - offset);
      if (take > 0) {
        out.set(tokens.subarray(offset, offset + take), outOffset + written);
        written += take;
        offset += take;
        emptyRun = 0;
      }
      if (offset >= tokens.length) {
        if (tokens.length === 0 && ++emptyRun > this.documents.length) throw new Error('TokenLoader: every document is empty and the tokenizer has no EOS');
        offset = 0;
        document++;
        if (document >= this.documents.length) {
          document = 0;
          epoch++;
        }
      }
    }
    return { epoch, document, offset };
  }

  /** The next batch; rows are consecutive stretches of the stream. */
  next(): TokenBatch {
    const T = this.sequenceLength;
    const inputs = new Int32Array(this.batchSize * T);
    const targets = new Int32Array(this.batchSize * T);
    const row = new Int32Array(T + 1);
    const epoch = this.position.epoch;
    for (let b = 0; b < this.batchSize; b++) {
      const after = this.read(this.position, T, row, 0);
      this.read(after, 1, row, T);
      inputs.set(row.subarray(0, T), b * T);
      targets.set(row.subarray(1), b * T);
      this.position = after;
    }
    return { inputs, targets, batchSize: this.batchSize, sequenceLength: T, step: this.step++, epoch };
  }

  *[Symbol.iterator](): Generator<TokenBatch> {
    for (;;) yield this.next();
  }
}
