/**
 * SparseAutoencoder (src/sae/sae.ts): init (W_enc = W_dec^T exactly, unit decoder rows), the forward
 * equals the paper's formula, the parallel-gradient projection leaves gradients orthogonal to their
 * rows (|cos| < 1e-5), rows stay at unit norm (|norm - 1| < 1e-5) after training steps, the
 * geometric median, and no tensor leaks.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initEngine } from '../../src/engine/backend.js';
import { rng } from '../../src/random.js';
import { createAdamWState, disposeAdamWState } from '../../src/train/adamw.js';
import { geometricMedian, normalizeRows, removeParallelGrad, SparseAutoencoder } from '../../src/sae/sae.js';
import { saeTrainStep } from '../../src/sae/train.js';

before(async () => {
  await initEngine();
});

function rowNorms(w: Float32Array, rows: number, cols: number): number[] {
  return Array.from({ length: rows }, (_, r) => Math.hypot(...w.subarray(r * cols, (r + 1) * cols)));
}

test('init: W_enc = W_dec^T exactly, unit-norm decoder rows, b_enc 0, b_dec as given; same seed same weights', () => {
  const bDec = Float32Array.from({ length: 6 }, (_, i) => i - 2);
  const a = new SparseAutoencoder({ dIn: 6, dSae: 20, k: 3 }, { seed: 4, bDec });
  const b = new SparseAutoencoder({ dIn: 6, dSae: 20, k: 3 }, { seed: 4 });
  const wDec = a.wDec.dataSync() as Float32Array;
  const wEnc = a.wEnc.dataSync() as Float32Array;
  for (let f = 0; f < 20; f++) for (let d = 0; d < 6; d++) assert.equal(wEnc[d * 20 + f], wDec[f * 6 + d]);
  for (const n of rowNorms(wDec, 20, 6)) assert.ok(Math.abs(n - 1) < 1e-6, `row norm ${n}`);
  assert.deepEqual(Array.from(a.bEnc.dataSync()), new Array(20).fill(0));
  assert.deepEqual(Array.from(a.bDec.dataSync()), Array.from(bDec));
  assert.deepEqual(Array.from(b.wDec.dataSync()), Array.from(wDec));
  a.dispose();
  b.dispose();
});

test('forward: pre = (x - b_dec) W_enc + b_enc, z = ReLU(TopK(pre)), x_hat = z W_dec + b_dec (1e-5)', () => {
  const sae = new SparseAutoencoder({ dIn: 8, dSae: 24, k: 4 }, { seed: 1, bDec: rng(1, 'b').fill(new Float32Array(8), 'normal') });
  tf.tidy(() => sae.bEnc.assign(tf.tensor1d(rng(2, 'b').fill(new Float32Array(24), 'normal'))));
  const before = tf.memory().numTensors;
  tf.tidy(() => {
    const x = tf.tensor2d(rng(3, 'x').fill(new Float32Array(5 * 8), 'normal'), [5, 8]);
    const { pre, z, xHat } = sae.forward(x);
    const preRef = tf.add(tf.matMul(tf.sub(x, sae.bDec), sae.wEnc), sae.bEnc);
    assert.ok(tf.max(tf.abs(tf.sub(pre, preRef))).dataSync()[0]! < 1e-5);
    const zz = z.arraySync();
    const pp = pre.arraySync();
    for (let r = 0; r < 5; r++) {
      const kth = [...pp[r]!].sort((u, v) => v - u)[3]!;
      for (let f = 0; f < 24; f++) assert.equal(zz[r]![f], pp[r]![f]! >= kth && pp[r]![f]! > 0 ? pp[r]![f] : 0);
    }
    const xHatRef = tf.add(tf.matMul(z, sae.wDec), sae.bDec);
    assert.ok(tf.max(tf.abs(tf.sub(xHat, xHatRef))).dataSync()[0]! < 1e-5);
    assert.ok(tf.max(tf.abs(tf.sub(sae.encode(x), z))).dataSync()[0]! === 0);
    assert.ok(tf.max(tf.abs(tf.sub(sae.decode(z), xHat))).dataSync()[0]! === 0);
  });
  assert.equal(tf.memory().numTensors, before);
  sae.dispose();
});

test('removeParallelGrad: each row of the result is orthogonal to its weight row', () => {
  tf.tidy(() => {
    const w = normalizeRows(tf.tensor2d(rng(0, 'w').fill(new Float32Array(50 * 16), 'normal'), [50, 16]));
    const wScaled = tf.mul(
      w,
      tf.tensor2d(
        Array.from({ length: 50 }, (_, i) => 0.5 + i / 10),
        [50, 1],
      ),
    ) as tf.Tensor2D; // also non-unit rows
    const g = tf.tensor2d(rng(1, 'g').fill(new Float32Array(50 * 16), 'normal'), [50, 16]);
    for (const ww of [w, wScaled]) {
      const p = removeParallelGrad(g, ww);
      const cos = tf.div(tf.sum(tf.mul(p, ww), 1), tf.mul(tf.norm(p, 2, 1), tf.norm(ww, 2, 1))).dataSync();
      for (const v of cos) assert.ok(Math.abs(v) < 1e-5, `cos ${v}`);
      // The perpendicular part is unchanged: p - g is parallel to w.
      const diff = tf.sub(p, g);
      const par = tf.div(tf.abs(tf.sum(tf.mul(diff, ww), 1)), tf.add(tf.mul(tf.norm(diff, 2, 1), tf.norm(ww, 2, 1)), 1e-12)).dataSync();
      for (const v of par) assert.ok(Math.abs(v - 1) < 1e-4, `|cos(p - g, w)| ${v}`);
    }
  });
});

test('decoder rows stay at unit norm after training steps; a step leaks no tensors', () => {
  const sae = new SparseAutoencoder({ dIn: 16, dSae: 64, k: 4 }, { seed: 2 });
  const params = sae.parameters();
  const opt = createAdamWState(params);
  const x = tf.tensor2d(rng(5, 'x').fill(new Float32Array(128 * 16), 'normal'), [128, 16]);
  const dead = { mask: new Float32Array(64).fill(1), count: 64 }; // exercises the AuxK path too
  saeTrainStep(sae, params, opt, x, { lr: 1e-2, dead: null, kAux: 8, auxkAlpha: 1 / 32 });
  const before = tf.memory().numTensors;
  for (let i = 0; i < 5; i++) {
    const s = saeTrainStep(sae, params, opt, x, { lr: 1e-2, dead: i % 2 === 0 ? dead : null, kAux: 8, auxkAlpha: 1 / 32 });
    assert.ok(Number.isFinite(s.mse) && s.fireCounts.length === 64);
    assert.equal(
      s.fireCounts.reduce((a, b) => a + b, 0),
      128 * 4,
    ); // k per sample (Gaussian pre: >= k positive)
  }
  assert.equal(tf.memory().numTensors, before);
  for (const n of rowNorms(sae.wDec.dataSync() as Float32Array, 64, 16)) assert.ok(Math.abs(n - 1) < 1e-5, `row norm ${n}`);
  x.dispose();
  disposeAdamWState(opt);
  sae.dispose();
});

test('geometricMedian: centre of a symmetric cloud; robust to an outlier where the mean is not', () => {
  const d = 3;
  const centre = [1, -2, 0.5];
  const pts: number[] = [];
  for (let c = 0; c < d; c++) {
    for (const s of [-1, 1]) {
      const p = [...centre];
      p[c]! += s;
      pts.push(...p);
    }
  }
  const sym = Float32Array.from(pts);
  const med = geometricMedian(sym, 6, d, 50);
  for (let c = 0; c < d; c++) assert.ok(Math.abs(med[c]! - centre[c]!) < 1e-5);

  const withOutlier = Float32Array.from([...pts, 1000, 1000, 1000]);
  const m2 = geometricMedian(withOutlier, 7, d, 100);
  const mean = geometricMedian(withOutlier, 7, d, 0); // 0 iterations = the mean
  const dist = (v: Float32Array): number => Math.hypot(...Array.from(v, (x, c) => x - centre[c]!));
  assert.ok(dist(m2) < 1, `median moved ${dist(m2)} from the centre`);
  assert.ok(dist(mean) > 100, `mean moved ${dist(mean)}`);
});
