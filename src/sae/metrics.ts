/**
 * Reconstruction quality of an SAE over a dataset: MSE, FVU (fraction of variance unexplained),
 * L0 (mean active latents per sample) and the dead fraction (latents that never fire on the data).
 * All sums over dims are consistent: FVU = sum ||x - x_hat||^2 / sum ||x - mean(x)||^2.
 * Legend: B batch, D input width, F latents, N samples.
 */
import * as tf from '@tensorflow/tfjs';
import type { SparseAutoencoder } from './sae.js';

export interface SaeMetrics {
  /** Mean over samples and dims of (x - x_hat)^2. */
  mse: number;
  /** mse / variance. */
  fvu: number;
  /** Mean number of latents with z > 0 per sample. */
  l0: number;
  /** Fraction of latents with z > 0 on no sample. */
  deadFraction: number;
  /** Mean over samples and dims of (x - mean_over_samples(x))^2. */
  variance: number;
  /** Per latent (F): samples on which it fired. */
  fireCounts: Float64Array;
}

/** Total variance of x (N,D) around its per-dim mean, averaged over samples and dims (float64 sums). */
export function dataVariance(x: Float32Array, n: number, d: number): number {
  const mean = new Float64Array(d);
  for (let i = 0; i < n; i++) for (let c = 0; c < d; c++) mean[c]! += x[i * d + c]!;
  for (let c = 0; c < d; c++) mean[c]! /= n;
  let s = 0;
  for (let i = 0; i < n; i++) for (let c = 0; c < d; c++) s += (x[i * d + c]! - mean[c]!) ** 2;
  return s / (n * d);
}

/** Evaluate `sae` on x (N,D), `batch` rows at a time. */
export function saeMetrics(sae: SparseAutoencoder, x: Float32Array, batch = 4096): SaeMetrics {
  const d = sae.dIn;
  const n = x.length / d;
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`saeMetrics: x has ${x.length} values, not a positive multiple of d_in = ${d}`);
  const fireCounts = new Float64Array(sae.dSae);
  let sqErr = 0;
  for (let start = 0; start < n; start += batch) {
    const rows = Math.min(batch, n - start);
    const stats = tf.tidy(() => {
      const xb = tf.tensor2d(x.subarray(start * d, (start + rows) * d), [rows, d]); // (B,D)
      const { z, xHat } = sae.forward(xb);
      const err = tf.sum(tf.square(tf.sub(xHat, xb))).reshape([1]);
      return tf.concat([err, tf.sum(tf.step(z), 0)]).dataSync() as Float32Array; // [err, fires (F)]
    });
    sqErr += stats[0]!;
    for (let i = 0; i < sae.dSae; i++) fireCounts[i]! += stats[i + 1]!;
  }
  const variance = dataVariance(x, n, d);
  const mse = sqErr / (n * d);
  let fires = 0;
  let dead = 0;
  for (const c of fireCounts) {
    fires += c;
    if (c === 0) dead += 1;
  }
  return { mse, fvu: mse / variance, l0: fires / n, deadFraction: dead / sae.dSae, variance, fireCounts };
}
