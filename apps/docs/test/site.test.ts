// The docs site, end to end: build it, serve the static output from 127.0.0.1, open the
// pages in headless Chromium, run every live demo to completion and fail on any console
// error. Screenshots go to apps/docs/test-artifacts/ (ignored by git) for a human to look at.
//
// TITANS_DOCS_REUSE_BUILD=1 skips the build when .vitepress/dist exists (for quick reruns).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { extname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const docsRoot = fileURLToPath(new URL('..', import.meta.url));
const dist = join(docsRoot, '.vitepress/dist');
const artifacts = join(docsRoot, 'test-artifacts');
const CHROMIUM = '/usr/bin/chromium';
const ARGS = [
  '--no-sandbox',
  '--enable-unsafe-webgpu',
  '--enable-unsafe-swiftshader',
  '--use-webgpu-adapter=swiftshader',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
];

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};

/** The file a URL path names in the build output, the way a static host resolves it. */
function resolveFile(urlPath: string): string | null {
  const path = normalize(decodeURIComponent(urlPath.split('?')[0]!)).replace(/^(\.\.[/\\])+/, '');
  const candidates = [join(dist, path), join(dist, path, 'index.html'), join(dist, `${path}.html`)];
  for (const file of candidates) {
    if (!file.startsWith(dist + sep) && file !== dist) continue;
    if (existsSync(file) && statSync(file).isFile()) return file;
  }
  return null;
}

function serve(): Promise<{ server: Server; origin: string }> {
  const server = createServer((request, response) => {
    const file = resolveFile(request.url ?? '/');
    if (!file) {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    response.writeHead(200, { 'content-type': CONTENT_TYPES[extname(file)] ?? 'application/octet-stream' });
    response.end(readFileSync(file));
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      resolve({ server, origin: `http://127.0.0.1:${port}` });
    });
  });
}

function build(): void {
  if (process.env.TITANS_DOCS_REUSE_BUILD === '1' && existsSync(join(dist, 'index.html'))) return;
  const run = (args: string[]): void => {
    const result = spawnSync(process.execPath, args, { cwd: docsRoot, stdio: 'inherit', env: process.env });
    if (result.status !== 0) throw new Error(`docs build step failed: node ${args.join(' ')} (exit ${result.status})`);
  };
  run(['--import', 'tsx', 'scripts/api.ts']);
  run([join(docsRoot, 'node_modules/vitepress/bin/vitepress.js'), 'build']);
}

/** Opens a page and collects what would be an error for a reader: console errors, uncaught exceptions, failed requests. */
async function open(browser: Browser, url: string): Promise<{ page: Page; errors: string[] }> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const errors: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(`console: ${message.text()}`);
  });
  page.on('pageerror', (error) => errors.push(`page error: ${error.message}`));
  page.on('requestfailed', (request) => errors.push(`request failed: ${request.url()} (${request.failure()?.errorText})`));
  page.on('response', (response) => {
    if (response.status() >= 400) errors.push(`HTTP ${response.status()}: ${response.url()}`);
  });
  await page.goto(url, { waitUntil: 'networkidle' });
  return { page, errors };
}

