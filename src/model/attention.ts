/**
 * Multi-head self-attention with per-head output masks (paper Eq. 1: h_i = M_i Attn(Q, K, V)_i).
 *
 * timm keeps one fused `qkv` Linear (3D, D); we hold q, k and v as three (D, D) matrices so the forward
 * runs three plain matmuls instead of one matmul plus a split of the activations (slow on tfjs-wasm).
 * export/importState convert to and from timm's fused `attn.qkv.weight` (3D, D) / `attn.qkv.bias` (3D).
 * Legend: B batch, N tokens, D width, H heads, Dh head dim.
 */
import * as tf from '@tensorflow/tfjs';
import type { TensorData } from '../io/safetensors.js';
import { attentionCore, attentionCoreActive } from '../engine/attention_kernel.js';
import { linear } from '../engine/linear.js';
import type { Rng } from '../random.js';
import { Composite, Linear, f32, take, type Parts } from './layers.js';

/** The projections timm fuses into one `qkv` Linear, in its row order. */
const QKV = ['q', 'k', 'v'] as const;

export class Attention extends Composite {
  readonly q: Linear;
  readonly k: Linear;
  readonly v: Linear;
  readonly proj: Linear;
  readonly headDim: number;

  constructor(
    readonly dim: number,
    readonly numHeads: number,
    readonly qkvBias: boolean,
    r: Rng,
  ) {
    super();
    this.headDim = dim / numHeads;
    this.q = new Linear(dim, dim, r, { bias: qkvBias });
    this.k = new Linear(dim, dim, r, { bias: qkvBias });
    this.v = new Linear(dim, dim, r, { bias: qkvBias });
    this.proj = new Linear(dim, dim, r);
  }

  /**
   * x (B, N, D), optional head mask (B, H) of 0/1 -> (B, N, D).
   * A masked head contributes nothing to the projection input.
   */
  apply(x: tf.Tensor3D, mask: tf.Tensor2D | null): tf.Tensor3D {
    const [B, N] = x.shape;
    const H = this.numHeads;
    if (attentionCoreActive()) return this.proj.apply(this.fusedCore(x, mask)) as tf.Tensor3D;
    let o = this.compositeCore(x); // (B, N, D), head h at columns h Dh
    if (mask !== null) o = tf.mul(o.reshape([B, N, H, this.headDim]), mask.reshape([B, 1, H, 1])).reshape([B, N, this.dim]);
    return this.proj.apply(o) as tf.Tensor3D;
  }

  /**
   * One qkv matmul (B N, D) @ (D, 3D), then the attention core kernel on that layout, which applies the
   * head mask too: x (B, N, D), mask (B, H) or null -> (B, N, D).
   */
  private fusedCore(x: tf.Tensor3D, mask: tf.Tensor2D | null): tf.Tensor3D {
    const weight = tf.concat([this.q.weight, this.k.weight, this.v.weight], 1) as tf.Tensor2D; // (D, 3D)
    const biases = [this.q.bias, this.k.bias, this.v.bias];
    const bias = biases.every((b) => b !== null) ? (tf.concat(biases as tf.Tensor[]) as tf.Tensor1D) : null; // (3D)
    const qkv = linear(x, weight, bias) as tf.Tensor3D; // (B, N, 3D)
    return attentionCore(qkv, this.numHeads, 1 / Math.sqrt(this.headDim), mask);
  }

  /** The same with tfjs ops, per-head transposes included (backends without the kernel, HEADSTEER_FUSED=0). */
  private compositeCore(x: tf.Tensor3D): tf.Tensor3D {
    const [B, N] = x.shape;
    const H = this.numHeads;
    const Dh = this.headDim;
    const heads = (t: tf.Tensor): tf.Tensor4D => t.reshape([B, N, H, Dh]).transpose([0, 2, 1, 3]); // (B, H, N, Dh)
    const q = heads(tf.mul(this.q.apply(x), 1 / Math.sqrt(Dh))); // pre-scaled
    const k = heads(this.k.apply(x));
    const v = heads(this.v.apply(x));
    // q k^T with transposeB: one sgemm per (b, h) on the native path, no (B, H, Dh, N) copy of k.
    const att = tf.softmax(tf.matMul(q, k, false, true)); // (B, H, N, N)
    return tf.matMul(att, v).transpose([0, 2, 1, 3]).reshape([B, N, this.dim]) as tf.Tensor3D; // (B, N, D)
  }

  protected parts(): Parts {
    return [
      ['q', this.q],
      ['k', this.k],
      ['v', this.v],
      ['proj', this.proj],
    ];
  }

  /** The derived export, with q, k and v joined into timm's `qkv.weight` (3D, D) and `qkv.bias` (3D,). */
  override exportState(prefix: string, out: Map<string, TensorData>): void {
    const separate = new Map<string, TensorData>();
    super.exportState('', separate); // q.weight (D, D), q.bias (D,), k.*, v.*, then proj.*
    const D = this.dim;
    const fused = (suffix: string, size: number): Float32Array => {
      const joined = new Float32Array(3 * size);
      QKV.forEach((n, i) => {
        joined.set(take(separate, `${n}.${suffix}`), i * size);
      });
      return joined;
    };
    out.set(`${prefix}qkv.weight`, f32([3 * D, D], fused('weight', D * D))); // rows: q | k | v
    if (this.qkvBias) out.set(`${prefix}qkv.bias`, f32([3 * D], fused('bias', D)));
    for (const [name, t] of separate) if (!isQkv(name)) out.set(`${prefix}${name}`, t);
  }

  /** The derived import, reading q, k and v as row blocks of timm's fused `qkv` tensors. */
  override importState(prefix: string, src: Map<string, TensorData>): void {
    const D = this.dim;
    const w = take(src, `${prefix}qkv.weight`); // (3D, D)
    const b = this.qkvBias ? take(src, `${prefix}qkv.bias`) : null; // (3D,)
    const split = new Map(src); // src plus q.*, k.*, v.* views; tensors are shared, not copied
    QKV.forEach((n, i) => {
      split.set(`${prefix}${n}.weight`, f32([D, D], w.subarray(i * D * D, (i + 1) * D * D)));
      if (b !== null) split.set(`${prefix}${n}.bias`, f32([D], b.subarray(i * D, (i + 1) * D)));
    });
    super.importState(prefix, split);
  }
}

/** Whether a state-dict name (relative to the attention module) belongs to q, k or v. */
function isQkv(name: string): boolean {
  return QKV.some((n) => name.startsWith(`${n}.`));
}
