// Two copies of @titans/tensor in one process fail at load with both versions named.
import { describe, expect, it } from 'vitest';
import { registerInstance, TENSOR_VERSION, type TensorInstance } from '../src/instance.ts';
import manifest from '../package.json' with { type: 'json' };

describe('one @titans/tensor per process', () => {
  it('knows its version from package.json', () => {
    expect(TENSOR_VERSION).toBe(manifest.version);
  });

  it('registers this copy on the global registry when it loads', () => {
    const registry = (globalThis as Record<symbol, TensorInstance[] | undefined>)[Symbol.for('@titans/tensor/instances')];
    expect(registry?.some((r) => r.version === TENSOR_VERSION && r.url.endsWith('/src/instance.ts'))).toBe(true);
  });

  it('throws naming both versions and files when a copy from another file registers', () => {
    const registry: TensorInstance[] = [];
    registerInstance(registry, { version: '0.1.0', url: 'file:///app/node_modules/@titans/tensor/dist/index.mjs' });
    expect(() => registerInstance(registry, { version: '0.1.1', url: 'file:///app/node_modules/@titans/memory/node_modules/@titans/tensor/dist/index.mjs' }))
      .toThrow(/two copies are loaded in one process, 0\.1\.0 \(file:\/\/\/app\/node_modules\/@titans\/tensor\/dist\/index\.mjs\) and 0\.1\.1 \(file:\/\/\/app\/node_modules\/@titans\/memory\/node_modules\/@titans\/tensor\/dist\/index\.mjs\)/);
    expect(registry).toHaveLength(1);
  });

  it('lets the same file load again (module re-evaluation is not a second copy)', () => {
    const registry: TensorInstance[] = [];
    const one = { version: '0.1.0', url: 'file:///x/dist/index.mjs' };
    registerInstance(registry, one);
    expect(() => registerInstance(registry, { ...one })).not.toThrow();
  });
});
