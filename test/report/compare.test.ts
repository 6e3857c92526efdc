/**
 * `compare` on copies of the finished smoke run (test/fixtures/run-smoke), the second with a known
 * steering effect written into its results: deltas against alpha 0, common alphas, the paper-sign
 * count, the written page and figure, and one-line errors for bad run lists (library and CLI).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UserError } from '../../src/errors.js';
import { loadComparison, writeComparison } from '../../src/report/compare.js';

const here = dirname(fileURLToPath(import.meta.url)); // dist/test/report
const FIXTURE = join(here, '../../../test/fixtures/run-smoke');
const CLI = join(here, '../../src/cli/main.js');

interface Sweep { strategy: string; alpha: number; accuracy: number; headUsage: number }

/** Two copies of the fixture run; in the second, per-class usage at alpha a is moved by -0.1 a and alpha 1.5 is dropped. */
function twoRuns(): { dir: string; a: string; b: string } {
  const dir = mkdtempSync(join(tmpdir(), 'headsteer-compare-'));
  const [a, b] = [join(dir, 'a'), join(dir, 'b')];
  cpSync(FIXTURE, a, { recursive: true });
  cpSync(FIXTURE, b, { recursive: true });
  const file = join(b, 'steer/results.json');
  const r = JSON.parse(readFileSync(file, 'utf8')) as { sweeps: Sweep[] };
  r.sweeps = r.sweeps.filter((s) => s.alpha !== 1.5);
  for (const s of r.sweeps) if (s.strategy === 'per-class') s.headUsage -= 0.1 * s.alpha;
  writeFileSync(file, JSON.stringify(r));
  return { dir, a, b };
}

const sweepOf = (run: string, strategy: string, alpha: number): Sweep =>
  (JSON.parse(readFileSync(join(run, 'steer/results.json'), 'utf8')) as { sweeps: Sweep[] }).sweeps
    .find((s) => s.strategy === strategy && s.alpha === alpha)!;

test('compare: deltas against each run’s alpha 0 over the common alphas, and the paper-sign count', () => {
  const { dir, a, b } = twoRuns();
  try {
    const c = loadComparison([a, b]);
    assert.deepEqual(c.alphas, [-1, -0.5, 0, 0.5, 1, 1.2]);
    assert.deepEqual(c.headlineAlphas, [-1, 1.2]);
    assert.equal(c.runs.length, 2);
    assert.equal(c.runs[0]!.seed, 0);
    for (const strategy of ['per-class', 'global']) {
      const p = c.curves.find((x) => x.strategy === strategy && x.alpha === 1.2)!;
      const base = sweepOf(a, strategy, 1.2).headUsage - sweepOf(a, strategy, 0).headUsage;
      assert.ok(Math.abs(p.deltaHeadUsage[0]! - base) < 1e-12, `${strategy} run a`);
      const shift = strategy === 'per-class' ? -0.12 : 0;
      assert.ok(Math.abs(p.deltaHeadUsage[1]! - (base + shift)) < 1e-12, `${strategy} run b`);
      assert.deepEqual(p.deltaAccuracy[0], p.deltaAccuracy[1]);
    }
    for (const s of c.paperSign) {
      const d = c.curves.find((x) => x.strategy === 'per-class' && x.alpha === s.alpha)!.deltaHeadUsage;
      assert.equal(s.agree, d.filter((v) => (s.alpha > 0 ? v < 0 : v > 0)).length);
      assert.equal(s.of, 2);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('compare writes the page, comparison.json and the figure as SVG and PNG', async () => {
  const { dir, a, b } = twoRuns();
  try {
    const out = join(dir, 'cmp');
    const { index, json } = await writeComparison([a, b], out);
    const html = readFileSync(index, 'utf8');
    assert.match(html, /Steering effect across runs/);
    assert.match(html, /data:image\/svg\+xml;base64,/);
    assert.equal(JSON.parse(readFileSync(json, 'utf8')).runs.length, 2);
    for (const ext of ['svg', 'png']) assert.ok(existsSync(join(out, 'figures', `steering_over_runs.${ext}`)), ext);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('compare: bad run lists are one clear error (library and CLI), nothing written', () => {
  const { dir, a, b } = twoRuns();
  try {
    assert.throws(() => loadComparison([a]), (e: unknown) => e instanceof UserError && /at least two run folders, got 1/.test(e.message));
    assert.throws(() => loadComparison([a, `${a}/`]), (e: unknown) => e instanceof UserError && /given twice/.test(e.message));
    rmSync(join(b, 'steer'), { recursive: true });
    assert.throws(() => loadComparison([a, b]), (e: unknown) => e instanceof UserError && e.message.includes(b) && /headsteer steer/.test(e.message));
    const out = join(dir, 'cmp');
    const r = spawnSync(process.execPath, [CLI, 'compare', a, join(dir, 'nope'), '--out', out], { encoding: 'utf8' });
    assert.equal(r.status, 2);
    const lines = r.stderr.trim().split('\n').filter((l) => l.startsWith('headsteer:'));
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0]!, /nope/);
    assert.equal(existsSync(out), false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
