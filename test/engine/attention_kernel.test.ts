/**
 * The attention-core kernels (src/engine/attention_kernel.ts) against the composite tfjs formula:
 * forward and the gradient w.r.t. qkv for odd token counts (partial SIMD quads), one head, batch 1
 * and an empty batch; the SIMD softmax rows against the JS twins (extreme logits included); and
 * Attention.apply with a head mask, fused vs HEADSTEER_FUSED=0, values and every parameter gradient.
 * Tolerance: |got - ref| <= 1e-5 max(1, |ref|) (float32 rounding of different operation orders).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { attentionCore, attentionCoreActive, rowStride, softmaxGradRows, softmaxRows } from '../../src/engine/attention_kernel.js';
import { initEngine } from '../../src/engine/backend.js';
import { simd } from '../../src/engine/simd.js';
import { Attention } from '../../src/model/attention.js';
import { rng } from '../../src/random.js';
import { assertClose, values, withEnv } from './helpers.js';

const info = await initEngine();
const native = info.matmul === 'openblas';

/** The composite formula on the kernel's layout: qkv (B, N, 3 H Dh) -> (B, N, H Dh). */
function compositeCore(qkv: tf.Tensor3D, H: number, scale: number): tf.Tensor3D {
  const [B, N, D3] = qkv.shape;
  const D = D3 / 3;
  const heads = (t: tf.Tensor): tf.Tensor4D => t.reshape([B, N, H, D / H]).transpose([0, 2, 1, 3]);
  const [q, k, v] = tf.split(qkv, 3, 2).map(heads) as [tf.Tensor4D, tf.Tensor4D, tf.Tensor4D];
  const att = tf.softmax(tf.mul(tf.matMul(q, k, false, true), scale));
  return tf.matMul(att, v).transpose([0, 2, 1, 3]).reshape([B, N, D]) as tf.Tensor3D;
}

/** Output and d sum(f(qkv) w) / d qkv. */
function valueAndGrad(f: (x: tf.Tensor3D) => tf.Tensor3D, qkv: tf.Tensor3D, w: tf.Tensor): Float32Array[] {
  return tf.tidy(() => {
    const y = f(qkv);
    const g = tf.grad((x: tf.Tensor) => tf.sum(tf.mul(f(x as tf.Tensor3D), w)))(qkv);
    return [y.dataSync() as Float32Array, g.dataSync() as Float32Array];
  });
}

// (B, N, H, Dh): odd N leaves a partial quad per softmax row; one head; batch 1; an empty batch.
const SHAPES: Array<[number, number, number, number]> = [
  [2, 5, 3, 4],
  [3, 17, 2, 8],
  [1, 9, 1, 6],
  [2, 4, 2, 3],
  [0, 5, 2, 4],
];

test('attention core kernel equals the composite formula, forward and gradient', { skip: !native && 'OpenBLAS not loaded' }, () => {
  assert.ok(attentionCoreActive());
  for (const [B, N, H, Dh] of SHAPES) {
    const size = B * N * 3 * H * Dh;
    const qkv = tf.tensor3d(values(size, 1, -2, 2), [B, N, 3 * H * Dh]);
    const w = tf.tensor3d(values(B * N * H * Dh, 2), [B, N, H * Dh]);
    const scale = 1 / Math.sqrt(Dh);
    const before = tf.memory().numTensors;
    const got = valueAndGrad((x) => attentionCore(x, H, scale), qkv, w);
    assert.equal(tf.memory().numTensors, before, `${[B, N, H, Dh]}: no leaked tensors`);
    if (B === 0) {
      // tfjs-wasm's own Transpose divides by zero on an empty batch, so there is no composite to compare.
      assert.deepEqual([got[0]!.length, got[1]!.length], [0, 0]);
      tf.dispose([qkv, w]);
      continue;
    }
    const want = valueAndGrad((x) => compositeCore(x, H, scale), qkv, w);
    assertClose(got[0]!, want[0]!, 1e-5, `${[B, N, H, Dh]} output`);
    assertClose(got[1]!, want[1]!, 1e-5, `${[B, N, H, Dh]} dqkv`);
    tf.dispose([qkv, w]);
  }
});

