/**
 * Head-skipping inference (docs/design.md "Engine", compute saved): the eval-mode forward of a gated ViT
 * that computes each layer's attention for its kept heads only, instead of computing every head and
 * multiplying the pruned ones by 0 (paper Eq. 1 as `Attention.apply` runs it). Each layer's gate runs on
 * the CLS token before that layer's attention, its mask is read, and for each group of images sharing a
 * mask pattern the block computes q, k and v with the kept heads' weight columns only, attention for those
 * heads only, and the output projection over their rows only. A layer with every head pruned adds just
 * the projection's bias. Equals `ViT.forward` with the same masks (test: 1e-5).
 *
 * Per pattern the kept weights are laid out once, as one (D, 3 h Dh) matrix [q heads | k heads | v heads]
 * with the 1/sqrt(Dh) scale folded into q, and the (h Dh, D) rows of the projection, and kept in a cache
 * (`SkipCache`, at most 2^H entries per layer): one matmul computes q, k and v of the kept heads, and their
 * split is three copy-free slices. The cache belongs to fixed weights (inference); rebuild it after training.
 *
 * A batch is split by mask pattern: each group of images that keep the same heads runs as one batch,
 * and the groups' attention outputs are put back in batch order (docs/design.md says why not gather
 * (image, head) pairs).
 *
 * Legend: B batch, G images of one group, N tokens, D width, H heads, h kept heads, Dh head dim, L layers.
 */
import * as tf from '@tensorflow/tfjs';
import { attentionCore, attentionCoreActive } from '../engine/attention_kernel.js';
import type { Attention } from './attention.js';
import type { ViT } from './vit.js';

/** One layer's weights for one kept-head pattern. */
interface KeptWeights {
  /** Number of kept heads h (>= 1). */
  kept: number;
  /** (D, 3 h Dh): the kept heads' q (pre-scaled), k and v columns. */
  qkv: tf.Tensor2D;
  /** (3 h Dh) or null without qkv bias. */
  qkvBias: tf.Tensor1D | null;
  /** (h Dh, D): the output projection's rows of the kept heads. */
  proj: tf.Tensor2D;
}

/** A decision network's weights on the host: LayerNorm then Linear(D, H), as gate.ts's HeadGate. */
interface HostGate {
  gamma: Float32Array; // (D)
  beta: Float32Array; // (D)
  eps: number;
  weight: Float32Array; // (D, H)
  bias: Float32Array; // (H)
}

/** Kept-head weights per layer, keyed by the mask pattern (bit i set: head i kept), and the gates on the host. */
export interface SkipCache {
  layers: Array<Map<number, KeptWeights>>;
  /** Per layer: its gate's weights, or null for an ungated layer. */
  gates: Array<HostGate | null>;
  dispose(): void;
}

/** A cache for `model`'s current weights (empty of patterns); dispose it when done (it owns its tensors). */
export function createSkipCache(model: ViT): SkipCache {
  const layers = model.blocks.map(() => new Map<number, KeptWeights>());
  const read = (v: tf.Tensor | null): Float32Array => (v === null ? new Float32Array(0) : (v.dataSync() as Float32Array).slice());
  const gates = model.blocks.map(({ gate }) =>
    gate === null
      ? null
      : { gamma: read(gate.norm.weight), beta: read(gate.norm.bias), eps: gate.norm.eps, weight: read(gate.fc.weight), bias: read(gate.fc.bias) },
  );
  return {
    layers,
    gates,
    dispose() {
      for (const m of layers) {
        for (const w of m.values()) tf.dispose([w.qkv, w.proj, ...(w.qkvBias === null ? [] : [w.qkvBias])]);
        m.clear();
      }
    },
  };
}

/** The heads of a pattern, ascending. */
function headsOf(pattern: number, H: number): number[] {
  return Array.from({ length: H }, (_, i) => i).filter((i) => (pattern >> i) & 1);
}

