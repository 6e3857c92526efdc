/**
 * `compare` on copies of the finished smoke run (test/fixtures/run-smoke), the second with a known
 * steering effect written into its results: deltas against alpha 0, common alphas, the paper-sign
 * count, the controls over runs (margins per run, the seed-band statement, the null per rank, runs
 * without controls), the written page and figure, and one-line errors for bad run lists (library and CLI).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UserError } from '../../src/errors.js';
import { type ControlsOverRuns, controlsStatement, loadComparison, writeComparison } from '../../src/report/compare.js';
import { classShares, frontierSummary } from '../../src/report/controls.js';
import { validateResults } from '../../src/steer/results.js';
import { withControls } from './synthetic.js';

const here = dirname(fileURLToPath(import.meta.url)); // dist/test/report
const FIXTURE = join(here, '../../../test/fixtures/run-smoke');
const CLI = join(here, '../../src/cli/main.js');

interface Sweep {
  strategy: string;
  alpha: number;
  accuracy: number;
  headUsage: number;
}

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
  (JSON.parse(readFileSync(join(run, 'steer/results.json'), 'utf8')) as { sweeps: Sweep[] }).sweeps.find((s) => s.strategy === strategy && s.alpha === alpha)!;

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
    assert.throws(
      () => loadComparison([a]),
      (e: unknown) => e instanceof UserError && /at least two run folders, got 1/.test(e.message),
    );
    assert.throws(
      () => loadComparison([a, `${a}/`]),
      (e: unknown) => e instanceof UserError && /given twice/.test(e.message),
    );
    rmSync(join(b, 'steer'), { recursive: true });
    assert.throws(
      () => loadComparison([a, b]),
      (e: unknown) => e instanceof UserError && e.message.includes(b) && /headsteer steer/.test(e.message),
    );
    const out = join(dir, 'cmp');
    const r = spawnSync(process.execPath, [CLI, 'compare', a, join(dir, 'nope'), '--out', out], { encoding: 'utf8' });
    assert.equal(r.status, 2);
    const lines = r.stderr
      .trim()
      .split('\n')
      .filter((l) => l.startsWith('headsteer:'));
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0]!, /nope/);
    assert.equal(existsSync(out), false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** Adds the synthetic controls block (synthetic.ts) to a run's results. */
function addControls(run: string): void {
  const file = join(run, 'steer/results.json');
  writeFileSync(file, JSON.stringify(withControls(validateResults(JSON.parse(readFileSync(file, 'utf8')), file))));
}

test('compare: each run’s largest margin is the one its own report shows; the null verdicts are counted per rank', () => {
  const { dir, a, b } = twoRuns();
  try {
    addControls(a);
    addControls(b);
    const c = loadComparison([a, b]).controls;
    assert.deepEqual(c.missing, []);
    assert.deepEqual(c.runs, [a, b]);
    for (const [i, run] of [a, b].entries()) {
      const r = validateResults(JSON.parse(readFileSync(join(run, 'steer/results.json'), 'utf8')), run);
      const sum = frontierSummary(r, r.controls!, classShares(r.controls!));
      for (const bar of ['threshold', 'oracle'] as const) {
        for (const m of sum[bar]) {
          const over = c.margins.find((x) => x.strategy === m.strategy && x.bar === bar)!;
          assert.equal(over.perRun[i]?.margin, m.best?.margin, `${run} ${m.strategy} ${bar}`);
        }
      }
    }
    assert.deepEqual(
      c.margins.filter((m) => m.bar === 'oracle').map((m) => m.strategy),
      ['per-class', 'predicted-class'],
    );
    // The synthetic null: rank 1 beats in both runs (gain 3.1 pt > 2.5 pt), the other ranks in neither.
    assert.deepEqual(
      c.nullBeats.map((r) => [r.rank, r.beats, r.of]),
      [
        [1, 2, 2],
        [2, 0, 2],
        [3, 0, 2],
        [4, 0, 2],
      ],
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** Controls over three runs with per-class's largest margins `pc` and global's `gl` (accuracy differences). */
function overRuns(pc: number[], gl: Array<number | null>): ControlsOverRuns {
  return {
    missing: [],
    runs: ['r1', 'r2', 'r3'],
    margins: [
      { strategy: 'per-class', bar: 'threshold', perRun: pc.map((margin) => ({ margin, alpha: 1.2 })) },
      { strategy: 'global', bar: 'threshold', perRun: gl.map((m) => (m === null ? null : { margin: m, alpha: 1 })) },
    ],
    nullBeats: [{ rank: 1, beats: 2, of: 3 }],
  };
}

test('compare statement: "beats by more than the seed band" only when every run’s largest margin is above 0', () => {
  const yes = controlsStatement(overRuns([0.01, 0.02, 0.03], [0.05, null, 0.06]));
  assert.match(yes, /per-class \(largest margin mean \+2\.00 points, \+1\.00 to \+3\.00 over 3 runs\) beats the threshold frontier by more than the seed band/);
  assert.doesNotMatch(yes, /global \(/, 'a run out of reach has no margin, so global has no band');
  assert.match(yes, /rank 1, 2 of 3 runs/);

  const no = controlsStatement(overRuns([-0.01, 0.02, 0.03], [0.05, -0.02, 0.06]));
  assert.match(no, /^No steering strategy beats the threshold frontier by more than the seed band/);
  assert.match(no, /the best, global, has a largest margin of mean \+3\.00 points, −2\.00 to \+6\.00 over 3 runs/);
  assert.doesNotMatch(no, /\) beats/);
});

test('compare statement: the random-set control sets the chance level a steering strategy must clear', () => {
  const withControl = (rd: number[]): ControlsOverRuns => {
    const c = overRuns([0.01, 0.02, 0.03], [0.05, null, 0.06]);
    return { ...c, margins: [...c.margins, { strategy: 'random', bar: 'threshold', perRun: rd.map((margin) => ({ margin, alpha: 1 })) }] };
  };
  const chance = controlsStatement(withControl([0.005, 0.01, 0.02]));
  assert.match(chance, /random-set control \(random latents, no hypothesis\) has a largest margin of mean \+1\.17 points, \+0\.50 to \+2\.00 over 3 runs/);
  assert.match(chance, /No SAE-informed strategy beats the random-set control by more than the seed band/);
  const beaten = controlsStatement(withControl([-0.01, 0, 0.005]));
  assert.match(beaten, /per-class beats the random-set control by more than the seed band/);
});

test('compare: runs without controls are named and left out; the page says how to get them', async () => {
  const { dir, a, b } = twoRuns();
  try {
    addControls(a);
    const c = loadComparison([a, b]);
    assert.deepEqual(c.controls.missing, [b]);
    assert.deepEqual(c.controls.runs, [a]);
    const statement = controlsStatement(c.controls);
    assert.ok(statement.includes(`Runs without controls, left out below: ${b} (controls not computed; rerun \`headsteer steer --force\`)`));
    assert.match(statement, /Only one run has controls, so there is no seed band/);
    const html = readFileSync((await writeComparison([a, b], join(dir, 'cmp'))).index, 'utf8');
    assert.ok(html.includes('controls not computed; rerun <code>headsteer steer --force</code>'));
    assert.ok(html.includes('Largest margin of any steering point'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