test('SIMD softmax rows and their gradient equal the JS twins', { skip: simd() === undefined && 'SIMD kernels not loaded' }, () => {
  const kernels = simd()!;
  for (const [rows, n] of [
    [7, 17],
    [3, 4],
    [5, 1],
    [2, 65],
    [3, 197],
  ] as const) {
    const size = rows * rowStride(n); // rows padded to whole quads; the padding holds NaN
    const logits = values(size, n, -20, 20);
    for (let r = 0; r < rows; r++) logits.fill(Number.NaN, r * rowStride(n) + n, (r + 1) * rowStride(n));
    logits[0] = -1e30; // exp underflows to 0
    if (rows > 1) logits[rowStride(n) + n - 1] = 80; // a dominant entry
    const p = tf.tensor1d(logits);
    const dpValues = values(size, 3 * n);
    for (let r = 0; r < rows; r++) dpValues.fill(Number.NaN, r * rowStride(n) + n, (r + 1) * rowStride(n));
    const dp = tf.tensor1d(dpValues);
    const backend = tf.backend() as unknown as { wasm: { HEAPU8: Uint8Array }; dataIdMap: { get(id: object): { memoryOffset: number } } };
    const off = (t: tf.Tensor): number => backend.dataIdMap.get(t.dataId).memoryOffset;
    const heap = (): Float32Array => new Float32Array(backend.wasm.HEAPU8.buffer);
    const want = logits.slice();
    softmaxRows(want, 0, rows, n);
    kernels.softmaxRows(off(p), rows, n);
    assertClose(heap().slice(off(p) / 4, off(p) / 4 + size), want, 1e-6, `softmax ${rows}x${n}`);
    const both = new Float32Array([...want, ...(dp.dataSync() as Float32Array), ...new Float32Array(rows)]); // p | dp | row dots
    softmaxGradRows(both, 0, size, 2 * size, rows, n);
    const dots = tf.zeros([rows]);
    kernels.softmaxGradRows(off(p), off(dp), off(dots), rows, n);
    assertClose(heap().slice(off(dp) / 4, off(dp) / 4 + size), both.subarray(size, 2 * size), 1e-6, `softmax grad ${rows}x${n}`);
    assertClose(heap().slice(off(dots) / 4, off(dots) / 4 + rows), both.subarray(2 * size), 1e-6, `softmax grad row sums ${rows}x${n}`);
    tf.dispose([p, dp, dots]);
  }
});

test("Attention.apply with a head mask: fused core equals HEADSTEER_FUSED=0, values and gradients (the mask's too)", {
  skip: !native && 'OpenBLAS not loaded',
}, () => {
  for (const qkvBias of [true, false]) {
    const attn = new Attention(12, 3, qkvBias, rng(0, 'attn-test'));
    const [B, N] = [3, 7];
    const x = tf.tensor3d(values(B * N * 12, 5), [B, N, 12]);
    const mask = tf.tensor2d([1, 0, 1, 0, 0, 0.3, 1, 1.2, 0.999], [B, 3]); // straight-through masks are near 0 or 1, not exactly
    const w = tf.tensor3d(values(B * N * 12, 6), [B, N, 12]);
    const vars = attn.parameters().map((p) => p.variable);
    const run = (): Float32Array[] =>
      tf.tidy(() => {
        const y = attn.apply(x, mask);
        const { grads } = tf.variableGrads(() => tf.sum(tf.mul(attn.apply(x, mask), w)) as tf.Scalar, vars);
        const dMask = tf.grad((m: tf.Tensor) => tf.sum(tf.mul(attn.apply(x, m as tf.Tensor2D), w)))(mask);
        return [y, dMask, ...vars.map((v) => grads[v.name]!)].map((t) => t.dataSync() as Float32Array);
      });
    const got = run();
    const want = withEnv('HEADSTEER_FUSED', '0', run);
    got.forEach((g, i) => {
      assertClose(g, want[i]!, 1e-5, `qkvBias ${qkvBias}, output ${i}`);
    });
    tf.dispose([x, mask, w]);
    attn.dispose();
  }
});
