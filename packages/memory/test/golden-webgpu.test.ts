// The golden files through the production (parallel) path on the WebGPU backend: outputs
// to 1e-4 and outer-loop gradients to 1e-3, as the spec asks of every backend. In CI and
// on this machine WebGPU runs on SwiftShader; without an adapter the test fails, never skips.
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseGoldenCase, verifyGoldenCase } from '../src/index.js';
import { useWebGPUBackend } from './webgpu.js';

const dir = process.env.TITANS_GOLDEN_DIR ?? fileURLToPath(new URL('../golden/neural-memory/', import.meta.url));
const files = readdirSync(dir).filter((f) => f.endsWith('.json')).sort();

describe('golden files on WebGPU', () => {
  const backend = useWebGPUBackend();

  for (const file of files) {
    it(`${file}: parallel path on WebGPU`, async () => {
      const c = parseGoldenCase(JSON.parse(readFileSync(`${dir}/${file}`, 'utf8')), file);
      const report = await verifyGoldenCase(c, { backend: backend() });
      expect(report.passed, JSON.stringify(report.errors, null, 1)).toBe(true);
    });
  }
});
