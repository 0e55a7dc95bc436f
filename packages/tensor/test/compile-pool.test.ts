// The buffer pool of compiled CPU plans (CompileOptions.pool): the pool's own rules (zeroed
// arrays, only arrays that own their buffer, no more kept than a round asks for, no double
// give), and through compile(): replays that reuse the arrays of freed intermediates equal
// eager bit for bit, results the caller holds keep their values across later replays, and a
// backend result that shares its buffer with an argument is never given back.
import { describe, expect, test } from 'vitest';
import {
  CpuBackend, Rng, compile, concat, gradients, liveBytes, liveTensors, matmul, softmax, tensor, tidy, type Tensor, type View,
} from '../src/index.js';
import { BufferPool } from '../src/cpu/pool.js';

function bits(t: Tensor): number[] {
  return Array.from(t.dataSync());
}

function expectSame(actual: readonly Tensor[], expected: readonly Tensor[]): void {
  expect(actual.length).toBe(expected.length);
  actual.forEach((t, i) => {
    const x = bits(t);
    const y = bits(expected[i]!);
    const bad = x.findIndex((v, j) => !Object.is(v, y[j]));
    expect(bad, bad < 0 ? '' : `result ${i}, element ${bad}: ${x[bad]} vs ${y[bad]}`).toBe(-1);
  });
}

describe('BufferPool', () => {
  test('hands out zeroed arrays, reusing only what a round asked for', () => {
    const pool = new BufferPool();
    const a = pool.take('float32', 8) as Float32Array;
    expect(a).toBeInstanceOf(Float32Array);
    expect(pool.hits).toBe(0);
    a.fill(3);
    expect(pool.give(a)).toBe(true);
    expect(pool.bytes).toBe(32);
    const b = pool.take('float32', 8);
    expect(b).toBe(a);
    expect(Array.from(b)).toEqual(new Array(8).fill(0));
    expect(pool.hits).toBe(1);
    expect(pool.bytes).toBe(0);
    // Another dtype or length is another kind: never handed out for this one.
    expect(pool.take('int32', 8)).toBeInstanceOf(Int32Array);
    expect(pool.take('float64', 8)).toBeInstanceOf(Float64Array);
    expect(pool.take('float32', 9).length).toBe(9);
    expect(pool.hits).toBe(1);
  });

  test('take(..., overwrite) hands a reused array out as it was given back (the caller writes it all)', () => {
    const pool = new BufferPool();
    const a = pool.take('float32', 4, true) as Float32Array;
    expect(Array.from(a)).toEqual([0, 0, 0, 0]); // a new array is zeroed either way
    a.fill(5);
    pool.endRound();
    expect(pool.give(a)).toBe(true);
    const b = pool.take('float32', 4, true);
    expect(b).toBe(a);
    expect(Array.from(b)).toEqual([5, 5, 5, 5]);
  });

  test('keeps no more arrays of a kind than one round took, and none of kinds never taken', () => {
    const pool = new BufferPool();
    expect(pool.give(new Float32Array(4))).toBe(false); // never asked for
    const taken = [pool.take('float32', 4), pool.take('float32', 4)];
    pool.endRound();
    expect(pool.give(taken[0]!)).toBe(true);
    expect(pool.give(taken[1]!)).toBe(true);
    expect(pool.give(new Float32Array(4))).toBe(false); // a third: more than a round took
    expect(pool.bytes).toBe(32);
  });

  test('refuses views into larger buffers, arrays past its byte limit, and a second give', () => {
    const pool = new BufferPool({ maxBytes: 64 });
    for (let i = 0; i < 4; i++) pool.take('float32', 8);
    const big = new Float32Array(16);
    expect(pool.give(big.subarray(0, 8))).toBe(false);
    expect(pool.give(new Float32Array(new ArrayBuffer(64), 32, 8))).toBe(false);
    const a = new Float32Array(8);
    expect(pool.give(a)).toBe(true);
    expect(() => pool.give(a)).toThrow(/twice/);
    expect(pool.give(new Float32Array(8))).toBe(true);
    expect(pool.give(new Float32Array(8))).toBe(false); // 96 bytes > 64
    pool.clear();
    expect(pool.bytes).toBe(0);
  });
});

/** A graph of backend calls (not fused: `fuse: false`) whose intermediates live long. */
function graph(x: Tensor, w: Tensor): Tensor[] {
  const a = softmax(x);
  const b = matmul(a, w);
  const c = softmax(b.mul(2));
  const d = concat([a, c], 1);
  const e = softmax(d.exp());
  // `a` and `b` read again after several results of their size were made and freed.
  const f = matmul(e.sum(1, true).add(a), w).add(b);
  return [f, c.sum(0), e];
}

