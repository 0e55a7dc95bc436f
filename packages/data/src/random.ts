// Seeded pseudo-random numbers that give the same stream on every platform: only 32-bit
// integer arithmetic (Math.imul, >>>), never Math.random. Every generator in this package
// takes a seed and derives independent sub-streams from it with `deriveSeed`.

/** Mixes a 32-bit state into a well-distributed 32-bit value (the splitmix32 finaliser). */
function mix32(value: number): number {
  let z = value >>> 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

/** FNV-1a hash of a string's UTF-16 code units, then mixed. */
function hashString(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  }
  return mix32(h);
}

/**
 * Derives a new 32-bit seed from a base seed and any labels (numbers or strings), so that
 * e.g. sample 3 of cell (16384, 0.5) has its own stream that does not depend on the order
 * in which cells are generated.
 */
export function deriveSeed(seed: number, ...labels: ReadonlyArray<number | string>): number {
  let h = mix32((seed >>> 0) ^ 0x9e3779b9);
  for (const label of labels) {
    const part =
      typeof label === 'string'
        ? hashString(label)
        : Number.isSafeInteger(label)
          ? mix32(label ^ 0x27d4eb2f) ^ mix32(Math.floor(label / 2 ** 32))
          : hashString(`number:${label}`); // fractions such as depth 0.25 must not collide with 0
    h = mix32((h + 0x9e3779b9 + part) >>> 0);
  }
  return h;
}

/** A splitmix32 generator: tiny state (one uint32), good statistics, identical everywhere. */
export class SeededRandom {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** The next uniformly distributed 32-bit unsigned integer. */
  nextUint32(): number {
    this.state = (this.state + 0x9e3779b9) >>> 0;
    return mix32(this.state);
  }

  /** A float in [0, 1) with 32 bits of randomness. */
  next(): number {
    return this.nextUint32() / 4294967296;
  }

  /** An integer in [min, max) (max exclusive), without modulo bias. */
  int(min: number, max: number): number {
    const range = max - min;
    if (!Number.isInteger(min) || !Number.isInteger(max) || range <= 0) {
      throw new RangeError(`SeededRandom.int: need integers min < max, got [${min}, ${max})`);
    }
    if (range > 4294967296) {
      // Two draws give 53 bits; more than enough for any index we use.
      const high = this.nextUint32() >>> 11;
      const low = this.nextUint32();
      return min + Math.floor(((high * 4294967296 + low) / 2 ** 53) * range);
    }
    const limit = 4294967296 - (4294967296 % range);
    let value = this.nextUint32();
    while (value >= limit) value = this.nextUint32();
    return min + (value % range);
  }

  /** One element of a non-empty array. */
  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError('SeededRandom.pick: empty array');
    return items[this.int(0, items.length)]!;
  }

  /** Shuffles an array in place (Fisher-Yates) and returns it. */
  shuffle<T, A extends { length: number; [index: number]: T }>(items: A): A {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(0, i + 1);
      const tmp = items[i]!;
      items[i] = items[j]!;
      items[j] = tmp;
    }
    return items;
  }

  /** A random permutation of 0..n-1. */
  permutation(n: number): Int32Array {
    const order = new Int32Array(n);
    for (let i = 0; i < n; i++) order[i] = i;
    return this.shuffle<number, Int32Array>(order);
  }

  /** `count` distinct integers from [min, max), in random order. */
  sampleDistinct(min: number, max: number, count: number): number[] {
    const range = max - min;
    if (count > range) {
      throw new RangeError(`SeededRandom.sampleDistinct: cannot draw ${count} distinct values from a range of ${range}`);
    }
    if (count * 4 > range) {
      const all = this.permutation(range);
      return Array.from(all.subarray(0, count), (v) => v + min);
    }
    const seen = new Set<number>();
    const out: number[] = [];
    while (out.length < count) {
      const v = this.int(min, max);
      if (!seen.has(v)) {
        seen.add(v);
        out.push(v);
      }
    }
    return out;
  }
}
