/**
 * `headsteer explore` end to end on a fresh smoke run (made by the CLI in a temp folder): the JSON API
 * returns results.json's figures on the alpha grid and the fast path's off it, the controls' frontier
 * and each point's margin over it, and every knob at a target usage; traversal and unknown routes give
 * 404, bad parameters 400 with one line; a copy of the run without controls says so; Chromium
 * (playwright-core) drives the page — slider, class, strategy and the target form — and the page shows
 * those figures, the head row, the frontier view and the sample images, with no console errors
 * (screenshot: test-output/explorer.png); the CLI exits 0 on SIGTERM.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { initEngine } from '../../src/engine/backend.js';
import { finalLayerFlops, type FlopsReport } from '../../src/eval/flops.js';
import { chromiumSkip, launchChromium } from '../browser.js';
import { TARGET_KNOBS, type Meta, type PointView, type SampleView, type TargetView } from '../../src/explore/data.js';
import { isTraversal, startExplorer, type Explorer } from '../../src/explore/server.js';
import { CONTROLS_MISSING, thresholdFrontier, thresholdPoints } from '../../src/report/controls.js';
import { concaveFrontier, frontierAt } from '../../src/steer/frontier.js';
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

async function api<T>(path: string, on = explorer): Promise<T> {
  const res = await fetch(new URL(path, on.url));
  assert.equal(res.status, 200, `${path}: ${await res.clone().text()}`);
  return (await res.json()) as T;
}

function sweep(strategy: string, alpha: number): Sweep {
  const s = results.sweeps.find((w) => w.strategy === strategy && Math.abs(w.alpha - alpha) < 1e-9);
  assert.ok(s, `results.json has ${strategy} @ ${alpha}`);
  return s;
}

/** A usage per-class steering reaches inside the page's alpha range: halfway between its alpha = 0 and 1.2 points, to 0.01. */
function reachableUsage(): number {
  return Math.round(50 * (sweep('per-class', 0).headUsage + sweep('per-class', 1.2).headUsage)) / 100;
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
  assert.deepEqual(
    meta.alphas,
    [...new Set(results.sweeps.map((s) => s.alpha))].sort((a, b) => a - b),
  );
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

test('API: the controls as the frontier view draws them, and each point’s margin over the threshold frontier of its scope', async () => {
  const meta = await api<Meta>('/api/meta');
  const c = results.controls;
  assert.ok(c !== undefined && meta.controls !== null, 'the smoke run computes the controls');
  assert.deepEqual(meta.controls.all.points, thresholdPoints(c));
  assert.deepEqual(meta.controls.all.frontier, thresholdFrontier(c));
  assert.equal(meta.controls.perClass.length, meta.classNames.length);
  assert.deepEqual(meta.controls.perClass[2]!.frontier, concaveFrontier(thresholdPoints(c, 2)));
  assert.equal(meta.controls.randomPolicy.length, c.randomPolicy.length);
  assert.match(meta.controls.statement, /threshold frontier/);

  for (const [cls, q] of [
    ['all', ''],
    [2, '&class=2'],
  ] as const) {
    const p = await api<PointView>(`/api/point?strategy=per-class&alpha=1.2${q}`);
    const bar = cls === 'all' ? thresholdFrontier(c) : concaveFrontier(thresholdPoints(c, cls));
    const at = frontierAt(bar, p.steered.headUsage);
    if (at === undefined) assert.equal(p.margin, 'below-reach');
    else assert.ok(typeof p.margin === 'number' && Math.abs(p.margin - (p.steered.accuracy - at)) < 1e-12, `${cls}: margin ${p.margin}`);
  }
});

test('API /api/target: every knob at a usage, overall and for a class; the found alpha reproduces it; cached; no tensor leak', async () => {
  const u = reachableUsage();
  const tensors = tf.memory().numTensors;
  const t = await api<TargetView>(`/api/target?usage=${u}`);
  assert.equal(tf.memory().numTensors, tensors, 'the searches leak no tensors');
  assert.equal(t.usage, u);
  assert.equal(t.class, 'all');
  assert.deepEqual(t.pending, [], 'the smoke run is searched well within one request');
  assert.deepEqual(
    t.knobs.map((k) => k.knob),
    [...TARGET_KNOBS],
  );
  assert.equal(t.unsteered, results.baseline.headUsage);
  for (const k of t.knobs) {
    assert.deepEqual(Object.keys(k).sort(), ['accuracy', 'evaluations', 'knob', 'param', 'reached', 'usage', ...(k.note === undefined ? [] : ['note'])].sort());
    if (k.reached) assert.ok(Math.abs(k.usage - u) <= 0.01 + 1e-12, `${k.knob}: usage ${k.usage} vs ${u}`);
    else assert.ok((k.note ?? '').length > 0, `${k.knob}: an unreached knob says why`);
  }
  const threshold = t.knobs.find((k) => k.knob === 'threshold')!;
  assert.equal(threshold.reached, true);
  // Jumping the page to the found alpha (what a click on the row does) gives the target usage.
  const pc = t.knobs.find((k) => k.knob === 'per-class')!;
  assert.ok(pc.reached && pc.param >= -1 && pc.param <= 1.5, JSON.stringify(pc));
  const there = await api<PointView>(`/api/point?strategy=per-class&alpha=${pc.param}`);
  assert.ok(Math.abs(there.steered.headUsage - u) <= 0.01 + 1e-12, `per-class at alpha ${pc.param}: usage ${there.steered.headUsage}`);

  // Asked again (typed to a finer digit): the same answer from the cache.
  const again = await api<TargetView>(`/api/target?usage=${u}0004`);
  assert.deepEqual(again.knobs, t.knobs);
  assert.ok(again.seconds < 0.05, `cached answer took ${again.seconds} s`);

  const one = await api<TargetView>(`/api/target?usage=${u}&class=1`);
  assert.equal(one.class, 1);
  const meta = await api<Meta>('/api/meta');
  assert.equal(one.unsteered, meta.unsteered.perClass[1]!.headUsage);
  const th = one.knobs.find((k) => k.knob === 'threshold')!;
  assert.ok(!th.reached || Math.abs(th.usage - u) <= 0.01 + 1e-12, JSON.stringify(th));
});

test('a full compute queue: off-grid work gets 503 with Retry-After, the page and grid points still 200', async () => {
  const busy = await startExplorer({ run, port: 0, queue: 0 });
  try {
    for (const path of ['/api/point?strategy=global&alpha=0.37', '/api/images?strategy=global&alpha=0.5', `/api/target?usage=0.5`]) {
      const res = await fetch(new URL(path, busy.url));
      assert.equal(res.status, 503, path);
      assert.match(res.headers.get('retry-after') ?? '', /^[1-9]\d*$/, path);
      assert.match(((await res.json()) as { error: string }).error, /busy.*retry in \d+ s/);
    }
    assert.equal((await api<PointView>('/api/point?strategy=global&alpha=0.5', busy)).source, 'results');
    assert.equal((await fetch(busy.url)).status, 200);
  } finally {
    await busy.close();
  }
});

test('a run without controls: meta says null, points have no margin, the page says how to get them', async () => {
  const bare = join(root, 'bare');
  cpSync(run, bare, { recursive: true });
  const file = join(bare, 'steer', 'results.json');
  const { controls: _dropped, ...rest } = JSON.parse(readFileSync(file, 'utf8')) as SteerResults;
  writeFileSync(file, JSON.stringify(rest));
  const other = await startExplorer({ run: bare, port: 0 });
  try {
    assert.equal((await api<Meta>('/api/meta', other)).controls, null);
    assert.equal((await api<PointView>('/api/point?strategy=global&alpha=0.5', other)).margin, null);
    assert.equal(
      (await api<TargetView>(`/api/target?usage=${reachableUsage()}`, other)).knobs.length,
      TARGET_KNOBS.length,
      'the target needs the model, not the controls',
    );
    if (chromiumSkip !== false) return;
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      await page.goto(other.url);
      await page.waitForFunction(() => document.body.dataset['ready'] !== undefined, undefined, { timeout: 20_000 });
      assert.equal(await page.textContent('#frontier-note'), CONTROLS_MISSING);
      assert.equal(await page.locator('#frontier .thr').count(), 0);
      assert.equal(await page.isVisible('#frontier-zoom'), false);
    } finally {
      await browser.close();
    }
  } finally {
    await other.close();
  }
});

