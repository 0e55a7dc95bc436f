// The CLI's build: the library entry (dist/index.mjs), the process entry that bin/titans.js
// runs when installed (dist/run.mjs) and the child process of `titans reproduce --jobs N`
// (dist/reproduce-worker.mjs). Flat names: the reproduce code finds the worker next to itself.
import { defineConfig } from 'tsdown';

export default defineConfig({
  entry: { index: 'src/index.ts', run: 'src/run.ts', 'reproduce-worker': 'src/reproduce/worker.ts' },
  format: 'esm',
  dts: true,
  clean: true,
  platform: 'node',
});
