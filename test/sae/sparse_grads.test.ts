/**
 * The sparse SAE gradients (src/sae/sparse_grads.ts) and the k-sparse kernels under them
 * (src/engine/sparse.ts, sparse_kernels.wat):
 * - each kernel, SIMD and JS (HEADSTEER_SIMD=0), widths that are and are not multiples of 4, equals the
 *   same product with a dense S by tf.matMul (tolerance 1e-5 relative to the largest magnitude);
 * - the sparse step's loss terms, fire counts and all four gradients equal tfjs autograd on the dense
 *   formulation (train.ts), with and without AuxK, on codes with ties (duplicated encoder columns) and
 *   rows with fewer than k positive pre-activations (ReLU zeros in the top k): losses and counts to
 *   1e-6 relative, gradients to 1e-5 relative to each gradient's largest magnitude;
 * - nothing leaks.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initEngine } from '../../src/engine/backend.js';
import { kSparseDots, kSparseMatMul, kSparseMatMulT, kSparseSimdAvailable } from '../../src/engine/sparse.js';
import { SparseAutoencoder } from '../../src/sae/sae.js';
import { saeGrads, type SaeGradPath } from '../../src/sae/train.js';
import { values, withEnv } from '../engine/helpers.js';

before(async () => {
  await initEngine();
});

/** max |a - b| <= tol max(1, max |b|)... relative to the reference's scale. */
function assertClose(actual: Float32Array, expected: Float32Array, tol: number, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  let scale = 0;
  let err = 0;
  for (let i = 0; i < expected.length; i++) {
    scale = Math.max(scale, Math.abs(expected[i]!));
    err = Math.max(err, Math.abs(actual[i]! - expected[i]!));
  }
  assert.ok(err <= tol * Math.max(scale, 1e-30), `${what}: max error ${err} vs scale ${scale}`);
}

/** A k-sparse S (B,F) with distinct columns per row, some zero values, and its dense form. */
function randomCode(b: number, f: number, k: number, seed: number): { idx: Int32Array; coef: Float32Array; dense: Float32Array } {
  const idx = new Int32Array(b * k);
  const coef = values(b * k, seed, -1, 2);
  const dense = new Float32Array(b * f);
  const u = values(b * k, seed + 1, 0, 1);
  for (let r = 0; r < b; r++) {
    const start = Math.floor(u[r * k]! * f);
    for (let j = 0; j < k; j++) {
      const t = r * k + j;
      idx[t] = (start + j * 7) % f; // distinct while k * 7 <= f
      if (j % 5 === 3) coef[t] = 0; // absent entries
      dense[r * f + idx[t]!] = coef[t]!;
    }
  }
  return { idx, coef, dense };
}

for (const simd of ['on', 'off'] as const) {
  for (const d of [12, 13]) {
    test(`k-sparse kernels equal the dense products (SIMD ${simd}, D = ${d})`, () => {
      withEnv('HEADSTEER_SIMD', simd === 'on' ? undefined : '0', () => {
        assert.equal(kSparseSimdAvailable(d), simd === 'on' && d % 4 === 0, 'which loops run');
        const [b, f, k] = [9, 40, 5];
        const before = tf.memory().numTensors;
        const code = randomCode(b, f, k, 3);
        tf.tidy(() => {
          const idx = tf.tensor2d(code.idx, [b, k], 'int32');
          const coef = tf.tensor2d(code.coef, [b, k]);
          const s = tf.tensor2d(code.dense, [b, f]);
          const w = tf.tensor2d(values(f * d, 4), [f, d]);
          const bias = tf.tensor1d(values(d, 5));
          const a = tf.tensor2d(values(b * d, 6), [b, d]);
          const arr = (t: tf.Tensor): Float32Array => t.dataSync() as Float32Array;
          assertClose(arr(kSparseMatMul(idx, coef, w, bias)), arr(tf.add(tf.matMul(s, w), bias)), 1e-5, 'S W + bias');
          assertClose(arr(kSparseMatMul(idx, coef, w)), arr(tf.matMul(s, w)), 1e-5, 'S W');
          // a_b . w[idx] at entries whose value is > 0: (a W^T) gathered, masked
          const full = arr(tf.matMul(a, w, false, true)); // (B,F)
          const dots = new Float32Array(b * k);
          for (let t = 0; t < b * k; t++) dots[t] = code.coef[t]! > 0 ? full[Math.floor(t / k) * f + code.idx[t]!]! : 0;
          assertClose(arr(kSparseDots(a, w, idx, coef)), dots, 1e-5, 'masked dots');
          const { out, sums, counts } = kSparseMatMulT(idx, coef, a, f);
          assertClose(arr(out), arr(tf.matMul(s, a, true, false)), 1e-5, 'S^T A');
          assertClose(arr(kSparseMatMulT(idx, coef, a, f, true).out), arr(tf.matMul(a, s, true, false)), 1e-5, '(S^T A)^T');
          assertClose(arr(sums), arr(tf.sum(s, 0)), 1e-6, 'column sums');
          assert.deepEqual(Array.from(arr(counts)), Array.from(arr(tf.sum(tf.notEqual(s, 0).cast('float32'), 0))), 'column counts');
        });
        assert.equal(tf.memory().numTensors, before, 'no leaks');
        assert.throws(
          () => tf.tidy(() => kSparseMatMul(tf.tensor2d([[0, f]], [1, 2], 'int32'), tf.ones([1, 2]), tf.ones([f, d]))),
          (e: unknown) => e instanceof RangeError && e.message.includes(`index ${f}`),
        );
      });
    });
  }
}

