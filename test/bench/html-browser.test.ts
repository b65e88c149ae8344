/**
 * The HTML report in headless Chromium (Debian's chromium, started as the browser runtime starts
 * it): it loads from its file with no console error and no request but its own, its sections and
 * charts are there, each inline SVG parses as XML, dark mode changes the colours, and a screenshot
 * is a PNG.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderHtml } from '../../src/bench/html.js';
import { hasChromium, startChromium } from '../../src/runtime/browser.js';
import { NASTY, sampleReport, sampleSensitivity, sampleTune } from './html-fixtures.js';

describe.skipIf(!hasChromium())('the HTML report in headless Chromium', () => {
  let dir: string;
  let chromium: Awaited<ReturnType<typeof startChromium>>;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mlc-html-'));
    chromium = await startChromium(['--disable-gpu']);
  }, 60_000);
  afterAll(async () => {
    await chromium?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('loads with no console error and no request, shows every section, parses every SVG, follows dark mode, and screenshots', async () => {
    const file = join(dir, 'report.html');
    const html = renderHtml({ report: await sampleReport(), sensitivity: sampleSensitivity(), tune: sampleTune() });
    await writeFile(file, html);
    const url = pathToFileURL(file).href;
    const page = await chromium.context.newPage();
    const requests: string[] = [];
    const errors: string[] = [];
    page.on('request', (r) => requests.push(r.url()));
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') errors.push(m.text());
    });
    page.on('pageerror', (e) => errors.push(e.message));
    try {
      await page.setViewportSize({ width: 1000, height: 800 });
      await page.goto(url, { waitUntil: 'load' });
      expect(requests).toEqual([url]);
      expect(errors).toEqual([]);

      const ids = await page.$$eval('main > section', (els) => els.map((e) => e.id));
      expect(ids).toEqual(['summary', 'size', 'layers', 'sensitivity', 'pareto', 'latency']);
      // the node name with markup is text on the page, and no element came from it
      expect(await page.$$eval('script, b', (els) => els.length)).toBe(0);
      expect(await page.textContent('#layers')).toContain(NASTY);
      // every chart has its accessible name, and drew something
      const charts = await page.$$eval('svg', (els) =>
        els.map((s) => ({ name: s.querySelector(':scope > title')?.textContent ?? '', w: s.getBoundingClientRect().width, marks: s.querySelectorAll('rect, circle, path, polyline').length })),
      );
      expect(charts.length).toBeGreaterThanOrEqual(7);
      for (const c of charts) {
        expect(c.name.length).toBeGreaterThan(3);
        expect(c.w).toBeGreaterThan(100);
        expect(c.marks).toBeGreaterThan(0);
      }
      expect(await page.$$eval('#pareto circle.chosen', (els) => els.length)).toBe(1);
      // the SVG source as written is well-formed XML
      const sources = html.match(/<svg[\s\S]*?<\/svg>/g) ?? [];
      const bad = await page.evaluate(
        (list) => list.map((s) => new DOMParser().parseFromString(s, 'image/svg+xml').querySelector('parsererror')?.textContent ?? '').filter(Boolean),
        sources,
      );
      expect(bad).toEqual([]);

      const light = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
      await page.emulateMedia({ colorScheme: 'dark' });
      const dark = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
      expect(light).toBe('rgb(255, 255, 255)');
      expect(dark).not.toBe(light);
      await page.emulateMedia({ colorScheme: 'light' });

      const png = join(dir, 'report.png');
      await page.screenshot({ path: png, fullPage: true });
      const bytes = await readFile(png);
      expect([...bytes.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
      expect(bytes.length).toBeGreaterThan(10_000);
      // the page is as wide as the viewport: the charts scale down instead of overflowing
      expect(bytes.readUInt32BE(16)).toBe(1000);
      expect(requests).toEqual([url]);
      expect(errors).toEqual([]);
    } finally {
      await page.close();
    }
  }, 60_000);
});
