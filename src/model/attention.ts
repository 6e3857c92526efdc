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
import type { Rng } from '../random.js';
import { Linear, f32, prefixed, take, type Module, type Param } from './layers.js';

export class Attention implements Module {
  readonly q: Linear;
  readonly k: Linear;
  readonly v: Linear;
  readonly proj: Linear;
  readonly headDim: number;

  constructor(readonly dim: number, readonly numHeads: number, readonly qkvBias: boolean, r: Rng) {
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
    const Dh = this.headDim;
    const heads = (t: tf.Tensor): tf.Tensor4D => t.reshape([B, N, H, Dh]).transpose([0, 2, 1, 3]); // (B, H, N, Dh)
    const q = heads(tf.mul(this.q.apply(x), 1 / Math.sqrt(Dh))); // pre-scaled
    const k = heads(this.k.apply(x));
    const v = heads(this.v.apply(x));
    // q k^T with transposeB: one sgemm per (b, h) on the native path, no (B, H, Dh, N) copy of k.
    const att = tf.softmax(tf.matMul(q, k, false, true)); // (B, H, N, N)
    let o = tf.matMul(att, v); // (B, H, N, Dh)
    if (mask !== null) o = tf.mul(o, mask.reshape([B, H, 1, 1]));
    const merged = o.transpose([0, 2, 1, 3]).reshape([B, N, this.dim]); // (B, N, D)
    return this.proj.apply(merged) as tf.Tensor3D;
  }

  parameters(): Param[] {
    return [
      ...prefixed('q.', this.q.parameters()),
      ...prefixed('k.', this.k.parameters()),
      ...prefixed('v.', this.v.parameters()),
      ...prefixed('proj.', this.proj.parameters()),
    ];
  }

  exportState(prefix: string, out: Map<string, TensorData>): void {
    const parts = new Map<string, TensorData>();
    this.q.exportState('q.', parts);
    this.k.exportState('k.', parts);
    this.v.exportState('v.', parts);
    const cat = (suffix: string): Float32Array => {
      const arrays = ['q', 'k', 'v'].map((n) => take(parts, `${n}.${suffix}`));
      const joined = new Float32Array(arrays.reduce((s, a) => s + a.length, 0));
      let at = 0;
      for (const a of arrays) {
        joined.set(a, at);
        at += a.length;
      }
      return joined;
    };
    out.set(`${prefix}qkv.weight`, f32([3 * this.dim, this.dim], cat('weight'))); // rows: q | k | v
    if (this.qkvBias) out.set(`${prefix}qkv.bias`, f32([3 * this.dim], cat('bias')));
    this.proj.exportState(`${prefix}proj.`, out);
  }

  importState(prefix: string, src: Map<string, TensorData>): void {
    const D = this.dim;
    const w = take(src, `${prefix}qkv.weight`); // (3D, D)
    const b = this.qkvBias ? take(src, `${prefix}qkv.bias`) : null; // (3D,)
    ['q', 'k', 'v'].forEach((n, i) => {
      const part = new Map<string, TensorData>([[`${n}.weight`, f32([D, D], w.subarray(i * D * D, (i + 1) * D * D))]]);
      if (b !== null) part.set(`${n}.bias`, f32([D], b.subarray(i * D, (i + 1) * D)));
      (this[n as 'q' | 'k' | 'v'] as Linear).importState(`${n}.`, part);
    });
    this.proj.importState(`${prefix}proj.`, src);
  }

  dispose(): void {
    for (const l of [this.q, this.k, this.v, this.proj]) l.dispose();
  }
}
