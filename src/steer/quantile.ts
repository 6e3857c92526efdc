/**
 * Quantiles of a sorted sample, shared by the controls' bootstrap intervals and null percentiles
 * (docs/design.md, Controls). One definition everywhere: linear interpolation between order
 * statistics at position q (n - 1) (Hyndman & Fan type 7, the default of R and numpy).
 *
 * Legend: n sample size.
 */

/**
 * The q-quantile of `sorted` (n values, ascending, none NaN): sorted[floor(h)] + (h - floor(h))
 * (sorted[floor(h) + 1] - sorted[floor(h)]) with h = q (n - 1). q = 0 gives the minimum, q = 1 the
 * maximum. RangeError for an empty sample or q outside [0, 1]. The order is the caller's promise
 * (not checked, so percentile loops stay O(1) per call).
 */
export function quantileSorted(sorted: ArrayLike<number>, q: number): number {
  const n = sorted.length;
  if (n === 0) throw new RangeError('quantileSorted: empty sample');
  if (!(q >= 0 && q <= 1)) throw new RangeError(`quantileSorted: q must be in [0, 1], got ${q}`);
  const h = q * (n - 1);
  const i = Math.floor(h);
  const lo = sorted[i]!;
  if (i + 1 >= n) return lo;
  const hi = sorted[i + 1]!;
  // lo when the neighbours are equal, so constant samples give their value exactly.
  return lo === hi ? lo : lo + (h - i) * (hi - lo);
}
