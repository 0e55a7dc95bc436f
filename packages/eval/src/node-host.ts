// Node's built-in modules for writing report files (writeReport). The package's Node entry
// (src/node.ts, its "node" export condition) hands them over; the browser entry never
// imports a Node module, so it bundles for the browser, and writing files throws a clear
// error there. Code that loads the browser entry in Node (TypeScript sources run directly,
// a bundle made without the "node" condition) falls back to process.getBuiltinModule.
import type * as Fs from 'node:fs';
import type * as Path from 'node:path';

export interface NodeHost {
  readonly fs: typeof Fs;
  readonly path: typeof Path;
}

let host: NodeHost | undefined;

/** Called once by src/node.ts. */
export function setNodeHost(modules: NodeHost): void {
  host = modules;
}

function nodeHost(): NodeHost {
  if (host) return host;
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  if (typeof proc?.getBuiltinModule === 'function') {
    host = { fs: proc.getBuiltinModule('node:fs') as typeof Fs, path: proc.getBuiltinModule('node:path') as typeof Path };
    return host;
  }
  throw new Error('@titans/eval: writeReport writes files and needs Node (in a browser, use toJson, the SVG functions and HtmlReport.toString())');
}

export const mkdirSync = ((...args: unknown[]) => (nodeHost().fs.mkdirSync as (...a: unknown[]) => unknown)(...args)) as typeof Fs.mkdirSync;
export const writeFileSync: typeof Fs.writeFileSync = (...args) => nodeHost().fs.writeFileSync(...args);
export const join: typeof Path.join = (...paths) => nodeHost().path.join(...paths);
