// Fused float32 chains as generated WebAssembly SIMD (src/compile/simd.ts): each op and chain
// equals the generated JavaScript kernel it replaces and eager, bit for bit, on random shapes
// (sizes 0, 1 and odd included), broadcast rows, columns and scalars, and special values.
import { describe, expect, test } from 'vitest';
import { expectSameBits } from '@titans/test-utils';
import {
  Rng, compile, configureCpu, cpuConfig, cpuInfo, grad, gt, keep, maximum, minimum, reciprocal, silu, tensor, tidy, type Compiled, type Tensor,
} from '@titans/tensor';
import { expF64, memoryKernels } from '../src/compile/simd.js';

/** A seeded uniform number in [0, 1) (a small LCG: the test needs host numbers, not tensors). */
function uniforms(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return s / 2 ** 32;
  };
}

const expectSame = expectSameBits;

/** Compiles `fn` with and without SIMD kernels, checks three calls of each against eager bit for bit, and returns both (for their stats). */
function checkCompiledBits<A extends Tensor[]>(fn: (...args: A) => Tensor, args: A, label: string): { simd: Compiled<A, Tensor>; js: Compiled<A, Tensor> } {
  const simd = compile(fn);
  const js = compile(fn, { simd: false });
  for (let call = 0; call < 3; call++) {
    tidy(() => {
      const eager = fn(...args);
      expectSame(simd(...args), eager, `${label} (simd, call ${call})`);
      expectSame(js(...args), eager, `${label} (js, call ${call})`);
    });
  }
  return { simd, js };
}

type Chain = (a: Tensor, b: Tensor, c: Tensor) => Tensor;

const CHAINS: Record<string, Chain> = {
  add: (a, b) => a.add(b),
  'sub mul div': (a, b) => a.sub(b).mul(a).div(b),
  'maximum minimum': (a, b) => minimum(maximum(a, b), a.mul(0.5)),
  'neg abs sqrt square': (a, b) => a.neg().abs().sqrt().add(b.square()),
  'recip relu': (a, b) => reciprocal(a).relu().add(b.relu()),
  exp: (a) => a.exp(),
  'exp of a product': (a, b) => a.mul(b).exp().mul(b),
  sigmoid: (a, b) => a.sigmoid().add(b),
  rsqrt: (a, b) => a.abs().add(b.mul(0)).rsqrt(),
  'silu(a * b + a)': (a, b) => silu(a.mul(b).add(a)),
  'row broadcast': (a, _b, c) => a.mul(c).add(c).sigmoid(),
  'scalar operand': (a, b) => a.mul(3.5).sub(b).add(-0),
};

/** Shapes with a row vector `c` broadcast along the last axis. */
const SHAPES: number[][] = [[0, 4], [1, 1], [1, 4], [3, 5], [5, 5], [9, 9], [7, 8], [4, 16], [33, 32], [5, 3, 12], [2, 1, 4]];

