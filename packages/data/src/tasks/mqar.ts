// MQAR (multi-query associative recall, Arora et al. 2023 "Zoology"): N key-value pairs,
// then every key queried once more at a position drawn with a power-law preference for
// short gaps; the model must emit the key's value right after the query key.
//
// Token layout of one sequence of length L over vocabulary V:
//   [k1 v1 k2 v2 ... kN vN | 0 0 k3 v3 0 0 0 0 k1 v1 ...]
// keys in [1, V/2), values in [V/2, V), 0 is filler. Queries sit on even offsets of the
// query region so a key and its value never overlap another query.

import { deriveSeed, SeededRandom } from '../random.ts';

export interface MqarOptions {
  /** Vocabulary size V (must be > sequenceLength). */
  vocabSize: number;
  /** Sequence length L. */
  sequenceLength: number;
  /** Number of key-value pairs N (4N <= L). */
  numPairs: number;
  /** Sequences to generate (default 1). */
  batchSize?: number;
  /** Exponent a of the gap weights (gap+1)^-a over query slots (default 1; 0 = uniform). */
  gapExponent?: number;
  seed: number;
}

export interface MqarBatch {
  readonly batchSize: number;
  readonly sequenceLength: number;
  readonly vocabSize: number;
  readonly numPairs: number;
  /** [batchSize * sequenceLength] input ids. */
  readonly tokens: Int32Array;
  /** [batchSize * sequenceLength] next-token targets: targets[i] = tokens[i + 1], last = 0. */
  readonly targets: Int32Array;
  /** [batchSize * sequenceLength] 1 where position i holds a query key (its target is the value). */
  readonly mask: Uint8Array;
}

/** Throws a RangeError that names the violated MQAR constraint. */
export function validateMqarOptions(options: MqarOptions): void {
  const { vocabSize: V, sequenceLength: L, numPairs: N } = options;
  for (const [name, v] of [['vocabSize', V], ['sequenceLength', L], ['numPairs', N]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new RangeError(`MQAR: ${name} must be a positive integer, got ${v}`);
  }
  if (4 * N > L) throw new RangeError(`MQAR: need 4N <= L (N=${N} pairs, L=${L}): the context takes 2N tokens and the queries another 2N`);
  if (V <= L) throw new RangeError(`MQAR: need V > L (V=${V}, L=${L})`);
  if (Math.floor(V / 2) - 1 < N) throw new RangeError(`MQAR: need at least N=${N} distinct keys in [1, V/2) (V=${V})`);
  const batchSize = options.batchSize ?? 1;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`MQAR: batchSize must be a positive integer, got ${batchSize}`);
}

/** Draws `count` distinct slots from [0, slots) with weight (slot+1)^-exponent. */
function drawSlots(random: SeededRandom, slots: number, count: number, exponent: number): number[] {
  // Efraimidis-Spirakis weighted sampling without replacement: keep the `count` largest
  // u^(1/w); in log form, log(u)/w.
  const scored: { slot: number; score: number }[] = [];
  for (let s = 0; s < slots; s++) {
    const weight = Math.pow(s + 1, -exponent);
    const u = (random.nextUint32() + 1) / 4294967297;
    scored.push({ slot: s, score: Math.log(u) / weight });
  }
  scored.sort((a, b) => b.score - a.score || a.slot - b.slot);
  return scored.slice(0, count).map((e) => e.slot);
}

export function generateMqarBatch(options: MqarOptions): MqarBatch {
  validateMqarOptions(options);
  const { vocabSize: V, sequenceLength: L, numPairs: N } = options;
  const batchSize = options.batchSize ?? 1;
  const exponent = options.gapExponent ?? 1;
  const half = Math.floor(V / 2);
  const tokens = new Int32Array(batchSize * L);
  const targets = new Int32Array(batchSize * L);
  const mask = new Uint8Array(batchSize * L);
  for (let b = 0; b < batchSize; b++) {
    const random = new SeededRandom(deriveSeed(options.seed, 'mqar', V, L, N, b));
    const keys = random.sampleDistinct(1, half, N);
    const values = random.sampleDistinct(half, V, N);
    const row = b * L;
    for (let i = 0; i < N; i++) {
      tokens[row + 2 * i] = keys[i]!;
      tokens[row + 2 * i + 1] = values[i]!;
    }
    const querySlots = Math.floor((L - 2 * N) / 2);
    const slots = drawSlots(random, querySlots, N, exponent);
    const order = random.permutation(N);
    for (let q = 0; q < N; q++) {
      const pair = order[q]!;
      const position = row + 2 * N + 2 * slots[q]!;
      tokens[position] = keys[pair]!;
      tokens[position + 1] = values[pair]!;
      mask[position] = 1;
    }
    for (let i = 0; i < L - 1; i++) targets[row + i] = tokens[row + i + 1]!;
  }
  return { batchSize, sequenceLength: L, vocabSize: V, numPairs: N, tokens, targets, mask };
}