test('headers: a hash-based CSP on each page, no framing, nosniff; cross-site API requests 403, the page itself still opens', async () => {
  for (const path of ['/', '/latents']) {
    const res = await fetch(new URL(path, explorer.url));
    const body = await res.text();
    const csp = res.headers.get('content-security-policy') ?? '';
    assert.match(csp, /default-src 'none'/, path);
    assert.match(csp, /frame-ancestors 'none'/, path);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/, path);
    const script = /<script[^>]*>([\s\S]*?)<\/script>/.exec(body)![1]!;
    assert.ok(csp.includes(`'sha256-${createHash('sha256').update(script).digest('base64')}'`), `${path}: the inline script's hash`);
    assert.doesNotMatch(body, /\sstyle="|\son[a-z]+="/, `${path}: no inline style or handler attributes`);
    assert.equal(res.headers.get('x-frame-options'), 'DENY');
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
  }
  const meta = await fetch(new URL('/api/meta', explorer.url));
  assert.match(meta.headers.get('content-security-policy') ?? '', /frame-ancestors 'none'/);
  const refused = [{ 'sec-fetch-site': 'cross-site' }, { 'sec-fetch-site': 'same-site' }, { origin: 'http://evil.example' }];
  for (const headers of refused) {
    const res = await fetch(new URL('/api/point?strategy=global&alpha=0.5', explorer.url), { headers });
    assert.equal(res.status, 403, JSON.stringify(headers));
    assert.match(((await res.json()) as { error: string }).error, /cross-site API request refused/);
  }
  const own = new URL(explorer.url).origin;
  for (const headers of [{ 'sec-fetch-site': 'same-origin', origin: own }, { 'sec-fetch-site': 'none' }, {}])
    assert.equal((await fetch(new URL('/api/meta', explorer.url), { headers })).status, 200, JSON.stringify(headers));
  assert.equal((await fetch(explorer.url, { headers: { 'sec-fetch-site': 'cross-site' } })).status, 200, 'a link from elsewhere opens the page');
});