describe('compile() with a buffer pool', () => {
  test('replays reuse freed arrays and equal eager bit for bit', () => {
    const rng = new Rng(3);
    const w = rng.normal([6, 6]);
    const compiled = compile(graph, { fuse: false });
    for (let call = 0; call < 12; call++) {
      const x = rng.normal([5, 6]);
      tidy(() => expectSame(compiled(x, w), graph(x, w)));
      x.dispose();
    }
    const stats = compiled.stats();
    expect(stats.replays).toBe(10);
    expect(stats.pool.takes).toBeGreaterThan(0);
    expect(stats.pool.reused).toBeGreaterThan(stats.pool.takes / 2);
    compiled.dispose();
    w.dispose();
  });

  test('gradients through the pool equal eager, fused or not', () => {
    for (const fuse of [true, false]) {
      const rng = new Rng(5);
      const w = rng.normal([6, 6]);
      w.requiresGrad = true;
      const step = (x: Tensor): Tensor[] => {
        const [f, s] = graph(x, w);
        const loss = f!.square().mean().add(s!.sum());
        return [loss, ...gradients(loss, [w])];
      };
      const compiled = compile(step, { fuse });
      for (let call = 0; call < 6; call++) {
        const x = rng.normal([5, 6]);
        tidy(() => expectSame(compiled(x), step(x)));
        x.dispose();
      }
      expect(compiled.stats().pool.reused).toBeGreaterThan(0);
      compiled.dispose();
      w.dispose();
    }
  });

  test('results the caller holds keep their values after later replays', () => {
    const rng = new Rng(7);
    const w = rng.normal([6, 6]);
    for (const fuse of [true, false]) {
      const compiled = compile(graph, { fuse });
      const held: { got: Tensor[]; want: number[][] }[] = [];
      for (let call = 0; call < 6; call++) {
        const x = rng.normal([5, 6]);
        const got = compiled(x, w);
        held.push({ got, want: tidy(() => graph(x, w).map(bits)) });
        x.dispose();
      }
      // Every call's results, read after all the calls, are still that call's values.
      for (const { got, want } of held) expect(got.map(bits)).toEqual(want);
      for (const { got } of held) for (const t of got) t.dispose();
      compiled.dispose();
    }
    w.dispose();
  });

  test('a result sharing its buffer with an argument is never given back, nor is the argument', () => {
    // A backend whose copy of a whole contiguous storage is the same array (no copy made).
    class AliasingCopy extends CpuBackend {
      aliased = 0;
      override unary(op: Parameters<CpuBackend['unary']>[0], x: View, dtype: Parameters<CpuBackend['unary']>[2]): ReturnType<CpuBackend['unary']> {
        const data = this.data(x.storage);
        if (op === 'copy' && x.offset === 0 && x.storage.size === x.shape.reduce((a, b) => a * b, 1) && x.strides.every((s, i) => s === x.strides.slice(i + 1).reduce((p, _q, j) => p * x.shape[i + 1 + j]!, 1))) {
          this.aliased++;
          return this.adopt(data, dtype);
        }
        return super.unary(op, x, dtype);
      }
    }
    const backend = new AliasingCopy();
    const rng = new Rng(11);
    const w = tensor(Array.from(rng.normal([6, 6]).dataSync()), [6, 6], { backend });
    const f = (x: Tensor): Tensor[] => {
      const a = softmax(x);
      const b = a.contiguous(); // the same array as `a`
      const c = softmax(a.mul(3)); // a's last use: freed here
      const d = softmax(c.add(1)); // a new result of a's size
      return [matmul(b, w).add(d)]; // reads b (a's array) after that
    };
    const compiled = compile(f, { fuse: false });
    for (let call = 0; call < 5; call++) {
      const x = tensor(Array.from(rng.normal([6, 6]).dataSync()), [6, 6], { backend });
      tidy(() => expectSame(compiled(x), f(x)));
      x.dispose();
    }
    expect(backend.aliased).toBeGreaterThan(3);
    expect(compiled.stats().replays).toBe(3);
    compiled.dispose();
    w.dispose();
  });

  test('pool off gives the same results and reports no pool', () => {
    const rng = new Rng(13);
    const w = rng.normal([6, 6]);
    const on = compile(graph, { fuse: false });
    const off = compile(graph, { fuse: false, pool: false });
    for (let call = 0; call < 4; call++) {
      const x = rng.normal([5, 6]);
      tidy(() => expectSame(on(x, w), off(x, w)));
      x.dispose();
    }
    expect(off.stats().pool).toEqual({ takes: 0, reused: 0, bytes: 0 });
    on.dispose();
    off.dispose();
    w.dispose();
  });

  test('live tensors and bytes stay flat over many pooled replays', () => {
    const rng = new Rng(17);
    const w = rng.normal([6, 6]);
    const x = rng.normal([5, 6]);
    const compiled = compile(graph, { fuse: false });
    const run = (): void => tidy(() => { compiled(x, w); });
    for (let i = 0; i < 5; i++) run();
    const tensors = liveTensors();
    const bytes = liveBytes();
    for (let i = 0; i < 2000; i++) run();
    expect(liveTensors()).toBe(tensors);
    expect(liveBytes()).toBe(bytes);
    const held = compiled.stats().pool.bytes;
    for (let i = 0; i < 200; i++) run();
    expect(compiled.stats().pool.bytes).toBe(held); // the pool does not grow either
    compiled.dispose();
    w.dispose();
    x.dispose();
  });
});
