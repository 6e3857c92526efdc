/**
 * SAE latent steering, paper Eq. 5 as fixed in docs/design.md ("Steering"):
 *
 *   pre   = (x - b_dec) W_enc + b_enc                        (B,F)   sae.encodePre
 *   pre'_i = (1 + alpha) pre_i  if i in S,  pre_i otherwise    (B,F)
 *   z~    = ReLU(TopK_k(pre'))                               (B,F)
 *   x~    = z~ W_dec + b_dec                                 (B,D)
 *
 * x~ replaces x as the final decision network's input (the caller decides where it goes). S is given
 * per row as a 0/1 mask, so per-class steering (each row its class's set), global and random sets
 * (every row the same set) and predicted-class steering (each row the set of its unsteered prediction)
 * all go through the same code; see `setMask` and stats.ts.
 *
 * Variants beyond the paper (options, not defaults):
 * - mode 'post': z~ = z * (1 + alpha) on S after TopK (no re-selection: at most k nonzeros, and only
 *   latents already active can move).
 * - mode 'add':  z~ = ReLU(z + alpha * mu * m), with mu_i the mean value of z_i over the train samples
 *   where z_i > 0 (stats.ts `meanActive`, 0 for a latent never active) and m the row's 0/1 mask. Every
 *   latent of S gets alpha times its typical active value added whether it is active or not (so a row
 *   can have up to k + |S| nonzeros); the ReLU keeps the code non-negative for alpha < 0. No TopK.
 * - keepError: the output is x + (x~ - x_hat), i.e. the SAE error term x - x_hat is kept and only the
 *   steering edit is added. At alpha = 0 this gives x back exactly.
 *
 * Exactness: x_hat and x~ are produced by the same ops (topkReluForward then sae.decode), and
 * pre * (1 + 0 * m) = pre * 1 is exact in float32, so at alpha = 0 in mode 'pre' x~ == x_hat bit for bit.
 *
 * Legend: B batch, D input width, F latents, K top-k, G groups (index sets).
 */
import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import type { SparseAutoencoder } from '../sae/sae.js';
import { topkReluForward } from '../sae/topk.js';

/** Where the amplification is applied (see the file header). */
export const STEER_MODES = ['pre', 'post', 'add'] as const;
export type SteerMode = (typeof STEER_MODES)[number];

/**
 * The steering options a run config records, with their defaults: the config's `steer` section
 * (src/config.ts) takes these fields, and an option left out of a call here gets the same default.
 */
export const steerOptionsSchema = z.strictObject({
  /** 'pre', paper Eq. 5 as docs/design.md fixes it; 'post' and 'add' are the variants above. */
  mode: z.enum(STEER_MODES).default('pre'),
  /** Return x + x~ - x_hat instead of x~. Off: the paper feeds x~ itself. */
  keepError: z.boolean().default(false),
});

/** Steering options (defaults from `steerOptionsSchema`). */
export interface SteerOptions extends z.infer<typeof steerOptionsSchema> {
  /** mu (F): mean value of each latent over the train samples where it is active. Required by mode 'add'. */
  meanActive?: Float32Array | tf.Tensor1D;
}

/** The schema's defaults as one object, filled in for every option a caller leaves out. */
export const DEFAULT_STEER_OPTIONS: Readonly<SteerOptions> = Object.freeze(steerOptionsSchema.parse({}));

/** The unsteered encoding of a batch: everything steering reuses across alphas and strategies. */
export interface SaeBase {
  /** Encoder pre-activations (B,F). */
  pre: tf.Tensor2D;
  /** Sparse code (B,F) = ReLU(TopK_k(pre)). */
  z: tf.Tensor2D;
  /** Plain reconstruction (B,D) = z W_dec + b_dec. */
  xHat: tf.Tensor2D;
}

/** Named outputs of `steeredCode`. */
export interface SteeredCode {
  /** Steered embedding (B,D): x~, or x + x~ - x_hat with keepError. */
  xTilde: tf.Tensor2D;
  /** Unsteered reconstruction (B,D). */
  xHat: tf.Tensor2D;
}

/**
 * The unsteered encoding of x (B,D) with the forward-only TopK (no gradient bookkeeping). Same values
 * as `sae.forward(x)`; computed here so x_hat and x~ provably share their ops.
 * Tensors are returned to the caller's scope (dispose them, or call inside tf.tidy).
 */
export function saeBase(sae: SparseAutoencoder, x: tf.Tensor2D): SaeBase {
  return tf.tidy(() => {
    const pre = sae.encodePre(x); // (B,F)
    const z = topkReluForward(pre, sae.k, sae.topkImpl); // (B,F)
    return { pre, z, xHat: sae.decode(z) };
  });
}

/**
 * Steered code z~ (B,F) from the unsteered pre (B,F) and z (B,F), a 0/1 mask (B,F) or (1,F) marking S
 * per row, and alpha. `k` and `topkImpl` are the SAE's (used by mode 'pre' only).
 */
