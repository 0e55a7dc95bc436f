// The opt-in relaxed-SIMD (FMA) float32 GEMM, configureCpu({ fma: true }): the committed binary
// against the build, the setting's validation and fallback in this process, and, in child
// processes with and without --experimental-wasm-relaxed-simd (on Node 20 the second one turns
// the flag on at run time when fma is asked for), the FMA GEMM against the exact one within a
// float32 bound on random shapes and layouts, and split across worker threads against one thread.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { FMA_GENERATED_PATH, assembleFmaKernels, renderFmaGeneratedModule } from '../src/cpu/wasm/assemble.js';
import { fmaSupported } from '../src/cpu/wasm/fma.js';
import { configureCpu, cpuConfig, cpuInfo, matmul, ones, type CpuConfig } from '../src/index.js';

const saved: CpuConfig = cpuConfig();
afterAll(() => { configureCpu(saved); });

const major = Number(process.versions.node.split('.')[0]);
/** Relaxed SIMD is on by default from V8 11.4 (Node 21); Node 20 has it behind a flag. */
const onByDefault = major >= 21;

interface ChildResult {
  supported: boolean;
  info: { fma: boolean; fmaSupported: boolean; wasm: boolean };
  fmaSetting: boolean;
  worst: number;
  differing: number;
  identical: number;
  elements: number;
  probeExact: number;
  probeFused: number;
  workers: number;
  splitWorkers: number;
  splitIdentical: boolean;
  splitExactIdentical: boolean;
  splitDiffersFromExact: number;
}

const root = fileURLToPath(new URL('..', import.meta.url));
const child = fileURLToPath(new URL('./cpu-fma-child.ts', import.meta.url));
function runChild(flags: string[]): ChildResult {
  const env = { ...process.env };
  delete env['TITANS_CPU_FMA'];
  const out = execFileSync(process.execPath, [...flags, '--import', 'tsx', child], { cwd: root, env, encoding: 'utf8', timeout: 120_000 });
  return JSON.parse(out.trim()) as ChildResult;
}

/** True when Linux reports FMA3 on this x86 CPU (V8 then fuses relaxed_madd). */
function hostHasFma(): boolean {
  try {
    return process.arch === 'x64' && /^flags\s*:.*\bfma\b/m.test(readFileSync('/proc/cpuinfo', 'utf8'));
  } catch {
    return false;
  }
}

describe('FMA GEMM kernels', () => {
  it('the committed kernels-fma.generated.ts is what the build makes from kernels-fma.wat', async () => {
    const built = renderFmaGeneratedModule(await assembleFmaKernels());
    expect(readFileSync(FMA_GENERATED_PATH, 'utf8')).toBe(built);
  });

  it('is off by default, validates its value and never throws where unsupported', () => {
    expect(saved.fma).toBe(process.env['TITANS_CPU_FMA'] === '1');
    expect(() => configureCpu({ fma: 'yes' as unknown as boolean })).toThrow(/fma must be a boolean/);
    const config = configureCpu({ fma: true });
    expect(config.fma).toBe(true);
    const info = cpuInfo();
    expect(info.fmaSupported).toBe(fmaSupported());
    expect(info.fma).toBe(info.wasm && info.fmaSupported);
    // A matmul runs either way; with fma off cpuInfo says so.
    expect(Array.from(matmul(ones([5, 7]), ones([7, 3])).dataSync())).toEqual(new Array(15).fill(7));
    configureCpu({ fma: false });
    expect(cpuInfo().fma).toBe(false);
    configureCpu({ fma: true, wasm: false });
    expect(cpuInfo().fma).toBe(false);
    configureCpu(saved);
  });

  it('with --experimental-wasm-relaxed-simd: equal to the exact GEMM within 2 (k + 1) eps sum |a||b|', () => {
    const out = runChild(['--experimental-wasm-relaxed-simd']);
    expect(out.supported).toBe(true);
    expect(out.info).toMatchObject({ wasm: true, fmaSupported: true, fma: true });
    expect(out.elements).toBeGreaterThan(40_000);
    expect(out.worst).toBeLessThanOrEqual(1);
    expect(out.probeExact).toBe(0);
    // Fused where the hardware has FMA (then rounding differs on most large-depth outputs),
    // a multiply and an add otherwise.
    expect([0, 2 ** -24]).toContain(out.probeFused);
    if (hostHasFma()) {
      expect(out.probeFused).toBe(2 ** -24);
      expect(out.differing).toBeGreaterThan(out.elements / 4);
    }
    // Split across worker threads: the same kernels on every thread, so the same bits as one
    // thread, for the FMA and for the exact kernels.
    expect(out.workers).toBe(1);
    expect(out.splitWorkers).toBe(1);
    expect(out.splitIdentical).toBe(true);
    expect(out.splitExactIdentical).toBe(true);
    if (hostHasFma()) expect(out.splitDiffersFromExact).toBeGreaterThan(0);
  });

  it(`without the flag: ${onByDefault ? 'supported (relaxed SIMD is on by default here)' : 'fma: true turns relaxed SIMD on at run time'}`, () => {
    const out = runChild([]);
    expect(out.fmaSetting).toBe(true);
    expect(out.supported).toBe(true);
    expect(out.info).toMatchObject({ wasm: true, fmaSupported: true, fma: true });
    expect(out.worst).toBeLessThanOrEqual(1);
    expect(out.probeExact).toBe(0);
    if (hostHasFma()) expect(out.probeFused).toBe(2 ** -24);
    expect(out.splitIdentical).toBe(true);
    expect(out.splitExactIdentical).toBe(true);
  });
});
