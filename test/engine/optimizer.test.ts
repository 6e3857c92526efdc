/**
 * The fused AdamW update (src/engine/optimizer.ts) is bitwise equal to its tf-op composite on the
 * wasm backend (SIMD kernel, and the JS loop under HEADSTEER_SIMD=0) and on the cpu backend: every
 * step is one correctly rounded float32 operation in the same order on every path. The in-place
 * update equals it too, reading its gradient from the middle of a longer vector, and refuses storage
 * that another tensor shares. Also the squared norm against a float64 sum, and no leaked tensors.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initEngine } from '../../src/engine/backend.js';
import { adamwComposite, adamwInPlace, adamwUpdate, sumOfSquares, wholeRange, type AdamWHyper } from '../../src/engine/optimizer.js';
import { simd } from '../../src/engine/simd.js';
import { variableFrom } from '../../src/model/layers.js';
import { values, withEnv } from './helpers.js';

await initEngine();

const SHAPES = [[1], [3], [4], [5, 7], [2, 3, 11], [0, 3]];
const HYPERS: AdamWHyper[] = [
  { scale: 1, beta1: 0.9, beta2: 0.999, bc1: 0.1, bc2: 0.001, lr: 1e-3, decay: 1, eps: 1e-8 },
  { scale: 0.37, beta1: 0.9, beta2: 0.999, bc1: 1 - 0.9 ** 7, bc2: 1 - 0.999 ** 7, lr: 3e-4, decay: 1 - 3e-4 * 0.05, eps: 1e-8 },
];

/** Three AdamW steps from fixed p, g, m, v (v >= 0) through `update`; final p, m, v as arrays. */
function threeSteps(shape: number[], h: AdamWHyper, update: typeof adamwUpdate): Float32Array[] {
  const n = shape.reduce((a, d) => a * d, 1);
  return tf.tidy(() => {
    let [p, m, v] = [tf.tensor(values(n, 1), shape), tf.tensor(values(n, 2, -0.1, 0.1), shape), tf.tensor(values(n, 3, 0, 0.01), shape)];
    for (let step = 0; step < 3; step++) {
      [p, m, v] = update(p, tf.tensor(values(n, 4 + step, -2, 2), shape), m, v, h) as [tf.Tensor, tf.Tensor, tf.Tensor];
    }
    return [p, m, v].map((t) => t.dataSync() as Float32Array);
  });
}

for (const [label, backend, simdEnv] of [
  ['wasm SIMD', 'wasm', undefined],
  ['wasm JS loop', 'wasm', '0'],
  ['cpu', 'cpu', undefined],
] as const) {
  test(`fused AdamW (${label}) is bitwise equal to the tf-op composite`, async () => {
    await tf.setBackend(backend);
    try {
      withEnv('HEADSTEER_SIMD', simdEnv, () => {
        for (const shape of SHAPES) {
          for (const h of HYPERS) {
            const got = threeSteps(shape, h, adamwUpdate);
            const want = threeSteps(shape, h, adamwComposite);
            ['p', 'm', 'v'].forEach((name, k) => {
              assert.deepEqual(got[k], want[k], `${label} ${shape} scale ${h.scale}: ${name}`);
            });
          }
        }
      });
    } finally {
      await tf.setBackend('wasm');
    }
  });
}

test('AdamW in place equals the fused update, reading the gradient at an offset, and refuses shared storage', () => {
  const before = tf.memory().numTensors;
  for (const shape of SHAPES) {
    for (const h of HYPERS) {
      const n = shape.reduce((a, d) => a * d, 1);
      const want = threeSteps(shape, h, adamwUpdate);
      const [p, m, v] = [values(n, 1), values(n, 2, -0.1, 0.1), values(n, 3, 0, 0.01)].map((a) => variableFrom(tf.tensor(a, shape)));
      for (let step = 0; step < 3; step++) {
        // the gradient sits 5 floats into a longer vector, with 2 more after it
        const flat = tf.tensor1d([...values(5, 99), ...values(n, 4 + step, -2, 2), ...values(2, 98)]);
        assert.equal(adamwInPlace(p!, flat, 5, m!, v!, h), true, `${shape}: in place on the wasm heap`);
        flat.dispose();
      }
      [p, m, v].forEach((t, k) => {
        assert.deepEqual(t!.dataSync(), want[k], `${shape} scale ${h.scale}: ${'pmv'[k]}`);
      });
      tf.dispose([p!, m!, v!]);
    }
  }
  const [p, m, v] = [0, 1, 2].map(() => variableFrom(tf.ones([3])));
  const g = tf.ones([3]);
  const alias = p!.reshape([3]); // shares p's storage
  assert.equal(adamwInPlace(p!, g, 0, m!, v!, HYPERS[0]!), false, 'shared storage is left alone');
  assert.equal(adamwInPlace(m!, g, 1, p!, v!, HYPERS[0]!), false, 'a gradient range past the end is refused');
  assert.deepEqual(alias.dataSync(), new Float32Array([1, 1, 1]));
  withEnv('HEADSTEER_SIMD', '0', () => assert.equal(adamwInPlace(m!, g, 0, v!, v!, HYPERS[0]!), false, 'no SIMD kernels, no in-place update'));
  tf.dispose([p!, m!, v!, g, alias]);
  assert.equal(tf.memory().numTensors, before);
});

test('sumOfSquares equals a float64 sum over all tensors (any length), and leaks nothing', () => {
  const arrays = [values(1, 8), values(7, 9, -3, 3), values(1000, 10, -1e3, 1e3), new Float32Array(0)];
  const tensors = arrays.map((a) => tf.tensor1d(a));
  const want = arrays.reduce((s, a) => a.reduce((t, x) => t + x * x, s), 0);
  const before = tf.memory().numTensors;
  for (const simdEnv of [undefined, '0']) {
    const [got, onSimd] = withEnv('HEADSTEER_SIMD', simdEnv, () => [sumOfSquares(tensors.map(wholeRange)), simd() !== undefined] as const);
    // SIMD path: float64 sums (only the order differs); tf path: float32 sums.
    const tol = onSimd ? 1e-12 : 1e-6;
    assert.ok(Math.abs(got - want) <= tol * want, `HEADSTEER_SIMD=${simdEnv}: ${got} vs ${want}`);
  }
  assert.equal(sumOfSquares([]), 0);
  const flat = tf.tensor1d([2, 3, 4, 5]);
  for (const simdEnv of [undefined, '0']) {
    assert.equal(
      withEnv('HEADSTEER_SIMD', simdEnv, () => sumOfSquares([{ tensor: flat, offset: 1, size: 2 }])),
      25,
      `HEADSTEER_SIMD=${simdEnv}: a range of a tensor`,
    );
  }
  flat.dispose();
  assert.equal(tf.memory().numTensors, before);
  tf.dispose(tensors);
});
