/**
 * Parameter-owning building blocks shared by the ViT, its decision networks and the SAE:
 * Linear, LayerNorm, and the bookkeeping that maps tfjs variables to timm's state-dict names.
 *
 * Variables are stored in *compute* layout (Linear weight as (in, out), so `x @ W` is a plain matmul,
 * the fast case on tfjs-wasm); `exportState` / `importState` convert to and from timm's layout
 * ((out, in), PyTorch convention) so checkpoints load in timm unchanged.
 */
import * as tf from '@tensorflow/tfjs';
import { toFloat32, type TensorData } from '../io/safetensors.js';
import type { Rng } from '../random.js';
import { UserError } from '../errors.js';
import { gelu as fusedGelu } from '../engine/gelu.js';
import { layerNorm } from '../engine/layernorm.js';
import { linear } from '../engine/linear.js';

/** A trainable variable with the name the optimizer and its saved state use. */
export interface Param {
  name: string;
  variable: tf.Variable;
  /** AdamW weight decay applies (matrices yes; biases, norms, embeddings no — timm's convention). */
  decay: boolean;
}

/** What every parameter-owning module offers. */
export interface Module {
  parameters(): Param[];
  exportState(prefix: string, out: Map<string, TensorData>): void;
  importState(prefix: string, src: Map<string, TensorData>): void;
  dispose(): void;
}

export function f32(shape: number[], data: Float32Array): TensorData {
  return { dtype: 'F32', shape, data };
}

/**
 * Read a named tensor from a state dict as float32 (F16, BF16 and F64 hub checkpoints are converted);
 * shapes were already checked by the loader.
 */
export function take(src: Map<string, TensorData>, name: string): Float32Array {
  const t = src.get(name);
  if (t === undefined) throw new UserError(`state dict has no tensor '${name}'`);
  return toFloat32(t, name, 'state dict');
}

/** Transpose a row-major (rows, cols) matrix. */
export function transpose2d(a: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(a.length);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) out[c * rows + r] = a[r * cols + c]!;
  }
  return out;
}

/** timm's trunc_normal_(std): normal, redrawn outside +-2 (absolute, as timm's default a=-2, b=2). */
export function truncNormal(n: number, std: number, r: Rng): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let v = r.normal() * std;
    while (v < -2 || v > 2) v = r.normal() * std;
    out[i] = v;
  }
  return out;
}

/** A trainable variable holding `t`; takes ownership of `t` (no second copy stays alive). */
export function variableFrom(t: tf.Tensor, trainable = true): tf.Variable {
  const v = tf.variable(t, trainable);
  t.dispose();
  return v;
}

export function filled(n: number, value: number): Float32Array {
  return new Float32Array(n).fill(value);
}

/** y = x W + b over the last axis. x (..., in) -> (..., out). */
export class Linear implements Module {
  readonly weight: tf.Variable; // (in, out)
  readonly bias: tf.Variable | null; // (out,)

  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    r: Rng,
    opts: { bias?: boolean; std?: number; biasInit?: number } = {},
  ) {
    this.weight = variableFrom(tf.tensor2d(truncNormal(inFeatures * outFeatures, opts.std ?? 0.02, r), [inFeatures, outFeatures]));
    this.bias = opts.bias === false ? null : variableFrom(tf.tensor1d(filled(outFeatures, opts.biasInit ?? 0)));
  }

  /** x (..., in) -> (..., out). */
  apply(x: tf.Tensor): tf.Tensor {
    return linear(x, this.weight as tf.Tensor2D, this.bias as tf.Tensor1D | null);
  }

  parameters(): Param[] {
    const ps: Param[] = [{ name: 'weight', variable: this.weight, decay: true }];
    if (this.bias !== null) ps.push({ name: 'bias', variable: this.bias, decay: false });
    return ps;
  }

  exportState(prefix: string, out: Map<string, TensorData>): void {
    const w = this.weight.dataSync() as Float32Array;
    out.set(`${prefix}weight`, f32([this.outFeatures, this.inFeatures], transpose2d(w, this.inFeatures, this.outFeatures)));
    if (this.bias !== null) out.set(`${prefix}bias`, f32([this.outFeatures], (this.bias.dataSync() as Float32Array).slice()));
  }

  importState(prefix: string, src: Map<string, TensorData>): void {
    const w = take(src, `${prefix}weight`); // (out, in)
    const bias = this.bias;
    tf.tidy(() => {
      this.weight.assign(tf.tensor2d(transpose2d(w, this.outFeatures, this.inFeatures), [this.inFeatures, this.outFeatures]));
      if (bias !== null) bias.assign(tf.tensor1d(take(src, `${prefix}bias`)));
    });
  }

  dispose(): void {
    this.weight.dispose();
    this.bias?.dispose();
  }
}

