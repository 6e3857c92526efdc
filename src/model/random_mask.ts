/**
 * Bernoulli head masks: head h kept with probability p_h, independently per row and head, from a
 * seeded stream. This is the sampling behind AdaViT's random-policy baseline (docs/design.md,
 * Controls), shared by the full-model baseline (eval/full_forward.ts) and the steering control
 * (steer/random_policy.ts).
 *
 * Draw order: row-major, one `r.uniform()` per entry, m = 1[u < p_h]. p_h = 0 never keeps a head
 * (u >= 0), p_h = 1 always does (u < 1).
 *
 * Legend: H heads, n rows.
 */
import type { Rng } from '../random.js';

/** Throws a RangeError naming `fn`, the head and the value unless every p_h is in [0, 1]. */
export function checkKeepProbabilities(fn: string, p: ArrayLike<number>): void {
  for (let h = 0; h < p.length; h++) {
    const v = p[h]!;
    if (!(v >= 0 && v <= 1)) throw new RangeError(`${fn}: keep probability of head ${h} must be in [0, 1], got ${v}`);
  }
}

/**
 * Writes one mask row (H = p.length entries, 0/1) into `out` at `offset`: out[offset + h] = 1[u < p_h].
 * p is not validated here (the hot loop); callers validate once with `checkKeepProbabilities`.
 */
export function bernoulliRow(p: ArrayLike<number>, r: Rng, out: Float32Array, offset: number): void {
  for (let h = 0; h < p.length; h++) out[offset + h] = r.uniform() < p[h]! ? 1 : 0;
}

/** n rows of Bernoulli(p_h) head masks, (n, H) row-major. RangeError for a bad n or p_h. */
export function bernoulliMasks(n: number, p: ArrayLike<number>, r: Rng): Float32Array {
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`bernoulliMasks: n must be an integer >= 0, got ${n}`);
  checkKeepProbabilities('bernoulliMasks', p);
  const H = p.length;
  const out = new Float32Array(n * H);
  for (let i = 0; i < n; i++) bernoulliRow(p, r, out, i * H);
  return out;
}
