// Every TypeScript block of the READMEs (the repository's and each package's) type-checks
// strictly as a file of its own, against the packages' sources: a snippet that uses a name it
// never defines or imports, or an option an API no longer has, fails here with its README line.
// (pack-install.test.ts also compiles and runs each package's first example against the packed
// tarballs; this check is the fast one, and covers every block.)
//
// A block whose first line is a comment naming a file of this repository
// (`// packages/webgpu/test/ops-suite.test.ts`) is checked as that file: its relative imports
// resolve from there.
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const repo = fileURLToPath(new URL('../../../', import.meta.url));
const WORKSPACE_DIRS = ['packages', 'apps', 'tooling'];

interface Snippet {
  readme: string; // relative to the repository
  line: number; // 1-based line of the block's first code line in the README
  code: string;
  file: string; // where it is written for the check
}

const readmes = ['README.md', ...readdirSync(join(repo, 'packages')).map((p) => `packages/${p}/README.md`)]
  .filter((path) => { try { readFileSync(join(repo, path)); return true; } catch { return false; } });

/** The ```ts blocks of one README, with the line each starts on. */
function blocksOf(readme: string): Array<{ line: number; code: string }> {
  const lines = readFileSync(join(repo, readme), 'utf8').split('\n');
  const blocks: Array<{ line: number; code: string }> = [];
  for (let i = 0; i < lines.length; i++) {
    if (lines[i] !== '```ts') continue;
    const end = lines.indexOf('```', i + 1);
    if (end < 0) throw new Error(`${readme}:${i + 1}: a \`\`\`ts block that is never closed`);
    blocks.push({ line: i + 2, code: lines.slice(i + 1, end).join('\n') });
    i = end;
  }
  return blocks;
}

/** Each workspace package's name and the source file its "source" export condition names. */
function workspaceSources(): Record<string, string> {
  const paths: Record<string, string> = {};
  for (const group of WORKSPACE_DIRS) {
    for (const name of readdirSync(join(repo, group))) {
      let manifest: { name?: string; exports?: Record<string, unknown> };
      try {
        manifest = JSON.parse(readFileSync(join(repo, group, name, 'package.json'), 'utf8')) as typeof manifest;
      } catch {
        continue;
      }
      const source = (manifest.exports?.['.'] as { source?: string | { default?: string } } | undefined)?.source;
      const file = typeof source === 'string' ? source : source?.default;
      if (manifest.name && file) paths[manifest.name] = join(repo, group, name, file);
    }
  }
  return paths;
}

// Outside the repository, so no linter or other tool of the workspace picks the files up.
const work = mkdtempSync(join(tmpdir(), 'titans-readme-snippets-'));
const snippets: Snippet[] = readmes.flatMap((readme) =>
  blocksOf(readme).map(({ line, code }, index) => ({
    readme, line, code,
    file: join(work, `${readme === 'README.md' ? 'root' : readme.split('/')[1]}-${index + 1}.ts`),
  })),
);
const diagnostics = new Map<string, string[]>();

beforeAll(() => {
  for (const snippet of snippets) {
    // Checked as the repository file its first line names, if it names one.
    const named = /^\/\/ ((?:packages|apps|tooling)\/\S+\.ts)$/.exec(snippet.code.split('\n')[0]!)?.[1];
    const code = named === undefined ? snippet.code : snippet.code.replace(
      /(from |import\()'(\.\.?\/[^']+)'/g,
      (_, keyword: string, specifier: string) => `${keyword}'${resolve(repo, dirname(named), specifier)}'`,
    );
    // Always a module of its own (a block without imports would otherwise share one global scope).
    writeFileSync(snippet.file, `${code}\nexport {};\n`);
  }
  const config = ts.parseJsonConfigFileContent({
    compilerOptions: {
      target: 'ES2022', lib: ['ES2023', 'DOM'], module: 'ESNext', moduleResolution: 'Bundler',
      types: ['node'], typeRoots: [join(repo, 'node_modules', '@types')], strict: true, noEmit: true, allowImportingTsExtensions: true, skipLibCheck: true,
      isolatedModules: true, verbatimModuleSyntax: true, resolveJsonModule: true,
      paths: Object.fromEntries(Object.entries(workspaceSources()).map(([name, file]) => [name, [file]])),
    },
    files: snippets.map((s) => s.file),
  }, ts.sys, work);
  expect(config.errors.map((e) => ts.flattenDiagnosticMessageText(e.messageText, '\n'))).toEqual([]);
  const program = ts.createProgram({ rootNames: config.fileNames, options: config.options });
  const global = [...program.getOptionsDiagnostics(), ...program.getGlobalDiagnostics()];
  expect(global.map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'))).toEqual([]);
  for (const snippet of snippets) {
    const source = program.getSourceFile(snippet.file)!;
    diagnostics.set(snippet.file, [...program.getSyntacticDiagnostics(source), ...program.getSemanticDiagnostics(source)].map((d) => {
      const { line } = d.start === undefined ? { line: 0 } : source.getLineAndCharacterOfPosition(d.start);
      return `${snippet.readme}:${snippet.line + line}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`;
    }));
  }
}, 300_000);

afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

describe('README TypeScript blocks', () => {
  it('are all found (every ```ts fence of every README)', () => {
    const fences = readmes.reduce((count, readme) => count + readFileSync(join(repo, readme), 'utf8').split('\n').filter((l) => l === '```ts').length, 0);
    expect(snippets).toHaveLength(fences);
    expect(new Set(snippets.map((s) => s.readme)).size).toBeGreaterThanOrEqual(9);
  });

  for (const snippet of snippets) {
    it(`${snippet.readme}:${snippet.line} type-checks on its own (${relative(work, snippet.file)})`, () => {
      expect(diagnostics.get(snippet.file)).toEqual([]);
    });
  }
});
