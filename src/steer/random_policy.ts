/**
 * Random policy at matched usage (docs/design.md, Controls; AdaViT's random-policy baseline applied
 * to the final layer): final-layer head masks drawn per head as Bernoulli(p_h), with p the per-head
 * usage of the operating point being matched (fastpath_eval.ts `RunSummary.heads`, or a class's
 * `ClassSummary.heads`). Same usage per head, no dependence on the image: a steered point that does
 * not beat this at its own usage has not shown that it selects heads better than chance.
 *
 * The masks go to fastpath.ts `finalLayer` through its `mask` option (`maskBatch` slices a batch).
 * All N rows are drawn at once from one stream, e.g. rng(seed, 'random-policy', point), so the
 * masks do not depend on the batch size. Sampling: model/random_mask.ts (shared with the
 * full-model baseline of eval/full_forward.ts).
 *
 * Legend: N test images, B batch, H heads, C classes.
 */
import * as tf from '@tensorflow/tfjs';
import { bernoulliMasks, bernoulliRow, checkKeepProbabilities } from '../model/random_mask.js';
import type { Rng } from '../random.js';

/**
 * Final-layer masks (N, H) row-major for n images, head h kept with probability headUsage[h].
 * Deterministic for a given stream. RangeError for a bad n or a usage outside [0, 1].
 */
export function randomPolicyMasks(n: number, headUsage: ArrayLike<number>, r: Rng): Float32Array {
  return bernoulliMasks(n, headUsage, r);
}

/**
 * Class-matched variant for per-class operating points: row i (N rows, labels (N)) uses its class's
 * per-head usage headUsageByClass[labels[i]] (C x H). Like per-class steering it reads the label.
 * RangeError for a label without usage rates, rates of different lengths, or a rate outside [0, 1].
 */
export function randomPolicyMasksByClass(labels: ArrayLike<number>, headUsageByClass: readonly ArrayLike<number>[], r: Rng): Float32Array {
  const C = headUsageByClass.length;
  const H = headUsageByClass[0]?.length ?? 0;
  headUsageByClass.forEach((p, c) => {
    if (p.length !== H) throw new RangeError(`randomPolicyMasksByClass: class ${c} has ${p.length} head rates, class 0 has ${H}`);
    checkKeepProbabilities(`randomPolicyMasksByClass: class ${c}`, p);
  });
  const N = labels.length;
  const out = new Float32Array(N * H);
  for (let i = 0; i < N; i++) {
    const y = labels[i]!;
    const p = headUsageByClass[y];
    if (p === undefined || !Number.isInteger(y)) throw new RangeError(`randomPolicyMasksByClass: label ${y} at row ${i}, expected an integer in 0..${C - 1}`);
    bernoulliRow(p, r, out, i * H);
  }
  return out;
}

/**
 * Rows [start, start + B) of masks (N, H) as a (B, H) tensor for `finalLayer`'s `mask` option,
 * created in the caller's scope (wrap in tf.tidy). RangeError when the rows are out of range.
 */
export function maskBatch(masks: Float32Array, H: number, start: number, B: number): tf.Tensor2D {
  if (!Number.isInteger(H) || H < 1 || masks.length % H !== 0) throw new RangeError(`maskBatch: ${masks.length} mask values are not rows of H = ${H}`);
  const N = masks.length / H;
  if (!Number.isInteger(start) || !Number.isInteger(B) || start < 0 || B < 1 || start + B > N) {
    throw new RangeError(`maskBatch: rows [${start}, ${start + B}) outside the ${N} rows`);
  }
  return tf.tensor2d(masks.subarray(start * H, (start + B) * H), [B, H]);
}
