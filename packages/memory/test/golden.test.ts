import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseGoldenCase, verifyGoldenCase } from '../src/index.js';

const dir = process.env.TITANS_GOLDEN_DIR ?? fileURLToPath(new URL('../golden/neural-memory/', import.meta.url));
const files = readdirSync(dir).filter((f) => f.endsWith('.json')).sort();

describe('golden files (shared/golden/neural-memory)', () => {
  it('finds the golden files', () => {
    expect(files.length).toBeGreaterThanOrEqual(16);
  });
  for (const file of files) {
    const c = parseGoldenCase(JSON.parse(readFileSync(`${dir}/${file}`, 'utf8')), file);
    it(`${file}: parallel path, float32, within the spec's tolerances`, async () => {
      const report = await verifyGoldenCase(c);
      expect(report.errors, JSON.stringify(report.errors)).toBeDefined();
      expect(report.passed, JSON.stringify(report.errors, null, 1)).toBe(true);
    });
    it(`${file}: reference loop, float64`, async () => {
      const report = await verifyGoldenCase(c, { dtype: 'float64', path: 'loop', outputTolerance: 1e-9, gradTolerance: 1e-5 });
      expect(report.passed, JSON.stringify(report.errors, null, 1)).toBe(true);
    });
  }
});
