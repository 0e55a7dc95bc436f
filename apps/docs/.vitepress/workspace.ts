// Build-time glue between the site and the workspace: the @titans/* packages resolve to
// their TypeScript sources (so the demos run the code in the repository, not a published
// build), Node built-ins become browser stubs that fail loudly if they are ever called,
// and the source files the docs link to are listed and searched for declarations.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Plugin } from 'vite';

/** The repository root (apps/docs/.vitepress -> ../../..). */
export const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));

/** Workspace packages the site may import, by name, with their source entry files. */
export const workspacePackages: Record<string, string> = {
  '@titans/tensor': 'packages/tensor/src/index.ts',
  '@titans/webgpu': 'packages/webgpu/src/index.ts',
  '@titans/memory': 'packages/memory/src/index.ts',
  '@titans/models': 'packages/models/src/index.ts',
  '@titans/data': 'packages/data/src/index.ts',
  '@titans/eval': 'packages/eval/src/index.ts',
  '@titans/experiments': 'packages/experiments/src/index.ts',
  '@titans/onnx': 'packages/onnx/src/index.ts',
};

/** Vite aliases from package names to source entries (the 'source' export condition, made explicit). */
export function workspaceAliases(): { find: RegExp; replacement: string }[] {
  return Object.entries(workspacePackages)
    .filter(([, entry]) => existsSync(join(repoRoot, entry)))
    .map(([name, entry]) => ({ find: new RegExp(`^${name}$`), replacement: join(repoRoot, entry) }));
}

const STUB_PREFIX = '\0titans-node-stub:';

/**
 * Replaces Node built-ins imported anywhere in the browser bundle with stubs that export
 * the same names. A stub throws when it is called, naming the module, the export and the
 * importer, so a Node-only code path reached from a demo is an obvious error instead of a
 * silent `undefined`. `createRequire` alone returns a throwing `require`, because
 * @titans/data calls it at module load (packages/data/src/paths.ts).
 */
export function nodeBuiltinStubs(onImport: (builtin: string, importer: string) => void = () => {}): Plugin {
  const builtins = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));
  return {
    name: 'titans-node-builtin-stubs',
    enforce: 'pre',
    resolveId(id, importer, options) {
      if (options?.ssr || !builtins.has(id)) return null;
      onImport(id, importer ? relative(repoRoot, importer) : '(entry)');
      return STUB_PREFIX + id.replace(/^node:/, '');
    },
    async load(id) {
      if (!id.startsWith(STUB_PREFIX)) return null;
      const name = id.slice(STUB_PREFIX.length);
      const real = (await import(`node:${name}`)) as Record<string, unknown>;
      const names = Object.keys(real).filter((n) => n !== 'default' && /^[A-Za-z_$][\w$]*$/.test(n));
      const lines = [
        `const unavailable = (what) => { const fail = () => { throw new Error(what + ' is not available in the browser (a Node-only code path was reached from the docs site)'); };`,
        `  return new Proxy(fail, { get: (_t, key) => (key === 'then' ? undefined : fail), construct: fail }); };`,
        `const moduleStub = new Proxy({}, { get: (_t, key) => (key === 'then' ? undefined : unavailable('node:${name}.' + String(key))) });`,
        `export default moduleStub;`,
        ...names.map((n) =>
          n === 'createRequire'
            ? `export const createRequire = () => unavailable('require() from node:module');`
            : `export const ${n} = /* @__PURE__ */ unavailable('node:${name}.${n}');`),
      ];
      return lines.join('\n');
    },
  };
}

// ---------------------------------------------------------------- source files

export interface SourceFile {
  /** Path from the repository root, e.g. 'packages/memory/src/scan.ts'. */
  readonly path: string;
  /** Route under /source/, e.g. 'memory/scan' (no '.ts': VitePress treats .ts links as files). */
  readonly route: string;
}

const SOURCE_ROOTS = ['packages', 'apps'];

function walk(dir: string, out: string[]): void {
  for (const entry of readdirSync(dir)) {
    const full = join(dir, entry);
    if (statSync(full).isDirectory()) walk(full, out);
    else if (entry.endsWith('.ts') && !entry.endsWith('.d.ts') && !entry.includes('.generated.')) out.push(full);
  }
}

