/**
 * Vision Transformer as timm's `VisionTransformer` (class-token pooling, learned position embedding
 * including the CLS position, pre-LN blocks, final LayerNorm, linear head), with optional AdaViT head
 * gates on chosen layers. Parameter names in exported state follow timm exactly, so timm checkpoints
 * load directly; gate parameters add `blocks.{i}.gate.{norm,fc}.*`.
 *
 * Legend: B batch, C channels, S image side, P patch, T patches, N = T + 1 tokens, D width,
 * H heads, K classes.
 */
import * as tf from '@tensorflow/tfjs';
import type { TensorData } from '../io/safetensors.js';
import { rng } from '../random.js';
import { Block } from './block.js';
import { vitDims, type ViTConfig, type ViTDims } from './config.js';
import { gumbelSigmoidMask, HeadGate, thresholdMask } from './gate.js';
import { Composite, LayerNorm, Linear, f32, take, truncNormal, variableFrom, type Param, type Parts } from './layers.js';

export interface ForwardOptions {
  /** Gumbel-Sigmoid masks from `gateNoise` (training) instead of thresholded gate logits (eval). */
  training?: boolean;
  /** Per layer: logistic noise (B, H) for gated layers during training, null elsewhere. */
  gateNoise?: ReadonlyArray<tf.Tensor2D | null>;
  /** Gumbel-Sigmoid temperature (AdaViT default 5). */
  tau?: number;
  /** Per layer: explicit head mask (B, H) that replaces the gate's decision (null: use the gate). */
  headMasks?: ReadonlyArray<tf.Tensor2D | null>;
  /** Steering: replaces the final layer's decision-network input (B, D); the residual stream is untouched. */
  finalGateInput?: tf.Tensor2D;
}

/** Named outputs of a forward pass — the contract extraction, SAE and steering rely on. */
export interface ForwardOutput {
  logits: tf.Tensor2D; // (B, K)
  /** Per layer: the head mask (B, H) applied, or null for an ungated layer without override. */
  masks: Array<tf.Tensor2D | null>;
  /** Per layer: decision-network logits a (B, H), or null for an ungated layer. */
  gateLogits: Array<tf.Tensor2D | null>;
  /** CLS token of the final block's residual input (B, D): what the final gate and the SAE read. */
  finalBlockInputCls: tf.Tensor2D;
  /** The whole residual stream entering the final block (B, N, D) (extraction caches its K and V). */
  finalBlockInput: tf.Tensor3D;
}

export class ViT extends Composite {
  readonly dims: ViTDims;
  readonly patchEmbed: Linear; // conv with kernel = stride = P, as a matmul over flattened patches
  readonly clsToken: tf.Variable; // (1, 1, D)
  readonly posEmbed: tf.Variable; // (1, N, D)
  readonly blocks: Block[];
  readonly norm: LayerNorm;
  readonly head: Linear;

  /** Fresh weights (timm init) from `seed`; gates on `config.gatedLayers` start at keep logit `gateBiasInit`. */
  constructor(readonly config: ViTConfig, seed: number, gateBiasInit = 0) {
    super();
    const c = config;
    const d = (this.dims = vitDims(c));
    const r = rng(seed, 'init');
    // Same variance as PyTorch's Conv2d default init U(-1/sqrt(fan_in), 1/sqrt(fan_in)), which timm keeps.
    this.patchEmbed = new Linear(d.patchDim, c.embedDim, r, { std: 1 / Math.sqrt(3 * d.patchDim) });
    this.clsToken = variableFrom(tf.tensor3d(truncNormal(c.embedDim, 1e-6, r), [1, 1, c.embedDim]));
    this.posEmbed = variableFrom(tf.tensor3d(truncNormal(d.numTokens * c.embedDim, 0.02, r), [1, d.numTokens, c.embedDim]));
    this.blocks = Array.from({ length: c.depth }, () => new Block(c.embedDim, c.numHeads, d.mlpHidden, c.qkvBias, r));
    this.norm = new LayerNorm(c.embedDim);
    this.head = new Linear(c.embedDim, c.numClasses, r);
    for (const l of c.gatedLayers) this.blocks[l]!.gate = new HeadGate(c.embedDim, c.numHeads, rng(seed, 'gate', l), gateBiasInit);
  }

  get gated(): boolean {
    return this.config.gatedLayers.length > 0;
  }

  /** images (B, C, S, S) -> patch vectors (B, T, C*P*P), flattened in timm's conv-weight order (C, P, P). */
  patchify(images: tf.Tensor4D): tf.Tensor3D {
    const [B, C] = images.shape;
    const P = this.config.patchSize;
    const g = this.dims.grid;
    // Two rank-4 swaps instead of one rank-6 transpose, which tfjs-wasm runs on its generic path
    // (~49 vs ~1.5 ns/element measured at 64x3x32x32); C = 1 needs only the first.
    let t = images.reshape([B * C * g, P, g, P]).transpose([0, 2, 1, 3]); // (B C gy, gx, py, px)
    if (C > 1) t = t.reshape([B, C, g * g, P * P]).transpose([0, 2, 1, 3]); // (B, gy gx, C, py px)
    return t.reshape([B, this.dims.numPatches, this.dims.patchDim]);
  }

