// The omega-memory golden files (an independent float64 loop) through the parallel form
// in float32 at the spec's tolerances, and through the reference loop in float64 tightly.
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseOmegaGoldenCase, verifyOmegaGoldenCase } from '../src/index.js';

const dir = fileURLToPath(new URL('../golden/omega-memory/', import.meta.url));
const files = readdirSync(dir).filter((f) => f.endsWith('.json')).sort();

describe('omega-memory golden files', () => {
  it('finds all 32 files', () => {
    expect(files.length).toBe(32);
  });
  for (const file of files) {
    const c = parseOmegaGoldenCase(JSON.parse(readFileSync(`${dir}/${file}`, 'utf8')), file);
    it(`${file}: parallel form, float32, within the spec's tolerances`, async () => {
      const report = await verifyOmegaGoldenCase(c);
      expect(report.passed, JSON.stringify(report.errors, null, 1)).toBe(true);
    });
    it(`${file}: parallel form, float64, tightly`, async () => {
      const report = await verifyOmegaGoldenCase(c, { dtype: 'float64', outputTolerance: 1e-9, gradTolerance: 1e-5 });
      expect(report.passed, JSON.stringify(report.errors, null, 1)).toBe(true);
    });
    it(`${file}: reference loop, float64, tightly`, async () => {
      const report = await verifyOmegaGoldenCase(c, { dtype: 'float64', path: 'loop', outputTolerance: 1e-9, gradTolerance: 1e-5 });
      expect(report.passed, JSON.stringify(report.errors, null, 1)).toBe(true);
    });
  }
});