test('routes: traversal and unknown paths 404, bad parameters 400, foreign Host 403', async () => {
  for (const p of [
    '/../etc/passwd',
    '/%2e%2e/etc/passwd',
    '/%2E%2E%2Fetc',
    '/api/%252e%252e/meta',
    '/..%5cwin.ini',
    '/api/../api/meta',
    '/nope',
    '/api/meta/',
    '/api',
    '/index.php',
  ]) {
    const r = await rawGet(explorer.url, p);
    assert.equal(r.status, 404, `${p} -> ${r.status}`);
  }
  for (const p of [
    '/api/point?strategy=bogus&alpha=1',
    '/api/point?strategy=global&alpha=2',
    '/api/point?strategy=global&alpha=-1.01',
    '/api/point?strategy=global&alpha=1e400',
    '/api/point?strategy=global&alpha=abc',
    '/api/point?strategy=global&alpha=1&class=4',
    '/api/point?strategy=global&alpha=1&class=-1',
    '/api/point?alpha=1',
    '/api/point?strategy=global&alpha=1&alpha=2',
    '/api/point?strategy=global&alpha=1&extra=1',
    '/api/images?strategy=global&alpha=1&count=0',
    '/api/images?strategy=global&alpha=1&count=999',
    '/api/target',
    '/api/target?usage=',
    '/api/target?class=1',
    '/api/target?usage=abc',
    '/api/target?usage=1.01',
    '/api/target?usage=-0.01',
    '/api/target?usage=-1e-9',
    '/api/target?usage=1e400',
    '/api/target?usage=0x1',
    '/api/target?usage=NaN',
    '/api/target?usage=Infinity',
    '/api/target?usage=%200.5',
    '/api/target?usage=0.5&class=4',
    '/api/target?usage=0.5&class=-1',
    '/api/target?usage=0.5&class=1.5',
    '/api/target?usage=0.5&class=all2',
    '/api/target?usage=0.5&usage=0.4',
    '/api/target?usage=0.5&alpha=1',
  ]) {
    const r = await rawGet(explorer.url, p);
    assert.equal(r.status, 400, `${p} -> ${r.status} ${r.body}`);
    const error = (JSON.parse(r.body) as { error: string }).error;
    assert.ok(error.length > 0 && !error.includes('\n'), `${p}: one line, no stack: ${error}`);
  }
  assert.equal((await rawGet(explorer.url, '/api/meta', 'attacker.example:80')).status, 403);
  assert.equal((await rawGet(explorer.url, '/')).status, 200);
  assert.equal(isTraversal('/api/meta'), false);
  assert.equal(isTraversal('/a/%2e%2E/b'), true);
  assert.equal(isTraversal('/%E0%A4%A'), true, 'malformed escapes are refused');
});

