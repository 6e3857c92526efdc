/**
 * A latent's gate effect (docs/design.md "Latent dashboards"): what amplifying latent i alone does to the
 * final decision network, for (image, latent) pairs where the latent fires.
 *
 * - Measured: paper Eq. 5 with S = {i} at `alpha` through the same steering code as the sweep
 *   (steering.ts `steerFromBase`, with the run's mode and keepError), x~ fed to the final gate; the
 *   change of each head's logit and keep bit against the alpha = 0 input (x_hat, or x with keepError).
 * - Linearised: the gate is LayerNorm + Linear, a(x) = W^T (gamma * LN0(x)) + b, so its Jacobian at the
 *   reference input r applied to latent i's decoder row d_i is
 *     J_a(r) d_i = W^T (gamma * J_LN(r) d_i),  J_LN(r) v = (v - mean(v) - y mean(y v)) / sigma,
 *   with sigma = sqrt(var(r) + eps) and y = (r - mean(r)) / sigma: the logit change per unit of the
 *   latent's activation, to first order.
 *
 * Legend: P pairs, B batch rows, D width, F latents, H heads.
 */
import * as tf from '@tensorflow/tfjs';
import { thresholdMask } from '../model/gate.js';
import type { HeadGate } from '../model/gate.js';
import type { ViT } from '../model/vit.js';
import type { SparseAutoencoder } from '../sae/sae.js';
import { steerFromBase, type SaeBase, type SteerOptions } from '../steer/steering.js';

/** Per pair, row-major (P, H): the steered minus the reference gate logits, keep bits, and the linearised logit change per unit activation. */
export interface PairEffects {
  logit: Float32Array;
  keep: Float32Array;
  linear: Float32Array;
}

/** The final block's decision network; throws for a model without one. */
export function finalGate(model: ViT): HeadGate {
  const gate = model.blocks[model.blocks.length - 1]!.gate;
  if (gate === null) throw new Error('latent gate effects: the final block has no decision network');
  return gate;
}

/**
 * J_a(r) v of the gate a = fc(LN(r)) for rows r (P, D) and directions v (P, D) -> (P, H); see the file
 * header. Tensors are created in the caller's scope.
 */
export function gateJvp(gate: HeadGate, r: tf.Tensor2D, v: tf.Tensor2D): tf.Tensor2D {
  const c = tf.sub(r, tf.mean(r, 1, true)); // (P, D)
  const sigma = tf.sqrt(tf.add(tf.mean(tf.square(c), 1, true), gate.norm.eps)); // (P, 1)
  const y = tf.div(c, sigma); // (P, D)
  const pv = tf.sub(v, tf.mean(v, 1, true)); // (P, D)
  const jv = tf.div(tf.sub(pv, tf.mul(y, tf.mean(tf.mul(y, v), 1, true))), sigma); // (P, D) = J_LN v
  return tf.matMul(tf.mul(jv, gate.norm.weight), gate.fc.weight as tf.Tensor2D); // (P, H)
}

/**
 * Rows `rows` (P) of t (B, C) -> (P, C), copied on the CPU: tf.gather on the wasm backend takes ~0.1 s
 * for a (2048, 768) result, the copy a few milliseconds.
 */
function gatherRows(t: tf.Tensor2D, rows: Int32Array): tf.Tensor2D {
  const [, C] = t.shape;
  const src = t.dataSync() as Float32Array; // (B, C)
  const out = new Float32Array(rows.length * C); // (P, C)
  rows.forEach((r, p) => {
    out.set(src.subarray(r * C, (r + 1) * C), p * C);
  });
  return tf.tensor2d(out, [rows.length, C]);
}

/**
 * Gate effects of latent `latents[p]` on batch row `rows[p]` (P pairs). `x` (B, D) are the batch's
 * final-block input CLS and `base` their unsteered SAE encoding; `options` the run's steering options.
 */
export function pairGateEffects(
  model: ViT,
  sae: SparseAutoencoder,
  batch: { x: tf.Tensor2D; base: SaeBase },
  pairs: { rows: Int32Array; latents: Int32Array },
  alpha: number,
  options: Partial<SteerOptions>,
): PairEffects {
  const gate = finalGate(model);
  const P = pairs.rows.length;
  if (pairs.latents.length !== P) throw new RangeError(`pairGateEffects: ${P} rows but ${pairs.latents.length} latents`);
  const out = tf.tidy(() => {
    const lat = tf.tensor1d(pairs.latents, 'int32');
    const take = (t: tf.Tensor2D): tf.Tensor2D => gatherRows(t, pairs.rows); // (P, ...)
    const x = take(batch.x); // (P, D)
    const base: SaeBase = { pre: take(batch.base.pre), z: take(batch.base.z), xHat: take(batch.base.xHat) };
    const mask = tf.oneHot(lat, sae.dSae).toFloat() as tf.Tensor2D; // (P, F): S = {i} per pair
    const steered = steerFromBase(sae, x, base, mask, alpha, options); // (P, D)
    // What alpha = 0 gives in every mode, bit for bit (steering.ts): x_hat, or x with keepError. Per row, not per pair.
    const rowsRef = options.keepError === true ? batch.x : batch.base.xHat; // (B, D)
    const reference = take(rowsRef); // (P, D)
    const aS = gate.apply(steered); // (P, H)
    const aR = take(gate.apply(rowsRef)); // (P, H)
    const d = tf.gather(sae.wDec, lat) as tf.Tensor2D; // (P, D) decoder rows
    return {
      logit: tf.sub(aS, aR),
      keep: tf.sub(thresholdMask(aS), thresholdMask(aR)),
      linear: gateJvp(gate, reference, d),
    };
  });
  const read = (t: tf.Tensor): Float32Array => t.dataSync() as Float32Array;
  const effects = { logit: read(out.logit), keep: read(out.keep), linear: read(out.linear) };
  tf.dispose([out.logit, out.keep, out.linear]);
  return effects;
}
