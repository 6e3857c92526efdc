/**
 * The report's controls: margins over the threshold frontier and the per-class oracle, the plain
 * statement (it must follow the numbers: above, on, below, out of reach), the frontier figures' layers
 * and series, the top-gain table's intervals and null, the absent-controls path, and the zoom clipping
 * that keeps resvg from aborting. Synthetic results (synthetic.ts) give margins known in closed form;
 * tolerances 1e-12 for exact arithmetic on those.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { clipPolyline, clipSegment } from '../../src/report/clip.js';
import { classShares, CONTROLS_MISSING, frontierStatement, frontierSummary } from '../../src/report/controls.js';
import { classFrontierFigure, frontierFigure } from '../../src/report/figures_frontier.js';
import { renderFigure } from '../../src/report/render.js';
import { buildReport } from '../../src/report/report.js';
import { topGainTable } from '../../src/report/tables.js';
import { type SteerResults, validateResults } from '../../src/steer/results.js';
import { tinyResults, withControls } from './synthetic.js';

const here = dirname(fileURLToPath(import.meta.url)); // dist/test/report
const FIXTURE = join(here, '../../../test/fixtures/run-smoke');
const close = (a: number | undefined, b: number, what: string): void => assert.ok(a !== undefined && Math.abs(a - b) < 1e-12, `${what}: ${a} vs ${b}`);

/** The summary of tinyResults(shift) with equal class shares. */
function summaryOf(shift: number): { r: SteerResults; sum: ReturnType<typeof frontierSummary> } {
  const r = tinyResults(shift);
  return { r, sum: frontierSummary(r, r.controls!, classShares(r.controls!)) };
}

/** A panel of a frontier figure: its data rows and layers. */
interface Panel {
  data: { values: Array<Record<string, unknown>> };
  layer: Array<{ mark: { type: string } }>;
}

test('margins: per-class sits `shift` above the threshold frontier, global 0.05 below, global at alpha -1 is out of reach', () => {
  const { sum } = summaryOf(0.02);
  close(sum.reach, 0.2, 'reach');
  const pc = sum.threshold.find((m) => m.strategy === 'per-class')!;
  close(pc.best?.margin, 0.02, 'per-class margin');
  assert.equal(pc.best?.alpha, 1);
  close(pc.best?.usage, 0.5, 'per-class usage');
  assert.deepEqual([pc.points, pc.above, pc.unreachable.length], [1, 1, 0], 'alpha 0 is the origin, not scored');
  const gl = sum.threshold.find((m) => m.strategy === 'global')!;
  close(gl.best?.margin, -0.05, 'global margin');
  assert.deepEqual([gl.points, gl.above], [2, 0]);
  assert.deepEqual(
    gl.unreachable.map((p) => p.alpha),
    [-1],
  );
  // Both classes share every row, so the oracle is the threshold frontier itself: the same margin.
  assert.deepEqual(
    sum.oracle.map((m) => m.strategy),
    ['per-class'],
  );
  close(sum.oracle[0]!.best?.margin, 0.02, 'oracle margin');
});

test('statement follows the numbers: above (with the seed-band caveat), on, below, out of reach', () => {
  const above = frontierStatement(summaryOf(0.02).sum);
  assert.match(above, /^per-class at α = 1 \(usage 0\.500\) lies 2\.00 points above the threshold frontier/);
  assert.match(above, /1 of 2 points within reach lie above it/);
  assert.match(above, /one run has no seed band.*`headsteer compare`/);
  assert.doesNotMatch(above, /beats the threshold frontier/, 'one run never claims that steering beats the threshold');
  assert.match(above, /per-class: largest margin \+2\.00 points at α = 1/);
  assert.match(
    above,
    /1 steering point uses fewer heads than any threshold shift reaches \(lowest usage 0\.200\): global at α = −1, usage 0\.100; the threshold cannot get there/,
  );

  const below = frontierStatement(summaryOf(-0.03).sum);
  assert.match(below, /^No steering point lies above the threshold frontier: the closest, per-class at α = 1 \(usage 0\.500\), lies 3\.00 points below it\./);
  assert.doesNotMatch(below, /points above the threshold frontier/);
  assert.doesNotMatch(below, /seed band/);

  assert.match(
    frontierStatement(summaryOf(0).sum),
    /^No steering point lies above the threshold frontier: the closest, per-class at α = 1 \(usage 0\.500\), lies on it\./,
  );
});

