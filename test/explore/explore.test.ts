/**
 * `headsteer explore` end to end on a fresh smoke run (made by the CLI in a temp folder): the JSON API
 * returns results.json's figures on the alpha grid and the fast path's off it; traversal and unknown
 * routes give 404, bad parameters 400; Chromium (playwright-core) drives the page — slider, class and
 * strategy — and the page shows those figures, the head row and the sample images, with no console
 * errors (screenshot: test-output/explorer.png); the CLI exits 0 on SIGTERM.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { initEngine } from '../../src/engine/backend.js';
import { chromiumSkip, launchChromium } from '../browser.js';
import type { Meta, PointView, SampleView } from '../../src/explore/data.js';
import { isTraversal, startExplorer, type Explorer } from '../../src/explore/server.js';
import type { SteerResults, Sweep } from '../../src/steer/results.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const CLI = join(HERE, '../../src/cli/main.js');
const REPO = join(HERE, '../../..');
const root = mkdtempSync(join(tmpdir(), 'headsteer-explore-'));
const run = join(root, 'run');
let explorer: Explorer;
let results: SteerResults;

/** GET with the path sent verbatim (fetch would normalise `..` away). */
function rawGet(url: string, path: string, host?: string): Promise<{ status: number; body: string }> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, path, method: 'GET', headers: host === undefined ? {} : { host } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function api<T>(path: string): Promise<T> {
  const res = await fetch(new URL(path, explorer.url));
  assert.equal(res.status, 200, `${path}: ${await res.clone().text()}`);
  return (await res.json()) as T;
}

function sweep(strategy: string, alpha: number): Sweep {
  const s = results.sweeps.find((w) => w.strategy === strategy && Math.abs(w.alpha - alpha) < 1e-9);
  assert.ok(s, `results.json has ${strategy} @ ${alpha}`);
  return s;
}

before(async () => {
  const made = spawnSync(process.execPath, [CLI, 'run', '--preset', 'smoke', '--out', run], { encoding: 'utf8' });
  assert.equal(made.status, 0, made.stderr);
  results = JSON.parse(readFileSync(join(run, 'steer', 'results.json'), 'utf8')) as SteerResults;
  await initEngine();
  explorer = await startExplorer({ run, port: 0 });
});

after(async () => {
  await explorer?.close();
  rmSync(root, { recursive: true, force: true });
});

