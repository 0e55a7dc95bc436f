// Node's built-in modules for writing .onnx files (exportCheckpointToOnnx). The package's
// Node entry (src/node.ts, its "node" export condition) hands them over; the browser entry
// never imports a Node module, so it bundles for the browser, and writing files throws a
// clear error there. Code that loads the browser entry in Node (TypeScript sources run
// directly, a bundle made without the "node" condition) falls back to
// process.getBuiltinModule.
import type * as FsPromises from 'node:fs/promises';
import type * as Path from 'node:path';

export interface NodeHost {
  readonly fs: typeof FsPromises;
  readonly path: typeof Path;
}

let host: NodeHost | undefined;

/** Called once by src/node.ts. */
export function setNodeHost(modules: NodeHost): void {
  host = modules;
}

/** Node's fs/promises and path; throws where there are none (a browser). */
export function nodeHost(what: string): NodeHost {
  if (host) return host;
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  if (typeof proc?.getBuiltinModule === 'function') {
    host = { fs: proc.getBuiltinModule('node:fs/promises') as typeof FsPromises, path: proc.getBuiltinModule('node:path') as typeof Path };
    return host;
  }
  throw new Error(`@titans/onnx: ${what} reads and writes files and needs Node (in a browser, use exportOnnx and keep the bytes)`);
}
