// Node's built-in modules for the parts of @titans/data that read files (corpora, time series,
// DNA, this package's assets). The package's Node entry (src/node.ts, its "node" export
// condition) hands them over; the browser entry never imports a Node module, so it bundles
// for the browser, and these functions throw a clear error there. Code that loads the browser
// entry in Node (TypeScript sources run directly, a bundle made without the "node" condition)
// falls back to process.getBuiltinModule (Node >= 20.16).
import type * as Fs from 'node:fs';
import type * as Module from 'node:module';
import type * as Path from 'node:path';
import type * as Url from 'node:url';
import type * as Zlib from 'node:zlib';

export interface NodeHost {
  readonly fs: typeof Fs;
  readonly module: typeof Module;
  readonly path: typeof Path;
  readonly url: typeof Url;
  readonly zlib: typeof Zlib;
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
    const get = proc.getBuiltinModule.bind(proc);
    host = {
      fs: get('node:fs') as typeof Fs,
      module: get('node:module') as typeof Module,
      path: get('node:path') as typeof Path,
      url: get('node:url') as typeof Url,
      zlib: get('node:zlib') as typeof Zlib,
    };
    return host;
  }
  throw new Error('@titans/data: corpora, time series and DNA are read from files and need Node (in a browser, pass the text to the functions that take it, e.g. timeSeriesFromCsv, parseFasta)');
}

export const existsSync: typeof Fs.existsSync = (path) => nodeHost().fs.existsSync(path);
export const readFileSync = ((...args: unknown[]) => (nodeHost().fs.readFileSync as (...a: unknown[]) => unknown)(...args)) as typeof Fs.readFileSync;
export const readdirSync = ((...args: unknown[]) => (nodeHost().fs.readdirSync as (...a: unknown[]) => unknown)(...args)) as typeof Fs.readdirSync;
export const join: typeof Path.join = (...paths) => nodeHost().path.join(...paths);
export const dirname: typeof Path.dirname = (path) => nodeHost().path.dirname(path);
export const gunzipSync = ((...args: unknown[]) => (nodeHost().zlib.gunzipSync as (...a: unknown[]) => unknown)(...args)) as typeof Zlib.gunzipSync;
export const createRequire: typeof Module.createRequire = (path) => nodeHost().module.createRequire(path);
export const fileURLToPath: typeof Url.fileURLToPath = (url) => nodeHost().url.fileURLToPath(url);
