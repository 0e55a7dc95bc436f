// The titans-ts docs site: guides, the paper's equations linked to the code that
// implements them, an API reference generated from the TypeScript (scripts/api.ts), and
// live demos that run the workspace packages in the browser.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { defineConfig, type DefaultTheme } from 'vitepress';
import { nodeBuiltinStubs, repoRoot, sourceLinksPlugin, workspaceAliases, workspacePackages } from './workspace';

const docsRoot = join(repoRoot, 'apps/docs');

/** Node built-ins the browser bundle imported, with their importers (reported once per build). */
const nodeImports = new Map<string, Set<string>>();
let builds = 0;

/** The API sidebar: one entry per package page that scripts/api.ts generated. */
function apiSidebar(): DefaultTheme.SidebarItem[] {
  const dir = join(docsRoot, 'api');
  if (!existsSync(dir)) return [{ text: 'Not generated: run pnpm --filter docs api', link: '/api/' }];
  const order = ['tensor', 'webgpu', 'memory', 'models', 'data', 'eval', 'onnx'];
  const names = readdirSync(dir).filter((f) => f !== 'index.md').map((f) => f.replace(/\.md$/, ''));
  names.sort((a, b) => order.indexOf(a) - order.indexOf(b));
  return [
    { text: 'Overview', link: '/api/' },
    ...names.map((name): DefaultTheme.SidebarItem => {
      const namespaces = join(dir, name, 'namespaces');
      if (!existsSync(namespaces)) return { text: `@titans/${name}`, link: `/api/${name}` };
      return {
        text: `@titans/${name}`,
        link: `/api/${name}/`,
        items: readdirSync(namespaces).sort().map((f) => ({ text: f.replace(/\.md$/, ''), link: `/api/${name}/namespaces/${f.replace(/\.md$/, '')}` })),
      };
    }),
  ];
}

const guideSidebar: DefaultTheme.SidebarItem[] = [
  {
    text: 'Start',
    items: [
      { text: 'Quick start', link: '/guide/quick-start' },
      { text: 'What Titans is', link: '/concepts/titans' },
    ],
  },
  {
    text: 'Guides',
    items: [
      { text: 'Streaming long inputs', link: '/guide/streaming' },
      { text: 'Choosing a Miras variant', link: '/guide/miras' },
      { text: 'Training', link: '/guide/training' },
      { text: 'Evaluating S-NIAH', link: '/guide/niah' },
      { text: 'Running on WebGPU', link: '/guide/webgpu' },
      { text: 'Exporting to ONNX', link: '/guide/onnx' },
    ],
  },
  {
    text: 'Results',
    items: [
      { text: 'Paper vs ours', link: '/paper' },
      { text: 'Benchmarks', link: '/benchmarks' },
    ],
  },
];

const demoSidebar: DefaultTheme.SidebarItem[] = [
  {
    text: 'Live demos',
    items: [
      { text: 'Overview', link: '/demos/' },
      { text: 'Surprise, token by token', link: '/demos/surprise' },
      { text: 'Needle in a haystack', link: '/demos/niah' },
      { text: 'MAC vs sliding window', link: '/demos/mac-vs-swa' },
    ],
  },
];

export default defineConfig({
  title: 'titans-ts',
  description: 'Titans-family sequence models in TypeScript: a neural long-term memory that learns at test time, on the CPU and on WebGPU.',
  lang: 'en-GB',
  head: [['link', { rel: 'icon', type: 'image/svg+xml', href: '/favicon.svg' }]],
  cleanUrls: false,
  lastUpdated: false,
  // Source pages are generated per file and only linked to; keep them out of the search index.
  srcExclude: ['README.md', 'test-artifacts/**'],
  markdown: {
    math: true,
    lineNumbers: false,
    config(md) {
      md.use(sourceLinksPlugin as never, (message: string) => console.warn(message));
    },
  },
  themeConfig: {
    logo: '/favicon.svg',
    nav: [
      { text: 'Guide', link: '/guide/quick-start', activeMatch: '^/(guide|concepts)/' },
      { text: 'Demos', link: '/demos/', activeMatch: '^/demos/' },
      { text: 'API', link: '/api/', activeMatch: '^/api/' },
      { text: 'Paper vs ours', link: '/paper' },
      { text: 'Benchmarks', link: '/benchmarks' },
    ],
    sidebar: {
      '/guide/': guideSidebar,
      '/concepts/': guideSidebar,
      '/paper': guideSidebar,
      '/benchmarks': guideSidebar,
      '/demos/': demoSidebar,
      '/api/': apiSidebar(),
    },
    outline: { level: [2, 3] },
    search: {
      provider: 'local',
      options: {
        // The per-file source pages would drown the prose.
        _render(src, env, md) {
          if (env.relativePath.startsWith('source/')) return '';
          return md.render(src, env);
        },
      },
    },
    footer: {
      message: 'MIT licensed. Paper numbers are quoted from the Titans and Miras papers; everything else is measured by this repository.',
    },
  },
  vite: {
    resolve: { alias: workspaceAliases() },
    plugins: [
      nodeBuiltinStubs((builtin, importer) => {
        if (!nodeImports.has(builtin)) nodeImports.set(builtin, new Set());
        nodeImports.get(builtin)!.add(importer);
      }),
      {
        // VitePress runs two builds (client and server); report once, after both.
        name: 'titans-report-node-imports',
        apply: 'build',
        buildEnd() {
          builds++;
          if (builds < 2 || nodeImports.size === 0) return;
          const lines = [...nodeImports].map(([b, importers]) => `  ${b}: ${[...importers].sort().join(', ')}`);
          console.warn(`docs: Node built-ins stubbed in the browser bundle (calls would throw):\n${lines.join('\n')}`);
        },
      },
    ],
    build: { chunkSizeWarningLimit: 2000, target: 'es2022' },
    optimizeDeps: { exclude: Object.keys(workspacePackages) },
    server: { fs: { allow: [repoRoot] } },
  },
});