const chromiumThere = existsSync(CHROMIUM);
describe('docs site', () => {
  // Fails rather than skips without Chromium: `pnpm test` installs it (tooling/scripts/check-system.mjs).
  it(`finds Chromium at ${CHROMIUM} (Debian package "chromium")`, () => {
    expect(chromiumThere).toBe(true);
  });
  let browser: Browser;
  let server: Server;
  let origin = '';

  beforeAll(async () => {
    build();
    mkdirSync(artifacts, { recursive: true });
    ({ server, origin } = await serve());
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
  });

  afterAll(async () => {
    await browser?.close();
    await new Promise((resolve) => server?.close(resolve));
  });

  const pages: [string, string][] = [
    ['home', '/'],
    ['titans', '/concepts/titans.html'],
    ['quick-start', '/guide/quick-start.html'],
    ['api', '/api/'],
    ['api-memory', '/api/memory.html'],
    ['paper', '/paper.html'],
    ['benchmarks', '/benchmarks.html'],
    ['source-scan', '/source/memory/scan.html#L1-L12'],
    ['reproduce', '/reproduce/'],
  ];

  it.each(pages)('renders %s (%s) without errors', async (name, path) => {
    const { page, errors } = await open(browser, origin + path);
    await page.screenshot({ path: join(artifacts, `page-${name}.png`) });
    expect(await page.locator('.VPContent').count()).toBe(1);
    await page.close();
    expect(errors).toEqual([]);
  });

  it('renders the paper equations as MathJax SVG', async () => {
    const { page, errors } = await open(browser, `${origin}/concepts/titans.html`);
    expect(await page.locator('mjx-container svg').count()).toBeGreaterThan(10);
    await page.close();
    expect(errors).toEqual([]);
  });

  it('serves the reproduce report files and links them from the Reproduce page', async () => {
    const { page, errors } = await open(browser, `${origin}/reproduce/`);
    // In the top navigation and the sidebar.
    expect(await page.locator('.VPNavBar a[href="/reproduce/"]').count()).toBeGreaterThan(0);
    const report = page.locator('.VPSidebar a[href="/reproduce/report.html"]');
    expect(await report.count()).toBe(1);
    // Every figure on the page loaded.
    const images = await page.locator('.vp-doc img').evaluateAll((list) => list.map((img) => [(img as HTMLImageElement).src, (img as HTMLImageElement).naturalWidth]));
    for (const [src, width] of images) expect(width, `image ${src}`).toBeGreaterThan(0);
    // Links in the page to files of the report resolve.
    const hrefs = await page.locator('.vp-doc a[href]').evaluateAll((list) => list.map((a) => (a as HTMLAnchorElement).href));
    for (const href of hrefs.filter((h) => h.startsWith(`${origin}/reproduce/`) && !h.includes('#'))) {
      expect((await page.request.get(href)).status(), href).toBe(200);
    }
    const html = await page.request.get(`${origin}/reproduce/report.html`);
    expect(html.status()).toBe(200);
    expect(html.headers()['content-type']).toContain('text/html');
    const json = await page.request.get(`${origin}/reproduce/results.json`);
    expect(json.status()).toBe(200);
    expect(typeof (await json.json())).toBe('object');
    for (const figure of readdirSync(join(docsRoot, 'reproduce/figures'))) {
      expect((await page.request.get(`${origin}/reproduce/figures/${figure}`)).status(), figure).toBe(200);
    }
    // The sidebar link opens the report itself, not the router's 404 page.
    const [tab] = await Promise.all([page.context().waitForEvent('page'), report.click()]);
    await tab.waitForLoadState();
    expect(tab.url()).toBe(`${origin}/reproduce/report.html`);
    expect(await tab.locator('svg').count()).toBeGreaterThan(5);
    await tab.close();
    await page.close();
    expect(errors).toEqual([]);
  });

  it('ships the trained checkpoints the demos load', async () => {
    const manifest = JSON.parse(readFileSync(join(docsRoot, 'public/checkpoints/manifest.json'), 'utf8')) as {
      models: { name: string; weights: string; configFile: string; bytes: number }[];
      versus: { memory: string; window: string };
    };
    expect(manifest.models.length).toBeGreaterThanOrEqual(2);
    expect(manifest.models.map((m) => m.name)).toContain(manifest.versus.memory);
    expect(manifest.models.map((m) => m.name)).toContain(manifest.versus.window);
    const page = await browser.newPage();
    for (const m of manifest.models) {
      const weights = await page.request.get(`${origin}/checkpoints/${m.weights}`);
      expect(weights.status(), m.weights).toBe(200);
      expect((await weights.body()).length).toBe(m.bytes);
      expect((await page.request.get(`${origin}/checkpoints/${m.configFile}`)).status(), m.configFile).toBe(200);
    }
    await page.close();
  });

  // [name, path, what the finished demo must show: a selector and how many of it at least]
  // The checkpoint demos run on WebGPU (SwiftShader) where the page offers it, except the
  // needle-in-a-haystack one, which runs on the CPU fallback with the run's own grid so its
  // numbers must equal what `titans reproduce` measured.
  const demos: [string, string, string, number][] = [
    ['surprise', '/demos/surprise.html', '[data-continuation]', 1],
    ['niah', '/demos/niah.html', 'figure[data-model]', 2],
    ['mac-vs-swa', '/demos/mac-vs-swa.html', 'table.versus tbody tr', 5],
    ['mac-vs-swa-train', '/demos/mac-vs-swa.html', 'table tbody tr', 2],
  ];

  it.each(demos)('runs the %s demo to completion', async (name, path, shows, atLeast) => {
    const { page, errors } = await open(browser, origin + path);
    const demo = page.locator(`[data-demo="${name}"]`);
    // The checkpoint demos enable Run once the manifest is loaded.
    await demo.locator('button[data-run]:not([disabled])').waitFor({ timeout: 30_000 });
    if (name === 'niah') {
      await demo.locator('input[data-webgpu]').setChecked(false);
      await demo.locator('input[type="number"]').fill('4');
    }
    await demo.locator('button[data-run]').click();
    await page.waitForSelector(`[data-demo="${name}"][data-state="done"], [data-demo="${name}"][data-state="error"]`, { timeout: 180_000 });
    const state = await demo.getAttribute('data-state');
    const failure = await demo.locator('[data-error]').allTextContents();
    // The fixed navigation bar would cover the top of the element in its screenshot.
    await page.addStyleTag({ content: '.VPNav, .VPLocalNav { display: none !important; }' });
    await demo.screenshot({ path: join(artifacts, `demo-${name}.png`) });
    const backend = await demo.locator('[data-backend]').allTextContents();
    const status = await demo.locator('[data-done]').allTextContents();
    console.log(`demo ${name}: ${status.join(' ').replace(/\s+/g, ' ').trim()}`);
    const shown = await demo.locator(shows).count();
    // niah's table: "here (run)" per model and length.
    const reproduced = (await demo.locator('table tbody tr').evaluateAll((rows) => rows.map((r) => Array.from(r.querySelectorAll('td'), (td) => td.textContent ?? ''))))
      .flatMap(([model, ...cells]) => cells.map((c) => /^(\S+) \((\S+)\)$/.exec(c.trim())).filter((m) => m !== null).map((m) => ({ model: model!, here: m[1], run: m[2] })));
    await page.close();
    expect(failure).toEqual([]);
    expect(state).toBe('done');
    expect(shown, `${shows} in the finished ${name} demo`).toBeGreaterThanOrEqual(atLeast);
    if (name === 'niah') {
      expect(backend.join(' ')).toMatch(/^CPU/);
      expect(reproduced.length).toBeGreaterThan(0);
      for (const cell of reproduced) expect(cell.here, `${cell.model}: here vs the run`).toBe(cell.run);
    }
    expect(errors).toEqual([]);
  });
});
