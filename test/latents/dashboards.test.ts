/**
 * The `latents` stage on a fresh smoke run (made by the CLI in a temp folder): each dashboard's counts
 * follow from the SAE codes; one latent's gate effect equals a direct computation through the steering
 * code and the fast path (fastpath.ts `finalLayer`), and its linearised direction a central finite
 * difference of the gate; the sprite holds every image shown; `--latent` prints one dashboard and names
 * the valid range for an index out of it.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { loadRunData, runConfigOf } from '../../src/config.js';
import { initEngine } from '../../src/engine/backend.js';
import { loadLatents, type LatentsFile } from '../../src/latents/file.js';
import { finalGate } from '../../src/latents/gate_effect.js';
import { readSprite, spriteTile } from '../../src/latents/sprite.js';
import { stageDir } from '../../src/run/layout.js';
import { finalLayer } from '../../src/steer/fastpath.js';
import { steeredCode } from '../../src/steer/steering.js';
import { loadSteerContext, type SteerContext } from '../../src/steer/sweep.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const CLI = join(HERE, '../../src/cli/main.js');
const root = mkdtempSync(join(tmpdir(), 'headsteer-latents-'));
const run = join(root, 'run');
let file: LatentsFile;
let sprite: Buffer;
let ctx: SteerContext;

before(async () => {
  const made = spawnSync(process.execPath, [CLI, 'run', '--preset', 'smoke', '--out', run], { encoding: 'utf8' });
  assert.equal(made.status, 0, made.stderr);
  await initEngine();
  ({ file, sprite } = loadLatents(stageDir(run, 'latents')));
  ctx = loadSteerContext(
    { features: stageDir(run, 'extract'), sae: stageDir(run, 'sae'), stats: stageDir(run, 'stats') },
    runConfigOf(stageDir(run, 'prune')).steer,
  );
});

after(() => {
  ctx?.dispose();
  rmSync(root, { recursive: true, force: true });
});

/** The SAE codes of all test images (N, F), row-major. */
function codes(): Float32Array {
  const { features: f, manifest, sae } = ctx;
  return tf.tidy(() => sae.encode(tf.tensor2d(f.x, [f.count, manifest.dim])).dataSync() as Float32Array);
}

/** |a - b| <= abs + rel |b|. */
function close(a: number, b: number, rel: number, abs: number, what: string): void {
  assert.ok(Math.abs(a - b) <= abs + rel * Math.abs(b), `${what}: ${a} vs ${b}`);
}

test('every latent has a dashboard whose counts, top images and index sets follow from the SAE codes and stats.json', () => {
  const F = ctx.sae.dSae;
  const N = ctx.features.count;
  const z = codes();
  assert.equal(file.latents.length, F);
  assert.equal(file.testCount, N);
  for (const l of file.latents) {
    const rows = [...Array(N).keys()].filter((n) => z[n * F + l.index]! > 0);
    assert.equal(l.fires, rows.length, `latent ${l.index}`);
    assert.equal(l.gate === null, rows.length === 0);
    assert.equal(l.top.length, Math.min(16, rows.length));
    assert.equal(l.random.length, Math.min(8, rows.length));
    for (const r of [...l.top, ...l.random]) assert.ok(z[r * F + l.index]! > 0, `latent ${l.index} fires on image ${r}`);
    for (let j = 1; j < l.topValues.length; j++) assert.ok(l.topValues[j - 1]! >= l.topValues[j]!, 'top images most activating first');
    const max = Math.max(0, ...rows.map((n) => z[n * F + l.index]!));
    close(l.maxActive, max, 1e-3, 0, `latent ${l.index} max`);
    if (rows.length > 0) close(l.specificity, Math.max(...l.classRates) / l.classRates.reduce((a, b) => a + b, 0), 1e-3, 1e-4, 'specificity');
    assert.deepEqual(
      l.sets.perClass,
      ctx.stats.sets.perClass.flatMap((s, c) => (s.includes(l.index) ? [c] : [])),
    );
    assert.equal(l.sets.global, ctx.stats.sets.global.includes(l.index));
  }
});