test('the page holds the frontier view and the target form', async () => {
  const r = await rawGet(explorer.url, '/');
  for (const id of [
    'frontier-card',
    'frontier',
    'frontier-zoom',
    'frontier-note',
    'target-form',
    'target-usage',
    'target-class',
    'target-go',
    'target-table',
  ]) {
    assert.match(r.body, new RegExp(`id="${id}"`), `#${id}`);
  }
  assert.ok(r.body.includes(JSON.stringify(CONTROLS_MISSING)), 'the missing-controls sentence is handed to the script');
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
    assert.deepEqual(
      await heads(),
      sweep('per-class', 1.2).heads!.map((r) => Number(r.toFixed(4))),
    );

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
    // FLOPs beside the usage: the pruned model's eval.json count, moved along the final layer's heads.
    const point = await api<PointView>('/api/point?strategy=global&alpha=0.5&class=1');
    const flops = (JSON.parse(readFileSync(join(run, 'pruned', 'eval.json'), 'utf8')) as { flops: FlopsReport }).flops;
    const line = finalLayerFlops(flops, point.unsteered.headUsage, 1);
    assert.ok(point.flops !== null && Math.abs(point.flops.steered - line(row.headUsage)) < 1e-6 && point.flops.unsteered === flops.perClass[1]);
    assert.equal(await page.textContent('#flops'), (point.flops.steered / 1e6).toFixed(3));
    assert.equal(await page.inputValue('#alpha-input'), '0.5');
    assert.deepEqual(
      await heads(),
      row.heads.map((r) => Number(r.toFixed(4))),
    );
    assert.equal(await page.locator('#grid-chips button.active').textContent(), '0.5');

    // Head indicators follow the alpha: -1 vs 1.5 per-class on class 1 differ in results.json.
    await page.click('#strategy label:has(input[value="per-class"])');
    await page.fill('#alpha-range', '-1');
    await ready('per-class|-1|1');
    const low = await heads();
    await page.fill('#alpha-range', '1.5');
    await ready('per-class|1.5|1');
    const high = await heads();
    assert.deepEqual(
      low,
      sweep('per-class', -1).perClass[1]!.heads.map((r) => Number(r.toFixed(4))),
    );
    assert.deepEqual(
      high,
      sweep('per-class', 1.5).perClass[1]!.heads.map((r) => Number(r.toFixed(4))),
    );
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
    const sizes = await page.$$eval('#samples img', (imgs) =>
      imgs.map((i) => ({ w: (i as HTMLImageElement).naturalWidth, ok: (i as HTMLImageElement).complete })),
    );
    assert.ok(
      sizes.every((s) => s.ok && s.w === 16),
      JSON.stringify(sizes),
    );
    const after = await page.$$eval('#samples .pred.after .v', (v) => v.map((e) => e.textContent));
    assert.deepEqual(
      after,
      expected.images.map((s) => s.after.name),
    );
    const before = await page.$$eval('#samples .pred.before .v', (v) => v.map((e) => e.textContent));
    assert.deepEqual(
      before,
      expected.images.map((s) => s.before.name),
    );
    const wrong = await page.locator('#samples .sample.wrong').count();
    assert.equal(wrong, expected.images.filter((s) => !s.after.correct).length);

    // An out-of-range typed alpha is flagged, not sent.
    await page.fill('#alpha-input', '3');
    await page.waitForSelector('#alpha-input.invalid');
    assert.equal(await page.isVisible('#error'), true);
    await page.fill('#alpha-input', '1.2');
    await page.waitForSelector('#error', { state: 'hidden' });

    // The frontier view: the current point, the whole beta sweep (clipped to the window, not dropped), the margin.
    const cur = await page.locator('#frontier circle.cur').getAttribute('data-usage');
    assert.equal(Number(cur), sweep('per-class', 1.2).perClass[1]!.headUsage);
    assert.equal(await page.locator('#frontier .thr').count(), results.controls!.threshold.length);
    assert.match((await page.textContent('#frontier-note')) ?? '', /this class’s threshold frontier/);

    // The target form: every knob in the table, the found points marked, a strategy row sets the page.
    await page.selectOption('#class', 'all');
    await ready('per-class|1.2|all');
    const u = reachableUsage();
    await page.fill('#target-usage', String(u));
    await page.click('#target-go');
    await page.waitForFunction((k) => document.body.dataset['target'] === k, `${u}|all`, { timeout: 20_000 });
    const t = await api<TargetView>(`/api/target?usage=${u}`);
    assert.deepEqual(await page.$$eval('#target-table tbody tr', (rows) => rows.map((r) => (r as HTMLElement).dataset['knob'])), [...TARGET_KNOBS]);
    assert.equal(await page.locator('#frontier path.hit').count(), t.knobs.filter((k) => k.reached).length);
    const pc = t.knobs.find((k) => k.knob === 'per-class')!;
    await page.click('#target-table tr[data-knob="global"]'); // away from per-class first, so the click below visibly moves the page
    const global = t.knobs.find((k) => k.knob === 'global')!;
    if (global.param >= -1 && global.param <= 1.5) await ready(`global|${global.param}|all`);
    await page.click('#target-table tr[data-knob="per-class"]');
    await ready(`per-class|${pc.param}|all`);
    assert.equal(await page.isChecked('#strategy input[value="per-class"]'), true);
    assert.equal(await page.textContent('#usage'), (await api<PointView>(`/api/point?strategy=per-class&alpha=${pc.param}`)).steered.headUsage.toFixed(3));
    const far = t.knobs.find((k) => k.knob !== 'threshold' && (k.param < -1 || k.param > 1.5));
    if (far !== undefined) {
      await page.click(`#target-table tr[data-knob="${far.knob}"]`);
      assert.match((await page.textContent('#target-status')) ?? '', /outside the page’s range/);
      assert.equal(await page.isChecked('#strategy input[value="per-class"]'), true, 'an alpha off the slider changes nothing');
    }
    // For the selected class: the form asks for the class's usage.
    await page.selectOption('#class', '1');
    await ready(`per-class|${pc.param}|1`);
    await page.check('#target-class');
    await page.click('#target-go');
    await page.waitForFunction((k) => document.body.dataset['target'] === k, `${u}|1`, { timeout: 20_000 });
    assert.match((await page.textContent('#target-scope')) ?? '', /class 1/);

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
