import { describe, expect, it } from 'vitest';
import { ByteTokenizer, TokenLoader, TokenPacker, type CorpusDocument, type LoaderState } from '../src/index.ts';

const tokenizer = new ByteTokenizer();
const documents: CorpusDocument[] = Array.from({ length: 7 }, (_, i) => ({ id: `doc-${i}`, text: `Document number ${i}. `.repeat(i + 1) }));

describe('TokenPacker', () => {
  it('packs documents with EOS into windows that overlap by one token', () => {
    const packer = new TokenPacker({ sequenceLength: 4, eosId: 99 });
    packer.push([1, 2, 3]);
    packer.push([4, 5, 6, 7, 8]);
    const windows = [...packer.drain()].map((w) => Array.from(w));
    expect(windows).toEqual([
      [1, 2, 3, 99, 4],
      [4, 5, 6, 7, 8],
    ]);
    expect(packer.pending).toBe(2); // 8 and EOS wait for more
    packer.push([10, 11, 12]);
    expect([...packer.drain()].map((w) => Array.from(w))).toEqual([[8, 99, 10, 11, 12]]);
  });
});

describe('TokenLoader', () => {
  const make = (resume?: LoaderState): TokenLoader => new TokenLoader({ documents, tokenizer, batchSize: 3, sequenceLength: 16, seed: 11, ...(resume ? { resume } : {}) });

  it('is deterministic for a seed and shifts targets by one', () => {
    const a = make().next();
    const b = make().next();
    expect(Array.from(a.inputs)).toEqual(Array.from(b.inputs));
    for (let row = 0; row < 3; row++) {
      expect(Array.from(a.targets.subarray(row * 16, row * 16 + 15))).toEqual(Array.from(a.inputs.subarray(row * 16 + 1, row * 16 + 16)));
    }
    const other = new TokenLoader({ documents, tokenizer, batchSize: 3, sequenceLength: 16, seed: 12 }).next();
    expect(Array.from(other.inputs)).not.toEqual(Array.from(a.inputs));
  });

  it('resumes exactly from a JSON round-tripped state, across epoch boundaries', () => {
    const straight = make();
    const expected: number[][] = [];
    for (let i = 0; i < 30; i++) expected.push(Array.from(straight.next().inputs));
    const first = make();
    for (let i = 0; i < 13; i++) first.next();
    const saved = JSON.parse(JSON.stringify(first.state())) as LoaderState;
    const resumed = make(saved);
    for (let i = 13; i < 30; i++) {
      const batch = resumed.next();
      expect(batch.step).toBe(i);
      expect(Array.from(batch.inputs)).toEqual(expected[i]);
    }
    expect(resumed.state().epoch).toBeGreaterThan(0);
  });

  it('covers each epoch as every document once, in a new order each epoch', () => {
    const epochTokens = documents.reduce((n, d) => n + tokenizer.encode(d.text).length + 1, 0);
    const loader = new TokenLoader({ documents, tokenizer, batchSize: 1, sequenceLength: 1, seed: 3 });
    const stream: number[] = [];
    for (let i = 0; i < 2 * epochTokens; i++) stream.push(loader.next().inputs[0]!);
    const decodeEpoch = (ids: number[]): string[] => tokenizer.decode(ids.map((t) => (t === tokenizer.eosId ? 0x7c : t))).split('|').filter(Boolean);
    const epoch0 = decodeEpoch(stream.slice(0, epochTokens));
    const epoch1 = decodeEpoch(stream.slice(epochTokens));
    expect([...epoch0].sort()).toEqual(documents.map((d) => d.text).sort());
    expect([...epoch1].sort()).toEqual(documents.map((d) => d.text).sort());
    expect(epoch0).not.toEqual(epoch1);
  });

  it('refuses a state from other data', () => {
    const state = make().state();
    expect(() => new TokenLoader({ documents: documents.slice(1), tokenizer, batchSize: 3, sequenceLength: 16, seed: 11, resume: state })).toThrow(/different document list/);
  });
});
