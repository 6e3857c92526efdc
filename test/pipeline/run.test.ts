/**
 * The main job end to end on the smoke preset: `headsteer run` interrupted with SIGKILL during pretrain
 * resumes on rerun without redoing finished stages; its steer/results.json validates against the schema;
 * alpha = 0 reproduces the SAE splice-back figures exactly; extraction shared by replica processes
 * writes the same files whatever their number, and steering by replicas the same results; the stage verbs reject bad input with one
 * clear line and write nothing. Steering at every layer (`steer.layers=all`, docs/design.md "Steering at
 * every layer"): end to end at depth 3, where it adds a layer; on the finished depth-2 run, where it adds
 * only layers.json and leaves every final-layer file as it was; and its bad input.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { initEngine } from '../../src/engine/backend.js';
import { readSafetensors } from '../../src/io/safetensors.js';
import { saveSae } from '../../src/sae/checkpoint.js';
import { SparseAutoencoder } from '../../src/sae/sae.js';
import * as tf from '@tensorflow/tfjs';
import { resolveConfig } from '../../src/config.js';
import { thresholdProbe } from '../../src/steer/controls.js';
import { validateLayersResults } from '../../src/steer/layers_results.js';
import { validateResults } from '../../src/steer/results.js';
import { loadSteerContext, probeRuns, type ProbeBatch } from '../../src/steer/sweep.js';
import { fixtureDir } from '../fixtures.js';

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
  assert.equal((third.stderr.match(/already complete, skipped/g) ?? []).length, 7, third.stderr);
  assert.match(third.stdout, /report: .*report\/index\.html/);
});

test('steer results validate; alpha 0 reproduces the splice-back exactly; CSV has a row per sweep and class', () => {
  const raw = json(join(run, 'steer', 'results.json'));
  const results = validateResults(raw, 'results.json');
  const sae = json(join(run, 'sae', 'metrics.json')) as { spliceBack: { accuracy: number; headUsage: number } };
  assert.deepEqual(
    results.sweeps.map((s) => s.strategy).filter((s, i, a) => a.indexOf(s) === i),
    ['per-class', 'global', 'random', 'predicted-class'],
  );
  for (const s of results.sweeps.filter((x) => x.alpha === 0)) {
    assert.equal(s.accuracy, sae.spliceBack.accuracy, `${s.strategy} at alpha 0: accuracy`);
    assert.equal(s.headUsage, sae.spliceBack.headUsage, `${s.strategy} at alpha 0: head usage`);
  }
  assert.equal(results.reconstruction.accuracy, sae.spliceBack.accuracy);
  const classes = results.sweeps[0]!.perClass.length;
  const csv = readFileSync(join(run, 'steer', 'results.csv'), 'utf8')
    .trim()
    .split('\n');
  assert.equal(csv.length, 1 + results.sweeps.length * (1 + classes));
});

test('controls: beta = 0 is the reconstruction point exactly; every sweep point has its random policy; the null and intervals are there', () => {
  const results = validateResults(json(join(run, 'steer', 'results.json')), 'results.json');
  const c = results.controls!;
  assert.ok(c !== undefined, 'results carry the controls');
  const betas = c.threshold.map((t) => t.beta);
  assert.deepEqual(
    betas,
    [...betas].sort((a, b) => a - b),
    'threshold points sorted by beta',
  );
  const zero = c.threshold.find((t) => t.beta === 0)!;
  assert.equal(zero.accuracy, results.reconstruction.accuracy);
  assert.equal(zero.headUsage, results.reconstruction.headUsage);
  assert.deepEqual(zero.heads, results.reconstruction.heads);
  // A shift moves usage monotonically: down for beta < 0, up for beta > 0.
  for (let i = 1; i < c.threshold.length; i++) assert.ok(c.threshold[i]!.headUsage >= c.threshold[i - 1]!.headUsage, `usage at beta ${betas[i]}`);
  assert.deepEqual(
    c.randomPolicy.map((p) => [p.strategy, p.alpha]),
    results.sweeps.map((s) => [s.strategy, s.alpha]),
  );
  assert.equal(
    c.classSizes.reduce((a, b) => a + b, 0),
    256,
    'the smoke test split',
  );
  assert.equal(c.perClassDelta.length, c.classSizes.length);
  for (const d of c.perClassDelta) {
    assert.ok(d.ci95.accuracy[0] <= d.deltaAccuracy && d.deltaAccuracy <= d.ci95.accuracy[1], `class ${d.class} accuracy CI holds its estimate`);
    assert.ok(d.ci95.headUsage[0] <= d.deltaHeadUsage && d.deltaHeadUsage <= d.ci95.headUsage[1], `class ${d.class} usage CI holds its estimate`);
  }
  const perClass = (a: number) => results.sweeps.find((s) => s.strategy === 'per-class' && s.alpha === a)!.perClass;
  for (const d of c.perClassDelta) assert.equal(d.deltaAccuracy, perClass(1.2)[d.class]!.accuracy - perClass(0)[d.class]!.accuracy);
  assert.equal(c.topGainNull!.draws, 20);
  assert.equal(c.topGainNull!.p95.length, results.topGainClasses.length);
});

test('per-class threshold: shifting only class c rows changes only them, and they equal the threshold sweep there', () => {
  const cfg = resolveConfig('smoke');
  const ctx = loadSteerContext({ features: join(run, 'features'), sae: join(run, 'sae'), stats: join(run, 'stats') }, cfg.steer);
  try {
    const labels = ctx.features.labels;
    const c = 1;
    const beta = -0.5;
    const classOnly = (b: ProbeBatch) => {
      const rows = Float32Array.from(labels.subarray(b.start, b.start + b.size), (y) => (y === c ? beta : 0));
      return { gateInput: b.base.xHat, gateShift: tf.tensor2d(rows, [b.size, 1]) };
    };
    const [shifted, everyRow, none] = probeRuns(ctx, [classOnly, thresholdProbe(beta), thresholdProbe(0)]);
    const H = ctx.manifest.heads;
    let changed = 0;
    for (let i = 0; i < labels.length; i++) {
      const want = labels[i] === c ? everyRow! : none!;
      assert.equal(shifted!.predictions[i], want.predictions[i], `row ${i}`);
      for (let h = 0; h < H; h++) assert.equal(shifted!.masks[i * H + h], want.masks[i * H + h], `row ${i} head ${h}`);
      if (labels[i] === c) for (let h = 0; h < H; h++) changed += Number(everyRow!.masks[i * H + h] !== none!.masks[i * H + h]);
    }
    assert.ok(changed > 0, "the shift moved some of class c's decisions (else the test is vacuous)");
  } finally {
    ctx.dispose();
  }
});

test('steer --target-usage: the threshold shift reaches the target within 0.01, on all images and on one class', () => {
  for (const args of [
    ['--target-usage', '0.5'],
    ['--target-usage', '0.5', '--class', '2'],
  ]) {
    const r = cli(['steer', '--run', run, ...args]);
    assert.equal(r.status, 0, r.stderr);
    const line = r.stdout.split('\n').find((l) => l.trimStart().startsWith('threshold'));
    const usage = Number(/usage (\d\.\d+)/.exec(line ?? '')?.[1]);
    assert.ok(Math.abs(usage - 0.5) <= 0.01, `${args.join(' ')}: ${line}`);
    for (const s of ['per-class', 'global', 'random', 'predicted-class']) assert.match(r.stdout, new RegExp(`^  ${s} +alpha`, 'm'), `a row for ${s}`);
  }
});

test("extract in 2 and 3 replica processes writes the same files byte for byte, within float noise of one process's", () => {
  const shared = [2, 3].map((workers) => {
    const out = join(root, `extract-${workers}`, 'features');
    const r = cli(['extract', '--run', run, '--out', out, '--workers', String(workers)]);
    assert.equal(r.status, 0, r.stderr);
    return out;
  });
  for (const file of ['train.safetensors', 'test.safetensors']) {
    assert.ok(readFileSync(join(shared[0]!, file)).equals(readFileSync(join(shared[1]!, file))), `${file}: 2 and 3 replicas`);
    // The run extracted in its own process (smoke: extract.workers 1), with OpenBLAS's own threads.
    const one = readSafetensors(join(run, 'features', file)).tensors;
    const two = readSafetensors(join(shared[0]!, file)).tensors;
    assert.deepEqual([...two.keys()], [...one.keys()]);
    for (const [name, t] of one) {
      const u = two.get(name)!;
      assert.deepEqual(u.shape, t.shape, name);
      if (t.dtype === 'I32') assert.deepEqual(u.data, t.data, name);
      else
        assert.ok(
          t.data.every((v, i) => Math.abs(Number(v) - Number(u.data[i])) <= 1e-5 * Math.max(1, Math.abs(Number(v)))),
          `${file} ${name}: within 1e-5`,
        );
    }
  }
  const manifest = (dir: string): Record<string, unknown> => ({ ...json(join(dir, 'manifest.json')), checkpoint: undefined });
  assert.deepEqual(manifest(shared[0]!), manifest(join(run, 'features')));
});

test("steer in 2 and 3 replica processes: the same results as one process's", () => {
  const results = [2, 3].map((workers) => {
    const out = join(root, `steer-${workers}`, 'steer');
    const r = cli(['steer', '--run', run, '--out', out, '--set', `steer.workers=${workers}`]);
    assert.equal(r.status, 0, r.stderr);
    return json(join(out, 'results.json'));
  });
  assert.deepEqual(results[1], results[0], '2 and 3 replicas');
  assert.deepEqual(results[0], json(join(run, 'steer', 'results.json')), 'one process (steer.workers 1 by default)');
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
    [['steer', '--run', run, '--set', 'steer.betas=[-1,1]', '--out', join(bad, 'o')], /steer\.betas: must include 0/],
    [['steer', '--run', run, '--target-usage', '1.5'], /--target-usage must be a fraction of heads in \[0, 1\], got 1\.5/],
    [['steer', '--run', run, '--target-usage', 'half'], /--target-usage must be a number, got 'half'/],
    [['steer', '--run', run, '--target-usage', '0.5', '--class', '9'], /--class must be a class index in 0\.\.3/],
    [['steer', '--run', run, '--class', '1', '--out', join(bad, 'o')], /--class goes with --target-usage/],
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

const deep = join(root, 'deep');

test('steer.layers=all end to end (smoke at depth 3): layer 1 gets features, SAE and statistics; layers.json validates; at the final layer it equals the fast path', () => {
  const r = cli(['run', '--preset', 'smoke', '--set', 'model.depth=3', '--set', 'steer.layers=all', '--out', deep]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /layers\.json: steering at layers 1, 2/);
  const layers = validateLayersResults(json(join(deep, 'steer', 'layers.json')), 'layers.json');
  assert.deepEqual(
    [layers.layers, layers.gatedLayers, layers.alphas, layers.betas],
    [
      [1, 2],
      [0, 1, 2],
      [-1, 0, 1.5],
      [-1, -0.5, 0, 0.5, 1],
    ],
  );
  assert.equal(layers.points.length, 2 * (4 * 3 + 5), 'per layer: 4 strategies x 3 alphas + 5 betas');
  assert.deepEqual((json(join(deep, 'features', 'manifest.json')) as { layers: number[] }).layers, [1, 2]);
  assert.ok(existsSync(join(deep, 'features', 'train.layers.safetensors')) && existsSync(join(deep, 'features', 'test.layers.safetensors')));
  assert.equal(json(join(deep, 'layers', '1', 'sae', 'config.json'))['layer'], 1);
  assert.equal(json(join(deep, 'sae', 'config.json'))['layer'], 2);
  assert.ok(existsSync(join(deep, 'layers', '1', 'stats', 'stats.json')));
  // alpha = beta = 0 is one point per layer, whatever the knob.
  for (const l of [1, 2]) {
    const origin = layers.points.filter((p) => p.layer === l && p.param === 0);
    assert.ok(
      origin.every((p) => p.accuracy === origin[0]!.accuracy && p.layerUsage === origin[0]!.layerUsage),
      `layer ${l} origin`,
    );
  }
  // The final layer through full forwards == the fast path's sweep and threshold: same masks, hence the
  // same usage exactly; predictions too, unless a logit tie within the fast path's 1e-5 flips one image.
  const results = validateResults(json(join(deep, 'steer', 'results.json')), 'results.json');
  const final = layers.points.filter((p) => p.layer === 2);
  for (const p of final) {
    const fast =
      p.knob === 'threshold'
        ? results.controls!.threshold.find((t) => t.beta === p.param)
        : results.sweeps.find((s) => s.strategy === p.knob && s.alpha === p.param);
    if (fast === undefined) continue;
    assert.equal(p.layerUsage, fast.headUsage, `${p.knob} ${p.param}: final-layer usage`);
    assert.ok(Math.abs(p.accuracy - fast.accuracy) <= 1 / 256, `${p.knob} ${p.param}: accuracy ${p.accuracy} vs ${fast.accuracy}`);
  }
  assert.equal(layers.baseline.accuracy, results.baseline.accuracy);
  const html = readFileSync(join(deep, 'report', 'index.html'), 'utf8');
  assert.ok(html.includes('<figure id="layers-steering">'), 'the report shows the every-layer figure');
});

test("rerun of a final-only run with steer.layers=all: only layers.json is new; the final layer's files are untouched", () => {
  const before = ['steer/results.json', 'sae/config.json', 'stats/stats.json', 'features/manifest.json'].map((f) => readFileSync(join(run, f)));
  const r = cli(['run', '--preset', 'smoke', '--set', 'steer.layers=all', '--out', run]);
  assert.equal(r.status, 0, r.stderr);
  for (const stage of ['extract', 'sae', 'stats']) assert.match(r.stderr, new RegExp(`\\] ${stage}: already complete, skipped`), stage);
  const after = ['steer/results.json', 'sae/config.json', 'stats/stats.json', 'features/manifest.json'].map((f) => readFileSync(join(run, f)));
  assert.deepEqual(after, before);
  assert.deepEqual(validateLayersResults(json(join(run, 'steer', 'layers.json')), 'layers.json').layers, [1], "smoke's depth 2: the final layer only");
});

test('every-layer bad input: a layer without a gate, layer 0, an SAE of another layer — one line, exit 2, nothing written', () => {
  const bad = join(root, 'bad-layers');
  mkdirSync(bad, { recursive: true });
  const cases: Array<[string[], RegExp]> = [
    [['extract', '--run', deep, '--layers', '5', '--out', join(bad, 'f')], /pruned: layer 5 has no decision network \(gated layers: \[0, 1, 2\] of 3\)/],
    [['extract', '--run', deep, '--layers', '0', '--out', join(bad, 'f')], /layer 0's gate reads the CLS token before any attention/],
    [['sae', '--run', deep, '--layer', '7', '--out', join(bad, 's')], /layer 7 has no decision network/],
    [['steer', '--run', deep, '--layers', '4', '--out', join(bad, 'o')], /steer\.layers: layer 4 has no decision network/],
    [
      ['stats', '--run', deep, '--layer', '1', '--sae', join(deep, 'sae'), '--out', join(bad, 'st')],
      /sae\/config\.json: the SAE was trained on layer 2's block-input CLS, but it is used at layer 1/,
    ],
    [
      ['steer', '--run', deep, '--sae', join(deep, 'layers', '1', 'sae'), '--out', join(bad, 'o')],
      /the SAE was trained on layer 1's block-input CLS, but it is used at layer 2/,
    ],
    [['steer', '--run', deep, '--layers', 'all', '--set', 'steer.layerAlphas=[1]', '--out', join(bad, 'o')], /steer\.layerAlphas: must include 0/],
  ];
  for (const [args, expect] of cases) {
    const r = cli(args);
    assert.equal(r.status, 2, `${args.join(' ')}\n${r.stderr}`);
    const lines = r.stderr.split('\n').filter((l) => l !== '' && !l.startsWith('engine:') && !l.startsWith('steer ') && !l.startsWith('layers '));
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0]!, expect, args.join(' '));
  }
  assert.deepEqual(readdirSync(bad), [], 'nothing written');
});

/** A copy of the finished smoke run, for a test that changes it. */
function copyOfRun(name: string): string {
  const copy = join(root, name);
  cpSync(run, copy, { recursive: true });
  return copy;
}