test('class shares: proportional to the test class sizes the controls record', () => {
  const c = { ...tinyResults(0).controls!, classSizes: [30, 10] };
  assert.deepEqual(
    [...classShares(c).shares],
    [
      [0, 0.75],
      [1, 0.25],
    ],
  );
});

test('frontier figure: both panels draw the strategies, the beta sweep, its frontier, the oracle, the random policy and the origin', async () => {
  const { r, sum } = summaryOf(0.02);
  const shares = classShares(r.controls!);
  const f = frontierFigure(r, r.controls!, sum, shares);
  assert.equal(f.name, 'frontier');
  const panels = (f.spec as unknown as { hconcat: Panel[] }).hconcat;
  assert.equal(panels.length, 2);
  for (const p of panels) {
    assert.deepEqual(
      p.layer.map((l) => l.mark.type),
      ['rect', 'text', 'line', 'point', 'point', 'point'],
    );
    const lines = new Set(p.data.values.filter((v) => v['layer'] === 'line').map((v) => v['series']));
    for (const s of ['per-class', 'global', 'threshold shift (β sweep)', 'threshold frontier (concave)', 'per-class-threshold oracle'])
      assert.ok(lines.has(s), `line ${s}`);
    assert.ok(
      p.data.values.some((v) => v['layer'] === 'origin' && v['usage'] === 0.6 && v['accuracy'] === 80),
      'origin at alpha = beta = 0',
    );
  }
  // The whole view holds every random-policy point; the zoom only those inside its window.
  const [all, zoom] = panels as [Panel, Panel];
  assert.equal(all.data.values.filter((v) => v['marker'] === 'random policy at matched usage').length, 5);
  const enc = (zoom.layer[2] as unknown as { encoding: { x: { scale: { domain: [number, number] } }; y: { scale: { domain: [number, number] } } } }).encoding;
  const [x0, x1] = enc.x.scale.domain;
  const [y0, y1] = enc.y.scale.domain;
  // The zoom shades usages below the threshold's reach (0.2), where global at alpha -1 sits.
  assert.deepEqual(
    zoom.data.values.filter((v) => v['layer'] === 'reach').map((v) => v['x1']),
    [0.2],
  );
  assert.ok(!all.data.values.some((v) => v['layer'] === 'reach'));
  for (const v of zoom.data.values.filter((v) => v['layer'] !== 'reach')) {
    const u = v['usage'] as number;
    const a = v['accuracy'] as number;
    assert.ok(u >= x0 - 1e-12 && u <= x1 + 1e-12 && a >= y0 - 1e-12 && a <= y1 + 1e-12, `zoom row inside its window: ${JSON.stringify(v)}`);
  }
  assert.match(f.caption, /per-class \+2\.00 pt at α = 1/);
  assert.match(f.caption, /1 steering point uses fewer heads than the lowest threshold usage \(0\.200\)/);
  assert.match(f.caption, /random policy at matched usage \(crosses\) at 3 of 3 points/);
  // Rendering runs vega and resvg end to end (resvg aborts the process on some clipped SVGs).
  const { png } = await renderFigure(f.spec);
  assert.ok(png.length > 10_000);
});

