/**
 * ReLU(TopK) (src/sae/topk.ts, topk_kernel.ts): both implementations equal a slow JS reference
 * exactly (including ties), keep exactly min(k, #positive) entries per row, the gradient equals
 * central finite differences (tolerance 2e-3 absolute, float32, h = 1e-2 with entries >= 0.05 apart),
 * and nothing leaks.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initEngine } from '../../src/engine/backend.js';
import { rng } from '../../src/random.js';
import { topkRelu, topkReluForward, topkReluIndices, type TopKImpl } from '../../src/sae/topk.js';
import { topkReluRows, topkReluSparse } from '../../src/sae/topk_kernel.js';
import { withEnv } from '../engine/helpers.js';

before(async () => {
  await initEngine();
});

/** Dense z from the reference indices. */
function reference(pre: Float32Array, rows: number, cols: number, k: number): Float32Array {
  const idx = topkReluIndices(pre, rows, cols, k);
  const z = new Float32Array(rows * cols);
  const kk = Math.min(k, cols);
  for (let r = 0; r < rows; r++) {
    for (let t = 0; t < kk; t++) {
      const j = idx[r * k + t]!;
      if (j >= 0) z[r * cols + j] = pre[r * cols + j]!;
    }
  }
  return z;
}

function randomData(rows: number, cols: number, seed: number, quantize: boolean): Float32Array {
  const x = rng(seed, 'topk-test').fill(new Float32Array(rows * cols), 'normal');
  // Quantised values make many ties, including at the k-th place.
  if (quantize) for (let i = 0; i < x.length; i++) x[i] = Math.round(x[i]! * 2) / 2;
  return x;
}

const IMPLS: TopKImpl[] = ['kernel', 'tfjs'];

for (const impl of IMPLS) {
  test(`${impl}: equals the JS reference exactly, with and without ties`, () => {
    for (const [rows, cols, k] of [
      [7, 13, 1],
      [7, 13, 4],
      [9, 64, 16],
      [5, 40, 39],
      [3, 10, 10],
      [4, 10, 25],
      [64, 300, 32],
    ] as const) {
      for (const quantize of [false, true]) {
        const x = randomData(rows, cols, rows * 1000 + cols + k, quantize);
        const got = tf.tidy(() => topkReluForward(tf.tensor2d(x, [rows, cols]), k, impl).dataSync() as Float32Array);
        assert.deepEqual(Array.from(got), Array.from(reference(x, rows, cols, k)), `rows ${rows} cols ${cols} k ${k} quantize ${quantize}`);
      }
    }
  });
}

test('kernel: keeps exactly min(k, #positive) per row; all-equal rows keep the lowest columns', () => {
  const rows = 50;
  const cols = 200;
  const k = 20;
  const x = randomData(rows, cols, 3, true);
  for (let c = 0; c < cols; c++) x[c] = 1; // row 0: all ties
  for (let c = 0; c < cols; c++) x[cols + c] = c < 5 ? 2 : -1; // row 1: only 5 positive
  const z = new Float32Array(rows * cols);
  topkReluRows(x, z, rows, cols, k);
  for (let r = 0; r < rows; r++) {
    let pos = 0;
    let nz = 0;
    for (let c = 0; c < cols; c++) {
      if (x[r * cols + c]! > 0) pos += 1;
      if (z[r * cols + c] !== 0) nz += 1;
    }
    assert.equal(nz, Math.min(k, pos), `row ${r}`);
  }
  assert.deepEqual(
    Array.from(z.subarray(0, cols), (v) => (v !== 0 ? 1 : 0)),
    Array.from({ length: cols }, (_, c) => (c < k ? 1 : 0)),
  );
  assert.deepEqual(Array.from(z.subarray(cols, cols + 6)), [2, 2, 2, 2, 2, 0]);
});

