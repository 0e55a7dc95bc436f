import { describe, expect, it } from 'vitest';
import { generateMqarBatch, type MqarBatch } from '../src/index.ts';

function rows(batch: MqarBatch): { tokens: number[]; mask: number[]; targets: number[] }[] {
  const L = batch.sequenceLength;
  return Array.from({ length: batch.batchSize }, (_, b) => ({
    tokens: Array.from(batch.tokens.subarray(b * L, (b + 1) * L)),
    mask: Array.from(batch.mask.subarray(b * L, (b + 1) * L)),
    targets: Array.from(batch.targets.subarray(b * L, (b + 1) * L)),
  }));
}

describe('MQAR', () => {
  const options = { vocabSize: 8192, sequenceLength: 256, numPairs: 32, batchSize: 16, seed: 1 };

  it('lists N pairs with keys in [1, V/2) and values in [V/2, V), then queries every key once', () => {
    for (const row of rows(generateMqarBatch(options))) {
      const pairs = new Map<number, number>();
      for (let i = 0; i < 32; i++) {
        const key = row.tokens[2 * i]!;
        const value = row.tokens[2 * i + 1]!;
        expect(key).toBeGreaterThanOrEqual(1);
        expect(key).toBeLessThan(4096);
        expect(value).toBeGreaterThanOrEqual(4096);
        expect(value).toBeLessThan(8192);
        pairs.set(key, value);
      }
      expect(pairs.size).toBe(32);
      const queried: number[] = [];
      row.mask.forEach((m, i) => {
        if (m !== 1) return;
        expect(i).toBeGreaterThanOrEqual(64);
        const key = row.tokens[i]!;
        queried.push(key);
        expect(row.targets[i]).toBe(pairs.get(key)); // the model must emit the value next
        expect(row.tokens[i + 1]).toBe(pairs.get(key));
      });
      expect(queried.sort((a, b) => a - b)).toEqual([...pairs.keys()].sort((a, b) => a - b));
      expect(row.tokens.slice(64).filter((t, i) => t !== 0 && row.mask[64 + i] === 0 && row.mask[63 + i] === 0)).toEqual([]);
    }
  });

  it('is deterministic per seed', () => {
    expect(Array.from(generateMqarBatch(options).tokens)).toEqual(Array.from(generateMqarBatch(options).tokens));
    expect(Array.from(generateMqarBatch({ ...options, seed: 2 }).tokens)).not.toEqual(Array.from(generateMqarBatch(options).tokens));
  });

  it('prefers short gaps under the power law and spreads queries when uniform', () => {
    const meanQueryPosition = (gapExponent: number): number => {
      const batch = generateMqarBatch({ ...options, batchSize: 64, gapExponent });
      let sum = 0;
      let n = 0;
      batch.mask.forEach((m, i) => {
        if (m) {
          sum += i % 256;
          n++;
        }
      });
      return sum / n;
    };
    const powerLaw = meanQueryPosition(1);
    const uniform = meanQueryPosition(0);
    expect(uniform).toBeGreaterThan(145); // uniform over [64, 256): mean about 160
    expect(uniform).toBeLessThan(175);
    expect(powerLaw).toBeLessThan(uniform - 20);
  });

  it('explains violated constraints', () => {
    expect(() => generateMqarBatch({ vocabSize: 8192, sequenceLength: 100, numPairs: 26, seed: 0 })).toThrow(/4N <= L/);
    expect(() => generateMqarBatch({ vocabSize: 256, sequenceLength: 256, numPairs: 8, seed: 0 })).toThrow(/V > L/);
    expect(() => generateMqarBatch({ vocabSize: 300, sequenceLength: 256, numPairs: 0, seed: 0 })).toThrow(/numPairs must be a positive integer/);
  });
});
