// Shaders carry only the WGSL helpers they use: the selection is closed under the helpers'
// own calls (checked by the real shader compiler, which rejects unresolved names), keeps
// the library's text, and drops what is not referenced.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WebGPUBackend } from '../src/index.js';
import { helpersFor, parseHelpers } from '../src/kernels/helpers.js';
import { HELPERS } from '../src/kernels/ops.js';
import { makeBackend } from './helpers.js';

let gpu: WebGPUBackend;
beforeAll(async () => {
  gpu = await makeBackend();
});
afterAll(() => gpu?.destroy());

const items = parseHelpers(HELPERS);
const names = items.map((it) => it.name);

function declared(text: string): string[] {
  return [...text.matchAll(/^(?:fn\s+|var<private>\s+)([A-Za-z_]\w*)/gm)].map((m) => m[1]!);
}

async function compileErrors(code: string): Promise<string[]> {
  gpu.device.pushErrorScope('validation');
  const module = gpu.device.createShaderModule({ code });
  const info = await module.getCompilationInfo();
  await gpu.device.popErrorScope();
  return info.messages.filter((m) => m.type === 'error').map((m) => m.message);
}

describe('WGSL helper selection', () => {
  it('parses every declaration of the library once, losing no line of code', () => {
    expect(new Set(names).size).toBe(names.length);
    expect(names).toEqual(expect.arrayContaining(['pos_inf', 'nan_f', 'is_nan', 'to_i32', 'erf_f', 'sin_f', 'reduce_huge', 'TWO_OVER_PI', 'pow_f', 'div_i']));
    const codeLines = (s: string) => s.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('//'));
    expect(codeLines(items.map((it) => it.text).join('\n'))).toEqual(codeLines(HELPERS));
    expect(declared(helpersFor(...names))).toEqual(names);
  });

  it('takes nothing for code without helper calls', () => {
    expect(helpersFor('let v0: f32 = (l0 + c0);\n  out0[i] = v0;')).toBe('');
  });

  it('follows helper calls transitively and leaves the rest out', () => {
    const sin = declared(helpersFor('let v = sin_f(x);'));
    expect(sin).toEqual(expect.arrayContaining(['sin_f', 'reduce_quarter', 'sincos_poly', 'trig_huge', 'reduce_huge', 'TWO_OVER_PI', 'is_finite', 'nan_f', 'NAN_BITS']));
    expect(sin).not.toContain('erf_f');
    expect(sin).not.toContain('pow_f');
    expect(sin).not.toContain('cos_f');
    // Names inside comments of the shader do not count; names in code do.
    expect(helpersFor('// pow_f(x, y) is not called here')).toBe('');
    expect(declared(helpersFor('let v = select(a, nan_f(), is_nan(a));'))).toEqual(['NAN_BITS', 'nan_f', 'is_nan']);
  });

  it('every helper alone, with what it selects, compiles (no missing dependency)', async () => {
    for (const name of names) {
      const used = name.endsWith('_BITS') || name === 'TWO_OVER_PI' ? `_ = ${name};` : '';
      const code = `${helpersFor(name)}\n@compute @workgroup_size(1)\nfn main() { ${used} }`;
      expect(await compileErrors(code), name).toEqual([]);
    }
    // The test itself can fail: a selection missing a dependency is rejected.
    expect((await compileErrors(`fn f(x: f32) -> f32 { return nan_f(); }\n@compute @workgroup_size(1)\nfn main() { }`)).length).toBeGreaterThan(0);
  });

  it('a selection is closed: every helper named in it is declared in it', () => {
    for (const name of names) {
      const text = helpersFor(name);
      const present = new Set(declared(text));
      const stripped = text.replace(/\/\/[^\n]*/g, '');
      for (const other of names) {
        if (new RegExp(`\\b${other}\\b`).test(stripped)) expect(present.has(other), `${name} needs ${other}`).toBe(true);
      }
    }
  });
});
