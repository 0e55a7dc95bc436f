// The fused memory scan's WebAssembly: the committed base64 is what memory-scan.wat assembles
// to, and its SIMD SiLU (a polynomial exp) stays within float32 rounding of Math.exp's
// (below z = -87, where exp is clamped, silu is ~1e-36 instead of smaller: an absolute 1e-34).
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { MEMORY_SCAN_WASM_BASE64 } from '../src/cpu/memory-scan-wasm.generated.js';

describe('memory-scan WebAssembly', () => {
  it('memory-scan-wasm.generated.ts is up to date with memory-scan.wat', () => {
    const root = fileURLToPath(new URL('..', import.meta.url));
    const run = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/build-wasm.ts', 'memory-scan', '--check'], { cwd: root, encoding: 'utf8', timeout: 120_000 });
    expect(run.stderr + run.stdout).toContain('up to date');
    expect(run.status).toBe(0);
  }, 150_000);

  it('SiLU and its derivative match float64 within float32 rounding over [-100, 100]', () => {
    const bytes = Uint8Array.from(Buffer.from(MEMORY_SCAN_WASM_BASE64, 'base64'));
    const w = new WebAssembly.Instance(new WebAssembly.Module(bytes), {}).exports as unknown as {
      memory: WebAssembly.Memory; silu(z: number, out: number, slope: number, withSlope: number, n: number): void;
    };
    const n = 4096;
    const f = new Float32Array(w.memory.buffer, 0, 3 * n);
    for (let i = 0; i < n; i++) f[i] = -100 + (200 * i) / n + 0.0137;
    w.silu(0, 4 * n, 8 * n, 1, n);
    for (let i = 0; i < n; i++) {
      const x = f[i]!;
      const s = 1 / (1 + Math.exp(-x));
      const y = x * s;
      const d = s * (1 + x * (1 - s));
      expect(Math.abs(f[n + i]! - y), `silu(${x})`).toBeLessThanOrEqual(1e-6 * Math.abs(y) + 1e-34);
      expect(Math.abs(f[2 * n + i]! - d), `silu'(${x})`).toBeLessThanOrEqual(1e-6 * Math.abs(d) + 1e-6);
    }
  });

  it('surprise2B (forward products on blocked inputs) gives surprise2\'s bits, for 1-13 tokens', () => {
    const bytes = Uint8Array.from(Buffer.from(MEMORY_SCAN_WASM_BASE64, 'base64'));
    type Surprise2 = (
      W1: number, h: number, i: number, W2: number, o: number, k: number, v: number, th: number, n: number,
      z1: number, z2: number, slope: number, g: number, back: number, a1: number, sc1: number, sc2: number, loss: number,
    ) => void;
    type Surprise2B = (...args: [...Parameters<Surprise2>, kB: number, aB: number]) => void;
    const w = new WebAssembly.Instance(new WebAssembly.Module(bytes), {}).exports as unknown as {
      memory: WebAssembly.Memory; surprise2: Surprise2; surprise2B: Surprise2B; blockRows(src: number, n: number, cols: number, dst: number): void;
    };
    const i = 32;
    const h = 48;
    const o = 12;
    let seed = 7;
    const next = (): number => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed / 2147483648 - 0.5; };
    if (w.memory.buffer.byteLength < 1 << 20) w.memory.grow(16);
    // Regions (floats): W1, W2, k, v, theta, then two sets of outputs (z1, z2, slope, g, back, a1, sc1, sc2, loss), kB, aB.
    const region = 4096;
    const f = new Float32Array(w.memory.buffer);
    for (let at = 0; at < 5 * region; at++) f[at] = next();
    const outputs = (set: number): number[] => Array.from({ length: 9 }, (_, j) => 4 * (5 * region + (set * 9 + j) * region));
    for (const n of [1, 3, 4, 5, 8, 13]) {
      const a = outputs(0);
      const b = outputs(1);
      const kB = 4 * (23 * region);
      const aB = 4 * (24 * region);
      f.fill(0, 5 * region);
      w.surprise2(0, h, i, 4 * region, o, 8 * region, 12 * region, 16 * region, n, a[0]!, a[1]!, a[2]!, a[3]!, a[4]!, a[5]!, a[6]!, a[7]!, a[8]!);
      w.blockRows(8 * region, n, i, kB);
      w.surprise2B(0, h, i, 4 * region, o, 8 * region, 12 * region, 16 * region, n, b[0]!, b[1]!, b[2]!, b[3]!, b[4]!, b[5]!, b[6]!, b[7]!, b[8]!, kB, aB);
      const g = new Float32Array(w.memory.buffer);
      let differ = 0;
      for (let j = 0; j < 9; j++) for (let e = 0; e < region; e++) if (!Object.is(g[a[j]! / 4 + e], g[b[j]! / 4 + e])) differ++;
      expect(differ, `n = ${n}: elements that differ`).toBe(0);
      // The hidden activations in blocked layout: block cb of token t at aB + cb (64 n) + 64 t bytes.
      for (let t = 0; t < n; t++) for (let c = 0; c < h; c++) {
        expect(g[aB / 4 + Math.floor(c / 16) * 16 * n + 16 * t + (c % 16)]).toBe(g[a[5]! / 4 + t * h + c]);
      }
    }
  });
});

