/**
 * The Linear layer's op, y = x W + b over the last axis, x (..., in), W (in, out), b (out) or null.
 *
 * On the native matmul kernels (matmul_kernel.ts) x of any rank goes to one sgemm as it is: the plan
 * stacks its leading axes into rows, so no reshape is needed either way. The gradient is three kernels:
 *   dx = dy W^T      (..., out) @ (in, out)^T, one sgemm over the stacked rows
 *   dW = x^T dy      over the rows (rows, in)^T @ (rows, out)
 *   db = Σ_rows dy   the leading-axes column sum (wasm_kernels.ts)
 * The same sgemm calls as `tf.fused.matMul` on the 2D views, so the results are equal bit for bit;
 * what goes is tfjs's bookkeeping around them: its op reshapes every operand to 3D and back, and saves
 * four tensors, so a Linear took about 25 kernel calls per training step and now takes about 10.
 * Elsewhere (cpu backend, XNNPACK, HEADSTEER_FUSED=0) it is `tf.fused.matMul` on the 2D views.
 */
import * as tf from '@tensorflow/tfjs';
import { fusedDisabledByEnv } from './fused.js';
import { nativeMatMulActive } from './matmul_kernel.js';

const NO_TRANSPOSE = { transposeA: false, transposeB: false };

/** dx, dW (and db) of y = x W (+ b) for the upstream gradient dy. */
function linearGrads(dy: tf.Tensor, x: tf.Tensor, w: tf.Tensor, withBias: boolean): tf.Tensor[] {
  const [inF, outF] = w.shape as [number, number];
  const rows = x.size / inF;
  const dx = tf.engine().runKernel(tf.BatchMatMul, { a: dy, b: w }, { transposeA: false, transposeB: true }) as tf.Tensor; // (..., in)
  const dw = tf
    .engine()
    .runKernel(tf.BatchMatMul, { a: x.reshape([rows, inF]), b: dy.reshape([rows, outF]) }, { transposeA: true, transposeB: false }) as tf.Tensor; // (in, out)
  if (!withBias) return [dx, dw];
  const leading = Array.from({ length: dy.rank - 1 }, (_, i) => i);
  return [dx, dw, tf.sum(dy, leading)]; // db (out)
}

const linearWithBias = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
  const [x, w, b, save] = args as [tf.Tensor, tf.Tensor, tf.Tensor, tf.GradSaveFunc];
  save([x, w]);
  const y = tf.engine().runKernel(tf._FusedMatMul, { a: x, b: w, bias: b }, { ...NO_TRANSPOSE, activation: 'linear' }) as tf.Tensor;
  return { value: y, gradFunc: (dy: tf.Tensor, [sx, sw]: tf.Tensor[]) => linearGrads(dy, sx!, sw!, true) };
});

const linearNoBias = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
  const [x, w, save] = args as [tf.Tensor, tf.Tensor, tf.GradSaveFunc];
  save([x, w]);
  const y = tf.engine().runKernel(tf.BatchMatMul, { a: x, b: w }, NO_TRANSPOSE) as tf.Tensor;
  return { value: y, gradFunc: (dy: tf.Tensor, [sx, sw]: tf.Tensor[]) => linearGrads(dy, sx!, sw!, false) };
});

/** y = x W + b: x (..., in), W (in, out), b (out) or null -> (..., out). */
export function linear(x: tf.Tensor, w: tf.Tensor2D, b: tf.Tensor1D | null): tf.Tensor {
  if (nativeMatMulActive() && !fusedDisabledByEnv() && x.rank >= 2) return b === null ? linearNoBias(x, w) : linearWithBias(x, w, b);
  const [inF, outF] = w.shape;
  const y = tf.fused.matMul({ a: x.reshape([-1, inF]), b: w, ...(b === null ? {} : { bias: b }) }); // (rows, out)
  return y.reshape([...x.shape.slice(0, -1), outF]);
}
