/**
 * Steering (src/steer/steering.ts, paper Eq. 5 as docs/design.md fixes it): at alpha = 0 mode 'pre' gives
 * x_hat bit for bit (and keepError gives x bit for bit); alpha > 0 scales pre on S only and re-applies
 * TopK (exactly k nonzeros, equal to a JS reference within 1e-6 relative); 'post' and 'add' follow their
 * definitions (1e-6); per-row masks; setMask; argument errors; no tensor leaks.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initEngine } from '../../src/engine/backend.js';
import { rng } from '../../src/random.js';
import { SparseAutoencoder } from '../../src/sae/sae.js';
import { topkReluIndices } from '../../src/sae/topk.js';
import { maskBuffer, saeBase, setMask, steerFromBase, steerLatents, steeredCode } from '../../src/steer/steering.js';

before(async () => {
  await initEngine();
});

const B = 6;
const D = 8;
const F = 32;
const K = 4;

function setup(seed = 1): { sae: SparseAutoencoder; x: tf.Tensor2D } {
  const sae = new SparseAutoencoder({ dIn: D, dSae: F, k: K }, { seed, bDec: rng(seed, 'b').fill(new Float32Array(D), 'normal') });
  tf.tidy(() => sae.bEnc.assign(tf.tensor1d(rng(seed, 'e').fill(new Float32Array(F), 'normal'))));
  const x = tf.tensor2d(rng(seed, 'x').fill(new Float32Array(B * D), 'normal'), [B, D]);
  return { sae, x };
}

/** Rows 0,2,4 use group 0, rows 1,3,5 group 1. */
const SETS = [Int32Array.from([0, 3, 5, 7, 11, 20]), Int32Array.from([1, 3, 9, 30])];
const GROUPS = Int32Array.from({ length: B }, (_, b) => b % 2);

function maskTensor(): tf.Tensor2D {
  return tf.tensor2d(setMask(SETS, GROUPS, F), [B, F]);
}

test('alpha = 0, mode pre: x~ == x_hat exactly (== sae.forward x_hat too); keepError gives x exactly', () => {
  const { sae, x } = setup();
  for (const impl of ['kernel', 'tfjs'] as const) {
    sae.topkImpl = impl;
    tf.tidy(() => {
      const mask = maskTensor();
      const { xTilde, xHat } = steeredCode(sae, x, mask, 0);
      assert.deepEqual(xTilde.dataSync(), xHat.dataSync());
      assert.deepEqual(xHat.dataSync(), sae.forward(x).xHat.dataSync());
      const kept = steeredCode(sae, x, mask, 0, { keepError: true });
      assert.deepEqual(kept.xTilde.dataSync(), x.dataSync());
      // post mode at alpha 0 is also the identity on z.
      const post = steeredCode(sae, x, mask, 0, { mode: 'post' });
      assert.deepEqual(post.xTilde.dataSync(), xHat.dataSync());
    });
  }
  x.dispose();
  sae.dispose();
});

test('alpha > 0, mode pre: pre scaled by (1 + alpha) on S only, TopK re-applied, exactly k nonzeros (1e-6 rel.)', () => {
  const { sae, x } = setup(2);
  const alpha = 1.2;
  tf.tidy(() => {
    const base = saeBase(sae, x);
    const pre = base.pre.dataSync() as Float32Array;
    const mask = setMask(SETS, GROUPS, F);
    // JS reference: scale pre on S, then ReLU(TopK).
    const scaled = Float32Array.from(pre, (v, i) => (mask[i] === 1 ? v * (1 + alpha) : v));
    const idx = topkReluIndices(scaled, B, F, K);
    const zt = steerLatents(base, tf.tensor2d(mask, [B, F]), alpha, sae).dataSync() as Float32Array;
    for (let r = 0; r < B; r++) {
      let positives = 0;
      for (let i = 0; i < F; i++) if (scaled[r * F + i]! > 0) positives++;
      assert.ok(positives >= K, `row ${r} needs >= k positive entries for this test`);
      const kept = new Set(Array.from(idx.subarray(r * K, (r + 1) * K)));
      let nonzero = 0;
      for (let i = 0; i < F; i++) {
        const v = zt[r * F + i]!;
        if (v !== 0) nonzero++;
        if (!kept.has(i)) {
          assert.equal(v, 0, `row ${r} latent ${i} should be dropped`);
        } else if (mask[r * F + i] === 1) {
          assert.ok(Math.abs(v - pre[r * F + i]! * (1 + alpha)) <= 1e-6 * Math.abs(v), `row ${r} latent ${i} in S: ${v}`);
        } else {
          assert.equal(v, pre[r * F + i], `row ${r} latent ${i} outside S is unchanged`);
        }
      }
      assert.equal(nonzero, K, `row ${r} keeps exactly k`);
    }
    // The steering actually changed the selection somewhere (the test would be vacuous otherwise).
    assert.notDeepEqual(Array.from(zt), Array.from(base.z.dataSync()));
  });
  x.dispose();
  sae.dispose();
});

test('keepError: x~_kept - x == x~ - x_hat (1e-5); steerFromBase == steeredCode exactly', () => {
  const { sae, x } = setup(3);
  tf.tidy(() => {
    const mask = maskTensor();
    const plain = steeredCode(sae, x, mask, 0.7);
    const kept = steeredCode(sae, x, mask, 0.7, { keepError: true });
    const d = tf.max(tf.abs(tf.sub(tf.sub(kept.xTilde, x), tf.sub(plain.xTilde, plain.xHat)))).dataSync()[0]!;
    assert.ok(d < 1e-5, `keepError identity off by ${d}`);
    const base = saeBase(sae, x);
    assert.deepEqual(steerFromBase(sae, x, base, mask, 0.7).dataSync(), plain.xTilde.dataSync());
  });
  x.dispose();
  sae.dispose();
});