test('one latent’s gate effect equals Eq. 5 with S = {i} through the fast path; its linearised direction a finite difference', () => {
  const { features: f, manifest, sae, model } = ctx;
  const F = sae.dSae;
  const D = manifest.dim;
  const H = manifest.heads;
  const T = manifest.tokens;
  const Dh = D / H;
  const z = codes();
  const l = [...file.latents].sort((a, b) => b.fires - a.fires)[0]!;
  const rows = [...Array(f.count).keys()].filter((n) => z[n * F + l.index]! > 0);
  const pick = (a: Float32Array, width: number): Float32Array => {
    const out = new Float32Array(rows.length * width);
    for (const [j, r] of rows.entries()) out.set(a.subarray(r * width, (r + 1) * width), j * width);
    return out;
  };
  const tensors = tf.memory().numTensors;
  const direct = tf.tidy(() => {
    const x = tf.tensor2d(pick(f.x, D), [rows.length, D]);
    const mask = tf.oneHot(tf.tensor1d([l.index], 'int32'), F).toFloat() as tf.Tensor2D; // (1, F): S = {i}
    const { xTilde, xHat } = steeredCode(sae, x, mask, file.alpha);
    const gate = finalGate(model);
    const cache = { cls: x, k: tf.tensor4d(pick(f.k!, H * T * Dh), [rows.length, H, T, Dh]), v: tf.tensor4d(pick(f.v!, H * T * Dh), [rows.length, H, T, Dh]) };
    const steered = finalLayer(model, cache, { gateInput: xTilde });
    const unsteered = finalLayer(model, cache, { gateInput: xHat });
    const eps = 1e-2;
    const d = tf.gather(sae.wDec, [l.index]); // (1, D)
    const fd = tf.div(tf.sub(gate.apply(tf.add(xHat, tf.mul(d, eps)) as tf.Tensor2D), gate.apply(tf.sub(xHat, tf.mul(d, eps)) as tf.Tensor2D)), 2 * eps);
    return {
      logit: Array.from(tf.mean(tf.sub(gate.apply(xTilde), gate.apply(xHat)), 0).dataSync()),
      keep: Array.from(tf.mean(tf.sub(steered.mask, unsteered.mask), 0).dataSync()),
      linear: Array.from(tf.mean(fd, 0).dataSync()),
    };
  });
  assert.equal(tf.memory().numTensors, tensors, 'no tensor leak');
  const g = l.gate!;
  for (let h = 0; h < H; h++) {
    close(g.logit[h]!, direct.logit[h]!, 1e-3, 1e-5, `logit h${h}`); // latents.json keeps 4 significant digits
    close(g.keep[h]!, direct.keep[h]!, 1e-3, 1e-6, `keep h${h}`);
    close(g.linear[h]!, direct.linear[h]!, 2e-2, 2e-3, `linear h${h}`); // float32 central difference
  }
  close(g.effect, Math.hypot(...direct.logit), 2e-3, 1e-5, 'effect');
});

test('the sprite holds each image a dashboard shows, as the dataset has it', () => {
  const ds = loadRunData(runConfigOf(stageDir(run, 'prune')));
  const s = readSprite(sprite, file.sprite);
  const shown = new Set(file.latents.flatMap((l) => [...l.top, ...l.random]));
  assert.deepEqual(
    file.sprite.images,
    [...shown].sort((a, b) => a - b),
  );
  const size = ds.channels * ds.height * ds.width;
  assert.ok(ds.height <= 32 && ds.width <= 32, 'smoke images stay whole');
  for (const i of [...shown].slice(0, 20)) assert.deepEqual(spriteTile(s, i), ds.test.images.subarray(i * size, (i + 1) * size), `image ${i}`);
  assert.equal(spriteTile(s, -1), undefined);
});

test('CLI: --latent prints one dashboard; an index out of range or not a number is one line naming the range', () => {
  const ok = spawnSync(process.execPath, [CLI, 'latents', '--run', run, '--latent', '3'], { encoding: 'utf8' });
  assert.equal(ok.status, 0, ok.stderr);
  assert.match(ok.stdout, /^latent 3: fires on \d+ of \d+ test images/);
  const F = file.latents.length;
  for (const bad of [String(F), 'abc']) {
    const r = spawnSync(process.execPath, [CLI, 'latents', '--run', run, '--latent', bad], { encoding: 'utf8' });
    assert.equal(r.status, 2, `${bad}: ${r.stderr}`);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, /^headsteer: (latent index must be an integer in \[0, \d+\]|--latent must be a latent index)/);
  }
  const json = JSON.parse(readFileSync(join(stageDir(run, 'latents'), 'latents.json'), 'utf8')) as LatentsFile;
  assert.equal(json.latents.length, F);
});