/** The one `headsteer:` line of a failed command (exit 2), without a stack trace. */
function refusal(args: string[]): string {
  const r = cli(args);
  assert.equal(r.status, 2, `${args.join(' ')}\n${r.stderr}`);
  assert.doesNotMatch(r.stderr, /\bat .*\.js:\d+/, 'no stack trace');
  const lines = r.stderr.split('\n').filter((l) => l.startsWith('headsteer:'));
  assert.equal(lines.length, 1, r.stderr);
  return lines[0]!;
}

test('stale results: a redone SAE makes stats and steer stale; the report refuses them, run redoes them and says why', () => {
  const copy = copyOfRun('stale');
  const steerBefore = readFileSync(join(copy, 'steer', 'results.json'), 'utf8');
  assert.match(refusal(['sae', '--run', copy, '--set', 'sae.seed=7']), /sae already holds a finished SAE; pass --force to train it again/);
  const redo = cli(['sae', '--run', copy, '--set', 'sae.seed=7', '--force']);
  assert.equal(redo.status, 0, redo.stderr);
  assert.match(
    refusal(['report', '--run', copy]),
    /stats is stale: it was built from .*stale\/sae, which has changed since; redo it with `headsteer stats --force`/,
  );
  assert.match(refusal(['steer', '--run', copy, '--out', join(copy, 'steer2')]), /stats is stale/);
  const r = cli(['run', '--preset', 'smoke', '--out', copy]);
  assert.equal(r.status, 0, r.stderr);
  for (const stage of ['pretrain', 'prune', 'extract', 'sae']) assert.match(r.stderr, new RegExp(`\\] ${stage}: already complete, skipped`), stage);
  assert.match(r.stderr, /\[6\/9\] stats: stale, it was built from .*stale\/sae, which has changed since; redoing it/);
  assert.match(r.stderr, /\[7\/9\] latents: stale, it was built from .*stale\/(sae|stats), which has changed since; redoing it/);
  assert.match(r.stderr, /\[8\/9\] steer: stale, it was built from .*stale\/(sae|stats), which has changed since; redoing it/);
  assert.notEqual(readFileSync(join(copy, 'steer', 'results.json'), 'utf8'), steerBefore, "steering follows the new SAE's latents");
  const again = cli(['run', '--preset', 'smoke', '--out', copy]);
  assert.equal((again.stderr.match(/already complete, skipped/g) ?? []).length, 7, again.stderr);
});

