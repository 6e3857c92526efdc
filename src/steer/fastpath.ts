/**
 * The fast steering path (docs/design.md "Steering", the fast path): steering changes only the final layer's head
 * mask, and only the CLS output reaches the classifier. With the final block's per-head keys and values
 * and the CLS residual cached once (extraction), one steering configuration costs the final decision
 * network + one CLS-query attention over the cached K/V + a one-token MLP and head: O(N D) per image
 * instead of a full forward. `finalLayer` equals `ViT.forward` with the same final mask (test: 1e-5).
 *
 * Threshold-shift control (docs/design.md, Controls): `gateShift` beta moves the final gate's decision
 * threshold, mask = 1[gate(gateInput) + beta > 0]. With gateInput = x_hat (the SAE reconstruction),
 * beta = 0 is exactly the reconstruction point, so sweeping beta traces the accuracy-usage curve that
 * steering has to beat.
 *
 * Legend: B batch, N tokens, D width, H heads, Dh head dim, K classes.
 */
import * as tf from '@tensorflow/tfjs';
import { thresholdMask } from '../model/gate.js';
import type { ViT } from '../model/vit.js';

/** What the fast path needs per image, from the unsteered model. */
export interface FinalBlockCache {
  /** CLS token of the final block's residual input (B, D). */
  cls: tf.Tensor2D;
  /** Final block's keys and values per head (B, H, N, Dh), from norm1 of its input. */
  k: tf.Tensor4D;
  v: tf.Tensor4D;
  /**
   * `clsHeadOutputs` of cls, k and v (B, H, 1, Dh). Optional: a caller that evaluates many
   * configurations of one batch computes it once, since only the mask differs between them.
   */
  heads?: tf.Tensor4D;
}

/**
 * Per-head attention output of the CLS query over the final block's keys and values, before any head
 * mask: softmax(q k^T / sqrt(Dh)) v. cls (B, D), k and v (B, H, N, Dh) -> (B, H, 1, Dh).
 */
export function clsHeadOutputs(model: ViT, cls: tf.Tensor2D, k: tf.Tensor4D, v: tf.Tensor4D): tf.Tensor4D {
  const block = model.blocks[model.blocks.length - 1]!;
  const { numHeads: H, embedDim: D } = model.config;
  const Dh = D / H;
  const B = cls.shape[0];
  const cn = block.norm1.apply(cls); // (B, D)
  const q = tf.mul(block.attn.q.apply(cn), 1 / Math.sqrt(Dh)).reshape([B, H, 1, Dh]); // (B, H, 1, Dh)
  const att = tf.softmax(tf.matMul(q, k, false, true)); // (B, H, 1, N)
  return tf.matMul(att, v) as tf.Tensor4D; // (B, H, 1, Dh)
}

/** Keys and values of the final block for a batch's residual input h (B, N, D). */
export function finalBlockKeysValues(model: ViT, h: tf.Tensor3D): { k: tf.Tensor4D; v: tf.Tensor4D } {
  const block = model.blocks[model.blocks.length - 1]!;
  const [B, N] = h.shape;
  const { numHeads: H, embedDim: D } = model.config;
  const Dh = D / H;
  const hn = block.norm1.apply(h); // (B, N, D)
  const heads = (t: tf.Tensor): tf.Tensor4D => t.reshape([B, N, H, Dh]).transpose([0, 2, 1, 3]); // (B, H, N, Dh)
  return { k: heads(block.attn.k.apply(hn)), v: heads(block.attn.v.apply(hn)) };
}

export interface FinalLayerOptions {
  /** Replaces the final decision network's input (steering); default: the cached CLS. */
  gateInput?: tf.Tensor2D;
  /** Replaces the CLS residual itself (DESIGN option `target: residual`): its query, key and value. */
  residual?: tf.Tensor2D;
  /** Explicit final-layer head mask (B, H), bypassing the gate. */
  mask?: tf.Tensor2D;
  /**
   * Threshold shift beta, a scalar or one per row (B, 1), added to the final gate's logits before the
   * threshold: mask = 1[gate(gateInput) + beta > 0]. beta = 0 gives the unshifted mask bit for bit
   * (a + 0 == a in float32). Not allowed together with `mask`, which bypasses the gate.
   */
  gateShift?: tf.Tensor;
}

/** Throws unless `shift` is a scalar or (B, 1). */
function checkGateShift(shift: tf.Tensor, B: number): void {
  const ok = shift.rank === 0 || (shift.rank === 2 && shift.shape[0] === B && shift.shape[1] === 1);
  if (!ok) throw new RangeError(`finalLayer: gateShift must be a scalar or (B, 1) = (${B}, 1), got shape [${shift.shape.join(', ')}]`);
}

/**
 * Logits and final-layer head mask from the cache. cache (B rows) -> logits (B, K), mask (B, H).
 * Tensors are created in the caller's scope (wrap in tf.tidy).
 */
export function finalLayer(model: ViT, cache: FinalBlockCache, opts: FinalLayerOptions = {}): { logits: tf.Tensor2D; mask: tf.Tensor2D } {
  const block = model.blocks[model.blocks.length - 1]!;
  const { numHeads: H, embedDim: D } = model.config;
  const Dh = D / H;
  const B = cache.cls.shape[0];
  let mask = opts.mask;
  if (mask !== undefined && opts.gateShift !== undefined) {
    throw new Error('finalLayer: gateShift shifts the gate, but an explicit mask bypasses it; pass one or the other');
  }
  if (mask === undefined) {
    if (block.gate === null) throw new Error('finalLayer: the final block has no decision network');
    if (opts.gateShift !== undefined) checkGateShift(opts.gateShift, B);
    const a = block.gate.apply(opts.gateInput ?? cache.cls); // (B, H)
    mask = thresholdMask(opts.gateShift === undefined ? a : (tf.add(a, opts.gateShift) as tf.Tensor2D));
  }
  const cls = opts.residual ?? cache.cls; // (B, D)
  let heads: tf.Tensor4D;
  if (opts.residual !== undefined) {
    // The CLS token's own key and value change with it; the other tokens' stay cached.
    const cn = block.norm1.apply(cls); // (B, D)
    const row = (t: tf.Tensor): tf.Tensor4D => t.reshape([B, H, 1, Dh]); // (B, H, 1, Dh)
    const N = cache.k.shape[2];
    const k = tf.concat([row(block.attn.k.apply(cn)), cache.k.slice([0, 0, 1, 0], [B, H, N - 1, Dh])], 2) as tf.Tensor4D;
    const v = tf.concat([row(block.attn.v.apply(cn)), cache.v.slice([0, 0, 1, 0], [B, H, N - 1, Dh])], 2) as tf.Tensor4D;
    heads = clsHeadOutputs(model, cls, k, v);
  } else {
    heads = cache.heads ?? clsHeadOutputs(model, cls, cache.k, cache.v);
  }
  const o = tf.mul(heads, mask.reshape([B, H, 1, 1])); // (B, H, 1, Dh), masked heads
  const y = tf.add(cls, block.attn.proj.apply(o.reshape([B, D]))) as tf.Tensor2D; // (B, D)
  const out = tf.add(y, block.mlp.apply(block.norm2.apply(y))) as tf.Tensor2D; // (B, D)
  return { logits: model.classify(out), mask };
}
