/**
 * Random policy at matched usage (src/steer/random_policy.ts, sampling in src/model/random_mask.ts):
 * empirical per-head rates close to p for large N (p = 0 and 1 exact), determinism per stream, the
 * the class-matched variant, masks fed to
 * finalLayer through its `mask` option equal the full forward with those masks, errors, no leaks.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initEngine } from '../../src/engine/backend.js';
import { ViT } from '../../src/model/vit.js';
import { rng } from '../../src/random.js';
import { finalBlockKeysValues, finalLayer } from '../../src/steer/fastpath.js';
import { maskBatch, randomPolicyMasks, randomPolicyMasksByClass } from '../../src/steer/random_policy.js';
import { SMALL_GATED_VIT } from './small_vit.js';

before(async () => {
  await initEngine();
});

/** Per-head keep rates of masks (N, H). */
function rates(masks: Float32Array, H: number): number[] {
  const s = new Array<number>(H).fill(0);
  for (let i = 0; i < masks.length; i++) s[i % H]! += masks[i]!;
  return s.map((v) => v / (masks.length / H));
}

test('empirical per-head rates are close to p for large N; p = 0 and p = 1 are exact', () => {
  const p = [0, 0.1, 0.37, 0.5, 0.9, 1];
  const N = 20000;
  const m = randomPolicyMasks(N, p, rng(1, 'random-policy'));
  assert.equal(m.length, N * p.length);
  assert.ok(m.every((v) => v === 0 || v === 1));
  const got = rates(m, p.length);
  p.forEach((ph, h) => {
    const sd = Math.sqrt((ph * (1 - ph)) / N);
    assert.ok(Math.abs(got[h]! - ph) <= 5 * sd, `head ${h}: rate ${got[h]} vs p ${ph} (SD ${sd.toFixed(4)})`);
  });
  assert.equal(got[0], 0);
  assert.equal(got[5], 1);
});

test('determinism: the same stream gives the same masks, another stream others', () => {
  const p = [0.3, 0.6, 0.8];
  const a = randomPolicyMasks(100, p, rng(2, 'random-policy', 0));
  assert.deepEqual(randomPolicyMasks(100, p, rng(2, 'random-policy', 0)), a);
  assert.notDeepEqual(randomPolicyMasks(100, p, rng(2, 'random-policy', 1)), a);
  assert.equal(randomPolicyMasks(0, p, rng(2, 'x')).length, 0);
});

test('class-matched masks: each row uses its class rates', () => {
  const byClass = [
    [0.1, 0.9],
    [0.8, 0.2],
  ];
  const N = 20000;
  const labels = Int32Array.from({ length: N }, (_, i) => (i % 3 === 0 ? 1 : 0));
  const m = randomPolicyMasksByClass(labels, byClass, rng(4, 'random-policy-class'));
  for (const c of [0, 1]) {
    const rows = Float32Array.from(Array.from(labels).flatMap((y, i) => (y === c ? [m[2 * i]!, m[2 * i + 1]!] : [])));
    const got = rates(rows, 2);
    const n = rows.length / 2;
    byClass[c]!.forEach((p, h) => {
      assert.ok(Math.abs(got[h]! - p) <= 5 * Math.sqrt((p * (1 - p)) / n), `class ${c} head ${h}: ${got[h]} vs ${p}`);
    });
  }
  assert.deepEqual(randomPolicyMasksByClass(labels, byClass, rng(4, 'random-policy-class')), m, 'deterministic');
});

test('fed to finalLayer via `mask`: the returned mask is the drawn one and logits equal the full forward', () => {
  const config = SMALL_GATED_VIT;
  const model = new ViT(config, 13, 0);
  const N = 6;
  const x = tf.randomNormal([N, 2, 12, 12], 0, 1, 'float32', 6) as tf.Tensor4D;
  const masks = randomPolicyMasks(N, [0.2, 0.5, 0.7, 0.9], rng(5, 'random-policy'));
  const before = tf.memory().numTensors;
  tf.tidy(() => {
    const full0 = model.forward(x);
    const cache = { cls: full0.finalBlockInputCls, ...finalBlockKeysValues(model, full0.finalBlockInput) };
    const m = maskBatch(masks, 4, 0, N);
    const fast = finalLayer(model, cache, { mask: m });
    assert.deepEqual(fast.mask.dataSync(), masks);
    const full = model.forward(x, { headMasks: [null, null, m] });
    assert.ok(tf.max(tf.abs(tf.sub(fast.logits, full.logits))).dataSync()[0]! < 1e-5);
    // A batch slice is the matching rows.
    assert.deepEqual(maskBatch(masks, 4, 2, 3).dataSync(), masks.subarray(8, 20));
  });
  assert.equal(tf.memory().numTensors, before, 'no leaks');
  x.dispose();
  model.dispose();
});

test('errors name the bad value', () => {
  const r = rng(6, 'e');
  assert.throws(() => randomPolicyMasks(10, [0.5, 1.2], r), /keep probability of head 1 must be in \[0, 1\], got 1.2/);
  assert.throws(() => randomPolicyMasks(10, [Number.NaN], r), /got NaN/);
  assert.throws(() => randomPolicyMasks(-1, [0.5], r), /n must be an integer >= 0, got -1/);
  assert.throws(() => randomPolicyMasksByClass([0, 2], [[0.5], [0.5]], r), /label 2 at row 1, expected an integer in 0..1/);
  assert.throws(() => randomPolicyMasksByClass([0], [[0.5, 0.5], [0.5]], r), /class 1 has 1 head rates, class 0 has 2/);
  assert.throws(() => randomPolicyMasksByClass([0], [[0.5], [-0.1]], r), /class 1: keep probability of head 0 must be in \[0, 1\], got -0.1/);
  assert.throws(() => maskBatch(new Float32Array(8), 4, 1, 2), /rows \[1, 3\) outside the 2 rows/);
  assert.throws(() => maskBatch(new Float32Array(7), 4, 0, 1), /7 mask values are not rows of H = 4/);
});
