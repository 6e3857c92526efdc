/**
 * The k-sparse activation z = ReLU(TopK_k(pre)) (Makhzani & Frey 2013; Gao et al. 2024; paper Eq. 2)
 * and its gradient, which tfjs lacks (tf.topk has none).
 *
 * Forward keeps, per row, the k largest entries (ties: lower column first, so exactly k), then ReLU.
 * Backward: d pre = d z on the kept positive entries, 0 elsewhere. A kept entry is positive exactly
 * where z > 0, so the gradient mask is recomputed from the saved output: no index tensor is stored.
 * (At pre == 0 ReLU's subgradient 0 is used, as PyTorch does.)
 * Legend: B batch, F latents, K top-k.
 */
import * as tf from '@tensorflow/tfjs';
import { TOPK_RELU_KERNEL, topkReluKernelAvailable } from './topk_kernel.js';

/**
 * How the forward selects: 'kernel' = the fused heap kernel of topk_kernel.ts (wasm only),
 * 'tfjs' = tf.topk + scatterND (any backend), 'auto' = the kernel when available.
 */
export type TopKImpl = 'auto' | 'kernel' | 'tfjs';

/** z (B,F) = ReLU(TopK_k(pre (B,F))) without gradient bookkeeping; k >= F keeps every positive entry. */
export function topkReluForward(pre: tf.Tensor2D, k: number, impl: TopKImpl = 'auto'): tf.Tensor2D {
  if (!Number.isInteger(k) || k < 1) throw new RangeError(`top-k needs an integer k >= 1, got ${k}`);
  const [b, f] = pre.shape;
  if (k >= f) return tf.relu(pre);
  const useKernel = impl === 'kernel' || (impl === 'auto' && topkReluKernelAvailable());
  if (useKernel) {
    if (impl === 'kernel' && !topkReluKernelAvailable()) throw new Error(`${TOPK_RELU_KERNEL} is not available on backend ${tf.getBackend()}`);
    return tf.engine().runKernel<tf.Tensor2D>(TOPK_RELU_KERNEL, { x: pre }, { k });
  }
  return tf.tidy(() => {
    const { values, indices } = tf.topk(pre, k); // (B,K) each
    const rows = tf.tile(tf.range(0, b, 1, 'int32').reshape([b, 1]), [1, k]); // (B,K)
    const at = tf.stack([rows, indices], 2).reshape([b * k, 2]); // (B*K, 2) (row, column)
    return tf.scatterND(at, tf.relu(values).reshape([b * k]), [b, f]) as tf.Tensor2D;
  });
}

/**
 * z (B,F) = ReLU(TopK_k(pre (B,F))) with the sparse straight gradient: d pre = d z where z > 0.
 * Exactly min(k, #positive) nonzeros per row.
 */
export function topkRelu(pre: tf.Tensor2D, k: number, impl: TopKImpl = 'auto'): tf.Tensor2D {
  const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const x = args[0] as tf.Tensor2D;
    const save = args[1] as tf.GradSaveFunc;
    const z = topkReluForward(x, k, impl);
    save([z]);
    return {
      value: z,
      gradFunc: (dy: tf.Tensor2D, saved: tf.Tensor[]) => tf.mul(dy, tf.step(saved[0]!)), // (B,F)
    };
  });
  return op(pre);
}

/**
 * Column indices of the kept entries per row, in descending value order (ties: lower column first),
 * -1 where fewer than k entries are positive. A slow JS helper for inspection and tests.
 */
export function topkReluIndices(pre: Float32Array, rows: number, cols: number, k: number): Int32Array {
  const out = new Int32Array(rows * k).fill(-1);
  const order = new Int32Array(cols);
  for (let r = 0; r < rows; r++) {
    const row = pre.subarray(r * cols, (r + 1) * cols);
    for (let j = 0; j < cols; j++) order[j] = j;
    order.sort((a, c) => row[c]! - row[a]! || a - c);
    for (let t = 0; t < Math.min(k, cols) && row[order[t]!]! > 0; t++) out[r * k + t] = order[t]!;
  }
  return out;
}
