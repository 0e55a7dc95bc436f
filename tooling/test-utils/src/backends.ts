// One test body, every backend: the CPU backend is always registered; other packages
// (WebGPU) register theirs before calling `eachBackend` or the shared suites.
import { afterAll, beforeAll, describe } from 'vitest';
import { cpuBackend, getBackend, setBackend, type Backend } from '@titans/tensor';

export interface TestBackend {
  readonly name: string;
  /** The backend; valid after `setup` has run. */
  backend(): Backend;
  /** Whether float64 tensors work (finite-difference checks need them). */
  readonly float64: boolean;
  /** Use small shapes (slow emulated devices such as SwiftShader). */
  readonly small: boolean;
  /** Async initialisation (requesting a GPU device); runs in `beforeAll`. */
  setup?(): Promise<void> | void;
  teardown?(): Promise<void> | void;
}

const registry: TestBackend[] = [
  { name: 'cpu', backend: () => cpuBackend, float64: true, small: false },
];

/** Adds (or replaces, by name) a backend that `eachBackend` runs test bodies on. */
export function registerTestBackend(entry: TestBackend): void {
  const at = registry.findIndex((b) => b.name === entry.name);
  if (at >= 0) registry[at] = entry;
  else registry.push(entry);
}

/** The registered backends, CPU first. */
export function testBackends(): readonly TestBackend[] {
  return registry;
}

/**
 * Defines `describe('<name> [<backend>]')` for every registered backend (or the ones named
 * in `only`), with that backend active while its tests run.
 */
export function eachBackend(name: string, body: (target: TestBackend) => void, only?: readonly string[]): void {
  for (const target of registry) {
    if (only && !only.includes(target.name)) continue;
    describe(`${name} [${target.name}]`, () => {
      let previous: Backend | undefined;
      beforeAll(async () => {
        await target.setup?.();
        previous = getBackend();
        setBackend(target.backend());
      });
      afterAll(async () => {
        if (previous) setBackend(previous);
        await target.teardown?.();
      });
      body(target);
    });
  }
}
