/**
 * The report stage end to end on a small finished run (test/fixtures/run-smoke: the JSON/JSONL outputs of
 * a `smoke` preset run, 4 classes, 4 heads), copied into a temp dir: the page, its figures as SVG and PNG,
 * self-containment (no http(s) references except SVG xmlns), and how missing or broken stages read.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UserError } from '../../src/errors.js';
import { maxOffDiagonal, topGainAlpha } from '../../src/report/figures_steer.js';
import { strategyColorScale } from '../../src/report/render.js';
import { buildReport } from '../../src/report/report.js';
import { formatDuration } from '../../src/report/tables.js';
import { loadFontWidths, textWidthEm } from '../../src/report/text_metrics.js';
import type { SteerResults } from '../../src/steer/results.js';
import { STRATEGIES } from '../../src/steer/strategies.js';
import { layersSample } from './synthetic.js';

const here = dirname(fileURLToPath(import.meta.url)); // dist/test/report
const FIXTURE = join(here, '../../../test/fixtures/run-smoke');
const FIGURES = [
  'fig2-steering-positive',
  'fig4-steering-negative',
  'fig3-head-activation',
  'fig5-latent-overlap',
  'latent-specificity-effect',
  'training-curves',
  'per-layer-usage',
];
const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** A fresh copy of the fixture run in a temp dir; removed by the caller. */
function fixtureRun(): string {
  const dir = mkdtempSync(join(tmpdir(), 'headsteer-report-'));
  const run = join(dir, 'run');
  cpSync(FIXTURE, run, { recursive: true });
  return run;
}

/** Network references in `text`, ignoring SVG namespace declarations (xmlns="http://www.w3.org/..."). */
function urls(text: string): string[] {
  return text.replace(/xmlns(:\w+)?="[^"]*"/g, '').match(/https?:\/\/[^\s"'<>)]*/g) ?? [];
}

/** The decoded SVG text of every data:image/svg+xml;base64 URI in the page. */
function embeddedSvgs(html: string): string[] {
  return [...html.matchAll(/data:image\/svg\+xml;base64,([A-Za-z0-9+/=]+)/g)].map((m) => Buffer.from(m[1]!, 'base64').toString('utf8'));
}

test('the fixture run is present', () => {
  assert.ok(existsSync(join(FIXTURE, 'steer/results.json')), `missing ${FIXTURE}`);
});

test('a full run: index.html with every figure, SVG and PNG files, self-contained', async () => {
  const run = fixtureRun();
  try {
    const out = await buildReport(run);
    assert.equal(out.index, join(run, 'report', 'index.html'));
    assert.ok(existsSync(out.index));
    const html = readFileSync(out.index, 'utf8');

    assert.equal(out.figures.length, 2 * FIGURES.length);
    for (const name of FIGURES) {
      const svgPath = join(run, 'report', 'figures', `${name}.svg`);
      const pngPath = join(run, 'report', 'figures', `${name}.png`);
      assert.ok(out.figures.includes(svgPath) && out.figures.includes(pngPath), `${name} listed`);
      assert.ok(html.includes(`<figure id="${name}">`), `${name} on the page`);
      assert.ok(html.includes(`href="figures/${name}.png"`), `${name} PNG linked`);

      const svg = readFileSync(svgPath, 'utf8');
      assert.ok(svg.startsWith('<svg'), `${name}.svg is an SVG`);
      assert.ok((svg.match(/<text/g) ?? []).length >= 5, `${name}.svg has text (axis labels, titles)`);
      assert.ok(svg.includes('DejaVu Sans'), `${name}.svg names the font resvg has`);

      const png = readFileSync(pngPath);
      assert.deepEqual(png.subarray(0, 8), PNG_SIGNATURE, `${name}.png signature`);
      assert.ok(statSync(pngPath).size > 10_000, `${name}.png has content (${statSync(pngPath).size} bytes)`);
      // 2x scale: the PNG's width (IHDR, bytes 16..20) is twice the SVG's.
      const svgWidth = Number(/width="(\d+(\.\d+)?)"/.exec(svg)?.[1]);
      assert.equal(png.readUInt32BE(16), Math.round(2 * svgWidth), `${name}.png at 2x`);
    }

    // Inline figures, inline CSS, no scripts, no network references (page and embedded SVGs).
    assert.equal(embeddedSvgs(html).length, FIGURES.length);
    assert.ok(html.includes('<style>'));
    assert.ok(!/<script|<link /i.test(html), 'no scripts or external stylesheets');
    assert.deepEqual(urls(html), []);
    for (const svg of embeddedSvgs(html)) assert.deepEqual(urls(svg), []);

    // Tables and the paper comparison carry the run's numbers and the paper's.
    assert.ok(html.includes('91.27%') && html.includes('89.79%') && html.includes('0.1641') && html.includes('0.0228'));
    assert.ok(html.includes('horizontal bar'), 'class names appear');
    assert.ok(html.includes('bowl 76% → 82%'));
    assert.ok(html.includes('<details>'), 'collapsible config');
    assert.ok(!html.includes('not run yet'), 'every stage has run');
  } finally {
    rmSync(dirname(run), { recursive: true, force: true });
  }
});

