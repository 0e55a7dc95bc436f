// Two builds: dist/index.mjs for browsers and bundlers (the default export condition), in
// which Node built-ins are replaced by functions that throw "needs Node" (see
// tooling/packaging/src/browser-builtins.ts), and dist/node.mjs for Node (the "node" condition), with
// the real file system for checkpoint directories. Both have the same API and types.
import { defineConfig } from 'tsdown';
import { browserBuiltins } from '../../tooling/packaging/src/browser-builtins.ts';

export default defineConfig([
  { entry: { index: 'src/index.ts' }, format: 'esm', fixedExtension: true, dts: true, clean: false, platform: 'browser', plugins: [browserBuiltins('@titans/models')] },
  { entry: { node: 'src/node.ts' }, format: 'esm', fixedExtension: true, dts: false, clean: false, platform: 'node' },
]);
