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

/**
 * One gated layer's decision-network input replaced by an edit of that layer's own input CLS token
 * (every-layer steering, docs/design.md "Steering at every layer"): the layer's block still runs on the
 * real residual stream, only its head mask follows the edited input.
 */
export interface GateInputEdit {
  /** A gated layer. */
  layer: number;
  /** cls (B, D), the CLS token of the layer's residual input -> the gate's input (B, D). */
  edit: (cls: tf.Tensor2D) => tf.Tensor2D;
}

/**
 * A threshold shift at one gated layer (docs/design.md, Controls): mask = 1[a + shift > 0], with `shift`
 * a scalar or (B, 1). A shift of 0 gives the unshifted mask bit for bit (a + 0 == a in float32).
 */
export interface GateShift {
  layer: number;
  shift: tf.Tensor;
}

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
  /** Steering at any gated layer: that layer's gate reads an edit of its input CLS; nothing else changes. */
  gateInputEdit?: GateInputEdit;
  /** Evaluation only: shift one gated layer's logits before the threshold. */
  gateShift?: GateShift;
}

/** Named outputs of a forward pass — the contract extraction, SAE and steering rely on. */
export interface ForwardOutput {
  logits: tf.Tensor2D; // (B, K)
  /** Per layer: the head mask (B, H) applied, or null for an ungated layer without override. */
  masks: Array<tf.Tensor2D | null>;
  /** Per layer: decision-network logits a (B, H) before any shift, or null for an ungated layer. */
  gateLogits: Array<tf.Tensor2D | null>;
  /**
   * Per layer: the CLS token of the block's residual input (B, D), what its gate reads (and what the
   * layer's SAE is trained on); null for an ungated layer other than the final one.
   */
  blockInputCls: Array<tf.Tensor2D | null>;
  /** CLS token of the final block's residual input (B, D): what the final gate and the SAE read. */
  finalBlockInputCls: tf.Tensor2D;
  /** The whole residual stream entering the final block (B, N, D) (extraction caches its K and V). */
  finalBlockInput: tf.Tensor3D;
}

/**
 * A forward pass stopped between blocks: the residual stream entering block `layer` and what the blocks
 * before it gave. Every-layer steering runs the blocks before a layer once (`advance` to it) and then
 * each configuration from there, instead of a full forward per configuration.
 */
export interface ForwardState {
  /** The next block to run (L when every block has run). */
  layer: number;
  /** Residual stream entering block `layer` (B, N, D); after the last block, the final tokens. */
  x: tf.Tensor3D;
  /** Per block run so far (`layer` entries): as `ForwardOutput`. */
  masks: Array<tf.Tensor2D | null>;
  gateLogits: Array<tf.Tensor2D | null>;
  blockInputCls: Array<tf.Tensor2D | null>;
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
  constructor(
    readonly config: ViTConfig,
    seed: number,
    gateBiasInit = 0,
  ) {
    super();
    const c = config;
    const d = vitDims(c);
    this.dims = d;
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
    const patches = this.patchEmbed.apply(this.patchify(images)); // (B, T, D)
    // A product with ones, not broadcastTo: its gradient is one Sum instead of B Slice + Add calls.
    const cls = tf.mul(tf.ones([B, 1, 1]), this.clsToken); // (B, 1, D)
    return tf.add(tf.concat([cls, patches], 1), this.posEmbed) as tf.Tensor3D; // (B, N, D)
  }

