import { describe, expect, it } from 'vitest';
import { accuracyStat, bitsPerByte, bucketedPerplexity, exactMatch, meanAbsoluteError, meanSquaredError, perplexity, stringMatch, wilsonInterval } from '../src/index.ts';

describe('metrics', () => {
  it('computes perplexity and bits per byte from summed NLL', () => {
    expect(perplexity(4 * Math.log(8), 4)).toBeCloseTo(8, 10);
    // 4 tokens of 8-way uncertainty over 4 bytes = 3 bits per byte.
    expect(bitsPerByte(4 * Math.log(8), 4)).toBeCloseTo(3, 10);
    expect(bitsPerByte(4 * Math.log(8), 8)).toBeCloseTo(1.5, 10);
    expect(() => perplexity(1, 0)).toThrow(RangeError);
  });

  it('buckets perplexity by position', () => {
    const nll = [Math.log(2), Math.log(2), Math.log(4), Math.log(4), Math.log(16)];
    const buckets = bucketedPerplexity(nll, 2);
    expect(buckets.map((b) => [b.start, b.end, b.count])).toEqual([
      [0, 2, 2],
      [2, 4, 2],
      [4, 5, 1],
    ]);
    expect(buckets.map((b) => b.perplexity)).toEqual([expect.closeTo(2, 10), expect.closeTo(4, 10), expect.closeTo(16, 10)]);
  });

  it('matches answers exactly or as RULER substrings', () => {
    expect(exactMatch('  Bathroom.', 'bathroom')).toBe(true);
    expect(exactMatch('the bathroom', 'bathroom')).toBe(false);
    expect(stringMatch(' The number is 1234567.', '1234567')).toBe(true);
    expect(stringMatch('ABCdef', 'abcDEF')).toBe(true);
    expect(stringMatch('123456', '1234567')).toBe(false);
  });

  it('computes MSE and MAE', () => {
    expect(meanSquaredError([1, 2, 3], [1, 4, 0])).toBeCloseTo((0 + 4 + 9) / 3, 10);
    expect(meanAbsoluteError([1, 2, 3], [1, 4, 0])).toBeCloseTo(5 / 3, 10);
    expect(() => meanSquaredError([1], [1, 2])).toThrow(/lengths differ/);
  });

  it('gives Wilson intervals that match reference values', () => {
    // Reference: 8/10 at 95% -> [0.4902, 0.9433]; 0/10 -> [0, 0.2775]; 10/10 -> [0.7225, 1].
    const [lo, hi] = wilsonInterval(8, 10);
    expect(lo).toBeCloseTo(0.4902, 3);
    expect(hi).toBeCloseTo(0.9433, 3);
    expect(wilsonInterval(0, 10)[0]).toBe(0);
    expect(wilsonInterval(0, 10)[1]).toBeCloseTo(0.2775, 3);
    expect(wilsonInterval(10, 10)[0]).toBeCloseTo(0.7225, 3);
    expect(accuracyStat(3, 4)).toEqual({ correct: 3, total: 4, accuracy: 0.75, ci95: wilsonInterval(3, 4) });
  });
});
