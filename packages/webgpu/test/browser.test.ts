// Browser smoke test: bundle the backend with esbuild, serve it from 127.0.0.1, and run a
// matmul and a causal attention in headless Chromium on its WebGPU (SwiftShader) adapter;
// results are compared with values computed here by the CPU reference backend.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { cpuBackend } from '@titans/tensor';
import { build } from 'esbuild';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { SmokeInput, SmokeOutput } from './browser/entry.js';
import { ACCUMULATED, Random, expectClose } from './helpers.js';

const CHROMIUM = '/usr/bin/chromium';
const ARGS = [
  '--no-sandbox', '--enable-unsafe-webgpu', '--enable-unsafe-swiftshader', '--use-webgpu-adapter=swiftshader',
  '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic',
];

let server: Server;
let browser: Browser;
let url: string;

beforeAll(async () => {
  const bundle = await build({
    entryPoints: [fileURLToPath(new URL('./browser/entry.ts', import.meta.url))],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    write: false,
    conditions: ['source'],
    logLevel: 'silent',
  });
  const js = bundle.outputFiles[0]!.text;
  server = createServer((req, res) => {
    if (req.url === '/bundle.js') {
      res.writeHead(200, { 'content-type': 'text/javascript' });
      res.end(js);
    } else {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<!doctype html><script type="module" src="/bundle.js"></script>');
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  try {
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
  } catch (err) {
    throw new Error(`Could not start Chromium at ${CHROMIUM} (install the Debian package "chromium"): ${String(err)}`);
  }
}, 120_000);

afterAll(async () => {
  await browser?.close();
  if (server) await new Promise((resolve) => server.close(resolve));
});

it('runs matmul and attention on navigator.gpu in Chromium', async () => {
  const rng = new Random(42);
  const [m, k, n, t, d] = [17, 33, 9, 20, 8];
  const input: SmokeInput = {
    a: Array.from(rng.uniform(m * k)), b: Array.from(rng.uniform(k * n)), m, k, n,
    q: Array.from(rng.uniform(t * d)), kk: Array.from(rng.uniform(t * d)), v: Array.from(rng.uniform(t * d)), t, d,
  };
  const page = await browser.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(url);
  await page.waitForFunction(() => 'runSmoke' in globalThis, undefined, { timeout: 30_000 });
  const result = await page.evaluate(
    (arg) => (globalThis as unknown as { runSmoke: (i: SmokeInput) => Promise<SmokeOutput> }).runSmoke(arg),
    input,
  );
  expect(errors).toEqual([]);
  expect(result.adapter.toLowerCase()).toMatch(/swiftshader|google|unknown/);

  const cpu = cpuBackend;
  const A = cpu.fromArray(Float32Array.from(input.a), 'float32');
  const B = cpu.fromArray(Float32Array.from(input.b), 'float32');
  const C = cpu.matmul({ storage: A, shape: [1, m, k], strides: [0, k, 1], offset: 0 }, { storage: B, shape: [1, k, n], strides: [0, n, 1], offset: 0 });
  expectClose(result.matmul, cpu.readSync(C), ACCUMULATED, 'browser matmul');
  const [Q, K, V] = [input.q, input.kk, input.v].map((x) => cpu.fromArray(Float32Array.from(x), 'float32'));
  const att = cpu.attention(Q!, K!, V!, { batchHeads: 1, queryLength: t, keyLength: t, headDim: d, valueDim: d }, { causal: true, window: 0, prefix: 0, scale: 1 / Math.sqrt(d) });
  expectClose(result.attention, cpu.readSync(att.out), ACCUMULATED, 'browser attention');
  expectClose(result.lse, cpu.readSync(att.lse), ACCUMULATED, 'browser lse');
  await page.close();
}, 120_000);