  /** Head mask for layer `l` from its gate (or an override); null when the layer runs all heads. */
  layerMask(l: number, gateInput: tf.Tensor2D | null, opts: ForwardOptions): { mask: tf.Tensor2D | null; logits: tf.Tensor2D | null } {
    const gate = this.blocks[l]!.gate;
    const override = opts.headMasks?.[l] ?? null;
    const shift = opts.gateShift?.layer === l ? opts.gateShift.shift : null;
    const logits = gate === null || gateInput === null ? null : gate.apply(gateInput);
    if (shift !== null && (logits === null || override !== null || opts.training === true)) {
      throw new Error(`gateShift at layer ${l} needs that layer's gate in evaluation, without an explicit mask`);
    }
    if (override !== null) return { mask: override, logits };
    if (logits === null) return { mask: null, logits };
    if (opts.training === true) {
      const noise = opts.gateNoise?.[l];
      if (noise == null) throw new Error(`training forward needs gate noise for layer ${l}`);
      return { mask: gumbelSigmoidMask(logits, noise, opts.tau ?? 5), logits };
    }
    return { mask: thresholdMask(shift === null ? logits : (tf.add(logits, shift) as tf.Tensor2D)), logits };
  }

  /** The state before the first block: images (B, C, S, S) embedded as the residual stream (B, N, D). */
  start(images: tf.Tensor4D): ForwardState {
    return { layer: 0, x: this.embed(images), masks: [], gateLogits: [], blockInputCls: [] };
  }

  /** Run blocks `state.layer` .. `to` - 1 on the state's residual stream (`to` = L runs them all). */
  advance(state: ForwardState, to: number, opts: ForwardOptions = {}): ForwardState {
    const L = this.blocks.length;
    if (!(state.layer <= to && to <= L)) throw new RangeError(`advance: from block ${state.layer} to ${to}, expected ${state.layer}..${L}`);
    const edit = opts.gateInputEdit;
    if (edit !== undefined && (this.blocks[edit.layer]?.gate ?? null) === null)
      throw new RangeError(`gateInputEdit: layer ${edit.layer} has no decision network`);
    if (edit?.layer === L - 1 && opts.finalGateInput !== undefined)
      throw new Error('gateInputEdit at the final layer and finalGateInput both replace its gate input; pass one');
    let x = state.x;
    const masks = [...state.masks];
    const gateLogits = [...state.gateLogits];
    const blockInputCls = [...state.blockInputCls];
    for (let l = state.layer; l < to; l++) {
      const last = l === L - 1;
      // The CLS token of the residual input: read by this layer's gate, and kept for the final block.
      const cls = last || this.blocks[l]!.gate !== null ? (x.slice([0, 0, 0], [-1, 1, -1]).squeeze([1]) as tf.Tensor2D) : null; // (B, D)
      blockInputCls.push(cls);
      let gateInput = cls;
      if (last && opts.finalGateInput !== undefined) gateInput = opts.finalGateInput;
      else if (edit?.layer === l && cls !== null) gateInput = edit.edit(cls);
      const { mask, logits } = this.layerMask(l, gateInput, opts);
      masks.push(mask);
      gateLogits.push(logits);
      x = this.blocks[l]!.apply(x, mask);
    }
    return { layer: to, x, masks, gateLogits, blockInputCls };
  }

  /** Classifier on the CLS token of the final residual stream: cls (B, D) -> logits (B, K). */
  classify(cls: tf.Tensor2D): tf.Tensor2D {
    return this.head.apply(this.norm.apply(cls)) as tf.Tensor2D;
  }

  /** Logits (B, K) from the residual stream after the last block (B, N, D): the classifier on its CLS token. */
  logitsOf(tokens: tf.Tensor3D): tf.Tensor2D {
    const cls = tokens.slice([0, 0, 0], [-1, 1, -1]).squeeze([1]) as tf.Tensor2D; // (B, D)
    return this.classify(cls);
  }

  /** images (B, C, S, S) -> logits, masks and the inputs of the gates (named outputs). */
  forward(images: tf.Tensor4D, opts: ForwardOptions = {}): ForwardOutput {
    const L = this.blocks.length;
    const beforeFinal = this.advance(this.start(images), L - 1, opts);
    const end = this.advance(beforeFinal, L, opts);
    return {
      logits: this.logitsOf(end.x),
      masks: end.masks,
      gateLogits: end.gateLogits,
      blockInputCls: end.blockInputCls,
      finalBlockInputCls: end.blockInputCls[L - 1]!,
      finalBlockInput: beforeFinal.x,
    };
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
