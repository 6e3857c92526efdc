/**
 * The top-k sparse autoencoder of paper Eqs. 2-4 (recipe of Gao et al. 2024, "Scaling and evaluating
 * sparse autoencoders"):
 *
 *   pre   = (x - b_dec) W_enc + b_enc        (B,F)
 *   z     = ReLU(TopK_k(pre))                 (B,F)   see topk.ts
 *   x_hat = z W_dec + b_dec                   (B,D)
 *
 * Parameters use SAELens's names and layout: W_enc [d_in, d_sae], b_enc [d_sae], W_dec [d_sae, d_in],
 * b_dec [d_in] (row-major, so `x @ W` is a plain matmul, the fast case on tfjs-wasm). Decoder rows
 * (the columns of the paper's W_dec) are kept at unit norm: the trainer removes each row's parallel
 * gradient component before the step and renormalises after it (pure functions below).
 * Init: unit-norm random decoder rows, W_enc = W_dec^T, b_enc = 0, b_dec = the data's geometric median.
 * Legend: B batch, D input width (d_in), F latents (d_sae), K top-k, N samples.
 */
import * as tf from '@tensorflow/tfjs';
import { Composite, variableFrom, type Parts } from '../model/layers.js';
import { rng } from '../random.js';
import { topkRelu, type TopKImpl } from './topk.js';

/** Named outputs of `SparseAutoencoder.forward`. */
export interface SaeForward {
  /** Encoder pre-activations (B,F), before TopK. */
  pre: tf.Tensor2D;
  /** Sparse code (B,F): at most k nonzeros per row, all positive. */
  z: tf.Tensor2D;
  /** Reconstruction (B,D). */
  xHat: tf.Tensor2D;
}

/** Dimensions and sparsity of an SAE. */
export interface SaeShape {
  /** D, input width. */
  dIn: number;
  /** F, number of latents. */
  dSae: number;
  /** K, latents kept per sample. */
  k: number;
}

/** State-dict names, SAELens convention. */
export const SAE_TENSORS = ['W_enc', 'b_enc', 'W_dec', 'b_dec'] as const;

/** Expected tensor shapes of an SAE (for checkShapes). */
export function saeTensorShapes(s: SaeShape): Map<string, number[]> {
  return new Map([
    ['W_enc', [s.dIn, s.dSae]],
    ['b_enc', [s.dSae]],
    ['W_dec', [s.dSae, s.dIn]],
    ['b_dec', [s.dIn]],
  ]);
}

export class SparseAutoencoder extends Composite implements SaeShape {
  readonly dIn: number;
  readonly dSae: number;
  readonly k: number;
  readonly wEnc: tf.Variable<tf.Rank.R2>; // (D,F)
  readonly bEnc: tf.Variable<tf.Rank.R1>; // (F)
  readonly wDec: tf.Variable<tf.Rank.R2>; // (F,D)
  readonly bDec: tf.Variable<tf.Rank.R1>; // (D)
  /** Which top-k implementation the forward uses (see topk.ts). */
  topkImpl: TopKImpl = 'auto';

  /**
   * Fresh SAE: decoder rows ~ N(0, I) normalised to unit length (stream `rng(seed, 'sae-init')`),
   * W_enc = W_dec^T, b_enc = 0, b_dec = `bDec` (e.g. `geometricMedian` of the data) or 0.
   */
  constructor(shape: SaeShape, init: { seed: number; bDec?: Float32Array }) {
    super();
    const { dIn, dSae, k } = shape;
    for (const [key, v] of Object.entries({ dIn, dSae, k })) {
      if (!Number.isInteger(v) || v < 1) throw new RangeError(`SAE ${key} must be a positive integer, got ${v}`);
    }
    if (init.bDec !== undefined && init.bDec.length !== dIn) throw new RangeError(`SAE b_dec init has ${init.bDec.length} values, expected d_in = ${dIn}`);
    this.dIn = dIn;
    this.dSae = dSae;
    this.k = k;
    const w = rng(init.seed, 'sae-init').fill(new Float32Array(dSae * dIn), 'normal');
    normalizeRowsInPlace(w, dSae, dIn);
    this.wDec = variableFrom(tf.tensor2d(w, [dSae, dIn])) as tf.Variable<tf.Rank.R2>;
    this.wEnc = variableFrom(tf.transpose(this.wDec)) as tf.Variable<tf.Rank.R2>; // (D,F)
    this.bEnc = variableFrom(tf.zeros([dSae])) as tf.Variable<tf.Rank.R1>;
    this.bDec = variableFrom(init.bDec === undefined ? tf.zeros([dIn]) : tf.tensor1d(init.bDec)) as tf.Variable<tf.Rank.R1>;
  }

