/**
 * Pre-LN transformer block (timm `Block`): x + attn(norm1(x), mask) then x + mlp(norm2(x)),
 * plus the optional AdaViT decision network that reads the CLS token of the block's residual input.
 * Legend: B batch, N tokens, D width, F MLP hidden width, H heads.
 */
import * as tf from '@tensorflow/tfjs';
import type { Rng } from '../random.js';
import { Attention } from './attention.js';
import type { HeadGate } from './gate.js';
import { Composite, LayerNorm, Linear, gelu, type Parts } from './layers.js';

/** timm `Mlp`: fc1 -> exact GELU -> fc2. (..., D) -> (..., D). */
export class Mlp extends Composite {
  readonly fc1: Linear;
  readonly fc2: Linear;

  constructor(dim: number, hidden: number, r: Rng) {
    super();
    this.fc1 = new Linear(dim, hidden, r);
    this.fc2 = new Linear(hidden, dim, r);
  }

  apply(x: tf.Tensor): tf.Tensor {
    return this.fc2.apply(gelu(this.fc1.apply(x)));
  }

  protected parts(): Parts {
    return [
      ['fc1', this.fc1],
      ['fc2', this.fc2],
    ];
  }
}

export class Block extends Composite {
  readonly norm1: LayerNorm;
  readonly attn: Attention;
  readonly norm2: LayerNorm;
  readonly mlp: Mlp;
  /** Decision network, or null for an ungated (dense) block. */
  gate: HeadGate | null = null;

  constructor(dim: number, numHeads: number, mlpHidden: number, qkvBias: boolean, r: Rng) {
    super();
    this.norm1 = new LayerNorm(dim);
    this.attn = new Attention(dim, numHeads, qkvBias, r);
    this.norm2 = new LayerNorm(dim);
    this.mlp = new Mlp(dim, mlpHidden, r);
  }

  /** x (B, N, D), head mask (B, H) or null -> (B, N, D). */
  apply(x: tf.Tensor3D, mask: tf.Tensor2D | null): tf.Tensor3D {
    const h = tf.add(x, this.attn.apply(this.norm1.apply(x) as tf.Tensor3D, mask)) as tf.Tensor3D;
    return tf.add(h, this.mlp.apply(this.norm2.apply(h))) as tf.Tensor3D;
  }

  protected parts(): Parts {
    return [
      ['norm1', this.norm1],
      ['attn', this.attn],
      ['norm2', this.norm2],
      ['mlp', this.mlp],
      ['gate', this.gate],
    ];
  }
}
