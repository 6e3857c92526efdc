/**
 * Pre-LN transformer block (timm `Block`): x + attn(norm1(x), mask) then x + mlp(norm2(x)),
 * plus the optional AdaViT decision network that reads the CLS token of the block's residual input.
 * Legend: B batch, N tokens, D width, F MLP hidden width, H heads.
 */
import * as tf from '@tensorflow/tfjs';
import type { TensorData } from '../io/safetensors.js';
import type { Rng } from '../random.js';
import { Attention } from './attention.js';
import { HeadGate } from './gate.js';
import { LayerNorm, Linear, gelu, prefixed, type Module, type Param } from './layers.js';

/** timm `Mlp`: fc1 -> exact GELU -> fc2. (..., D) -> (..., D). */
export class Mlp implements Module {
  readonly fc1: Linear;
  readonly fc2: Linear;

  constructor(dim: number, hidden: number, r: Rng) {
    this.fc1 = new Linear(dim, hidden, r);
    this.fc2 = new Linear(hidden, dim, r);
  }

  apply(x: tf.Tensor): tf.Tensor {
    return this.fc2.apply(gelu(this.fc1.apply(x)));
  }

  parameters(): Param[] {
    return [...prefixed('fc1.', this.fc1.parameters()), ...prefixed('fc2.', this.fc2.parameters())];
  }

  exportState(prefix: string, out: Map<string, TensorData>): void {
    this.fc1.exportState(`${prefix}fc1.`, out);
    this.fc2.exportState(`${prefix}fc2.`, out);
  }

  importState(prefix: string, src: Map<string, TensorData>): void {
    this.fc1.importState(`${prefix}fc1.`, src);
    this.fc2.importState(`${prefix}fc2.`, src);
  }

  dispose(): void {
    this.fc1.dispose();
    this.fc2.dispose();
  }
}

export class Block implements Module {
  readonly norm1: LayerNorm;
  readonly attn: Attention;
  readonly norm2: LayerNorm;
  readonly mlp: Mlp;
  /** Decision network, or null for an ungated (dense) block. */
  gate: HeadGate | null = null;

  constructor(dim: number, numHeads: number, mlpHidden: number, qkvBias: boolean, r: Rng) {
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

  parameters(): Param[] {
    return [
      ...prefixed('norm1.', this.norm1.parameters()),
      ...prefixed('attn.', this.attn.parameters()),
      ...prefixed('norm2.', this.norm2.parameters()),
      ...prefixed('mlp.', this.mlp.parameters()),
      ...(this.gate === null ? [] : prefixed('gate.', this.gate.parameters())),
    ];
  }

  exportState(prefix: string, out: Map<string, TensorData>): void {
    this.norm1.exportState(`${prefix}norm1.`, out);
    this.attn.exportState(`${prefix}attn.`, out);
    this.norm2.exportState(`${prefix}norm2.`, out);
    this.mlp.exportState(`${prefix}mlp.`, out);
    this.gate?.exportState(`${prefix}gate.`, out);
  }

  importState(prefix: string, src: Map<string, TensorData>): void {
    this.norm1.importState(`${prefix}norm1.`, src);
    this.attn.importState(`${prefix}attn.`, src);
    this.norm2.importState(`${prefix}norm2.`, src);
    this.mlp.importState(`${prefix}mlp.`, src);
    this.gate?.importState(`${prefix}gate.`, src);
  }

  dispose(): void {
    this.norm1.dispose();
    this.attn.dispose();
    this.norm2.dispose();
    this.mlp.dispose();
    this.gate?.dispose();
  }
}
