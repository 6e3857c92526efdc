/**
 * AdaViT head gate (the paper's "decision network") and its Gumbel-Sigmoid mask.
 *
 * HeadGate: reads the CLS token of its block's residual input, LayerNorm (own affine) -> Linear(D, H)
 * -> head logits a (B, H).
 * Training mask (AdaViT `_gumbel_sigmoid`): s = sigmoid((a + g1 - g2) / tau), m = 1[s > 0.5], with the
 * straight-through gradient dm/da := ds/da. Evaluation mask: m = 1[sigmoid(a) > 0.5] = 1[a > 0].
 * Masks multiply head outputs before the attention projection (paper Eq. 1, see attention.ts).
 */
import * as tf from '@tensorflow/tfjs';
import type { Rng } from '../random.js';
import { Composite, LayerNorm, Linear, type Parts } from './layers.js';

export class HeadGate extends Composite {
  readonly norm: LayerNorm;
  readonly fc: Linear;

  /** `biasInit` sets the initial keep logit of every head (sigmoid(biasInit) = initial keep rate). */
  constructor(dim: number, numHeads: number, r: Rng, biasInit: number) {
    super();
    this.norm = new LayerNorm(dim);
    this.fc = new Linear(dim, numHeads, r, { biasInit });
  }

  /** cls (B, D) -> gate logits a (B, H). */
  apply(cls: tf.Tensor2D): tf.Tensor2D {
    return this.fc.apply(this.norm.apply(cls)) as tf.Tensor2D;
  }

  protected parts(): Parts {
    return [
      ['norm', this.norm],
      ['fc', this.fc],
    ];
  }
}

/**
 * Hard Gumbel-Sigmoid sample with straight-through gradient.
 * a (B, H) logits, noise (B, H) = g1 - g2 (difference of two Gumbel(0,1), i.e. Logistic(0,1)).
 * Returns m (B, H) in {0, 1}; d m / d a is taken as d s / d a = s (1 - s) / tau.
 */
export function gumbelSigmoidMask(a: tf.Tensor2D, noise: tf.Tensor2D, tau: number): tf.Tensor2D {
  const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const [logits, g, save] = args as [tf.Tensor, tf.Tensor, tf.GradSaveFunc];
    const s = tf.sigmoid(tf.div(tf.add(logits, g), tau));
    save([s]);
    return {
      value: tf.cast(tf.greater(s, 0.5), 'float32'),
      gradFunc: (dy, saved) => {
        const sv = saved[0]!;
        return [tf.mul(dy, tf.div(tf.mul(sv, tf.sub(1, sv)), tau)), tf.zerosLike(g)];
      },
    };
  });
  return op(a, noise) as unknown as tf.Tensor2D;
}

/** Deterministic evaluation mask: m = 1[sigmoid(a) > 0.5] = 1[a > 0]. a (B, H) -> m (B, H). */
export function thresholdMask(a: tf.Tensor2D): tf.Tensor2D {
  return tf.cast(tf.greater(a, 0), 'float32') as tf.Tensor2D;
}

/** Logistic noise scale * (g1 - g2) for one gate, drawn from a seeded stream: (B, H) values. */
export function logisticNoise(count: number, r: Rng, scale = 1): Float32Array {
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    const u = Math.min(Math.max(r.uniform(), 1e-7), 1 - 1e-7);
    out[i] = scale * (Math.log(u) - Math.log1p(-u)); // logit(u) ~ Logistic(0,1) = Gumbel - Gumbel
  }
  return out;
}
