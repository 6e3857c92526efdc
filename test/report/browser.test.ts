/**
 * The report opens from disk in a real browser (Debian Chromium): no console or page errors, every
 * figure image decodes, and a screenshot lands in test-output/report.png.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { buildReport } from '../../src/report/report.js';
import { chromiumSkip, launchChromium } from '../browser.js';

const here = dirname(fileURLToPath(import.meta.url)); // dist/test/report
const FIXTURE = join(here, '../../../test/fixtures/run-smoke');
const OUTPUT = join(here, '../../../test-output');

test('report index.html loads from file:// with no console errors and every figure rendered', { skip: chromiumSkip }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'headsteer-report-browser-'));
  const browser = await launchChromium();
  try {
    const run = join(dir, 'run');
    cpSync(FIXTURE, run, { recursive: true });
    const { index } = await buildReport(run);
    const page = await browser.newPage({ viewport: { width: 1280, height: 1600 } });
    const errors: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    page.on('pageerror', (e) => errors.push(e.message));
    const requests: string[] = [];
    page.on('request', (r) => {
      if (!r.url().startsWith('file:') && !r.url().startsWith('data:')) requests.push(r.url());
    });
    await page.goto(pathToFileURL(index).href, { waitUntil: 'load' });
    const images = await page.$$eval('img', (imgs) => imgs.map((i) => ({ src: i.src.slice(0, 40), ok: i.complete && i.naturalWidth > 0 })));
    assert.ok(images.length >= 6, `expected the six figures, found ${images.length} images`);
    for (const img of images) assert.ok(img.ok, `image did not render: ${img.src}`);
    assert.deepEqual(errors, [], 'no console or page errors');
    assert.deepEqual(requests, [], 'no network requests');
    mkdirSync(OUTPUT, { recursive: true });
    await page.screenshot({ path: join(OUTPUT, 'report.png'), fullPage: false });
  } finally {
    await browser.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