test('stale results: a changed dense model makes the pruned one stale, and the stages after it refuse to build on it', () => {
  const copy = copyOfRun('stale-dense');
  const weights = join(copy, 'dense', 'weights.safetensors');
  const bytes = readFileSync(weights);
  bytes[bytes.length - 1] = bytes[bytes.length - 1]! ^ 1; // the last byte of a float: another (finite) dense model
  writeFileSync(weights, bytes);
  assert.match(
    refusal(['extract', '--run', copy, '--out', join(copy, 'f2')]),
    /pruned is stale: it was built from .*dense, which has changed since; redo it with `headsteer prune --force`/,
  );
  assert.match(refusal(['report', '--run', copy]), /pruned is stale/);
});

test('no silent overwrite: --out at a checkpoint of another kind, import-timm over a checkpoint, a stage writing into a model', () => {
  const copy = copyOfRun('overwrite');
  const pruned = join(copy, 'pruned');
  const before = readdirSync(pruned).map((f) => readFileSync(join(pruned, f)));
  const timm = join(fixtureDir('timm'), 'timm_vit_tiny_rgb.weights.safetensors');
  assert.match(refusal(['sae', '--run', copy, '--out', pruned, '--force']), /pruned holds a 'vit' checkpoint, not a 'sae' one; refusing to replace it/);
  assert.match(refusal(['extract', '--run', copy, '--out', join(copy, 'sae')]), /sae holds a 'sae' checkpoint; `headsteer extract` does not write there/);
  assert.match(refusal(['stats', '--run', copy, '--out', pruned]), /pruned holds a 'vit' checkpoint/);
  assert.match(refusal(['import-timm', timm, '--out', pruned]), /pruned already holds a checkpoint; pass --force to replace it/);
  assert.deepEqual(
    readdirSync(pruned).map((f) => readFileSync(join(pruned, f))),
    before,
    'the pruned model is untouched',
  );
  const forced = cli(['import-timm', timm, '--out', pruned, '--force']);
  assert.equal(forced.status, 0, forced.stderr);
  assert.ok(!existsSync(join(pruned, 'eval.json')), "the old model's eval.json went with it");
});