test("omitted options steer as mode 'pre' without keepError (paper Eq. 5)", () => {
  const { sae, x } = setup(4);
  tf.tidy(() => {
    const mask = maskTensor();
    const implicit = steeredCode(sae, x, mask, 0.7).xTilde.dataSync();
    assert.deepEqual(implicit, steeredCode(sae, x, mask, 0.7, { mode: 'pre', keepError: false }).xTilde.dataSync());
    assert.notDeepEqual(implicit, steeredCode(sae, x, mask, 0.7, { mode: 'post' }).xTilde.dataSync());
    assert.notDeepEqual(implicit, steeredCode(sae, x, mask, 0.7, { keepError: true }).xTilde.dataSync());
  });
  x.dispose();
  sae.dispose();
});

test('mode post: z~ = z (1 + alpha) on S; mode add: z~ = ReLU(z + alpha mu m) (1e-6)', () => {
  const { sae, x } = setup(4);
  const mu = Float32Array.from({ length: F }, (_, i) => 0.1 + 0.05 * i);
  tf.tidy(() => {
    const base = saeBase(sae, x);
    const z = base.z.dataSync() as Float32Array;
    const m = setMask(SETS, GROUPS, F);
    const mask = tf.tensor2d(m, [B, F]);
    const post = steerLatents(base, mask, 0.5, sae, { mode: 'post' }).dataSync();
    const add = steerLatents(base, mask, -0.8, sae, { mode: 'add', meanActive: mu }).dataSync();
    const addT = steerLatents(base, mask, -0.8, sae, { mode: 'add', meanActive: tf.tensor1d(mu) }).dataSync();
    for (let j = 0; j < B * F; j++) {
      assert.ok(Math.abs(post[j]! - z[j]! * (m[j] === 1 ? 1.5 : 1)) <= 1e-6 * Math.max(1, Math.abs(z[j]!)));
      const want = Math.max(0, z[j]! + (m[j] === 1 ? -0.8 * mu[j % F]! : 0));
      assert.ok(Math.abs(add[j]! - want) <= 1e-6 * Math.max(1, want), `add at ${j}: ${add[j]} vs ${want}`);
      assert.equal(addT[j], add[j]);
    }
    assert.throws(() => steerLatents(base, mask, 1, sae, { mode: 'add' }), /meanActive/);
    assert.throws(() => steerLatents(base, mask, 1, sae, { mode: 'add', meanActive: new Float32Array(3) }), /meanActive has shape \[3\]/);
  });
  x.dispose();
  sae.dispose();
});

test('one (1,F) mask row broadcasts like the same set on every row; bad mask shape and alpha are named', () => {
  const { sae, x } = setup(5);
  tf.tidy(() => {
    const one = tf.tensor2d(setMask([SETS[0]!], new Int32Array(1), F), [1, F]);
    const all = tf.tensor2d(setMask([SETS[0]!], new Int32Array(B), F), [B, F]);
    assert.deepEqual(steeredCode(sae, x, one, 1.0).xTilde.dataSync(), steeredCode(sae, x, all, 1.0).xTilde.dataSync());
    assert.throws(() => steeredCode(sae, x, tf.zeros([2, F]), 1), /mask has shape \[2, 32\]/);
    assert.throws(() => steeredCode(sae, x, all, Number.NaN), /alpha must be a finite number/);
  });
  x.dispose();
  sae.dispose();
});

test('setMask: ones exactly at the row group indices; bad groups and indices are named', () => {
  const m = setMask([Int32Array.from([0, 2]), Int32Array.from([1])], Int32Array.from([1, 0, 0]), 4);
  assert.deepEqual(Array.from(m), [0, 1, 0, 0, 1, 0, 1, 0, 1, 0, 1, 0]);
  // Into a reused buffer (maskBuffer), whatever it held before; a buffer of the wrong size is refused.
  const reused = maskBuffer(12).fill(7);
  assert.equal(setMask([Int32Array.from([0, 2]), Int32Array.from([1])], Int32Array.from([1, 0, 0]), 4, reused), reused);
  assert.deepEqual(Array.from(reused), Array.from(m));
  assert.throws(() => setMask([Int32Array.from([0])], Int32Array.from([0]), 4, new Float32Array(5)), /out holds 5 floats, expected 1 x 4/);
  assert.throws(() => setMask([Int32Array.from([0])], Int32Array.from([0, 2]), 4), /row 1 asks for group 2, but there are 1 groups/);
  assert.throws(() => setMask([Int32Array.from([4])], Int32Array.from([0]), 4), /group 0 has latent index 4, expected 0..3/);
});

test('no tensor leaks: steeredCode outputs are the only new tensors, and disposing them restores the count', () => {
  const { sae, x } = setup(6);
  const mask = maskTensor();
  const mu = tf.tensor1d(new Float32Array(F).fill(0.3));
  const start = tf.memory().numTensors;
  for (const options of [{}, { mode: 'post' as const }, { mode: 'add' as const, meanActive: mu }, { keepError: true }]) {
    const { xTilde, xHat } = steeredCode(sae, x, mask, 0.9, options);
    assert.equal(tf.memory().numTensors, start + 2);
    xTilde.dispose();
    xHat.dispose();
    const base = saeBase(sae, x);
    const zt = steerLatents(base, mask, 0.9, sae, options);
    const xt = steerFromBase(sae, x, base, mask, 0.9, options);
    assert.equal(tf.memory().numTensors, start + 5);
    tf.dispose([base.pre, base.z, base.xHat, zt, xt]);
  }
  assert.equal(tf.memory().numTensors, start);
  tf.dispose([mask, mu, x]);
  sae.dispose();
});
