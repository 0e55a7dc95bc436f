// A rolldown plugin for the browser build of a package whose sources import Node built-ins
// directly (@titans/models' checkpoint directories): every `node:*` import becomes a module
// with the same export names whose functions forward to Node's module at call time. In a
// browser they throw an error naming the function and the package; where the browser build
// is loaded in Node anyway (a bundle made without the "node" export condition) they use
// process.getBuiltinModule. The package's Node build (the "node" export condition) imports
// the real modules. Nothing here runs at module load, so the browser bundle has no Node import.
import { builtinModules } from 'node:module';

const PREFIX = '\0titans-browser-builtin:';

export function browserBuiltins(pkg: string): { name: string; resolveId(id: string): string | null; load(id: string): Promise<string | null> } {
  const builtins = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));
  return {
    name: 'titans-browser-builtins',
    resolveId(id) {
      return builtins.has(id) ? PREFIX + id.replace(/^node:/, '') : null;
    },
    async load(id) {
      if (!id.startsWith(PREFIX)) return null;
      const name = id.slice(PREFIX.length);
      const real = (await import(`node:${name}`)) as Record<string, unknown>;
      const names = Object.keys(real).filter((n) => n !== 'default' && /^[A-Za-z_$][\w$]*$/.test(n));
      const lines = [
        `const unavailable = (what) => new Error(${JSON.stringify(pkg)} + ': ' + what + ' needs Node (this is the browser build; checkpoint directories, files and processes exist only in Node)');`,
        `let real;`,
        `const node = (what) => {`,
        `  if (real) return real;`,
        `  const proc = globalThis.process;`,
        `  if (typeof proc?.getBuiltinModule === 'function') return (real = proc.getBuiltinModule(${JSON.stringify(`node:${name}`)}));`,
        `  throw unavailable(what);`,
        `};`,
        `const lazy = (key) => new Proxy({}, { get: (_t, k) => node(${JSON.stringify(`node:${name}.`)} + key)[key][k] });`,
        `export default new Proxy({}, { get: (_t, k) => node(${JSON.stringify(`node:${name}.`)} + String(k))[k] });`,
        ...names.map((n) =>
          typeof real[n] === 'function'
            ? `export const ${n} = (...args) => node(${JSON.stringify(`node:${name}.${n}`)})[${JSON.stringify(n)}](...args);`
            : `export const ${n} = /* @__PURE__ */ lazy(${JSON.stringify(n)});`),
      ];
      return lines.join('\n');
    },
  };
}
