// The CLI's build: the library entry (dist/index.mjs) and the process entry that bin/titans.js
// runs when installed (dist/run.mjs). The child process of `titans reproduce --jobs N` is
// @titans/experiments' own dist/worker.mjs.
import { defineConfig } from 'tsdown';

export default defineConfig({
  entry: { index: 'src/index.ts', run: 'src/run.ts' },
  format: 'esm',
  dts: true,
  clean: true,
  platform: 'node',
});
