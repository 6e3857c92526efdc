/**
 * The main job end to end on the smoke preset: `headsteer run` interrupted with SIGKILL during pretrain
 * resumes on rerun without redoing finished stages; its steer/results.json validates against the schema;
 * alpha = 0 reproduces the SAE splice-back figures exactly; the stage verbs reject bad input with one
 * clear line and write nothing.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { initEngine } from '../../src/engine/backend.js';
import { saveSae } from '../../src/sae/checkpoint.js';
import { SparseAutoencoder } from '../../src/sae/sae.js';
import { validateResults } from '../../src/steer/results.js';

const CLI = join(dirname(fileURLToPath(import.meta.url)), '../../src/cli/main.js');
const root = mkdtempSync(join(tmpdir(), 'headsteer-run-'));
const run = join(root, 'run');

function cli(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function json(path: string): Record<string, unknown> {
  return JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
}

before(async () => {
  await initEngine();
});

after(() => rmSync(root, { recursive: true, force: true }));

test('run: killed mid-pretrain, rerun resumes and finishes every stage; a third run skips them all', async () => {
  const child = spawn(process.execPath, [CLI, 'run', '--preset', 'smoke', '--out', run], { stdio: 'ignore' });
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  for (;;) {
    await new Promise((r) => setTimeout(r, 5));
    let step = -1;
    try {
      step = (json(join(run, 'dense', 'state.json')) as { step: number }).step;
    } catch {
      // not written yet
    }
    if (step >= 20 || child.exitCode !== null) break;
  }
  child.kill('SIGKILL');
  await exited;
  assert.ok(!existsSync(join(run, 'pruned')), 'killed during pretrain');

  const second = cli(['run', '--preset', 'smoke', '--out', run]);
  assert.equal(second.status, 0, second.stderr);
  assert.match(second.stderr, /resuming at step \d+/);
  assert.match(second.stdout, /per-class steering at alpha 1\.2: accuracy/);

  const third = cli(['run', '--preset', 'smoke', '--out', run]);
  assert.equal(third.status, 0, third.stderr);
  assert.equal((third.stderr.match(/already complete, skipped/g) ?? []).length, 6, third.stderr);
  assert.match(third.stdout, /report: .*report\/index\.html/);
});

test('steer results validate; alpha 0 reproduces the splice-back exactly; CSV has a row per sweep and class', () => {
  const raw = json(join(run, 'steer', 'results.json'));
  const results = validateResults(raw, 'results.json');
  const sae = json(join(run, 'sae', 'metrics.json')) as { spliceBack: { accuracy: number; headUsage: number } };
  assert.deepEqual(results.sweeps.map((s) => s.strategy).filter((s, i, a) => a.indexOf(s) === i), ['per-class', 'global', 'random', 'predicted-class']);
  for (const s of results.sweeps.filter((x) => x.alpha === 0)) {
    assert.equal(s.accuracy, sae.spliceBack.accuracy, `${s.strategy} at alpha 0: accuracy`);
    assert.equal(s.headUsage, sae.spliceBack.headUsage, `${s.strategy} at alpha 0: head usage`);
  }
  assert.equal(results.reconstruction.accuracy, sae.spliceBack.accuracy);
  const classes = results.sweeps[0]!.perClass.length;
  const csv = readFileSync(join(run, 'steer', 'results.csv'), 'utf8').trim().split('\n');
  assert.equal(csv.length, 1 + results.sweeps.length * (1 + classes));
});

test('stage verbs: bad input is one clear line, exit 2, nothing written', () => {
  const bad = join(root, 'bad');
  const d8 = new SparseAutoencoder({ dIn: 8, dSae: 32, k: 4 }, { seed: 0 });
  saveSae(join(bad, 'sae-d8'), d8, { complete: true });
  d8.dispose();
  const before = readdirSync(bad).sort();
  const cases: Array<[string[], RegExp]> = [
    [['extract', '--checkpoint', join(run, 'dense'), '--out', join(bad, 'f')], /has no decision network on its final layer.*headsteer prune/],
    [['sae', '--features', join(bad, 'nothing'), '--out', join(bad, 's')], /no extraction in .*nothing.*run `headsteer extract` first/],
    [['stats', '--run', run, '--sae', join(bad, 'sae-d8'), '--out', join(bad, 'st')], /the SAE reads d_in = 8, but the features have d = 32/],
    [['steer', '--run', run, '--alphas', 'abc', '--out', join(bad, 'o')], /abc/],
    [['steer', '--run', run, '--alphas', '', '--out', join(bad, 'o')], /empty|alpha/i],
    [['steer', '--run', run, '--alphas', '0.5,1', '--out', join(bad, 'o')], /must include 0/],
  ];
  for (const [args, expect] of cases) {
    const r = cli(args);
    assert.equal(r.status, 2, `${args.join(' ')}\n${r.stderr}`);
    const lines = r.stderr.split('\n').filter((l) => l !== '' && !l.startsWith('engine:') && !l.startsWith('steer '));
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0]!, expect, args.join(' '));
  }
  assert.deepEqual(readdirSync(bad).sort(), before, 'nothing written');
});
