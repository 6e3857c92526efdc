/**
 * The explorer's latent view on a fresh smoke run (made by the CLI in a temp folder): the API serves
 * latents.json's rows and dashboards, and steering one latent alone through the fast path reproduces its
 * gate effect on the final layer's keep bits and, at alpha = 0, the SAE reconstruction of results.json;
 * a latent index out of range is a 400 and a run without dashboards a 404 naming the verb; Chromium
 * (playwright-core) opens the view from the class steering view's link, searches, sorts, opens a latent
 * and steers it, and the page shows those numbers with no console errors.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { initEngine } from '../../src/engine/backend.js';
import type { LatentList, LatentSteerView, LatentView } from '../../src/explore/latents.js';
import { startExplorer, type Explorer } from '../../src/explore/server.js';
import type { LatentsFile } from '../../src/latents/file.js';
import type { SteerResults } from '../../src/steer/results.js';
import { chromiumSkip, launchChromium } from '../browser.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const CLI = join(HERE, '../../src/cli/main.js');
const REPO = join(HERE, '../../..');
const root = mkdtempSync(join(tmpdir(), 'headsteer-explore-latents-'));
const run = join(root, 'run');
let explorer: Explorer;
let file: LatentsFile;
let results: SteerResults;

async function get(path: string, on = explorer): Promise<{ status: number; body: unknown }> {
  const res = await fetch(new URL(path, on.url));
  return { status: res.status, body: await res.json() };
}

async function api<T>(path: string): Promise<T> {
  const r = await get(path);
  assert.equal(r.status, 200, `${path}: ${JSON.stringify(r.body)}`);
  return r.body as T;
}

/** The latent with the largest gate effect: the one the tests open. */
function strongest(): number {
  return [...file.latents].sort((a, b) => (b.gate?.effect ?? 0) - (a.gate?.effect ?? 0))[0]!.index;
}

before(async () => {
  const made = spawnSync(process.execPath, [CLI, 'run', '--preset', 'smoke', '--out', run], { encoding: 'utf8' });
  assert.equal(made.status, 0, made.stderr);
  file = JSON.parse(readFileSync(join(run, 'latents', 'latents.json'), 'utf8')) as LatentsFile;
  results = JSON.parse(readFileSync(join(run, 'steer', 'results.json'), 'utf8')) as SteerResults;
  await initEngine();
  explorer = await startExplorer({ run, port: 0 });
});

after(async () => {
  await explorer?.close();
  rmSync(root, { recursive: true, force: true });
});

test('API: rows and dashboards are latents.json’s; one latent steered alone reproduces its gate effect and, at alpha 0, the reconstruction', async () => {
  const list = await api<LatentList>('/api/latents');
  assert.equal(list.rows.length, file.latents.length);
  assert.deepEqual(
    list.rows.map((r) => r.effect),
    file.latents.map((l) => l.gate?.effect ?? 0),
  );
  const i = strongest();
  const view = await api<LatentView>(`/api/latent?i=${i}`);
  assert.deepEqual(view.dashboard, file.latents[i]);
  assert.equal(view.top.length, file.latents[i]!.top.length);
  for (const img of [...view.top, ...view.random]) assert.match(img.png, /^data:image\/png;base64,/);

  const s = await api<LatentSteerView>(`/api/latent-steer?i=${i}&alpha=1`);
  const keep = file.latents[i]!.gate!.keep;
  assert.equal(s.firing.steered.count, file.latents[i]!.fires);
  s.firing.steered.heads.forEach((rate, h) => {
    const change = rate - s.firing.reference.heads[h]!;
    assert.ok(Math.abs(change - keep[h]!) <= 1e-3 * Math.abs(keep[h]!) + 1e-6, `h${h}: fast path ${change} vs latents.json ${keep[h]}`);
  });
  assert.equal(s.all.reference.accuracy, results.reconstruction.accuracy);
  assert.deepEqual(s.all.reference.heads, results.reconstruction.heads);
});

