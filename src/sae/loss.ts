/**
 * SAE training objective: reconstruction MSE (paper Eq. 4, averaged over batch and dims) plus the
 * optional AuxK loss of Gao et al. 2024 (Sec. A.2), which revives dead latents: the k_aux dead latents
 * with the largest pre-activations reconstruct the main reconstruction's error e = x - x_hat, and
 *
 *   L = MSE(x_hat, x) + alpha * min(n_dead / k_aux, 1) * MSE(z_aux W_dec, e),   e without gradient
 *
 * (alpha 1/32 as Gao et al.; the n_dead/k_aux scale and sharing the main loss's normalisation as
 * EleutherAI sparsify). Dead = not fired for a number of training samples (`deadLatentMask`).
 * Legend: B batch, D input width, F latents, K top-k.
 */
import * as tf from '@tensorflow/tfjs';
import { topkRelu, type TopKImpl } from './topk.js';

/** Mean squared error over all elements of x_hat (B,D) vs x (B,D). */
export function reconstructionMse(xHat: tf.Tensor, x: tf.Tensor): tf.Scalar {
  return tf.tidy(() => tf.mean(tf.square(tf.sub(xHat, x))));
}

/** Identity forward, zero gradient (tfjs has no stopGradient). */
export function stopGradient<T extends tf.Tensor>(x: T): T {
  const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const t = args[0] as T;
    return { value: tf.reshape(t, t.shape) as T, gradFunc: (dy: tf.Tensor) => tf.zerosLike(dy) }; // reshape: no copy
  });
  return op(x) as T;
}

/**
 * AuxK loss: MSE between e (B,D) and the decode, without b_dec, of the top-kAux dead latents of
 * pre (B,F). `deadMask` (F) is 1 for dead latents, 0 otherwise; non-dead pre-activations become 0 and
 * are never selected (only positive entries survive ReLU o TopK), nor do they receive gradient.
 */
export function auxkLoss(pre: tf.Tensor2D, e: tf.Tensor2D, wDec: tf.Tensor2D, deadMask: tf.Tensor1D, kAux: number, impl: TopKImpl = 'auto'): tf.Scalar {
  return tf.tidy(() => {
    const zAux = topkRelu(tf.mul(pre, deadMask), kAux, impl); // (B,F), <= kAux nonzeros per row
    return reconstructionMse(tf.matMul(zAux, wDec), e); // (B,D) vs (B,D)
  });
}

/**
 * Dead-latent bookkeeping, in place: `sinceFired` (F) counts training samples since each latent last
 * fired (z > 0 in some sample of a batch); `fireCounts` (F) are this batch's per-latent fire counts.
 */
export function updateSinceFired(sinceFired: Float64Array, fireCounts: ArrayLike<number>, samples: number): void {
  for (let i = 0; i < sinceFired.length; i++) sinceFired[i] = fireCounts[i]! > 0 ? 0 : sinceFired[i]! + samples;
}

/** mask (F) = 1 for latents that have not fired for at least `threshold` samples, else 0; and their count. */
export function deadLatentMask(sinceFired: Float64Array, threshold: number): { mask: Float32Array; count: number } {
  const mask = new Float32Array(sinceFired.length);
  let count = 0;
  for (let i = 0; i < sinceFired.length; i++) {
    if (sinceFired[i]! >= threshold) {
      mask[i] = 1;
      count += 1;
    }
  }
  return { mask, count };
}