/** Lay out the weights of the kept heads of `pattern` (at least one head) for `attn`. */
function keptWeights(attn: Attention, pattern: number): KeptWeights {
  const Dh = attn.headDim;
  const heads = headsOf(pattern, attn.numHeads);
  const [qkv, proj, qkvBias] = tf.tidy(() => {
    const scale = 1 / Math.sqrt(Dh);
    const cols = (w: tf.Tensor, s: number): tf.Tensor[] => heads.map((i) => tf.mul(w.slice([0, i * Dh], [-1, Dh]), s)); // (D, Dh) each
    const qkv = tf.concat([...cols(attn.q.weight, scale), ...cols(attn.k.weight, 1), ...cols(attn.v.weight, 1)], 1) as tf.Tensor2D; // (D, 3 h Dh)
    const biases = [attn.q.bias, attn.k.bias, attn.v.bias];
    const qkvBias =
      attn.qkvBias && biases.every((b) => b !== null)
        ? (tf.concat(biases.flatMap((b, j) => heads.map((i) => tf.mul(b!.slice([i * Dh], [Dh]), j === 0 ? scale : 1)))) as tf.Tensor1D) // (3 h Dh)
        : null;
    const proj = tf.concat(
      heads.map((i) => attn.proj.weight.slice([i * Dh, 0], [Dh, -1])),
      0,
    ) as tf.Tensor2D; // (h Dh, D)
    return qkvBias === null ? [qkv, proj] : [qkv, proj, qkvBias];
  });
  return { kept: heads.length, qkv: qkv as tf.Tensor2D, proj: proj as tf.Tensor2D, qkvBias: (qkvBias ?? null) as tf.Tensor1D | null };
}

/** The attention core with tfjs ops, q pre-scaled: y (G N, 3 h Dh) -> (G N, h Dh). */
function compositeCore(y: tf.Tensor2D, G: number, N: number, h: number, Dh: number): tf.Tensor2D {
  // (3, h G N Dh): each of q, k, v is one contiguous run, so each slice is one copy.
  const t = y
    .reshape([G, N, 3 * h, Dh])
    .transpose([2, 0, 1, 3])
    .reshape([3, h * G * N * Dh]);
  const part = (j: number): tf.Tensor4D => t.slice([j, 0], [1, -1]).reshape([h, G, N, Dh]); // (h, G, N, Dh)
  const att = tf.softmax(tf.matMul(part(0), part(1), false, true)); // (h, G, N, N)
  return tf
    .matMul(att, part(2))
    .transpose([1, 2, 0, 3])
    .reshape([G * N, h * Dh]);
}

/**
 * Attention of one group over its kept heads only: xn (G, N, D), already normalised (norm1) -> (G, N, D),
 * the projection's bias included.
 */
function keptAttention(attn: Attention, w: KeptWeights, xn: tf.Tensor3D): tf.Tensor3D {
  const [G, N, D] = xn.shape;
  const h = w.kept;
  const Dh = attn.headDim;
  const y = tf.fused.matMul({ a: xn.reshape([G * N, D]), b: w.qkv, ...(w.qkvBias === null ? {} : { bias: w.qkvBias }) }); // (G N, 3 h Dh)
  const o = attentionCoreActive() ? attentionCore(y.reshape([G, N, 3 * h * Dh]), h, 1).reshape([G * N, h * Dh]) : compositeCore(y as tf.Tensor2D, G, N, h, Dh); // (G N, h Dh)
  const bias = attn.proj.bias;
  return tf.fused.matMul({ a: o, b: w.proj, ...(bias === null ? {} : { bias }) }).reshape([G, N, D]) as tf.Tensor3D;
}

/**
 * The gate's mask on the host: cls (B, D) row-major -> m (B, H) = 1[fc(LayerNorm(cls)) > 0]. At batch 1
 * the gate is ~1 kFLOP, and its four kernel calls cost more than the arithmetic; here it is one read of
 * the CLS rows and float64 arithmetic, so a logit within ~1e-6 of 0 may round the other way than the
 * float32 gate (none did in the tests).
 */
function hostGateMask(g: HostGate, cls: Float32Array, B: number): Float32Array {
  const D = g.gamma.length;
  const H = g.bias.length;
  const m = new Float32Array(B * H);
  const n = new Float64Array(D);
  for (let b = 0; b < B; b++) {
    let mean = 0;
    for (let d = 0; d < D; d++) mean += cls[b * D + d]!;
    mean /= D;
    let variance = 0;
    for (let d = 0; d < D; d++) variance += (cls[b * D + d]! - mean) ** 2;
    const inv = 1 / Math.sqrt(variance / D + g.eps);
    for (let d = 0; d < D; d++) n[d] = (cls[b * D + d]! - mean) * inv * g.gamma[d]! + g.beta[d]!;
    for (let h = 0; h < H; h++) {
      let a = g.bias[h]!;
      for (let d = 0; d < D; d++) a += n[d]! * g.weight[d * H + h]!;
      m[b * H + h] = a > 0 ? 1 : 0;
    }
  }
  return m;
}