test('frontier figure with FLOPs: a top axis labels usage as skipping MFLOPs; only one usage axis per panel', async () => {
  const { r, sum } = summaryOf(0.02);
  const f = frontierFigure(r, r.controls!, sum, classShares(r.controls!), (u) => 20e6 + 3e6 * u);
  for (const p of (f.spec as unknown as { hconcat: Panel[] }).hconcat) {
    const axes = p.layer.map((l) => (l as unknown as { encoding: { x?: { axis?: { orient?: string; labelExpr?: string } | null } } }).encoding.x?.axis);
    assert.equal(axes.filter((a) => a !== null && a !== undefined && a.orient === 'top').length, 1, 'one FLOPs axis');
    assert.equal(axes.filter((a) => a !== null && (a === undefined || a.orient !== 'top')).length, 1, 'one usage axis');
    assert.match(axes.find((a) => a?.orient === 'top')!.labelExpr!, /^format\(20 \+ 3 \* datum\.value/);
  }
  const { png } = await renderFigure(f.spec);
  assert.ok(png.length > 10_000);
});

test('top-class figure: one panel per top-gain class with its per-class steering points and threshold curve', () => {
  const r = tinyResults(0.02);
  const f = classFrontierFigure(r, r.controls!)!;
  const panels = (f.spec as unknown as { concat: Panel[] }).concat;
  assert.equal(panels.length, r.topGainClasses.length);
  for (const p of panels) {
    assert.ok(p.data.values.some((v) => v['layer'] === 'steer' && v['series'] === 'per-class'));
    assert.ok(p.data.values.some((v) => v['layer'] === 'line' && v['series'] === 'threshold shift (β sweep)'));
  }
  assert.match(f.caption, /left α = 1: \+2\.00 pt; best \+2\.00 pt at α = 1/);
  assert.equal(classFrontierFigure({ ...r, topGainClasses: [] }, r.controls!), undefined);
});

test('top-gain table: bootstrap intervals and the null per rank; without controls it says how to get them', () => {
  const html = topGainTable(tinyResults(0.02));
  assert.ok(html.includes('−3.00 pt [−6.00, +0.00]'), 'delta accuracy with its interval, pt');
  assert.ok(html.includes('−0.100 [−0.120, −0.080]'), 'delta usage with its interval');
  assert.ok(html.includes('+4.00 pt</td><td>yes') && html.includes('+1.00 pt</td><td>no'), 'null bar and verdict per rank');
  assert.match(html, /Ranks beating their null: 1 of 2/);

  const old: Record<string, unknown> = { ...tinyResults(0.02) };
  delete old['controls'];
  const bare = topGainTable(validateResults(old, 'old results'));
  assert.ok(bare.includes('controls not computed; rerun <code>headsteer steer --force</code>'));
  assert.ok(!bare.includes('95% CI'));
  assert.equal(CONTROLS_MISSING, 'controls not computed; rerun `headsteer steer --force`');
});

test('clipping: a segment is cut at the window edges; a line leaving and re-entering gives two pieces', () => {
  const box = { x: [0, 1], y: [0, 1] } as const;
  assert.deepEqual(clipSegment({ x: -1, y: 0.5 }, { x: 2, y: 0.5 }, box), [
    { x: 0, y: 0.5 },
    { x: 1, y: 0.5 },
  ]);
  assert.equal(clipSegment({ x: 2, y: 2 }, { x: 3, y: 3 }, box), undefined);
  const pieces = clipPolyline(
    [
      { x: 0.5, y: 0.5 },
      { x: 0.5, y: 2 },
      { x: 0.7, y: 0.5 },
      { x: 0.9, y: 0.5 },
    ],
    box,
  );
  assert.equal(pieces.length, 2);
  assert.deepEqual(pieces[0], [
    { x: 0.5, y: 0.5 },
    { x: 0.5, y: 1 },
  ]);
  assert.equal(pieces[1]!.length, 3, 'the second piece runs on through the inside points');
  assert.deepEqual(clipPolyline([{ x: 5, y: 5 }], box), []);
});

test('report page: with controls, the statement, both frontier figures and the margins table; the fixture without them says so', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'headsteer-controls-'));
  try {
    const run = join(dir, 'run');
    cpSync(FIXTURE, run, { recursive: true });
    const before = readFileSync((await buildReport(run)).index, 'utf8');
    assert.ok(before.includes('controls not computed; rerun <code>headsteer steer --force</code>'));
    assert.ok(!before.includes('<figure id="frontier">'));

    const file = join(run, 'steer', 'results.json');
    writeFileSync(file, JSON.stringify(withControls(validateResults(JSON.parse(readFileSync(file, 'utf8')), file))));
    const out = await buildReport(run);
    const html = readFileSync(out.index, 'utf8');
    for (const name of ['frontier', 'frontier-top-classes']) {
      assert.ok(html.includes(`<figure id="${name}">`), name);
      assert.ok(out.figures.includes(join(run, 'report', 'figures', `${name}.png`)), `${name}.png`);
    }
    assert.match(html, /<p class="statement">[^<]*threshold frontier/);
    assert.ok(html.includes('Steering points against the threshold frontier and the per-class-threshold oracle'));
    assert.ok(html.includes('Δ accuracy [95% CI]'));
    assert.ok(!html.includes('controls not computed'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