test('sparse-output kernel, SIMD and JS: the same code slot for slot, equal to the reference; NaN never kept; (0, 0) padding; start bars from groups of 9, 32, 32 entries', () => {
  const cases = [
    [7, 13, 1],
    [7, 13, 4],
    [9, 64, 16],
    [5, 40, 39],
    [3, 10, 10],
    [4, 10, 25],
    [64, 301, 32],
    [16, 256, 8],
    [12, 520, 16],
  ] as const;
  for (const [rows, cols, k] of cases) {
    for (const quantize of [false, true]) {
      const x = randomData(rows, cols, rows * 1000 + cols + k, quantize);
      x[3] = Number.NaN;
      for (let c = 0; c < cols; c++) x[cols + c] = c % 7 === 2 ? 1 : -1; // row 1: ties, few positive
      const run = (simd: string | undefined): [Float32Array, Int32Array] =>
        withEnv('HEADSTEER_SIMD', simd, () =>
          tf.tidy(() => {
            const { values, indices } = topkReluSparse(tf.tensor2d(x, [rows, cols]), k);
            return [values.dataSync() as Float32Array, indices.dataSync() as Int32Array];
          }),
        );
      const [v, i] = run(undefined);
      const [vJs, iJs] = run('0');
      const what = `rows ${rows} cols ${cols} k ${k} quantize ${quantize}`;
      assert.deepEqual(Array.from(v), Array.from(vJs), `${what}: values SIMD vs JS`);
      assert.deepEqual(Array.from(i), Array.from(iJs), `${what}: indices SIMD vs JS`);
      const kk = Math.min(k, cols);
      const z = new Float32Array(rows * cols);
      for (let t = 0; t < rows * kk; t++) {
        if (v[t] === 0) assert.equal(i[t], 0, `${what}: padding slot ${t}`);
        else z[Math.floor(t / kk) * cols + i[t]!] = v[t]!;
      }
      const xRef = x.map((e) => (Number.isNaN(e) ? -1 : e)); // the reference's sort cannot take NaN
      assert.deepEqual(Array.from(z), Array.from(reference(xRef, rows, cols, k)), what);
    }
  }
});

test('kernel == tfjs on a training-sized batch (512 x 3072, k 64)', () => {
  const x = randomData(512, 3072, 11, false);
  const [a, b] = tf.tidy(() => {
    const t = tf.tensor2d(x, [512, 3072]);
    return [topkReluForward(t, 64, 'kernel').dataSync(), topkReluForward(t, 64, 'tfjs').dataSync()];
  });
  assert.deepEqual(a, b);
});

for (const impl of IMPLS) {
  test(`${impl}: gradient equals central finite differences`, () => {
    const rows = 3;
    const cols = 12;
    const k = 4;
    // Distinct values >= 0.05 apart (a shuffled grid) so that +-h never changes the selection.
    const r = rng(5, 'fd');
    const x = new Float32Array(rows * cols);
    for (let i = 0; i < x.length; i++) x[i] = (i - x.length / 2) * 0.1 + 0.025;
    for (let i = x.length - 1; i > 0; i--) {
      const j = r.int(i + 1);
      [x[i], x[j]] = [x[j]!, x[i]!];
    }
    const c = r.fill(new Float32Array(rows * cols), 'normal');
    const lossOf = (pre: tf.Tensor2D): tf.Scalar => tf.sum(tf.mul(topkRelu(pre, k, impl), tf.tensor2d(c, [rows, cols])));
    const g = tf.tidy(
      () =>
        tf
          .grad((p: tf.Tensor) => lossOf(p as tf.Tensor2D))(tf.tensor2d(x, [rows, cols]))
          .dataSync() as Float32Array,
    );
    const h = 1e-2;
    for (let i = 0; i < x.length; i++) {
      const plus = x.slice();
      const minus = x.slice();
      plus[i]! += h;
      minus[i]! -= h;
      const fd = tf.tidy(() => (lossOf(tf.tensor2d(plus, [rows, cols])).dataSync()[0]! - lossOf(tf.tensor2d(minus, [rows, cols])).dataSync()[0]!) / (2 * h));
      assert.ok(Math.abs(fd - g[i]!) < 2e-3, `element ${i}: analytic ${g[i]}, finite difference ${fd}`);
    }
    // The gradient reaches exactly the kept positive entries.
    const kept = reference(x, rows, cols, k);
    for (let i = 0; i < x.length; i++) assert.equal(g[i] !== 0, kept[i] !== 0, `element ${i}`);
  });
}

test('no tensor leaks (forward, gradient, both impls)', () => {
  const x = randomData(16, 48, 9, false);
  const before = tf.memory().numTensors;
  for (const impl of IMPLS) {
    const t = tf.tensor2d(x, [16, 48]);
    topkReluForward(t, 8, impl).dispose();
    tf.tidy(() => {
      tf.grad((p: tf.Tensor) => tf.sum(topkRelu(p as tf.Tensor2D, 8, impl)))(t);
    });
    t.dispose();
  }
  assert.equal(tf.memory().numTensors, before);
});