/** Images of a batch grouped by mask pattern: pattern -> batch rows, in first-seen order. */
export function groupByPattern(masks: ArrayLike<number>, B: number, H: number): Map<number, number[]> {
  const groups = new Map<number, number[]>();
  for (let b = 0; b < B; b++) {
    let pattern = 0;
    for (let i = 0; i < H; i++) if (masks[b * H + i]! > 0) pattern |= 1 << i;
    const rows = groups.get(pattern);
    if (rows === undefined) groups.set(pattern, [b]);
    else rows.push(b);
  }
  return groups;
}

/** Attention output of one layer for the whole batch with pruned heads skipped: xn (B, N, D) -> (B, N, D). */
function skippedAttention(attn: Attention, cache: Map<number, KeptWeights>, xn: tf.Tensor3D, masks: Float32Array): tf.Tensor3D {
  const [B, N, D] = xn.shape;
  const H = attn.numHeads;
  const groups = groupByPattern(masks, B, H);
  const run = (pattern: number, x: tf.Tensor3D): tf.Tensor3D => {
    if (pattern === 0) {
      const bias = attn.proj.bias;
      return (bias === null ? tf.zeros([x.shape[0], N, D]) : tf.tile(bias.reshape([1, 1, D]), [x.shape[0], N, 1])) as tf.Tensor3D;
    }
    let w = cache.get(pattern);
    if (w === undefined) {
      w = keptWeights(attn, pattern);
      for (const t of [w.qkv, w.proj, w.qkvBias]) if (t !== null) tf.keep(t); // outlives the forward's tidy
      cache.set(pattern, w);
    }
    return keptAttention(attn, w, x);
  };
  if (groups.size === 1) return run(groups.keys().next().value!, xn);
  const order: number[] = []; // batch rows in group order
  const outs: tf.Tensor3D[] = [];
  for (const [pattern, rows] of groups) {
    order.push(...rows);
    outs.push(run(pattern, tf.gather(xn, rows) as tf.Tensor3D)); // (G, N, D)
  }
  const inverse = new Int32Array(B); // position of batch row b in group order
  order.forEach((b, j) => {
    inverse[b] = j;
  });
  return tf.gather(tf.concat(outs, 0), inverse) as tf.Tensor3D; // (B, N, D)
}

/** What a skipping forward returns. */
export interface SkipOutput {
  logits: tf.Tensor2D; // (B, K)
  /** Per layer: the head mask applied, (B, H) row-major; all ones for an ungated layer. */
  masks: Float32Array[];
}

/**
 * Eval-mode forward with pruned heads skipped: images (B, C, S, S) -> logits (B, K) and the masks.
 * `headMasks[l]` (B H values, row-major), when given, replaces layer l's gate (as ForwardOptions.headMasks);
 * otherwise a gated layer's mask is its gate's (1[a > 0]) and an ungated layer keeps every head.
 */
export function skipForward(model: ViT, images: tf.Tensor4D, cache: SkipCache, headMasks?: ReadonlyArray<Float32Array | null>): SkipOutput {
  const B = images.shape[0];
  const H = model.config.numHeads;
  const masks: Float32Array[] = [];
  const logits = tf.tidy(() => {
    let x = model.embed(images); // (B, N, D)
    model.blocks.forEach((block, l) => {
      let m = headMasks?.[l] ?? null;
      const gate = cache.gates[l] ?? null;
      if (m === null && gate !== null) {
        // The gate runs before this layer's attention.
        m = hostGateMask(gate, x.slice([0, 0, 0], [-1, 1, -1]).dataSync() as Float32Array, B); // cls (B, 1, D)
      }
      m ??= new Float32Array(B * H).fill(1);
      masks.push(m);
      const hAttn = tf.add(x, skippedAttention(block.attn, cache.layers[l]!, block.norm1.apply(x) as tf.Tensor3D, m)) as tf.Tensor3D;
      x = tf.add(hAttn, block.mlp.apply(block.norm2.apply(hAttn))) as tf.Tensor3D;
    });
    return model.logitsOf(x);
  });
  return { logits, masks };
}
