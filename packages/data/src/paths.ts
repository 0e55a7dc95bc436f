// Finds files inside installed npm packages and inside this package, both from the
// TypeScript sources (tests, `--conditions=source`) and from the built dist bundle.

import { createRequire, dirname, existsSync, fileURLToPath, join, readFileSync } from './node-host.ts';

const cache = new Map<string, string>();

function findUp(start: string, accept: (dir: string) => boolean): string | undefined {
  let dir = start;
  for (;;) {
    if (accept(dir)) return dir;
    const parent = dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

function packageNameAt(dir: string): string | undefined {
  const manifest = join(dir, 'package.json');
  if (!existsSync(manifest)) return undefined;
  try {
    return (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name;
  } catch {
    return undefined;
  }
}

/**
 * Root directory of an installed dependency. Tries `name/package.json` first and, for
 * packages whose `exports` hide it (vega-datasets), resolves the entry point and walks up.
 */
export function dependencyDir(name: string): string {
  const hit = cache.get(name);
  if (hit) return hit;
  let dir: string | undefined;
  const require = createRequire(import.meta.url);
  try {
    dir = dirname(require.resolve(`${name}/package.json`));
  } catch {
    try {
      dir = findUp(dirname(require.resolve(name)), (d) => packageNameAt(d) === name);
    } catch {
      dir = undefined;
    }
  }
  if (!dir) {
    throw new Error(`@titans/data: the package '${name}' is not installed (it is a dependency of @titans/data; run pnpm install)`);
  }
  cache.set(name, dir);
  return dir;
}

/** Root directory of @titans/data itself (holds assets/). */
export function ownPackageDir(): string {
  const dir = findUp(dirname(fileURLToPath(import.meta.url)), (d) => packageNameAt(d) === '@titans/data');
  if (!dir) throw new Error('@titans/data: cannot find its own package.json');
  return dir;
}