test('bad input: a latent index out of range or malformed is 400 with one line; a run without dashboards 404s naming the verb', async () => {
  const F = file.latents.length;
  for (const p of [
    `/api/latent?i=${F}`,
    '/api/latent?i=-1',
    '/api/latent?i=1e3',
    '/api/latent?i=',
    '/api/latent',
    `/api/latent-steer?i=${F}&alpha=1`,
    '/api/latent-steer?i=0&alpha=9',
    '/api/latent?i=0&x=1',
    '/latents?set=99',
  ]) {
    const r = await get(p);
    assert.equal(r.status, 400, `${p} -> ${r.status}`);
    const error = (r.body as { error: string }).error;
    assert.ok(error.length > 0 && !error.includes('\n'), `${p}: ${error}`);
  }
  assert.match(((await get(`/api/latent?i=${F}`)).body as { error: string }).error, new RegExp(`\\[0, ${F - 1}\\]`));
  const bare = join(root, 'bare');
  cpSync(run, bare, { recursive: true });
  rmSync(join(bare, 'latents'), { recursive: true });
  const other = await startExplorer({ run: bare, port: 0 });
  try {
    const r = await get('/api/latents', other);
    assert.equal(r.status, 404);
    assert.match((r.body as { error: string }).error, /headsteer latents/);
  } finally {
    await other.close();
  }
});

test('browser: from the class view to its set’s latents; search, sort, open and steer a latent', { skip: chromiumSkip }, async () => {
  const browser = await launchChromium();
  try {
    const page = await browser.newPage({ viewport: { width: 1320, height: 980 } });
    const errors: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    page.on('pageerror', (e) => errors.push(e.message));
    const ready = (key: string) => page.waitForFunction((k) => document.body.dataset['ready'] === k, key, { timeout: 20_000 });
    const rows = (): Promise<number[]> => page.$$eval('#latent-table tbody tr', (trs) => trs.map((t) => Number((t as HTMLElement).dataset['latent'])));

    // The class steering view links to the selected class's per-class set.
    await page.goto(explorer.url);
    await page.waitForFunction(() => document.body.dataset['ready'] !== undefined, undefined, { timeout: 20_000 });
    await page.selectOption('#class', '1');
    await page.waitForFunction(() => document.body.dataset['ready']?.endsWith('|1') === true, undefined, { timeout: 20_000 });
    assert.equal(await page.getAttribute('#class-latents', 'href'), '/latents?set=1');
    await page.click('#class-latents');
    await ready('list');
    const set1 = file.latents.filter((l) => l.sets.perClass.includes(1)).map((l) => l.index);
    assert.deepEqual(
      (await rows()).sort((a, b) => a - b),
      set1,
    );
    await page.click('#set-clear');
    assert.equal((await rows()).length, file.latents.length);

    // Sort by specificity, then by gate effect; search by number.
    await page.selectOption('#latent-sort', 'specificity');
    const bySpec = await rows();
    assert.equal(file.latents[bySpec[0]!]!.specificity, Math.max(...file.latents.map((l) => l.specificity)));
    await page.selectOption('#latent-sort', 'effect');
    const i = strongest();
    assert.equal((await rows())[0], i);
    await page.fill('#latent-search', `#${i}`);
    assert.deepEqual(await rows(), [i]);

    // Open it: the dashboard shows latents.json's numbers and images.
    await page.click(`#latent-table tr[data-latent="${i}"]`);
    await ready(`latent|${i}`);
    const l = file.latents[i]!;
    assert.equal(await page.textContent('#d-effect'), l.gate!.effect.toFixed(3));
    assert.equal(await page.textContent('#d-spec'), l.specificity.toFixed(3));
    assert.equal(await page.locator('#d-top figure').count(), l.top.length);
    assert.equal(await page.locator('#d-random figure').count(), l.random.length);
    const widths = await page.$$eval('#d-top img', (imgs) => imgs.map((m) => (m as HTMLImageElement).naturalWidth));
    assert.ok(
      widths.every((w) => w === file.sprite.tileWidth),
      JSON.stringify(widths),
    );
    const logits = await page.$$eval('#d-heads tbody tr td:nth-child(2)', (tds) =>
      tds.map((t) => Number((t.textContent ?? '').replace('−', '-').replace('±', ''))),
    );
    assert.deepEqual(
      logits,
      l.gate!.logit.map((v) => Number(v.toFixed(4))),
    );

    // Steer it alone: the page shows the fast path's per-head keep rates.
    await page.fill('#steer-alpha', '1.5');
    await page.click('#steer-go');
    await ready(`steer|${i}|1.5`);
    const live = await api<LatentSteerView>(`/api/latent-steer?i=${i}&alpha=1.5`);
    const shown = JSON.parse((await page.getAttribute('#steer-table tr[data-scope="firing"]', 'data-heads')) ?? '[]') as number[];
    assert.deepEqual(
      shown,
      live.firing.steered.heads.map((x) => Number(x.toFixed(6))),
    );
    assert.equal(await page.locator('#steer-samples figure').count(), Math.min(8, l.top.length));
    mkdirSync(join(REPO, 'test-output'), { recursive: true });
    await page.screenshot({ path: join(REPO, 'test-output', 'latents.png'), fullPage: true });
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
  }
});