  /**
   * pre (B,F) = (x (B,D) - b_dec) W_enc + b_enc, computed as x W_enc + (b_enc - b_dec W_enc):
   * the same value, but b_dec's gradient through the encoder becomes a (1,F)@(F,D) product instead
   * of a (B,F)@(F,D) one.
   */
  encodePre(x: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => {
      const bias = tf.sub(this.bEnc, tf.matMul(this.bDec.reshape([1, this.dIn]), this.wEnc).reshape([this.dSae])); // (F)
      return tf.add(tf.matMul(x, this.wEnc), bias) as tf.Tensor2D;
    });
  }

  /** z (B,F) = ReLU(TopK_k(pre)). */
  encode(x: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => topkRelu(this.encodePre(x), this.k, this.topkImpl));
  }

  /** x_hat (B,D) = z (B,F) W_dec + b_dec. */
  decode(z: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => tf.add(tf.matMul(z, this.wDec), this.bDec) as tf.Tensor2D);
  }

  /** Encode and decode, with every intermediate a caller may need. */
  forward(x: tf.Tensor2D): SaeForward {
    return tf.tidy(() => {
      const pre = this.encodePre(x);
      const z = topkRelu(pre, this.k, this.topkImpl);
      return { pre, z, xHat: this.decode(z) };
    });
  }

  /** Renormalise the decoder rows to unit length, in place (after every optimizer step). */
  normalizeDecoder(): void {
    tf.tidy(() => this.wDec.assign(normalizeRows(this.wDec)));
  }

  /** Under SAE_TENSORS's names; an imported state's shapes must have been checked (saeTensorShapes). */
  protected parts(): Parts {
    return [
      ['W_enc', this.wEnc],
      ['b_enc', this.bEnc],
      ['W_dec', this.wDec],
      ['b_dec', this.bDec],
    ];
  }
}

/** Rows of w (F,D) scaled to unit L2 norm (rows of norm < 1e-12 are left as they are). */
export function normalizeRows(w: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => {
    const norm = tf.sqrt(tf.sum(tf.square(w), 1, true)); // (F,1)
    return tf.div(w, tf.maximum(norm, 1e-12));
  });
}

/**
 * g (F,D) minus, per row, its component along the matching row of w (F,D):
 * g_i - (<g_i, w_i> / <w_i, w_i>) w_i. Keeps a unit-norm row on the sphere to first order, so the
 * step cannot trade row norm against latent magnitude (Gao et al. 2024, Sec. A.4).
 */
export function removeParallelGrad(g: tf.Tensor2D, w: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => {
    const dot = tf.sum(tf.mul(g, w), 1, true); // (F,1)
    const sq = tf.maximum(tf.sum(tf.square(w), 1, true), 1e-24); // (F,1)
    return tf.sub(g, tf.mul(tf.div(dot, sq), w));
  });
}

/** In-place unit-norm rows of a row-major (rows, cols) matrix. */
export function normalizeRowsInPlace(w: Float32Array, rows: number, cols: number): void {
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let c = 0; c < cols; c++) s += w[r * cols + c]! ** 2;
    const inv = s > 0 ? 1 / Math.sqrt(s) : 0;
    for (let c = 0; c < cols; c++) w[r * cols + c]! *= inv;
  }
}

/**
 * Geometric median of the rows of x (N,D) (the point minimising the sum of Euclidean distances) by
 * Weiszfeld's iteration from the mean: y <- sum_i x_i / |x_i - y|  /  sum_i 1 / |x_i - y|.
 * Points closer than 1e-8 to y get that distance (avoids the division by 0 at a data point).
 * Stops early when y moves less than 1e-6 times the mean distance. Returns y (D).
 */
export function geometricMedian(x: Float32Array, n: number, d: number, iters: number): Float32Array {
  if (n < 1 || x.length !== n * d) throw new RangeError(`geometricMedian: x has ${x.length} values, expected n*d = ${n}*${d}`);
  const y = new Float64Array(d);
  for (let i = 0; i < n; i++) for (let c = 0; c < d; c++) y[c]! += x[i * d + c]!;
  for (let c = 0; c < d; c++) y[c]! /= n;
  const acc = new Float64Array(d);
  for (let it = 0; it < iters; it++) {
    acc.fill(0);
    let wSum = 0;
    let distSum = 0;
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let c = 0; c < d; c++) s += (x[i * d + c]! - y[c]!) ** 2;
      const dist = Math.max(Math.sqrt(s), 1e-8);
      distSum += dist;
      const w = 1 / dist;
      wSum += w;
      for (let c = 0; c < d; c++) acc[c]! += w * x[i * d + c]!;
    }
    let move = 0;
    for (let c = 0; c < d; c++) {
      const v = acc[c]! / wSum;
      move += (v - y[c]!) ** 2;
      y[c] = v;
    }
    if (Math.sqrt(move) < 1e-6 * (distSum / n)) break;
  }
  return Float32Array.from(y);
}