export function steerLatents(
  base: Pick<SaeBase, 'pre' | 'z'>,
  mask: tf.Tensor2D,
  alpha: number,
  sae: Pick<SparseAutoencoder, 'k' | 'topkImpl' | 'dSae'>,
  options: Partial<SteerOptions> = {},
): tf.Tensor2D {
  const o: SteerOptions = { ...DEFAULT_STEER_OPTIONS, ...options };
  checkArgs(base.pre, mask, alpha, sae.dSae);
  return tf.tidy(() => {
    switch (o.mode) {
      case 'pre': {
        const scale = tf.add(1, tf.mul(mask, alpha)); // (B,F) or (1,F): 1 + alpha on S, exactly 1 elsewhere
        return topkReluForward(tf.mul(base.pre, scale) as tf.Tensor2D, sae.k, sae.topkImpl); // (B,F)
      }
      case 'post': {
        const scale = tf.add(1, tf.mul(mask, alpha)); // (B,F) or (1,F)
        return tf.mul(base.z, scale) as tf.Tensor2D; // (B,F)
      }
      case 'add': {
        if (o.meanActive === undefined) throw new RangeError("steering mode 'add' needs options.meanActive (F), the mean active value per latent");
        const mu = o.meanActive instanceof tf.Tensor ? o.meanActive : tf.tensor1d(o.meanActive); // (F)
        if (mu.shape.length !== 1 || mu.shape[0] !== sae.dSae)
          throw new RangeError(`steering: meanActive has shape [${mu.shape.join(', ')}], expected [${sae.dSae}]`);
        return tf.relu(tf.add(base.z, tf.mul(tf.mul(mask, mu), alpha))) as tf.Tensor2D; // (B,F)
      }
    }
  });
}

/**
 * Steered embedding (B,D) from a precomputed `saeBase` of x (B,D): the fast path of a sweep, where
 * pre, z and x_hat are computed once per batch and reused for every (strategy, alpha).
 */
export function steerFromBase(
  sae: SparseAutoencoder,
  x: tf.Tensor2D,
  base: SaeBase,
  mask: tf.Tensor2D,
  alpha: number,
  options: Partial<SteerOptions> = {},
): tf.Tensor2D {
  const o: SteerOptions = { ...DEFAULT_STEER_OPTIONS, ...options };
  if (x.shape[0] !== base.xHat.shape[0] || x.shape[1] !== base.xHat.shape[1]) {
    throw new RangeError(`steering: x has shape [${x.shape.join(', ')}], its SAE reconstruction [${base.xHat.shape.join(', ')}]`);
  }
  return tf.tidy(() => {
    const xTilde = sae.decode(steerLatents(base, mask, alpha, sae, o)); // (B,D)
    // Parenthesised so that alpha = 0 gives x exactly: x + (x_hat - x_hat) = x + 0.
    return o.keepError ? (tf.add(x, tf.sub(xTilde, base.xHat)) as tf.Tensor2D) : xTilde;
  });
}

/**
 * Paper Eq. 5: x (B,D), S as a 0/1 mask (B,F) (or (1,F), one set for every row), alpha ->
 * { xTilde (B,D), xHat (B,D) }. Both tensors belong to the caller.
 */
export function steeredCode(sae: SparseAutoencoder, x: tf.Tensor2D, mask: tf.Tensor2D, alpha: number, options: Partial<SteerOptions> = {}): SteeredCode {
  return tf.tidy(() => {
    const base = saeBase(sae, x);
    return { xTilde: steerFromBase(sae, x, base, mask, alpha, options), xHat: base.xHat };
  });
}

let maskScratch: Float32Array<ArrayBuffer> = new Float32Array(0);

/**
 * A buffer of n floats for `setMask`, shared by every caller and valid until the next call: for masks
 * that go straight into `tf.tensor2d`, which copies them.
 */
export function maskBuffer(n: number): Float32Array<ArrayBuffer> {
  if (maskScratch.length < n) maskScratch = new Float32Array(n);
  return maskScratch.subarray(0, n);
}

/**
 * Row-major 0/1 mask (B,F): row b has ones at the indices of group rowGroup[b]. `indexSets` holds one
 * index list per group (G), e.g. the per-class sets with rowGroup = labels (or predictions), or a
 * single global / random set with rowGroup all 0. Written into `out` when given (a sweep builds a mask
 * for every batch of every point, and allocating each made the steer stage take 21 s instead of 15).
 */
export function setMask(indexSets: readonly Int32Array[], rowGroup: Int32Array, f: number, out = new Float32Array(rowGroup.length * f)): Float32Array {
  if (!Number.isInteger(f) || f < 1) throw new RangeError(`setMask: F must be a positive integer, got ${f}`);
  indexSets.forEach((set, g) => {
    for (const i of set) if (!Number.isInteger(i) || i < 0 || i >= f) throw new RangeError(`setMask: group ${g} has latent index ${i}, expected 0..${f - 1}`);
  });
  if (out.length !== rowGroup.length * f) throw new RangeError(`setMask: out holds ${out.length} floats, expected ${rowGroup.length} x ${f}`);
  out.fill(0); // (B,F)
  for (let b = 0; b < rowGroup.length; b++) {
    const g = rowGroup[b]!;
    const set = indexSets[g];
    if (set === undefined) throw new RangeError(`setMask: row ${b} asks for group ${g}, but there are ${indexSets.length} groups`);
    const row = b * f;
    for (let j = 0; j < set.length; j++) out[row + set[j]!] = 1;
  }
  return out;
}

function checkArgs(pre: tf.Tensor2D, mask: tf.Tensor2D, alpha: number, f: number): void {
  if (!Number.isFinite(alpha)) throw new RangeError(`steering: alpha must be a finite number, got ${alpha}`);
  const [b, fPre] = pre.shape;
  if (fPre !== f) throw new RangeError(`steering: pre has ${fPre} latents, the SAE ${f}`);
  if (mask.rank !== 2 || mask.shape[1] !== f || (mask.shape[0] !== b && mask.shape[0] !== 1)) {
    throw new RangeError(`steering: mask has shape [${mask.shape.join(', ')}], expected [${b}, ${f}] or [1, ${f}]`);
  }
}