/** Every TypeScript source file of the packages and the CLI (their src/ folders). */
export function sourceFiles(): SourceFile[] {
  const files: SourceFile[] = [];
  for (const rootName of SOURCE_ROOTS) {
    const root = join(repoRoot, rootName);
    if (!existsSync(root)) continue;
    for (const pkg of readdirSync(root)) {
      const src = join(root, pkg, 'src');
      if (!existsSync(src)) continue;
      const found: string[] = [];
      walk(src, found);
      for (const full of found.sort()) {
        const path = relative(repoRoot, full).split('\\').join('/');
        files.push({ path, route: routeOf(path) });
      }
    }
  }
  return files;
}

/** 'packages/memory/src/scan.ts' -> 'memory/scan'. */
export function routeOf(path: string): string {
  return path.replace(/^(packages|apps)\//, '').replace('/src/', '/').replace(/\.ts$/, '');
}

/** Lines [first, last] (1-based) of a declaration named `symbol`, or null when not found. */
export function findDeclaration(text: string, symbol: string): [number, number] | null {
  const lines = text.split('\n');
  const name = symbol.replace(/[$]/g, '\\$');
  const patterns = [
    new RegExp(`^\\s*export\\s+(?:declare\\s+)?(?:default\\s+)?(?:async\\s+)?(?:abstract\\s+)?(?:function\\*?|class|interface|type|enum|const|let)\\s+${name}\\b`),
    new RegExp(`^\\s*(?:async\\s+)?(?:function\\*?|class|interface|type|enum|const|let)\\s+${name}\\b`),
    new RegExp(`^\\s+(?:(?:public|private|protected|static|readonly|async|override|get|set)\\s+)*${name}\\s*[(<]`),
  ];
  for (const pattern of patterns) {
    const start = lines.findIndex((line) => pattern.test(line));
    if (start < 0) continue;
    const indent = /^\s*/.exec(lines[start]!)![0].length;
    let end = start;
    const opensBlock = /[{(]\s*$/.test(lines[start]!) || /\{\s*$/.test(lines[start]!);
    if (opensBlock) {
      for (let i = start + 1; i < lines.length && i < start + 400; i++) {
        const line = lines[i]!;
        if (line.trim() !== '' && /^\s*/.exec(line)![0].length === indent && /^\s*[})\]]/.test(line)) {
          end = i;
          break;
        }
      }
    }
    return [start + 1, end + 1];
  }
  return null;
}

/** Where a `src:` link points: a page of this site, or a hosted repository when TITANS_SOURCE_URL is set. */
export function resolveSourceLink(target: string, warn: (message: string) => void): string {
  const [path, symbol] = target.split('#') as [string, string | undefined];
  const full = join(repoRoot, path);
  if (!existsSync(full)) {
    warn(`docs: source link to a missing file: ${path}`);
    return `/source/${routeOf(path)}`;
  }
  let range: [number, number] | null = null;
  if (symbol) {
    range = /^L\d+/.test(symbol) ? (symbol.slice(1).split('-L').map(Number) as [number, number]) : findDeclaration(readFileSync(full, 'utf8'), symbol);
    if (!range) warn(`docs: '${symbol}' is not declared in ${path}`);
  }
  const anchor = range ? (range[1] && range[1] !== range[0] ? `#L${range[0]}-L${range[1]}` : `#L${range[0]}`) : '';
  const hosted = process.env.TITANS_SOURCE_URL;
  return hosted ? `${hosted.replace(/\/$/, '')}/${path}${anchor}` : `/source/${routeOf(path)}${anchor}`;
}

// ---------------------------------------------------------------- markdown-it plugin

interface MarkdownToken {
  type: string;
  children: MarkdownToken[] | null;
  attrGet(name: string): string | null;
  attrSet(name: string, value: string): void;
}

interface MarkdownIt {
  core: { ruler: { after(after: string, name: string, rule: (state: { tokens: MarkdownToken[] }) => void): void } };
}

/**
 * `[scanParallel](src:packages/memory/src/scan.ts#scanParallel)` links to the lines
 * that declare scanParallel, found when the site is built, so links follow the code.
 */
export function sourceLinksPlugin(md: MarkdownIt, warn: (message: string) => void = (m) => console.warn(m)): void {
  md.core.ruler.after('inline', 'titans-source-links', (state) => {
    for (const block of state.tokens) {
      for (const token of block.children ?? []) {
        if (token.type !== 'link_open') continue;
        const href = token.attrGet('href');
        if (href?.startsWith('src:')) token.attrSet('href', resolveSourceLink(href.slice(4), warn));
      }
    }
  });
}
