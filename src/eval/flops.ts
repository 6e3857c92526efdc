/**
 * Analytic FLOPs of one image through a (gated) ViT (docs/design.md "Engine", compute saved): dense,
 * masked and head-skipping. One multiply-add is 2 FLOPs; only matrix products are counted (LayerNorm,
 * GELU, softmax, bias and residual adds are O(N D) per layer, under 2% of a block at our sizes), as
 * fvcore and the pruning papers count.
 *
 * Per block with h of its H heads kept (N tokens, D width, Dh head dim, F MLP hidden width):
 *   qkv        3 * 2 N D (h Dh)      q, k and v columns of the kept heads only
 *   attention  2 * 2 h N^2 Dh        q k^T and att v per kept head
 *   proj       2 N (h Dh) D          the output projection's rows of the kept heads
 *   mlp        2 * 2 N D F           never pruned
 *   gate       2 D H                 the decision network on the CLS token (gated layers only)
 * plus the patch embedding 2 T (C P P) D once and the classifier 2 D K once.
 * Every term is linear in h, so the mean FLOPs over images is the FLOPs at the mean kept count: per-layer
 * usage alone gives the mean per image, per class or overall.
 *
 * The masked path (paper Eq. 1 as written: every head computed, then multiplied by its mask) costs the
 * dense FLOPs plus the gates; the skipping path costs the kept heads' FLOPs plus the gates.
 * Legend: L layers, H heads, K classes.
 */
import { vitDims, type ViTConfig } from '../model/config.js';

/** FLOPs of one image by part of the network. */
export interface FlopsParts {
  patchEmbed: number;
  qkv: number;
  attention: number;
  proj: number;
  mlp: number;
  gate: number;
  head: number;
}

/** One layer's FLOPs per image: the model with all heads and without gates, and with the pruned heads skipped. */
export interface LayerFlops {
  dense: number;
  pruned: number;
}

/** What eval.json records under `flops` (per image; `pruned` and `perClass` averaged over the test images). */
export interface FlopsReport {
  /** The model with every head and no decision networks. */
  dense: number;
  /** Every head computed and multiplied by its mask (dense plus the gates). */
  masked: number;
  /** Pruned heads skipped, gates included: the FLOPs a skipping forward really spends. */
  pruned: number;
  /** 1 - pruned / dense: the analytic ceiling of the time saved (negative when gates cost more than they prune). */
  savedFraction: number;
  /** Per layer (L). */
  perLayer: LayerFlops[];
  /** Skipping FLOPs per image, averaged over each class's images (K). */
  perClass: number[];
  /** By part: the dense model, and skipping averaged over the test images. */
  parts: { dense: FlopsParts; pruned: FlopsParts };
}

const NO_PARTS: FlopsParts = { patchEmbed: 0, qkv: 0, attention: 0, proj: 0, mlp: 0, gate: 0, head: 0 };

/** The parts of one block with `kept` heads (may be a mean over images) and a gate or not. */
export function blockFlops(c: ViTConfig, kept: number, gated: boolean): FlopsParts {
  const { numTokens: N, headDim: Dh, mlpHidden: F } = vitDims(c);
  const D = c.embedDim;
  const width = kept * Dh; // columns of q, k, v (rows of proj) that the kept heads own
  return {
    ...NO_PARTS,
    qkv: 3 * 2 * N * D * width,
    attention: 2 * 2 * kept * N * N * Dh,
    proj: 2 * N * width * D,
    mlp: 2 * 2 * N * D * F,
    gate: gated ? 2 * D * c.numHeads : 0,
  };
}

/** The sum of every part. */
export function total(p: FlopsParts): number {
  return p.patchEmbed + p.qkv + p.attention + p.proj + p.mlp + p.gate + p.head;
}

function add(a: FlopsParts, b: FlopsParts): FlopsParts {
  return {
    patchEmbed: a.patchEmbed + b.patchEmbed,
    qkv: a.qkv + b.qkv,
    attention: a.attention + b.attention,
    proj: a.proj + b.proj,
    mlp: a.mlp + b.mlp,
    gate: a.gate + b.gate,
    head: a.head + b.head,
  };
}

/**
 * FLOPs of one image by part: `keptPerLayer` (L) heads kept at each layer (a mean over images gives the
 * mean FLOPs), `gated` whether the gates run (false: the dense model).
 */
export function imageFlops(c: ViTConfig, keptPerLayer: readonly number[], gated: boolean): FlopsParts {
  const d = vitDims(c);
  const gates = new Set(gated ? c.gatedLayers : []);
  const ends: FlopsParts = { ...NO_PARTS, patchEmbed: 2 * d.numPatches * d.patchDim * c.embedDim, head: 2 * c.embedDim * c.numClasses };
  return keptPerLayer.reduce((sum, kept, l) => add(sum, blockFlops(c, kept, gates.has(l))), ends);
}

/**
 * The `flops` entry of eval.json from head usage: `perLayer` (L) the mean fraction of heads kept over the
 * test images, `perClass` (K, L) the same over each class's images.
 */
export function flopsReport(c: ViTConfig, perLayer: readonly number[], perClass: ReadonlyArray<readonly number[]>): FlopsReport {
  const H = c.numHeads;
  const all = perLayer.map(() => H);
  const denseParts = imageFlops(c, all, false);
  const prunedParts = imageFlops(
    c,
    perLayer.map((u) => u * H),
    true,
  );
  const dense = total(denseParts);
  const pruned = total(prunedParts);
  const gates = new Set(c.gatedLayers);
  return {
    dense,
    masked: total(imageFlops(c, all, true)),
    pruned,
    savedFraction: 1 - pruned / dense,
    perLayer: perLayer.map((u, l) => ({ dense: total(blockFlops(c, H, false)), pruned: total(blockFlops(c, u * H, gates.has(l))) })),
    perClass: perClass.map((usage) =>
      total(
        imageFlops(
          c,
          usage.map((u) => u * H),
          true,
        ),
      ),
    ),
    parts: { dense: denseParts, pruned: prunedParts },
  };
}

/**
 * Skipping FLOPs per image as a function of the final layer's head usage u, the other layers as measured:
 * FLOPs(u) = base + (u - u0) * (the final block's heads' FLOPs), where base is `f.pruned` (all test
 * images) or `f.perClass[cls]` (one class's) and `u0` the final-layer usage of the same images when `f`
 * was counted. Exact, since every term is linear in the kept count and final-layer steering moves no
 * other layer's masks. The heads' FLOPs are the final block's dense FLOPs less its MLP (the same in every
 * block).
 */
export function finalLayerFlops(f: Pick<FlopsReport, 'pruned' | 'perClass' | 'perLayer' | 'parts'>, u0: number, cls?: number): (u: number) => number {
  const last = f.perLayer.at(-1);
  if (last === undefined) throw new RangeError('finalLayerFlops: the FLOPs report has no layers');
  const base = cls === undefined ? f.pruned : f.perClass[cls];
  if (base === undefined) throw new RangeError(`finalLayerFlops: no FLOPs for class ${cls} (the report has ${f.perClass.length})`);
  const heads = last.dense - f.parts.dense.mlp / f.perLayer.length;
  return (u) => base + (u - u0) * heads;
}