test('no silent overwrite: extract, stats, steer and latents refuse their finished output without --force; with it they redo it', () => {
  const copy = copyOfRun('finished');
  const bytesOf = (): Buffer[] =>
    ['features', 'stats', 'steer', 'latents'].flatMap((d) => readdirSync(join(copy, d)).map((f) => readFileSync(join(copy, d, f))));
  const before = bytesOf();
  for (const [verb, folder, what] of [
    ['extract', 'features', 'finished features'],
    ['stats', 'stats', 'finished statistics'],
    ['steer', 'steer', 'finished steering results \\(results.json\\)'],
    ['latents', 'latents', 'finished latent dashboards'],
  ] as const)
    assert.match(refusal([verb, '--run', copy]), new RegExp(`${join(copy, folder)} already holds ${what}.*; pass --force to compute it again`), verb);
  assert.deepEqual(bytesOf(), before, 'nothing finished was changed');
  const forced = cli(['stats', '--run', copy, '--force']);
  assert.equal(forced.status, 0, forced.stderr);
});

test('ignored settings are refused: run --set or another --preset on a finished model, pretrain --resume with other epochs', () => {
  const copy = copyOfRun('settings');
  assert.match(
    refusal(['run', '--preset', 'smoke', '--out', copy, '--set', 'seed=5']),
    /--set seed: .*dense was built with seed=0, not 5, and run does not retrain a finished model/,
  );
  assert.match(
    refusal(['run', '--preset', 'smoke', '--out', copy, '--set', 'prune.rho=0.6']),
    /--set prune\.rho: .*pruned was built with prune\.rho=0\.7, not 0\.6/,
  );
  assert.match(refusal(['run', '--preset', 'default', '--out', copy]), /--preset default: .*dense was trained with preset 'smoke'; use a new --out/);
  // An interrupted pretrain (step 3 of 10): resuming it with other epochs would train something else.
  const dense = join(copy, 'dense');
  const config = json(join(dense, 'config.json'));
  writeFileSync(join(dense, 'config.json'), JSON.stringify({ ...config, complete: false }));
  writeFileSync(join(dense, 'state.json'), JSON.stringify({ step: 3, totalSteps: 10 }));
  cpSync(join(dense, 'weights.safetensors'), join(dense, 'optimizer.safetensors'));
  assert.match(
    refusal(['pretrain', '--out', copy, '--resume', '--epochs', '2']),
    /--resume continues .*dense with the config it started with, where pretrain\.epochs is 4, not 2; drop the setting, or pass --force/,
  );
});

test('the run lock: a live holder is named and refused; a dead one is taken over, and the lock is gone afterwards', () => {
  const copy = copyOfRun('lock');
  const lock = join(copy, '.lock');
  const holder = (pid: number) => JSON.stringify({ pid, host: hostname(), verb: 'run', since: '2026-01-01T00:00:00.000Z' });
  writeFileSync(lock, holder(process.pid)); // this test's process: alive
  assert.match(refusal(['stats', '--run', copy, '--out', join(copy, 'stats2')]), new RegExp(`is in use by pid ${process.pid} \\(run, since 2026-01-01`));
  assert.match(refusal(['run', '--preset', 'smoke', '--out', copy]), new RegExp(`in use by pid ${process.pid}`));
  const gone = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }); // exits: a dead pid
  writeFileSync(lock, holder(Number(gone.stdout)));
  const r = cli(['stats', '--run', copy, '--out', join(copy, 'stats2')]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, new RegExp(`took over the lock of pid ${gone.stdout} \\(run\\), which is no longer running`));
  assert.ok(!existsSync(lock), 'released on exit');
});
