// The library (dist/index.mjs) and the child process of runPlan's `jobs > 1`
// (dist/worker.mjs). Flat names: the runner finds the worker next to itself.
import { defineConfig } from 'tsdown';

export default defineConfig({
  entry: { index: 'src/index.ts', worker: 'src/worker.ts' },
  format: 'esm',
  fixedExtension: true,
  dts: true,
  clean: true,
  platform: 'node',
});