/**
 * An SAE (D = 16, F = 64, k = 6) whose encoder has pairs of equal columns (exact ties in pre) and a
 * b_enc that leaves some rows of a batch with fewer than k positive pre-activations.
 */
function trickySae(): SparseAutoencoder {
  const [d, f] = [16, 64];
  const sae = new SparseAutoencoder({ dIn: d, dSae: f, k: 6 }, { seed: 7, bDec: values(d, 8, -0.1, 0.1) });
  const w = sae.wEnc.arraySync();
  for (const row of w) for (let j = 1; j < f; j += 8) row[j] = row[j - 1]!; // latents j-1, j tie
  sae.wEnc.assign(tf.tensor2d(w));
  sae.bEnc.assign(tf.tensor1d(values(f, 9, -1.5, -0.3)));
  sae.wDec.assign(tf.tensor2d(values(f * d, 10), [f, d]));
  return sae;
}

for (const deadEvery of [0, 3, 25]) {
  const aux = deadEvery > 0;
  test(`sparse step gradients == dense autograd (AuxK ${aux ? `on, 1 in ${deadEvery} latents dead` : 'off'}), ties and ReLU zeros included`, () => {
    const sae = trickySae();
    const params = sae.parameters();
    const [b, d, f] = [48, sae.dIn, sae.dSae];
    const x = tf.tensor2d(values(b * d, 11, -1, 1), [b, d]);
    const mask = new Float32Array(f);
    for (let j = 0; aux && j < f; j += deadEvery) mask[j] = 1;
    const count = mask.reduce((c, m) => c + m, 0); // 22 or 3 dead: more and fewer than k_aux
    const before = tf.memory().numTensors;
    const run = (path: SaeGradPath): Record<string, Float32Array> =>
      tf.tidy(() => {
        const g = saeGrads(sae, params, x, { lr: 0, dead: aux ? { mask, count } : null, kAux: 8, auxkAlpha: 1 / 32, grads: path });
        const out: Record<string, Float32Array> = {
          mse: g.mse.dataSync() as Float32Array,
          aux: g.aux.dataSync() as Float32Array,
          fired: g.fired.dataSync() as Float32Array,
        };
        for (const [name, t] of Object.entries(g.grads)) out[name] = t.dataSync() as Float32Array;
        return out;
      });
    const dense = run('dense');
    const sparse = run('sparse');
    assert.equal(tf.memory().numTensors, before, 'no leaks');
    // the batch exercises what it should
    const fired = Array.from(dense['fired']!);
    const perRow = fired.reduce((s, c) => s + c, 0) / b;
    assert.ok(perRow < 6 && perRow > 2, `mean active latents per row ${perRow}: some rows have fewer than k positives`);
    assert.ok(aux === dense['aux']![0]! > 0, `aux ${dense['aux']![0]}`);
    assert.deepEqual(Array.from(sparse['fired']!), fired, 'fire counts');
    assertClose(sparse['mse']!, dense['mse']!, 1e-6, 'mse');
    assertClose(sparse['aux']!, dense['aux']!, 1e-6, 'aux');
    for (const name of ['W_enc', 'b_enc', 'W_dec', 'b_dec']) assertClose(sparse[name]!, dense[name]!, 1e-5, `d ${name}`);
    x.dispose();
    sae.dispose();
  });
}