test('missing steering results: the page says so and shows the rest', async () => {
  const run = fixtureRun();
  try {
    rmSync(join(run, 'steer'), { recursive: true });
    const out = await buildReport(run);
    const html = readFileSync(out.index, 'utf8');
    assert.ok(html.includes('steering not run yet: run <code>headsteer steer</code>'));
    assert.ok(!html.includes('<figure id="fig2-steering-positive">'));
    assert.ok(!html.includes('<figure id="fig3-head-activation">'));
    // Figure 5 only needs the statistics stage, the latent figure its dashboards; the training figures only the logs.
    for (const name of ['fig5-latent-overlap', 'latent-specificity-effect', 'training-curves', 'per-layer-usage'])
      assert.ok(html.includes(`<figure id="${name}">`), name);
    assert.equal(out.figures.length, 8);
  } finally {
    rmSync(dirname(run), { recursive: true, force: true });
  }
});

test('only a dense model: later stages are named with the verb to run', async () => {
  const run = fixtureRun();
  try {
    for (const d of ['pruned', 'features', 'sae', 'stats', 'steer']) rmSync(join(run, d), { recursive: true });
    const html = readFileSync((await buildReport(run)).index, 'utf8');
    for (const verb of ['prune', 'extract', 'sae', 'stats', 'steer']) assert.ok(html.includes(`<code>headsteer ${verb}</code>`), verb);
    assert.ok(html.includes('<figure id="training-curves">'));
  } finally {
    rmSync(dirname(run), { recursive: true, force: true });
  }
});

test('a broken stage file is reported on the page, not thrown', async () => {
  const run = fixtureRun();
  try {
    writeFileSync(join(run, 'stats', 'stats.json'), '{"ks": 5');
    const html = readFileSync((await buildReport(run)).index, 'utf8');
    assert.match(html, /stats\.json is not valid JSON/);
    assert.ok(html.includes('<figure id="fig5-latent-overlap">'), 'Figure 5 falls back to the overlaps in steer/results.json');
  } finally {
    rmSync(dirname(run), { recursive: true, force: true });
  }
});

test('steer/layers.json: the every-layer section and figure with its numbers; absent, no section; broken, a note', async () => {
  const run = fixtureRun();
  try {
    const plain = readFileSync((await buildReport(run)).index, 'utf8');
    assert.ok(!plain.includes('id="layers"'), 'a final-only run has no every-layer section');
    writeFileSync(join(run, 'steer', 'layers.json'), JSON.stringify(layersSample()));
    const out = await buildReport(run);
    const html = readFileSync(out.index, 'utf8');
    assert.ok(html.includes('<section id="layers">') && html.includes('href="#layers"'));
    assert.ok(html.includes('<figure id="layers-steering">'));
    assert.ok(out.figures.includes(join(run, 'report', 'figures', 'layers-steering.svg')));
    // layersSample: per-class moves layer usage by 0.1 and accuracy by 1 pt per unit of alpha.
    assert.ok(html.includes('layer 1: α −1: −0.100 / −0.050 / −1.00 pt, α 1.5: +0.150 / +0.075 / +1.50 pt, threshold −0.10..+0.10'), 'caption numbers');
    const svg = readFileSync(join(run, 'report', 'figures', 'layers-steering.svg'), 'utf8');
    for (const text of ['layer 1', 'layer 2', 'per-class', 'Δ accuracy (points)']) assert.ok(svg.includes(text), text);
    writeFileSync(join(run, 'steer', 'layers.json'), '{"depth": 3}');
    assert.match(readFileSync((await buildReport(run)).index, 'utf8'), /layers\.json: gatedLayers/);
  } finally {
    rmSync(dirname(run), { recursive: true, force: true });
  }
});

test('a missing run folder is a UserError naming it', async () => {
  const missing = join(tmpdir(), 'headsteer-report-no-such-run');
  await assert.rejects(buildReport(missing), (err: unknown) => err instanceof UserError && err.message.includes(missing));
});

test('helpers: most related class pair, durations, glyph widths', () => {
  assert.deepEqual(
    maxOffDiagonal([
      [1, 0.2, 0.5],
      [0.2, 1, 0.1],
      [0.5, 0.1, 1],
    ]),
    { a: 0, b: 2, value: 0.5 },
  );
  assert.equal(maxOffDiagonal([[1]]), undefined);
  assert.equal(formatDuration(12.34), '12.3 s');
  assert.equal(formatDuration(635.4), '10 min 35 s');
  assert.equal(formatDuration(3 * 3600 + 125), '3 h 02 min');
  const font = loadFontWidths('/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf');
  // DejaVu Sans: 'M' 0.863 em, 'i' 0.278 em (hmtx at 2048 units per em), tolerance 1e-3.
  assert.ok(Math.abs(textWidthEm(font, 'M') - 0.863) < 1e-3);
  assert.ok(Math.abs(textWidthEm(font, 'i') - 0.278) < 1e-3);
  assert.ok(textWidthEm(font, 'α→') > 1, 'non-ASCII glyphs measured');
});

test('strategy legend: every strategy once, in legend order with its colour; top-gain alpha falls back to 1.2', () => {
  const scale = strategyColorScale();
  assert.deepEqual(scale, {
    domain: ['per-class', 'predicted-class', 'global', 'random'],
    range: ['#1f77b4', '#2ca02c', '#ff7f0e', '#7f7f7f'],
  });
  assert.deepEqual([...scale.domain].sort(), [...STRATEGIES].sort());
  assert.notEqual(strategyColorScale().domain, scale.domain, 'each spec gets its own arrays');
  // Results written before topGainAlpha was recorded used the paper's alpha.
  assert.equal(topGainAlpha(undefined), 1.2);
  assert.equal(topGainAlpha({ topGainAlpha: 1 } as unknown as SteerResults), 1);
});
