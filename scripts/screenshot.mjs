#!/usr/bin/env node
/**
 * A PNG screenshot of an HTML report (`mlc compress … --report r.html`), taken in the system's
 * headless Chromium (the launcher of mlc's browser runtime; run `npm run build` first):
 *
 *   node scripts/screenshot.mjs r.html docs/report.png [--width 960] [--max-height 2400] [--dark]
 *
 * The page is opened from its file; any other request it made would be blocked and fail the script
 * (the report is self-contained). The picture is the top of the page, at most --max-height pixels.
 */
import { writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { startChromium } from '../dist/runtime/browser.js';

const args = process.argv.slice(2);
const flag = (name, dflt) => {
  const i = args.indexOf(name);
  if (i < 0) return dflt;
  const v = args[i + 1];
  args.splice(i, 2);
  return v;
};
const dark = args.includes('--dark');
if (dark) args.splice(args.indexOf('--dark'), 1);
const width = Number(flag('--width', '960'));
const maxHeight = Number(flag('--max-height', '2400'));
const [input, output] = args;
if (!input || !output || !(width > 0) || !(maxHeight > 0)) {
  console.error('usage: node scripts/screenshot.mjs <report.html> <out.png> [--width 960] [--max-height 2400] [--dark]');
  process.exit(2);
}

const url = pathToFileURL(resolve(input)).href;
const chromium = await startChromium();
try {
  const page = await chromium.context.newPage();
  const other = [];
  await page.route('**/*', (route) => (route.request().url() === url ? route.continue() : (other.push(route.request().url()), route.abort())));
  await page.emulateMedia({ colorScheme: dark ? 'dark' : 'light' });
  await page.setViewportSize({ width, height: 800 });
  await page.goto(url);
  if (other.length) throw new Error(`the report made requests: ${other.join(', ')}`);
  const height = Math.min(maxHeight, await page.evaluate(() => document.documentElement.scrollHeight));
  const png = await page.screenshot({ clip: { x: 0, y: 0, width, height }, fullPage: true });
  await writeFile(output, png);
  console.log(`${output}: ${width}x${height}, ${png.length} bytes`);
} finally {
  await chromium.close();
}