  /** Token embedding: images (B, C, S, S) -> residual stream (B, N, D). */
  embed(images: tf.Tensor4D): tf.Tensor3D {
    const B = images.shape[0];
    const D = this.config.embedDim;
    const patches = this.patchEmbed.apply(this.patchify(images)); // (B, T, D)
    // A product with ones, not broadcastTo: its gradient is one Sum instead of B Slice + Add calls.
    const cls = tf.mul(tf.ones([B, 1, 1]), this.clsToken); // (B, 1, D)
    return tf.add(tf.concat([cls, patches], 1), this.posEmbed) as tf.Tensor3D; // (B, N, D)
  }

  /** Head mask for layer `l` from its gate (or an override); null when the layer runs all heads. */
  layerMask(l: number, gateInput: tf.Tensor2D | null, opts: ForwardOptions): { mask: tf.Tensor2D | null; logits: tf.Tensor2D | null } {
    const gate = this.blocks[l]!.gate;
    const override = opts.headMasks?.[l] ?? null;
    const logits = gate === null || gateInput === null ? null : gate.apply(gateInput);
    if (override !== null) return { mask: override, logits };
    if (logits === null) return { mask: null, logits };
    if (opts.training === true) {
      const noise = opts.gateNoise?.[l];
      if (noise == null) throw new Error(`training forward needs gate noise for layer ${l}`);
      return { mask: gumbelSigmoidMask(logits, noise, opts.tau ?? 5), logits };
    }
    return { mask: thresholdMask(logits), logits };
  }

  /** images (B, C, S, S) -> final residual stream (B, N, D) plus masks and the final block's input CLS. */
  forwardFeatures(images: tf.Tensor4D, opts: ForwardOptions = {}): Omit<ForwardOutput, 'logits'> & { tokens: tf.Tensor3D } {
    const L = this.blocks.length;
    let x = this.embed(images);
    const masks: Array<tf.Tensor2D | null> = [];
    const gateLogits: Array<tf.Tensor2D | null> = [];
    let finalBlockInputCls: tf.Tensor2D | null = null;
    let finalBlockInput: tf.Tensor3D | null = null;
    for (let l = 0; l < L; l++) {
      const last = l === L - 1;
      // The CLS token of the residual input: read by this layer's gate, and kept for the final block.
      const cls = last || this.blocks[l]!.gate !== null ? (x.slice([0, 0, 0], [-1, 1, -1]).squeeze([1]) as tf.Tensor2D) : null; // (B, D)
      if (last) {
        finalBlockInputCls = cls;
        finalBlockInput = x;
      }
      const gateInput = last && opts.finalGateInput !== undefined ? opts.finalGateInput : cls;
      const { mask, logits } = this.layerMask(l, gateInput, opts);
      masks.push(mask);
      gateLogits.push(logits);
      x = this.blocks[l]!.apply(x, mask);
    }
    return { tokens: x, masks, gateLogits, finalBlockInputCls: finalBlockInputCls!, finalBlockInput: finalBlockInput! };
  }

  /** Classifier on the CLS token of the final residual stream: cls (B, D) -> logits (B, K). */
  classify(cls: tf.Tensor2D): tf.Tensor2D {
    return this.head.apply(this.norm.apply(cls)) as tf.Tensor2D;
  }

  forward(images: tf.Tensor4D, opts: ForwardOptions = {}): ForwardOutput {
    const { tokens, ...rest } = this.forwardFeatures(images, opts);
    const cls = tokens.slice([0, 0, 0], [-1, 1, -1]).squeeze([1]) as tf.Tensor2D; // (B, D)
    return { logits: this.classify(cls), ...rest };
  }

  protected parts(): Parts {
    return [
      ['patch_embed.proj', this.patchEmbed],
      ['cls_token', this.clsToken],
      ['pos_embed', this.posEmbed],
      ...this.blocks.map((b, i) => [`blocks.${i}`, b] as const),
      ['norm', this.norm],
      ['head', this.head],
    ];
  }

  /** Parameters of the decision networks only (their own learning rate while pruning). */
  gateParameters(): Param[] {
    return this.parameters().filter((p) => p.name.includes('.gate.'));
  }

  /** timm-layout state dict (plus gate tensors). */
  stateDict(): Map<string, TensorData> {
    const out = new Map<string, TensorData>();
    this.exportState('', out);
    return out;
  }

  /**
   * The derived export, with the patch embedding in timm's Conv2d shape: the Linear's (D, C*P*P)
   * rows are already in conv-weight order (see patchify), so only the shape becomes (D, C, P, P).
   * Import needs no counterpart: Linear reads the same values whatever their shape.
   */
  override exportState(prefix: string, out: Map<string, TensorData>): void {
    super.exportState(prefix, out);
    const c = this.config;
    const name = `${prefix}patch_embed.proj.weight`;
    out.set(name, f32([c.embedDim, c.inChans, c.patchSize, c.patchSize], take(out, name))); // keeps its place in the map
  }
}
