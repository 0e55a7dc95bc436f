// The omega-memory golden files through the parallel form on the WebGPU backend (float32,
// the spec's tolerances: 1e-4 outputs, 1e-3 outer gradients). Runs on SwiftShader here;
// without an adapter the test fails, never skips.
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseOmegaGoldenCase, verifyOmegaGoldenCase } from '../src/index.js';
import { useWebGPUBackend } from './webgpu.js';

const dir = fileURLToPath(new URL('../golden/omega-memory/', import.meta.url));
const files = readdirSync(dir).filter((f) => f.endsWith('.json')).sort();

describe('omega-memory golden files on WebGPU', () => {
  const backend = useWebGPUBackend();

  it('finds all 32 files', () => {
    expect(files.length).toBe(32);
  });
  for (const file of files) {
    it(`${file}: parallel form on WebGPU`, async () => {
      const c = parseOmegaGoldenCase(JSON.parse(readFileSync(`${dir}/${file}`, 'utf8')), file);
      const report = await verifyOmegaGoldenCase(c, { backend: backend() });
      expect(report.passed, JSON.stringify(report.errors, null, 1)).toBe(true);
    });
  }
});
