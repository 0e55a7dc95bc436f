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
});