/**
 * A module's named parts in parameter order, each under its timm state-dict name (no trailing dot):
 * a child module, a bare tensor the module owns directly (timm's nn.Parameter, e.g. cls_token), or
 * null for an absent optional child (an ungated block's gate).
 */
export type Parts = ReadonlyArray<readonly [name: string, part: Module | tf.Variable | null]>;

/**
 * A module that names its parts once, in `parts()` (timm style); parameters, state export/import and
 * dispose all follow from that one list, so the optimizer's parameter order and the checkpoint names
 * cannot drift apart. A module whose state-dict layout differs from its variables (Attention's fused
 * qkv, ViT's conv-shaped patch embedding) adjusts the derived export/import; Linear, whose every
 * tensor changes layout, keeps its own methods.
 *
 * Bare tensors are never weight-decayed: they are LayerNorm affines and ViT tokens (timm exempts
 * both) and the SAE's weights (trained without decay); the decayed matrices all live in Linears.
 */
export abstract class Composite implements Module {
  protected abstract parts(): Parts;

  parameters(): Param[] {
    return this.parts().flatMap(([name, part]): Param[] => {
      if (part instanceof tf.Variable) return [{ name, variable: part, decay: false }];
      return (part?.parameters() ?? []).map((p) => ({ ...p, name: `${name}.${p.name}` }));
    });
  }

  exportState(prefix: string, out: Map<string, TensorData>): void {
    for (const [name, part] of this.parts()) {
      if (part instanceof tf.Variable) out.set(`${prefix}${name}`, f32([...part.shape], (part.dataSync() as Float32Array).slice()));
      else part?.exportState(`${prefix}${name}.`, out);
    }
  }

  /** Shapes must have been checked by the loader: a bare tensor is read in its variable's shape. */
  importState(prefix: string, src: Map<string, TensorData>): void {
    for (const [name, part] of this.parts()) {
      if (part instanceof tf.Variable) tf.tidy(() => part.assign(tf.tensor(take(src, `${prefix}${name}`), part.shape)));
      else part?.importState(`${prefix}${name}.`, src);
    }
  }

  dispose(): void {
    for (const [, part] of this.parts()) part?.dispose();
  }
}

/** LayerNorm over the last axis with affine parameters (timm: eps 1e-6). */
export class LayerNorm extends Composite {
  readonly weight: tf.Variable; // (dim,)
  readonly bias: tf.Variable; // (dim,)

  constructor(
    readonly dim: number,
    readonly eps = 1e-6,
  ) {
    super();
    this.weight = variableFrom(tf.tensor1d(filled(dim, 1)));
    this.bias = variableFrom(tf.tensor1d(filled(dim, 0)));
  }

  apply(x: tf.Tensor): tf.Tensor {
    return layerNorm(x, this.weight, this.bias, this.eps);
  }

  protected parts(): Parts {
    return [
      ['weight', this.weight],
      ['bias', this.bias],
    ];
  }
}

/** Exact (erf) GELU, as timm's nn.GELU default. */
export function gelu(x: tf.Tensor): tf.Tensor {
  return fusedGelu(x);
}
