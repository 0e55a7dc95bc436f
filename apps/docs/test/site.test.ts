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

  // Each checkpoint set the demos offer: the full plan's in checkpoints/, the scale plan's in checkpoints/scale/.
  const sets: [string, string][] = [
    ['full', 'checkpoints/'],
    ['scale', 'checkpoints/scale/'],
  ];

  it.each(sets)('ships the %s checkpoints the demos load', async (_set, folder) => {
    const manifest = JSON.parse(readFileSync(join(docsRoot, 'public', folder, 'manifest.json'), 'utf8')) as {
      models: { name: string; weights: string; configFile: string; bytes: number }[];
      versus: { memory: string; window: string };
    };
    expect(manifest.models.length).toBeGreaterThanOrEqual(2);
    expect(manifest.models.map((m) => m.name)).toContain(manifest.versus.memory);
    expect(manifest.models.map((m) => m.name)).toContain(manifest.versus.window);
    const page = await browser.newPage();
    expect((await page.request.get(`${origin}/${folder}manifest.json`)).status()).toBe(200);
    for (const m of manifest.models) {
      const weights = await page.request.get(`${origin}/${folder}${m.weights}`);
      expect(weights.status(), m.weights).toBe(200);
      expect((await weights.body()).length).toBe(m.bytes);
      expect((await page.request.get(`${origin}/${folder}${m.configFile}`)).status(), m.configFile).toBe(200);
    }
    await page.close();
  });

  it.each([['niah', '/demos/niah.html'], ['mac-vs-swa', '/demos/mac-vs-swa.html']])(
    'offers both checkpoint sets on the %s demo, the scale plan first, with provenance and the manifest',
    async (name, path) => {
      const { page, errors } = await open(browser, origin + path);
      const demo = page.locator(`[data-demo="${name}"]`);
      await demo.locator('button[data-run]:not([disabled])').waitFor({ timeout: 30_000 });
      expect(await demo.getAttribute('data-set')).toBe('scale');
      expect(await demo.locator('[data-sets] input[data-set="scale"]').isChecked()).toBe(true);
      expect(await demo.locator('[data-sets] label').allTextContents()).toEqual([
        expect.stringMatching(/scale plan \(\d+k(-\d+k)? parameters, 1x-16x\)/),
        expect.stringMatching(/full plan \(\d+k(-\d+k)? parameters, 1x-4x\)/),
      ]);
      const provenance = async (): Promise<string> => (await demo.locator('[data-provenance]').textContent())?.replace(/\s+/g, ' ') ?? '';
      expect(await provenance()).toMatch(/titans reproduce --plan scale.*plan scale, commit [0-9a-f]{10}/);
      expect(await demo.locator('[data-provenance] a').getAttribute('href')).toBe('/checkpoints/scale/manifest.json');
      // The longest prompt offered is 16x the training length; the default stops at 4x.
      if (name === 'niah') expect(await demo.locator('select[data-longest] option').last().getAttribute('value')).toBe('1024');
      expect(await demo.locator('select[data-longest]').inputValue()).toBe('256');
      await demo.locator('[data-sets] input[data-set="full"]').check();
      expect(await demo.getAttribute('data-set')).toBe('full');
      expect(await provenance()).toMatch(/titans reproduce --plan full.*plan full, commit [0-9a-f]{10}/);
      expect(await demo.locator('[data-provenance] a').getAttribute('href')).toBe('/checkpoints/manifest.json');
      await page.close();
      expect(errors).toEqual([]);
    },
  );

  it("offers both sets' memory models on the surprise demo, the scale plan's first", async () => {
    const { page, errors } = await open(browser, `${origin}/demos/surprise.html`);
    const select = page.locator('[data-demo="surprise"] select[data-memory]');
    await select.locator('option[data-set="full"]').first().waitFor({ state: 'attached', timeout: 30_000 });
    expect(await select.inputValue()).toMatch(/^trained:scale:/);
    const sets = await select.locator('option[data-set]').evaluateAll((list) => list.map((o) => o.getAttribute('data-set')));
    expect(new Set(sets)).toEqual(new Set(['scale', 'full']));
    await page.close();
    expect(errors).toEqual([]);
  });

  // The checkpoint demos run on WebGPU (SwiftShader) where the page offers it, except the
  // needle-in-a-haystack ones, which run on the CPU fallback with the run's own prompts so
  // their numbers must equal what `titans reproduce` measured: the full plan's whole grid
  // (4 prompts per cell), and the scale plan's (521k-parameter models) at 1x and 2x.
  type Setup = (demo: ReturnType<Page['locator']>) => Promise<void>;
  // [name, checkpoint set ('-' where the demo has none), path, what the finished demo must show: a selector and how many of it at least, further setup]
  const demos: [string, string, string, string, number, Setup?][] = [
    ['surprise', '-', '/demos/surprise.html', '[data-continuation]', 1],
    ['niah', 'full', '/demos/niah.html', 'figure[data-model]', 2, async (demo) => {
      await demo.locator('input[data-webgpu]').setChecked(false);
      await demo.locator('input[data-samples]').fill('4');
    }],
    ['niah', 'scale', '/demos/niah.html', 'figure[data-model]', 3, async (demo) => {
      await demo.locator('input[data-webgpu]').setChecked(false);
      await demo.locator('select[data-longest]').selectOption('128');
      await demo.locator('input[data-samples]').fill('2');
    }],
    // Both models at 1x and 2x, 2 prompts per cell, on the CPU: WebGPU through SwiftShader takes
    // several seconds per prompt at 521k parameters (the surprise demo runs the scale MAC on it).
    ['mac-vs-swa', 'scale', '/demos/mac-vs-swa.html', 'table.versus tbody tr', 8, async (demo) => {
      await demo.locator('input[data-webgpu]').setChecked(false);
      await demo.locator('select[data-longest]').selectOption('128');
      await demo.locator('input[data-samples]').fill('2');
    }],
    ['mac-vs-swa', 'full', '/demos/mac-vs-swa.html', 'table.versus tbody tr', 5],
    ['mac-vs-swa-train', '-', '/demos/mac-vs-swa.html', 'table tbody tr', 2],
  ];

  it.each(demos)('runs the %s demo (checkpoints: %s) to completion', async (name, set, path, shows, atLeast, setup) => {
    const { page, errors } = await open(browser, origin + path);
    const demo = page.locator(`[data-demo="${name}"]`);
    // The checkpoint demos enable Run once the manifest is loaded.
    await demo.locator('button[data-run]:not([disabled])').waitFor({ timeout: 30_000 });
    if (set !== '-') {
      await demo.locator(`[data-sets] input[data-set="${set}"]`).check();
      expect(await demo.getAttribute('data-set')).toBe(set);
    }
    await setup?.(demo);
    await demo.locator('button[data-run]').click();
    await page.waitForSelector(`[data-demo="${name}"][data-state="done"], [data-demo="${name}"][data-state="error"]`, { timeout: 180_000 });
    const state = await demo.getAttribute('data-state');
    const failure = await demo.locator('[data-error]').allTextContents();
    // The fixed navigation bar would cover the top of the element in its screenshot.
    await page.addStyleTag({ content: '.VPNav, .VPLocalNav { display: none !important; }' });
    await demo.screenshot({ path: join(artifacts, `demo-${name}${set === '-' ? '' : `-${set}`}.png`) });
    const backend = await demo.locator('[data-backend]').allTextContents();
    const status = await demo.locator('[data-done]').allTextContents();
    console.log(`demo ${name}${set === '-' ? '' : ` (${set} set)`}: ${status.join(' ').replace(/\s+/g, ' ').trim()}`);
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