describe('compile: WebAssembly SIMD fused chains', () => {
  test('every op and chain equals the JavaScript kernel and eager, bit for bit', () => {
    const rng = new Rng(7);
    let simdUsed = 0;
    for (const shape of SHAPES) {
      const a = keep(rng.normal(shape, 0, 3));
      const b = keep(rng.normal(shape, 0, 2));
      const c = keep(rng.normal([shape[shape.length - 1]!]));
      for (const [name, fn] of Object.entries(CHAINS)) {
        const label = `${name} on [${shape.join(', ')}]`;
        const { simd, js } = checkCompiledBits(fn, [a, b, c], label);
        simdUsed += simd.stats().plan.simdGroups;
        expect(js.stats().plan.simdGroups).toBe(0);
        simd.dispose();
        js.dispose();
      }
      for (const t of [a, b, c]) t.dispose();
    }
    expect(simdUsed).toBeGreaterThan(0);
  });

  test('special values: NaN, infinities, signed zeros, 1, and exp past float32 and double range', () => {
    const specials = [NaN, Infinity, -Infinity, 0, -0, 1, -1, 0.5, 88.72, 88.73, -87.33, -103.97, -104, 709, 710, -745, -746,
      1e-9, -1e-9, 3e-39, -3e-39, 1e30, -1e30, 3.4e38, -3.4e38, 2, -2, 0.3465736, 1.0397208, -1.0397208, 10, -10, 20, -20];
    const u = uniforms(3);
    const n = 4 * 64;
    const values = Array.from({ length: n }, (_, i) => (i < specials.length ? specials[i]! : u() * 200 - 100));
    const other = Array.from({ length: n }, (_, i) => specials[(i * 7) % specials.length]!);
    const x = keep(tensor(values, [n]));
    const y = keep(tensor(Float32Array.from(other), [n]));
    for (const [name, fn] of Object.entries(CHAINS)) {
      const simd = compile(fn);
      tidy(() => {
        simd(x, y, y);
        expectSame(simd(x, y, y), fn(x, y, y), `${name} on special values`);
      });
      simd.dispose();
    }
    const siluGrad = compile((p: Tensor, g: Tensor) => grad((q: Tensor) => silu(q).mul(g).sum())(p));
    tidy(() => {
      const eager = grad((q: Tensor) => silu(q).mul(y).sum())(x);
      siluGrad(x, y);
      expectSame(siluGrad(x, y), eager, 'silu gradient on special values');
      expect(siluGrad.stats().plan.simdGroups).toBeGreaterThan(0);
    });
    siluGrad.dispose();
    x.dispose();
    y.dispose();
  });

  test('exp over float32 inputs equals Math.exp rounded, across the whole range', () => {
    const u = uniforms(11);
    const n = 1 << 16;
    const values = Float32Array.from({ length: n }, (_, i) => (i % 2 === 0 ? u() * 240 - 120 : u() * 6 - 3));
    const x = keep(tensor(values, [n]));
    const exp = compile((p: Tensor) => p.exp());
    tidy(() => {
      exp(x);
      const out = exp(x).dataSync();
      expect(exp.stats().plan.simdGroups).toBe(1);
      let bad = -1;
      for (let i = 0; i < n; i++) if (!Object.is(out[i], Math.fround(Math.exp(values[i]!)))) { bad = i; break; }
      expect(bad, bad < 0 ? '' : `exp(${values[bad]}) = ${out[bad]}, Math.exp gives ${Math.fround(Math.exp(values[bad]!))}`).toBe(-1);
    });
    exp.dispose();
    x.dispose();
  });

  test('the generated exp equals Math.exp on millions of doubles: random bits, every range, thresholds, specials', () => {
    const u = uniforms(29);
    const bits = new Float64Array(1);
    const words = new Uint32Array(bits.buffer);
    const values: number[] = [0, -0, 1, -1, Infinity, -Infinity, NaN, Number.MIN_VALUE, -Number.MIN_VALUE, 2 ** -1022, -(2 ** -1022),
      Number.MAX_VALUE, -Number.MAX_VALUE, 2 ** -28, -(2 ** -28), 700, -700, 709.782712893384, -745.1332191019411];
    // Neighbours (in ulps) of the thresholds and of the path and reduction boundaries.
    const next = (x: number, steps: number): number => {
      bits[0] = x;
      const big = BigInt.asUintN(64, (BigInt(words[1]!) << 32n) | BigInt(words[0]!)) + BigInt(steps);
      words[0] = Number(big & 0xffffffffn);
      words[1] = Number((big >> 32n) & 0xffffffffn);
      return bits[0];
    };
    for (const edge of [2 ** -28, 700, 709.782712893384, 745.1332191019411, 0.5 * Math.LN2, 1.5 * Math.LN2, 1, 88.72283935546875, 103.97208404541016]) {
      for (let d = -64; d <= 64; d++) values.push(next(edge, d), -next(edge, d));
    }
    for (let i = 0; i < 1 << 20; i++) {
      const r = u();
      switch (i % 8) {
        case 0: values.push((r - 0.5) * 1500); break; // past both thresholds
        case 1: values.push((r - 0.5) * 180); break; // float32's range
        case 2: values.push((r - 0.5) * 4); break;
        case 3: values.push((r - 0.5) * 2 ** -20); break; // small, some below 2^-28
        case 4: values.push(Math.fround((r - 0.5) * 200)); break; // float32 inputs
        case 5: values.push((r < 0.5 ? -1 : 1) * r * 2 ** -1030); break; // subnormal
        default: { // random bit patterns (any double, NaN payloads included)
          words[0] = Math.floor(r * 2 ** 32);
          words[1] = Math.floor(u() * 2 ** 32);
          values.push(bits[0]!);
        }
      }
    }
    const got = expF64(values);
    let bad = -1;
    for (let i = 0; i < values.length; i++) if (!Object.is(got[i], Math.exp(values[i]!))) { bad = i; break; }
    expect(bad, bad < 0 ? '' : `exp(${values[bad]}) = ${got[bad]}, Math.exp gives ${Math.exp(values[bad]!)}`).toBe(-1);
    // The fused chains' variant (float32 arguments) on the same values rounded to float32.
    const singles = values.map(Math.fround);
    const gotSingles = expF64(singles, true);
    for (let i = 0; i < singles.length; i++) if (!Object.is(gotSingles[i], Math.exp(singles[i]!))) { bad = i; break; }
    expect(bad, bad < 0 ? '' : `exp(float32 ${singles[bad]}) = ${gotSingles[bad]}, Math.exp gives ${Math.exp(singles[bad]!)}`).toBe(-1);
  });

  test('strided shapes of 3 and 4 axes: permuted outer axes, broadcasts along inner and outer axes', () => {
    const rng = new Rng(17);
    const cases: { name: string; shapes: number[][]; fn: (x: Tensor, y: Tensor) => Tensor; simd: boolean }[] = [
      { name: 'x * y[:, None, :]', shapes: [[3, 5, 8], [3, 1, 8]], fn: (x, y) => silu(x.mul(y).add(x)), simd: true },
      { name: 'x + z (broadcast inner and second axes)', shapes: [[4, 3, 2, 8], [4, 1, 2, 1]], fn: (x, y) => x.add(y).sigmoid(), simd: true },
      { name: 'transposed outer axes', shapes: [[3, 5, 8], [5, 3, 8]], fn: (x, y) => x.transpose(0, 1).mul(y).exp(), simd: true },
      { name: 'inner axis of 6 (rows spill into the next one)', shapes: [[3, 5, 6], [3, 1, 6]], fn: (x, y) => x.mul(y), simd: true },
      { name: 'empty outer axis', shapes: [[0, 5, 8], [1, 1, 8]], fn: (x, y) => x.mul(y), simd: false },
    ];
    for (const { name, shapes, fn, simd: expectSimd } of cases) {
      const x = keep(rng.normal(shapes[0]!, 0, 2));
      const y = keep(rng.normal(shapes[1]!, 0, 2));
      const { simd, js } = checkCompiledBits(fn, [x, y], name);
      expect(simd.stats().plan.simdGroups > 0, name).toBe(expectSimd);
      simd.dispose();
      js.dispose();
      x.dispose();
      y.dispose();
    }
  });

  test('any layout: transposed operands gathered lane by lane, rows of n % 4 elements, broadcasts, on random shapes', () => {
    const rng = new Rng(23);
    const u = uniforms(31);
    // Chains over x (of `shape`) and y (laid out as `perm` of a tensor, broadcast where `ones`).
    const chains: [string, (x: Tensor, y: Tensor) => Tensor][] = [
      ['add neg', (x, y) => x.add(y).neg()],
      ['mul exp', (x, y) => x.mul(y).exp().add(y)],
      ['silu of sum, sigmoid', (x, y) => silu(x.add(y)).mul(y.sigmoid())],
    ];
    let cases = 0;
    for (let trial = 0; trial < 40; trial++) {
      const nd = 2 + Math.floor(u() * 3);
      const shape = Array.from({ length: nd }, () => 1 + Math.floor(u() * 9));
      // y: a permutation of a contiguous tensor (transposing its last axis to the front half the
      // time), some of its axes broadcast; x: transposed in its last two axes a third of the time.
      const perm = Array.from({ length: nd }, (_, i) => i);
      if (u() < 0.5) perm.unshift(perm.pop()!);
      else if (nd > 2 && u() < 0.5) [perm[nd - 1], perm[nd - 3]] = [perm[nd - 3]!, perm[nd - 1]!];
      const ones = shape.map(() => u() < 0.25);
      const yShape = perm.map((axis) => (ones[axis] ? 1 : shape[axis]!));
      const xT = u() < 0.33;
      const xShape = xT ? [...shape.slice(0, -2), shape[nd - 1]!, shape[nd - 2]!] : shape;
      const x0 = keep(rng.normal(xShape, 0, 2));
      const y0 = keep(rng.normal(yShape, 0, 2));
      const inverse = perm.map((_, i) => perm.indexOf(i));
      for (const [name, chain] of chains) {
        const fn = (p: Tensor, q: Tensor): Tensor => chain(xT ? p.transpose(-1, -2) : p, q.permute(inverse));
        const label = `${name} on [${shape.join(', ')}], y permuted ${perm.join(',')}${ones.some((o) => o) ? ` broadcast ${ones.map(Number).join('')}` : ''}${xT ? ', x transposed' : ''}`;
        const { simd, js } = checkCompiledBits(fn, [x0, y0], label);
        const size = shape.reduce((a, b) => a * b, 1);
        if (size >= 16) {
          expect(simd.stats().plan.simdGroups, label).toBeGreaterThan(0);
          cases++;
        }
        simd.dispose();
        js.dispose();
      }
      x0.dispose();
      y0.dispose();
    }
    expect(cases).toBeGreaterThan(40);
  });

  test('operands left in the kernels\' memory by the kernel before are read in place: same bits, across plans run in any order', () => {
    const rng = new Rng(37);
    // Chains and matmuls feeding each other (results read in place by the next kernel), a value
    // read again two kernels later, transposed reads of a result, and a result of one plan fed
    // to another plan whose kernel ids coincide.
    const f = (x: Tensor, w: Tensor, v: Tensor): Tensor => {
      const h = x.matmul(w).sigmoid();
      const g = h.mul(x.matmul(w)).add(h);
      const t = g.matmul(v).exp().mul(0.5);
      return t.add(t.transpose(-1, -2).matmul(g.narrow(-1, 0, 12)).sum(-1, true)).neg();
    };
    const g = (a: Tensor, _w: Tensor, v: Tensor): Tensor => a.mul(v.narrow(0, 0, 12)).add(a.matmul(v.transpose(-1, -2)).narrow(-1, 0, 12)).sigmoid();
    const x = keep(rng.normal([2, 12, 16], 0, 0.5));
    const w = keep(rng.normal([16, 16], 0, 0.5));
    const v = keep(rng.normal([16, 12], 0, 0.5));
    const x2 = keep(rng.normal([2, 12, 16], 0, 0.5));
    const cf = compile(f);
    const cg = compile(g);
    const jf = compile(f, { simd: false });
    for (let call = 0; call < 8; call++) {
      tidy(() => {
        // Alternating plans and inputs: each kernel's predecessor check must see other plans ran.
        const xa = call % 3 === 0 ? x2 : x;
        const a = cf(xa, w, v);
        expectSame(a, f(xa, w, v), `f, call ${call}`);
        expectSame(jf(xa, w, v), f(xa, w, v), `f (js), call ${call}`);
        if (call % 2 === 1) expectSame(cg(a, w, v), g(a, w, v), `g of f, call ${call}`);
        expectSame(cf(x, w, v), f(x, w, v), `f again, call ${call}`);
      });
    }
    expect(cf.stats().plan.simdGroups).toBeGreaterThan(2);
    expect(cf.stats().plan.simdMatmuls).toBeGreaterThan(2);
    const before = memoryKernels.inPlace;
    tidy(() => { cf(x, w, v); });
    expect(memoryKernels.inPlace).toBeGreaterThan(before);

    // Two plans built one after the other: the second's first kernel expects the first's last
    // kernel before it, and reads values of the same ids. Run on other tensors, or after a third
    // plan ran on the memory, it must copy its operands again.
    const mm = (p: Tensor, q: Tensor): Tensor => p.matmul(q);
    const other = (p: Tensor): Tensor => p.mul(p).add(1);
    const first = compile(mm, { verify: false });
    const second = compile(mm, { verify: false });
    const third = compile(other, { verify: false });
    const y = keep(rng.normal([2, 12, 16], 0, 0.5));
    const z = keep(rng.normal([16, 16], 0, 0.5));
    const big = keep(rng.normal([64, 64]));
    tidy(() => {
      first(x, w);
      second(y, z);
      third(big);
      for (let round = 0; round < 3; round++) {
        expectSame(first(x, w), mm(x, w), `first, round ${round}`);
        expectSame(second(y, z), mm(y, z), `second on other tensors right after first, round ${round}`);
        expectSame(first(x, w), mm(x, w), `first again, round ${round}`);
        expectSame(second(x, w), mm(x, w), `second on first's tensors right after first, round ${round}`);
        first(y, z);
        expectSame(third(big), other(big), `third, round ${round}`);
        expectSame(second(y, z), mm(y, z), `second after another plan wrote the memory, round ${round}`);
      }
    });
    for (const t of [x, w, v, x2, y, z, big]) t.dispose();
    for (const c of [cf, cg, jf, first, second, third]) c.dispose();
  });

  test('in-place operands under random interleavings of plans that share inputs and value ids', () => {
    const rng = new Rng(41);
    const u = uniforms(43);
    type Fn = (x: Tensor, w: Tensor) => Tensor;
    const fns: Fn[] = [
      (x) => x.mul(2).add(1),
      (x, w) => x.matmul(w).sigmoid().mul(x.matmul(w)),
      (x) => x.exp().mul(x),
      (x, w) => x.add(1).matmul(w).add(x.sum(-1, true)),
      (x, w) => x.matmul(w).add(x).matmul(w.transpose(-1, -2)).neg(),
      (x) => x.square().add(x.mul(3)),
    ];
    const xs = [keep(rng.normal([3, 8, 16], 0, 0.5)), keep(rng.normal([3, 8, 16], 0, 0.5))];
    const ws = [keep(rng.normal([16, 16], 0, 0.5)), keep(rng.normal([16, 16], 0, 0.5))];
    const big = keep(rng.normal([48, 48]));
    const clobber = compile((p: Tensor) => p.mul(p).add(p).matmul(p), { verify: false });
    // Built in the order they are listed (each one's first kernel expects the previous one's last).
    const compiled = fns.map((f) => compile(f, { verify: false }));
    tidy(() => compiled.forEach((c) => { c(xs[0]!, ws[0]!); }));
    const before = memoryKernels.inPlace;
    for (let call = 0; call < 120; call++) {
      tidy(() => {
        const k = Math.floor(u() * (fns.length + 1));
        if (k === fns.length) {
          expectSame(clobber(big), big.mul(big).add(big).matmul(big), `clobber, call ${call}`);
          return;
        }
        const x = xs[Math.floor(u() * 2)]!;
        const w = ws[Math.floor(u() * 2)]!;
        expectSame(compiled[k]!(x, w), fns[k]!(x, w), `function ${k}, call ${call}`);
      });
    }
    expect(memoryKernels.inPlace).toBeGreaterThan(before);
    for (const t of [...xs, ...ws, big]) t.dispose();
    for (const c of [...compiled, clobber]) c.dispose();
  });

  test('small float32 matmuls as generated SIMD equal the backend kernel, bit for bit', () => {
    const rng = new Rng(13);
    let used = 0;
    // [batch of a (0: a 2-D a broadcast over b's batch), m, k, n], transposed a, a narrowed view.
    const cases: [number, number, number, number, boolean, boolean][] = [
      [1, 64, 32, 32, false, false], [1, 16, 48, 48, false, false], [3, 9, 17, 40, false, false], [2, 33, 100, 68, true, false],
      [1, 7, 256, 4, false, true], [0, 12, 20, 8, false, false], [4, 5, 64, 12, true, true], [1, 1, 200, 64, false, false],
      [1, 8, 8, 8, false, false], [1, 64, 32, 30, false, false],
      // n % 4 of 1, 2 and 3 (the last vector of a row stored lane by lane), m % 4 of 1, 2, 3,
      // odd k and k = 1
      [1, 130, 33, 1, false, false], [2, 66, 31, 2, false, false], [1, 43, 35, 3, true, false], [1, 41, 21, 5, false, true],
      [3, 10, 23, 7, false, false], [1, 66, 1, 70, false, false], [2, 3, 129, 11, true, true], [1, 2, 256, 255, false, false],
    ];
    for (const [batch, m, k, n, transposed, narrowed] of cases) {
      const label = `[${batch}, ${m}, ${k}] @ [${k}, ${n}]${transposed ? ', a transposed' : ''}${narrowed ? ', a narrowed' : ''}`;
      const aShape = transposed ? [k + (narrowed ? 3 : 0), m] : [m, k + (narrowed ? 3 : 0)];
      const a0 = keep(tidy(() => {
        const r = rng.normal(batch === 0 ? aShape : [batch, ...aShape]);
        // Zero rows of a against negative b: every product is -0 (the sum starts at +0).
        return r.mul(gt(rng.uniform(r.shape), 0.2).cast('float32'));
      }));
      const b0 = keep(tidy(() => rng.normal(batch === 0 ? [3, k, n] : [batch, k, n]).abs().neg()));
      const fn = (x: Tensor, y: Tensor): Tensor => {
        let a = transposed ? x.transpose(-1, -2) : x;
        if (narrowed) a = a.narrow(-1, 2, k);
        return a.matmul(y);
      };
      const { simd, js } = checkCompiledBits(fn, [a0, b0], label);
      used += simd.stats().plan.simdMatmuls;
      expect(js.stats().plan.simdMatmuls).toBe(0);
      simd.dispose();
      js.dispose();
      a0.dispose();
      b0.dispose();
    }
    expect(used).toBeGreaterThanOrEqual(14);
  });

  test('b transposed (x @ w^T: gathered in 4 x 4 blocks, edges element by element) equals eager, bit for bit, on random shapes', () => {
    const rng = new Rng(23);
    const u = uniforms(23);
    const pick = (xs: readonly number[]): number => xs[Math.floor(u() * xs.length)]!;
    const usedBy = [0, 0, 0];
    let cases = 0;
    // k and n: 1, 2, 3, 4 and odd sizes on both sides of a multiple of 4 (k % 4 and n % 4 of
    // 0..3), batch 0 (a 2-D w broadcast over x's batch of 2), 1 and 3; w a plain transpose, a
    // narrowed one (rows of w longer than k) or a permuted one (depth not contiguous: the
    // element-by-element gather).
    for (let c = 0; c < 80; c++) {
      const batch = pick([0, 1, 3]);
      const m = pick([1, 5, 24, 40, 64, 96]);
      const k = pick([1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 17, 31, 64]);
      const n = pick([1, 2, 3, 4, 6, 9, 15, 16, 33]);
      const form = pick([0, 0, 1, 2]);
      const wRows = form === 1 ? k + 3 : k;
      const x0 = keep(tidy(() => {
        const r = rng.normal(batch === 0 ? [2, m, k] : [batch, m, k]);
        return r.mul(gt(rng.uniform(r.shape), 0.2).cast('float32'));
      }));
      // form 2: w stored [k, batch?, n] and permuted, so that its depth stride is not 1.
      const wShape = form === 2 ? (batch === 0 ? [k, n] : [k, batch, n]) : (batch === 0 ? [n, wRows] : [batch, n, wRows]);
      const w0 = keep(tidy(() => rng.normal(wShape).abs().neg()));
      const fn = (x: Tensor, w: Tensor): Tensor => {
        let wt: Tensor;
        if (form === 2) wt = batch === 0 ? w : w.permute([1, 0, 2]);
        else wt = (form === 1 ? w.narrow(-1, 1, k) : w).transpose(-1, -2);
        return x.matmul(wt);
      };
      const label = `[${batch}, ${m}, ${k}] @ [${k}, ${n}], w ${['transposed', 'narrowed and transposed', 'permuted'][form]}`;
      const { simd, js } = checkCompiledBits(fn, [x0, w0], label);
      usedBy[form] += simd.stats().plan.simdMatmuls;
      cases++;
      simd.dispose();
      js.dispose();
      x0.dispose();
      w0.dispose();
    }
    expect(cases).toBe(80);
    // Each form ran as generated SIMD several times (the others were too small for WebAssembly).
    expect(usedBy.every((count) => count >= 3), `generated matmuls by form: ${usedBy.join(", ")}`).toBe(true);
  });

  test('larger float32 matmuls (k across the backend\'s depth blocks, up to 2^24 flops) equal eager on 1 and 2 threads', () => {
    const rng = new Rng(17);
    const before = cpuConfig().threads;
    // [batch of a (0: a 2-D a broadcast over b's batch of 2), m, k, n, a transposed, b transposed]
    const cases: [number, number, number, number, boolean, boolean][] = [
      [1, 9, 255, 31, false, false], [1, 12, 256, 40, false, false], [1, 7, 257, 33, true, false], [2, 13, 511, 17, false, false],
      [1, 5, 512, 64, false, false], [0, 11, 513, 29, false, false], [1, 33, 513, 45, true, false], [3, 37, 300, 67, false, false],
      [1, 256, 48, 128, false, false], [4, 64, 64, 64, false, true], [1, 61, 1031, 23, false, false], [1, 256, 512, 64, false, false],
      // b transposed (gathered into rows first): odd n (n % 4 of 1, 2, 3), k across 256, broadcast a
      [1, 9, 133, 5, false, true], [2, 17, 257, 30, true, true], [0, 6, 300, 7, false, true], [3, 4, 64, 256, false, true],
    ];
    try {
      for (const threads of [1, 2]) {
        configureCpu({ threads });
        let generated = 0;
        for (const [batch, m, k, n, ta, tb] of cases) {
          const bBatch = batch === 0 ? 2 : batch;
          const flops = 2 * bBatch * m * n * k;
          const label = `${threads} threads: [${batch}, ${m}, ${k}] @ [${k}, ${n}]${ta ? ', a transposed' : ''}${tb ? ', b transposed' : ''} (2^${Math.log2(flops).toFixed(1)} flops)`;
          const aShape = ta ? [k, m] : [m, k];
          const a0 = keep(tidy(() => {
            const r = rng.normal(batch === 0 ? aShape : [batch, ...aShape]);
            return r.mul(gt(rng.uniform(r.shape), 0.2).cast('float32'));
          }));
          const b0 = keep(rng.normal([bBatch, ...(tb ? [n, k] : [k, n])]));
          const fn = (x: Tensor, y: Tensor): Tensor => (ta ? x.transpose(-1, -2) : x).matmul(tb ? y.transpose(-1, -2) : y);
          const f = compile(fn);
          // Calls 0 and 1 trace (1 verifies), 2 and 3 replay the plan.
          for (let call = 0; call < 4; call++) tidy(() => expectSame(f(a0, b0), fn(a0, b0), `${label}, call ${call}`));
          const used = f.stats().plan.simdMatmuls;
          // Never in place of a product the backend shares with threads.
          expect(used, label).toBe(threads > 1 && flops >= cpuConfig().parallelMinFlops ? 0 : 1);
          generated += used;
          f.dispose();
          a0.dispose();
          b0.dispose();
        }
        expect(generated).toBeGreaterThanOrEqual(threads === 1 ? 16 : 6);
      }
    } finally {
      configureCpu({ threads: before });
    }
  });

  test('under configureCpu({ fma: true }) small matmuls run generated relaxed multiply-adds equal to eager (the backend\'s FMA GEMM), bit for bit', () => {
    const before = cpuConfig();
    const rng = new Rng(29);
    try {
      configureCpu({ threads: 1, fma: true });
      const relaxed = cpuInfo().fma;
      // [batch, m, k, n, b transposed]; k = 300 and 513 cross the backend's depth blocks of 256.
      const cases: [number, number, number, number, boolean][] = [
        [1, 64, 32, 32, false], [2, 13, 37, 9, false], [1, 40, 33, 30, true], [3, 5, 300, 7, false], [1, 130, 33, 1, false], [1, 7, 513, 45, true],
      ];
      let used = 0;
      for (const [batch, m, k, n, tb] of cases) {
        const label = `[${batch}, ${m}, ${k}] @ [${k}, ${n}]${tb ? ', b transposed' : ''}`;
        const a0 = keep(rng.normal([batch, m, k]));
        const b0 = keep(rng.normal(tb ? [batch, n, k] : [batch, k, n]));
        const fn = (x: Tensor, y: Tensor): Tensor => x.matmul(tb ? y.transpose(-1, -2) : y);
        const f = compile(fn);
        for (let call = 0; call < 3; call++) tidy(() => expectSame(f(a0, b0), fn(a0, b0), `${label}, call ${call}`));
        used += f.stats().plan.simdMatmuls;
        // Replayed under the exact setting: the backend's exact kernel, not the fused module.
        configureCpu({ fma: false });
        tidy(() => expectSame(f(a0, b0), fn(a0, b0), `${label}, replayed with fma off`));
        configureCpu({ fma: true });
        f.dispose();
        a0.dispose();
        b0.dispose();
      }
      // Where the relaxed kernels do not load, the backend runs the exact ones, and so does the module.
      expect(used).toBe(cases.length);
      // A product whose last step cancels: a * a - (1 + 2^-11) for a = 1 + 2^-12 is 2^-24 when the
      // multiply-add is fused (one rounding) and 0 when the product is rounded first. The
      // generated module must round as the backend does on this machine.
      const a = 1 + 2 ** -12;
      const x = tensor(Array.from({ length: 64 }, () => [1, a]).flat(), [64, 2]);
      const y = tensor(Array.from({ length: 32 }, () => [-(1 + 2 ** -11), a]).flat(), [32, 2]).transpose(0, 1);
      const g = compile((p: Tensor, q: Tensor) => p.matmul(q));
      for (let call = 0; call < 3; call++) tidy(() => expectSame(g(x, y), x.matmul(y), `cancelling product, call ${call}`));
      expect(g.stats().plan.simdMatmuls).toBe(1);
      const value = tidy(() => g(x, y).dataSync()[0]!);
      expect(value === 2 ** -24 || value === 0).toBe(true);
      if (!relaxed) expect(value).toBe(0);
      g.dispose();
      x.dispose();
      y.dispose();
    } finally {
      configureCpu(before);
    }
  });

  test('a plan\'s generated matmul follows configureCpu changes made after tracing', () => {
    const rng = new Rng(19);
    const before = cpuConfig();
    const x = keep(rng.normal([40, 300]));
    const w = keep(rng.normal([300, 50]));
    const fn = (p: Tensor, q: Tensor): Tensor => p.matmul(q);
    try {
      configureCpu({ threads: 1 });
      const f = compile(fn);
      // Traced, then traced again to verify: replays start at the third call.
      for (let call = 0; call < 3; call++) tidy(() => expectSame(f(x, w), fn(x, w), `call ${call} on 1 thread`));
      expect(f.stats().plan.simdMatmuls).toBe(1);
      // 1.2 Mflop: the backend now splits it over threads; the replay must give it back.
      configureCpu({ threads: 2, parallelMinFlops: 2 ** 20 });
      tidy(() => expectSame(f(x, w), fn(x, w), 'replayed on 2 threads'));
      // Without WebAssembly the backend's JavaScript kernel runs (other bits): so must the replay.
      configureCpu({ threads: 1, wasm: false });
      tidy(() => {
        const eager = fn(x, w);
        expectSame(f(x, w), eager, 'replayed without wasm');
        configureCpu({ wasm: true });
        const wasm = fn(x, w);
        expectSame(f(x, w), wasm, 'replayed with wasm again');
      });
      expect(f.stats().traces).toBe(2);
      f.dispose();
    } finally {
      configureCpu(before);
      x.dispose();
      w.dispose();
    }
  });

  test('small matmul results kept alive across replays are not overwritten', () => {
    const rng = new Rng(21);
    const x = keep(rng.normal([64, 32]));
    const w = keep(rng.normal([32, 20]));
    const f = compile((p: Tensor, q: Tensor) => p.matmul(q));
    const eager = keep(x.matmul(w));
    const kept: Tensor[] = [];
    for (let call = 0; call < 6; call++) {
      // A result disposed at once (its array may be reused), then one kept alive.
      f(x, w).dispose();
      kept.push(f(x, w));
    }
    expect(f.stats().plan.simdMatmuls).toBe(1);
    kept.forEach((t, i) => expectSame(t, eager, `kept result ${i}`));
    for (const t of [...kept, x, w, eager]) t.dispose();
    f.dispose();
  });

  test('float64 chains and configureCpu({ wasm: false }) keep the JavaScript kernel', () => {
    const rng = new Rng(5);
    const a = keep(rng.normal([8, 8]).cast('float64'));
    const f = compile((p: Tensor) => silu(p.mul(p)));
    tidy(() => {
      f(a);
      expectSame(f(a), silu(a.mul(a)), 'float64 silu');
    });
    expect(f.stats().plan.simdGroups).toBe(0);
    f.dispose();
    const before = cpuConfig().wasm;
    configureCpu({ wasm: false });
    try {
      const b = keep(rng.normal([8, 8]));
      const g = compile((p: Tensor) => silu(p.mul(p)));
      tidy(() => {
        g(b);
        expectSame(g(b), silu(b.mul(b)), 'float32 silu without wasm');
      });
      expect(g.stats().plan.simdGroups).toBe(0);
      g.dispose();
      b.dispose();
    } finally {
      configureCpu({ wasm: before });
    }
    a.dispose();
  });
});
