// Generates the API reference (apps/docs/api/*.md) from the packages' TypeScript sources
// with TypeDoc and typedoc-plugin-markdown. Run by `pnpm build` and `pnpm dev` before
// VitePress; the output is not committed. Entry points are the packages' src/index.ts
// files directly, so no package needs to be built first.
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Application, ReflectionKind, type DeclarationReflection } from 'typedoc';

const docsRoot = fileURLToPath(new URL('..', import.meta.url));
const repoRoot = join(docsRoot, '../..');
const out = join(docsRoot, 'api');

/** Packages in reading order (dependencies first). */
const packages = ['tensor', 'webgpu', 'memory', 'models', 'data', 'eval', 'onnx'];

const descriptions: Record<string, string> = {};
const entries: string[] = [];
for (const name of packages) {
  const entry = join(repoRoot, 'packages', name, 'src/index.ts');
  if (!existsSync(entry)) continue;
  entries.push(entry);
  const manifest = JSON.parse(readFileSync(join(repoRoot, 'packages', name, 'package.json'), 'utf8')) as { description?: string };
  descriptions[name] = manifest.description ?? '';
}

const started = performance.now();
const app = await Application.bootstrapWithPlugins({
  entryPoints: entries,
  entryPointStrategy: 'resolve',
  tsconfig: join(docsRoot, 'tsconfig.api.json'),
  plugin: ['typedoc-plugin-markdown'],
  out,
  readme: 'none',
  // Type errors are the packages' own typecheck's business; the reference documents what is there.
  skipErrorChecking: true,
  excludePrivate: true,
  excludeProtected: true,
  excludeInternal: true,
  excludeExternals: true,
  // "Defined in" links become `src:` links, which the site's markdown plugin resolves to
  // the source pages (or to a hosted repository when TITANS_SOURCE_URL is set).
  disableGit: true,
  sourceLinkTemplate: 'src:packages/{path}#L{line}',
  basePath: repoRoot,
  logLevel: 'Error',
  // typedoc-plugin-markdown options
  outputFileStrategy: 'modules',
  entryFileName: 'index',
  hidePageHeader: true,
  hideBreadcrumbs: true,
  useCodeBlocks: true,
  parametersFormat: 'table',
  interfacePropertiesFormat: 'table',
  classPropertiesFormat: 'table',
  typeDeclarationFormat: 'table',
  sanitizeComments: true,
} as Record<string, unknown>);

const project = await app.convert();
if (!project) throw new Error('api: TypeDoc could not convert the packages (see the messages above)');
// Modules are named after their entry path ('tensor/src'); name them after the package.
for (const module of project.getChildrenByKind(ReflectionKind.Module) as DeclarationReflection[]) {
  const match = /^([\w-]+)\/src/.exec(module.name) ?? /packages\/([\w-]+)\//.exec(module.sources?.[0]?.fullFileName ?? '');
  if (match) module.name = match[1]!;
}
rmSync(out, { recursive: true, force: true });
await app.generateOutputs(project);

// An overview page that VitePress shows at /api/.
// Members inherited from TypeScript's own lib files have no source page: plain text, not a link.
const walkMarkdown = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walkMarkdown(join(dir, e.name)) : e.name.endsWith('.md') ? [join(dir, e.name)] : []));
for (const file of walkMarkdown(out)) {
  const text = readFileSync(file, 'utf8');
  const cleaned = text.replace(/\[([^\]]+)\]\(src:[^)]*node_modules[^)]*\)/g, '$1');
  if (cleaned !== text) writeFileSync(file, cleaned);
}

// A package with namespaces (tensor: nn, optim) is a folder with an index.md.
const pages = readdirSync(out).filter((f) => f !== 'index.md').map((f) => f.replace(/\.md$/, ''));
const pageLink = (p: string): string => (existsSync(join(out, p, 'index.md')) ? `./${p}/` : `./${p}.md`);
const rows = packages.filter((p) => pages.includes(p)).map((p) => `| [\`@titans/${p}\`](${pageLink(p)}) | ${descriptions[p] ?? ''} |`);
const missing = packages.filter((p) => !pages.includes(p));
writeFileSync(
  join(out, 'index.md'),
  [
    '# API reference',
    '',
    'Generated from the TypeScript sources by TypeDoc when the site is built (`apps/docs/scripts/api.ts`).',
    'Every "Defined in" link opens the source lines.',
    '',
    '| package | holds |',
    '| --- | --- |',
    ...rows,
    '',
    ...(missing.length ? [`Not documented yet (no \`src/index.ts\` when the site was built): ${missing.map((m) => `\`@titans/${m}\``).join(', ')}.`, ''] : []),
  ].join('\n'),
);
console.log(`api: ${pages.length} package pages in ${((performance.now() - started) / 1000).toFixed(1)} s`);
