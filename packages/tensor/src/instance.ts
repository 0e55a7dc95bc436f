// One @titans/tensor per process. Tensors, backends and autograd nodes of two copies of this
// package cannot be mixed (each copy has its own CPU backend object, so an op on tensors of
// both fails with "matmul: a lives on cpu, b on cpu"), which happens when a package manager
// installs two versions side by side. Every copy registers itself on a global registry when
// it loads; the second copy from another file throws an error that names both versions and
// where they were loaded from. The other @titans packages take @titans/tensor as a peer
// dependency, so an install normally has exactly one.
import manifest from '../package.json' with { type: 'json' };

/** The version of this copy of @titans/tensor. */
export const TENSOR_VERSION: string = manifest.version;

export interface TensorInstance {
  readonly version: string;
  /** The module URL this copy was loaded from. */
  readonly url: string;
}

const REGISTRY = Symbol.for('@titans/tensor/instances');

/**
 * Adds `instance` to `registry`; throws when a copy from another file is already there. The
 * same file loaded again (a test runner re-evaluating modules, hot reload) is not a second copy.
 */
export function registerInstance(registry: TensorInstance[], instance: TensorInstance): void {
  const other = registry.find((r) => r.url !== instance.url);
  if (other) {
    throw new Error(
      `@titans/tensor: two copies are loaded in one process, ${other.version} (${other.url}) and ${instance.version} (${instance.url}); ` +
      'tensors of one cannot be used with the other. Install a single copy: the @titans packages take @titans/tensor as a peer ' +
      'dependency, so list it once in your package.json with a version that fits all of them (`npm ls @titans/tensor` shows who brings which; then `npm dedupe`).',
    );
  }
  registry.push(instance);
}

const holder = globalThis as typeof globalThis & { [REGISTRY]?: TensorInstance[] };
registerInstance((holder[REGISTRY] ??= []), { version: TENSOR_VERSION, url: import.meta.url });
