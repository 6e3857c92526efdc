/**
 * The report's latent section (src/report/latents.ts) on hand-made dashboards: the scatter has one point
 * per latent that fires, labels the ten largest gate effects and renders; the table lists those ten, largest
 * first, with their top images cut from the sprite; a run without dashboards gets a notice naming the verb.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validateLatents, type LatentDashboard, type LatentsFile } from '../../src/latents/file.js';
import { spriteSheet } from '../../src/latents/sprite.js';
import { latentBlocks, latentScatterFigure, latentTable, TABLE_LATENTS } from '../../src/report/latents.js';
import { renderFigure } from '../../src/report/render.js';

const F = 14;
const H = 2;

/** Latent i fires on images i and i + 1 with gate effect i / 10, except latent 0, which never fires. */
function latent(i: number): LatentDashboard {
  const fires = i === 0 ? 0 : 2;
  return {
    index: i,
    density: fires / 20,
    fires,
    meanActive: fires === 0 ? 0 : 1,
    maxActive: fires === 0 ? 0 : 1.5,
    classRates: [fires / 10, 0],
    topClass: fires === 0 ? null : 0,
    specificity: fires === 0 ? 0 : 1,
    top: fires === 0 ? [] : [i, i + 1],
    topValues: fires === 0 ? [] : [1.5, 0.5],
    random: fires === 0 ? [] : [i + 1],
    randomValues: fires === 0 ? [] : [0.5],
    gate: fires === 0 ? null : { logit: [i / 10, 0], keep: [0.5, 0], linear: [0.1, 0], effect: i / 10, usage: 0.25 },
    sets: { perClass: i % 3 === 0 ? [0] : [], global: i === 2, random: false },
  };
}

function fixture(): { file: LatentsFile; sprite: Buffer } {
  const images = Uint8Array.from({ length: 20 * 4 * 4 }, (_, j) => j % 251); // 20 images (1, 4, 4)
  const shown = [...Array(F + 1).keys()].slice(1);
  const sheet = spriteSheet({ images, channels: 1, height: 4, width: 4 }, shown, 'thumbs.png');
  const file = validateLatents(
    {
      formatVersion: 1,
      alpha: 1,
      options: { mode: 'pre', keepError: false },
      classNames: ['a', 'b'],
      heads: H,
      testCount: 20,
      sprite: sheet.layout,
      latents: Array.from({ length: F }, (_, i) => latent(i)),
    },
    'latents.json',
  );
  return { file, sprite: sheet.png };
}

test('the scatter plots every latent that fires and labels the largest gate effects; it renders', async () => {
  const { file } = fixture();
  const f = latentScatterFigure(file);
  const values = (f.spec as { data: { values: Array<{ index: number; label: string }> } }).data.values;
  assert.equal(values.length, F - 1);
  assert.deepEqual(
    values.filter((v) => v.label !== '').map((v) => v.index),
    [13, 12, 11, 10, 9, 8, 7, 6, 5, 4],
  );
  const { svg } = await renderFigure(f.spec);
  assert.match(svg, /Gate effect/);
});

test('the table lists the ten largest gate effects, largest first, with their top images', () => {
  const { file, sprite } = fixture();
  const html = latentTable(file, sprite);
  const rows = [...html.matchAll(/<tr><th>#(\d+)<\/th>/g)].map((m) => Number(m[1]));
  assert.equal(rows.length, TABLE_LATENTS);
  assert.deepEqual(rows, [13, 12, 11, 10, 9, 8, 7, 6, 5, 4]);
  assert.equal((html.match(/<img class="thumb" src="data:image\/png;base64,/g) ?? []).length, 2 * TABLE_LATENTS);
});

test('a run without dashboards gets a notice naming `headsteer latents`', () => {
  const run = mkdtempSync(join(tmpdir(), 'headsteer-report-latents-'));
  try {
    const blocks = latentBlocks(run);
    assert.equal(blocks.length, 1);
    assert.match('html' in blocks[0]! ? blocks[0].html : '', /headsteer latents/);
  } finally {
    rmSync(run, { recursive: true, force: true });
  }
});
