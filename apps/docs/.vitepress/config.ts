// The titans-ts docs site: guides, the paper's equations linked to the code that
// implements them, an API reference generated from the TypeScript (scripts/api.ts), and
// live demos that run the workspace packages in the browser.
import { cpSync, createReadStream, existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { extname, join, normalize } from 'node:path';
import { defineConfig, type DefaultTheme } from 'vitepress';
import { nodeBuiltinStubs, repoRoot, sourceLinksPlugin, workspaceAliases, workspacePackages } from './workspace';

const docsRoot = join(repoRoot, 'apps/docs');

/** Node built-ins the browser bundle imported, with their importers (reported once per build). */
const nodeImports = new Map<string, Set<string>>();
let builds = 0;

/**
 * Files of the reproduce report that are not pages: the HTML report, every number as JSON,
 * the figures. VitePress only serves markdown and public/, so they are copied next to the
 * reproduce page at build time (buildEnd) and served from the source folder in dev.
 */
const reproduceDir = join(docsRoot, 'reproduce');
const REPRODUCE_FILES = /^\/reproduce\/(report\.html|results\.json|figures\/[\w.-]+\.svg)$/;
const REPRODUCE_TYPES: Record<string, string> = { '.html': 'text/html; charset=utf-8', '.json': 'application/json', '.svg': 'image/svg+xml' };

function copyReproduceFiles(outDir: string): void {
  const target = join(outDir, 'reproduce');
  mkdirSync(target, { recursive: true });
  for (const name of ['report.html', 'results.json', 'figures']) {
    const from = join(reproduceDir, name);
    if (existsSync(from)) cpSync(from, join(target, name), { recursive: true });
    else console.warn(`docs: reproduce/${name} is missing; the Reproduce page links to it`);
  }
}

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
      { text: 'Atlas: the Omega rule', link: '/concepts/atlas' },
      { text: 'Hope: DGD, CMS, self-modifying Titans', link: '/concepts/hope' },
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
      { text: 'Reproducing Titans', link: '/reproduce/' },
      { text: 'Paper vs ours', link: '/paper' },
      { text: 'Benchmarks', link: '/benchmarks' },
    ],
  },
];

const reproduceSidebar: DefaultTheme.SidebarItem[] = [
  {
    text: 'Reproducing Titans',
    items: [
      { text: 'The run and what it shows', link: '/reproduce/' },
      // Plain files, not pages: a new tab keeps the router from treating them as routes.
      { text: 'Full report (HTML)', link: '/reproduce/report.html', target: '_blank', rel: 'noopener' },
      { text: 'Every number (results.json)', link: '/reproduce/results.json', target: '_blank', rel: 'noopener' },
    ],
  },
  {
    text: 'Results',
    items: [
      { text: 'Paper vs ours', link: '/paper' },
      { text: 'Benchmarks', link: '/benchmarks' },
      { text: 'Live demos (trained checkpoints)', link: '/demos/' },
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
  // The report's plain files are copied into the build (buildEnd below), not pages.
  // (VitePress checks only page-like links, with .html cut off: /reproduce/report, ./report.)
  ignoreDeadLinks: [/^(\/reproduce\/|\.\/)report$/],
  buildEnd(siteConfig) {
    copyReproduceFiles(siteConfig.outDir);
  },
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
      { text: 'Reproduce', link: '/reproduce/', activeMatch: '^/reproduce/' },
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
      '/reproduce/': reproduceSidebar,
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
      {
        // `vitepress dev`: the reproduce report's plain files, from the source folder.
        name: 'titans-serve-reproduce-files',
        apply: 'serve',
        configureServer(server) {
          const base = server.config.base.replace(/\/$/, '');
          server.middlewares.use((request, response, next) => {
            const url = decodeURIComponent((request.url ?? '').split('?')[0]!);
            const path = url.startsWith(`${base}/`) ? url.slice(base.length) : url;
            if (!REPRODUCE_FILES.test(path)) return next();
            const file = join(reproduceDir, normalize(path.slice('/reproduce/'.length)));
            if (!file.startsWith(reproduceDir) || !existsSync(file) || !statSync(file).isFile()) return next();
            response.setHeader('content-type', REPRODUCE_TYPES[extname(file)] ?? 'application/octet-stream');
            createReadStream(file).pipe(response);
          });
        },
      },
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
