// Renders the example figures in headless Chromium and checks they really draw: a visible
// bounding box and plenty of non-white pixels. Screenshots go to test-artifacts/ (look at
// them when changing chart code).
import { mkdirSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exampleFigures } from './figures.ts';

const artifacts = new URL('../test-artifacts/', import.meta.url);
let browser: Browser;

beforeAll(async () => {
  mkdirSync(artifacts, { recursive: true });
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--no-sandbox', '--headless=new', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
  });
});

afterAll(async () => {
  await browser?.close();
});

describe('SVG figures in Chromium', () => {
  for (const [name, svg] of Object.entries(exampleFigures())) {
    it(`${name} renders with visible content`, async () => {
      const page = await browser.newPage({ viewport: { width: 900, height: 600 }, deviceScaleFactor: 1 });
      try {
        await page.setContent(`<!DOCTYPE html><html><body style="margin:0;background:#fff">${svg}</body></html>`);
        const box = await page.locator('svg').first().boundingBox();
        expect(box!.width).toBeGreaterThan(300);
        expect(box!.height).toBeGreaterThan(200);
        // No parser error: Chromium drops malformed inline SVG or renders an error box.
        expect(await page.locator('svg text').count()).toBeGreaterThan(5);
        await page.locator('svg').first().screenshot({ path: new URL(`${name}.png`, artifacts).pathname });
        // Rasterise the standalone SVG (as an <img>, the strict XML path) and count ink.
        const ink = await page.evaluate(async (markup) => {
          const url = URL.createObjectURL(new Blob([markup], { type: 'image/svg+xml' }));
          const image = new Image();
          await new Promise<void>((resolve, reject) => {
            image.onload = () => resolve();
            image.onerror = () => reject(new Error('the SVG did not load as an image'));
            image.src = url;
          });
          const canvas = document.createElement('canvas');
          canvas.width = image.width;
          canvas.height = image.height;
          const context = canvas.getContext('2d')!;
          context.drawImage(image, 0, 0);
          const data = context.getImageData(0, 0, canvas.width, canvas.height).data;
          let nonWhite = 0;
          for (let i = 0; i < data.length; i += 4) if (data[i]! < 235 || data[i + 1]! < 235 || data[i + 2]! < 235) nonWhite++;
          return { nonWhite, total: data.length / 4 };
        }, svg);
        expect(ink.nonWhite / ink.total).toBeGreaterThan(0.02);
      } finally {
        await page.close();
      }
    });
  }
});