test('binds to 127.0.0.1 on a free port', () => {
  assert.match(explorer.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
});

test('API: grid points come from results.json, off-grid points from the fast path', async () => {
  const meta = await api<Meta>('/api/meta');
  assert.equal(meta.heads, results.baseline.heads!.length);
  assert.deepEqual(meta.alphas, [...new Set(results.sweeps.map((s) => s.alpha))].sort((a, b) => a - b));
  assert.equal(meta.unsteered.accuracy, results.baseline.accuracy);

  const all = await api<PointView>('/api/point?strategy=per-class&alpha=1.2&class=all');
  assert.equal(all.source, 'results');
  assert.equal(all.steered.accuracy, sweep('per-class', 1.2).accuracy);
  assert.deepEqual(all.steered.heads, sweep('per-class', 1.2).heads);
  const one = await api<PointView>('/api/point?strategy=global&alpha=0.5&class=2');
  assert.deepEqual(one.steered, (({ accuracy, headUsage, heads }) => ({ accuracy, headUsage, heads }))(sweep('global', 0.5).perClass[2]!));

  const tensors = tf.memory().numTensors;
  const live = await api<PointView>('/api/point?strategy=random&alpha=0.35&class=all');
  assert.equal(tf.memory().numTensors, tensors, 'the fast path leaks no tensors');
  assert.equal(live.source, 'live');
  assert.equal(live.steered.heads.length, meta.heads);
  // The fast path at a grid alpha (via the images endpoint's per-image run) reproduces results.json.
  const imgs = await api<{ images: SampleView[] }>('/api/images?strategy=per-class&alpha=1.2&class=1&count=5');
  assert.equal(imgs.images.length, 5);
  for (const s of imgs.images) {
    assert.equal(s.label, 1);
    assert.match(s.png, /^data:image\/png;base64,/);
    assert.equal(s.after.heads.length, meta.heads);
  }
});

test('routes: traversal and unknown paths 404, bad parameters 400, foreign Host 403', async () => {
  for (const p of ['/../etc/passwd', '/%2e%2e/etc/passwd', '/%2E%2E%2Fetc', '/api/%252e%252e/meta', '/..%5cwin.ini', '/api/../api/meta', '/nope', '/api/meta/', '/api', '/index.php']) {
    const r = await rawGet(explorer.url, p);
    assert.equal(r.status, 404, `${p} -> ${r.status}`);
  }
  for (const p of ['/api/point?strategy=bogus&alpha=1', '/api/point?strategy=global&alpha=2', '/api/point?strategy=global&alpha=-1.01', '/api/point?strategy=global&alpha=1e400',
    '/api/point?strategy=global&alpha=abc', '/api/point?strategy=global&alpha=1&class=4', '/api/point?strategy=global&alpha=1&class=-1', '/api/point?alpha=1',
    '/api/point?strategy=global&alpha=1&alpha=2', '/api/point?strategy=global&alpha=1&extra=1', '/api/images?strategy=global&alpha=1&count=0', '/api/images?strategy=global&alpha=1&count=999']) {
    const r = await rawGet(explorer.url, p);
    assert.equal(r.status, 400, `${p} -> ${r.status} ${r.body}`);
    assert.ok((JSON.parse(r.body) as { error: string }).error.length > 0);
  }
  assert.equal((await rawGet(explorer.url, '/api/meta', 'attacker.example:80')).status, 403);
  assert.equal((await rawGet(explorer.url, '/')).status, 200);
  assert.equal(isTraversal('/api/meta'), false);
  assert.equal(isTraversal('/a/%2e%2E/b'), true);
  assert.equal(isTraversal('/%E0%A4%A'), true, 'malformed escapes are refused');
});

test('browser: the page follows the slider, class and strategy', { skip: chromiumSkip }, async () => {
  const browser = await launchChromium();
  try {
    const page = await browser.newPage({ viewport: { width: 1320, height: 980 } });
    const errors: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    page.on('pageerror', (e) => errors.push(e.message));
    const ready = async (key: string): Promise<void> => {
      await page.waitForFunction((k) => document.body.dataset['ready'] === k, key, { timeout: 20_000 });
    };
    const heads = (): Promise<number[]> => page.$$eval('#heads .head', (cells) => cells.map((c) => Number((c as HTMLElement).dataset['rate'])));
    const pct = (x: number): string => `${(100 * x).toFixed(1)}%`;

    await page.goto(explorer.url);
    await ready('per-class|1.2|all'); // the page opens at alpha 1.2 on all classes
    assert.equal(await page.textContent('#acc'), pct(sweep('per-class', 1.2).accuracy));
    assert.equal(await page.textContent('#acc-base'), pct(results.baseline.accuracy));
    assert.equal((await page.textContent('#source'))?.includes('results.json'), true);
    assert.deepEqual(await heads(), sweep('per-class', 1.2).heads!.map((r) => Number(r.toFixed(4))));

    // Strategy, class and the slider, each through the page's own controls.
    await page.click('#strategy label:has(input[value="global"])');
    await ready('global|1.2|all');
    await page.selectOption('#class', '1');
    await ready('global|1.2|1');
    await page.fill('#alpha-range', '0.5');
    await ready('global|0.5|1');
    const row = sweep('global', 0.5).perClass[1]!;
    assert.equal(await page.textContent('#acc'), pct(row.accuracy));
    assert.equal(await page.textContent('#usage'), row.headUsage.toFixed(3));
    assert.equal(await page.inputValue('#alpha-input'), '0.5');
    assert.deepEqual(await heads(), row.heads.map((r) => Number(r.toFixed(4))));
    assert.equal(await page.locator('#grid-chips button.active').textContent(), '0.5');

    // Head indicators follow the alpha: -1 vs 1.5 per-class on class 1 differ in results.json.
    await page.click('#strategy label:has(input[value="per-class"])');
    await page.fill('#alpha-range', '-1');
    await ready('per-class|-1|1');
    const low = await heads();
    await page.fill('#alpha-range', '1.5');
    await ready('per-class|1.5|1');
    const high = await heads();
    assert.deepEqual(low, sweep('per-class', -1).perClass[1]!.heads.map((r) => Number(r.toFixed(4))));
    assert.deepEqual(high, sweep('per-class', 1.5).perClass[1]!.heads.map((r) => Number(r.toFixed(4))));
    assert.equal(await page.locator('#heads .head').count(), results.baseline.heads!.length);

    // Off the grid: the keyboard moves the slider one 0.05 step; the page shows the live point.
    await page.focus('#alpha-range');
    await page.keyboard.press('ArrowLeft');
    await ready('per-class|1.45|1');
    const live = await api<PointView>('/api/point?strategy=per-class&alpha=1.45&class=1');
    assert.equal(live.source, 'live');
    assert.equal(await page.textContent('#acc'), pct(live.steered.accuracy));
    assert.equal((await page.textContent('#source'))?.includes('live'), true);

    // A typed alpha, then the sample images and their predictions.
    await page.fill('#alpha-input', '1.2');
    await ready('per-class|1.2|1');
    const expected = await api<{ images: SampleView[] }>('/api/images?strategy=per-class&alpha=1.2&class=1');
    assert.equal(expected.images.length, 12);
    assert.equal(await page.locator('#samples .sample').count(), 12);
    const sizes = await page.$$eval('#samples img', (imgs) => imgs.map((i) => ({ w: (i as HTMLImageElement).naturalWidth, ok: (i as HTMLImageElement).complete })));
    assert.ok(sizes.every((s) => s.ok && s.w === 16), JSON.stringify(sizes));
    const after = await page.$$eval('#samples .pred.after .v', (v) => v.map((e) => e.textContent));
    assert.deepEqual(after, expected.images.map((s) => s.after.name));
    const before = await page.$$eval('#samples .pred.before .v', (v) => v.map((e) => e.textContent));
    assert.deepEqual(before, expected.images.map((s) => s.before.name));
    const wrong = await page.locator('#samples .sample.wrong').count();
    assert.equal(wrong, expected.images.filter((s) => !s.after.correct).length);

    // An out-of-range typed alpha is flagged, not sent.
    await page.fill('#alpha-input', '3');
    await page.waitForSelector('#alpha-input.invalid');
    assert.equal(await page.isVisible('#error'), true);
    await page.fill('#alpha-input', '1.2');
    await page.waitForSelector('#error', { state: 'hidden' });

    mkdirSync(join(REPO, 'test-output'), { recursive: true });
    await page.screenshot({ path: join(REPO, 'test-output', 'explorer.png'), fullPage: true });
    assert.deepEqual(errors, [], 'no console errors');
  } finally {
    await browser.close();
  }
});

test('CLI: prints the URL, serves, and exits 0 on SIGTERM', async () => {
  const child = spawn(process.execPath, [CLI, 'explore', '--run', run, '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  let out = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
      const m = /http:\/\/127\.0\.0\.1:\d+\//.exec(out);
      if (m) resolve(m[0]);
    });
    child.on('exit', () => reject(new Error(`explore exited early: ${out}`)));
  });
  assert.equal((await rawGet(url, '/api/meta')).status, 200);
  child.kill('SIGTERM');
  assert.equal(await exited, 0);
  const bad = spawnSync(process.execPath, [CLI, 'explore', '--run', run, '--port', 'x'], { encoding: 'utf8' });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--port must be an integer/);
});
