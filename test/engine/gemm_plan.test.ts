/**
 * The BatchMatMul -> sgemm planning rules (folding, broadcast offsets), and which calls the
 * registered kernels send to OpenBLAS (a counting sgemm stands in for nblas).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initEngine } from '../../src/engine/backend.js';
import { loadSgemm, type Sgemm } from '../../src/engine/blas.js';
import { broadcastBatch, planBatchMatMul } from '../../src/engine/gemm_plan.js';
import { registerNativeMatMul } from '../../src/engine/matmul_kernel.js';

const info = await initEngine();

test('a shared 2-D b folds a batched a into one gemm of Bo*M rows', () => {
  const p = planBatchMatMul([64, 65, 192], [192, 576], false, false);
  assert.deepEqual(p.outShape, [64, 65, 576]);
  assert.equal(p.folded, true);
  assert.deepEqual([p.m, p.n, p.k, p.lda, p.ldb], [64 * 65, 576, 192, 192, 576]);
  assert.deepEqual([...p.offsets], [0, 0, 0]);
  // transposeA breaks the row stacking, so no fold
  assert.equal(planBatchMatMul([4, 192, 65], [192, 576], true, false).folded, false);
});

test('broadcast batches index the repeated operand at 0, numpy style', () => {
  assert.deepEqual(broadcastBatch([2, 1], [3]), [2, 3]);
  assert.throws(() => broadcastBatch([2], [3]), /do not broadcast/);
  const p = planBatchMatMul([1, 4, 3], [5, 3, 2], false, false);
  assert.deepEqual(p.outShape, [5, 4, 2]);
  for (let o = 0; o < 5; o++) assert.deepEqual([...p.offsets.subarray(3 * o, 3 * o + 3)], [0, o * 6, o * 8]);
  // [2,1] vs [1,3]: out (i, j) reads a[i] and b[j]
  const q = planBatchMatMul([2, 1, 4, 3], [1, 3, 3, 2], false, false);
  const pairs = [];
  for (let o = 0; o < 6; o++) pairs.push([(q.offsets[3 * o] ?? 0) / 12, (q.offsets[3 * o + 1] ?? 0) / 6]);
  assert.deepEqual(pairs, [
    [0, 0],
    [0, 1],
    [0, 2],
    [1, 0],
    [1, 1],
    [1, 2],
  ]);
  assert.throws(() => planBatchMatMul([4, 3], [4, 2], false, false), /inner dims/);
});

test('dispatch: single and batched gemms go to sgemm, tiny batched ones stay on XNNPACK', { skip: info.matmul !== 'openblas' }, () => {
  const blas = loadSgemm();
  assert.ok(blas.ok);
  const calls: number[][] = [];
  const counting: Sgemm = (ta, tb, m, n, k, ...rest) => {
    calls.push([m, n, k]);
    blas.sgemm(ta, tb, m, n, k, ...rest);
  };
  const restore = registerNativeMatMul(counting, { minFlopsPerCall: 1024 });
  try {
    const count = (f: () => tf.Tensor): number => {
      calls.length = 0;
      tf.tidy(() => f().dataSync());
      return calls.length;
    };
    assert.equal(
      count(() => tf.matMul(tf.ones([8, 65, 192]), tf.ones([192, 64]))),
      1,
      'folded',
    );
    assert.deepEqual(calls[0], [8 * 65, 64, 192]);
    assert.equal(
      count(() => tf.matMul(tf.ones([24, 65, 32]), tf.ones([24, 65, 32]), false, true)),
      24,
      'attention',
    );
    assert.equal(
      count(() => tf.matMul(tf.ones([4, 4]), tf.ones([4, 4]))),
      1,
      'single tiny gemm -> native',
    );
    assert.equal(
      count(() => tf.matMul(tf.ones([8, 4, 4]), tf.ones([8, 4, 4]))),
      0,
      'tiny batched -> XNNPACK',
    );
    assert.equal(
      count(() => tf.fused.matMul({ a: tf.ones([4, 4]), b: tf.ones([4, 4]), bias: tf.ones([4]) })),
      1,
      'fused always native',
    );
  } finally {
    restore();
  }
});
