/**
 * The Linear op (src/engine/linear.ts): on the native matmul kernels, its value and every gradient
 * equal `tf.fused.matMul` on the 2D views bit for bit (the same sgemm calls), for inputs of rank 2-4,
 * with and without a bias; it takes fewer kernel calls; it leaks no tensors.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initEngine } from '../../src/engine/backend.js';
import { fusedDisabledByEnv } from '../../src/engine/fused.js';
import { linear } from '../../src/engine/linear.js';
import { nativeMatMulActive } from '../../src/engine/matmul_kernel.js';
import { values } from './helpers.js';

await initEngine();

/** The op before linear.ts: tf.fused.matMul on (rows, in), reshaped back. */
function reference(x: tf.Tensor, w: tf.Tensor2D, b: tf.Tensor1D | null): tf.Tensor {
  const y = tf.fused.matMul({ a: x.reshape([-1, w.shape[0]]), b: w, ...(b === null ? {} : { bias: b }) });
  return y.reshape([...x.shape.slice(0, -1), w.shape[1]]);
}

/** Value and the gradients of sum(f(...) * u) w.r.t. x, w (and b), as plain arrays. */
function valueAndGrads(f: typeof linear, x: tf.Tensor, w: tf.Tensor2D, b: tf.Tensor1D | null, u: tf.Tensor): Float32Array[] {
  return tf.tidy(() => {
    const ins = b === null ? [x, w] : [x, w, b];
    const loss = (...t: tf.Tensor[]): tf.Tensor => tf.sum(tf.mul(f(t[0]!, t[1] as tf.Tensor2D, (t[2] ?? null) as tf.Tensor1D | null), u));
    return [f(x, w, b), ...tf.grads(loss)(ins)].map((t) => t.dataSync() as Float32Array);
  });
}

test('linear equals tf.fused.matMul on the 2D views bit for bit, value and gradients, rank 2-4, with and without bias', (t) => {
  if (!nativeMatMulActive() || fusedDisabledByEnv()) {
    t.skip('native matmul kernels not active: linear is tf.fused.matMul itself');
    return;
  }
  for (const lead of [[13], [3, 17], [2, 3, 5]]) {
    for (const [inF, outF] of [
      [7, 11],
      [96, 288],
    ] as const) {
      const rows = lead.reduce((p, d) => p * d, 1);
      const x = tf.tensor(values(rows * inF, 1), [...lead, inF]);
      const w = tf.tensor2d(values(inF * outF, 2), [inF, outF]);
      const u = tf.tensor(values(rows * outF, 3), [...lead, outF]);
      for (const b of [tf.tensor1d(values(outF, 4)), null]) {
        const got = valueAndGrads(linear, x, w, b, u);
        const want = valueAndGrads(reference, x, w, b, u);
        const names = ['y', 'dx', 'dW', 'db'];
        assert.equal(got.length, want.length);
        for (const [i, g] of got.entries()) assert.deepEqual(g, want[i], `${names[i]} for x [${lead.join(', ')}, ${inF}], bias ${b !== null}`);
        assert.deepEqual(
          tf.tidy(() => linear(x, w, b).shape),
          [...lead, outF],
        );
        b?.dispose();
      }
      tf.dispose([x, w, u]);
    }
  }
});

test('linear takes fewer kernel calls than tf.fused.matMul on reshaped views, and leaks no tensors', async (t) => {
  if (!nativeMatMulActive() || fusedDisabledByEnv()) {
    t.skip('native matmul kernels not active');
    return;
  }
  const x = tf.tensor3d(values(4 * 5 * 6, 5), [4, 5, 6]);
  const w = tf.variable(tf.tensor2d(values(6 * 3, 6), [6, 3]));
  const b = tf.variable(tf.tensor1d(values(3, 7)));
  const calls = async (f: typeof linear): Promise<number> => {
    const info = await tf.profile(() => {
      tf.tidy(() => {
        tf.variableGrads(() => tf.sum(f(x, w as tf.Variable<tf.Rank.R2>, b as tf.Variable<tf.Rank.R1>)));
      });
    });
    return info.kernels.length;
  };
  const [ours, theirs] = [await calls(linear), await calls(reference)];
  assert.ok(ours < theirs, `${ours} kernel calls against ${theirs}`);
  const before = tf.memory().numTensors;
  for (let i = 0; i < 3; i++) {
    tf.tidy(() => {
      tf.variableGrads(() => tf.sum(linear(x, w as tf.Variable<tf.Rank.R2>, b as tf.Variable<tf.Rank.R1>)));
    });
    linear(x, w as tf.Variable<tf.Rank.R2>, null).dispose();
  }
  assert.equal(tf.memory().numTensors, before);
  tf.dispose([x, w, b]);
});
