/**
 * A null distribution for the paper's "top-5 classes by gain" (docs/design.md, Controls; paper
 * Figure 3, results.ts `topGainClasses`). The paper steers each class with its own index set S_c
 * (alpha vs alpha = 0) and reports the 5 largest per-class accuracy gains. With C classes, the
 * largest of C noisy gains is large even when steering does nothing class-specific, so the observed
 * top gains are compared with what random index sets give:
 *
 *   null sample s:  every class c gets its own random set of k_s distinct latents (a fresh draw per
 *                   class and per sample: `randomClassSets` with rng(seed, 'null-sets', s)), steered
 *                   at the same alpha; gains[s] (C) = accuracy at alpha - accuracy at alpha = 0
 *   rank j:         the j-th largest gain of each sample, j = 1..top -> a distribution over samples
 *   bar:            its 95th percentile (quantile.ts type 7)
 *
 * The observed j-th largest gain beats the null when it exceeds rank j's 95th percentile. Each rank
 * is a 5% test on its own; "any of the top 5 beats the null" is not a 5% statement (use rank 1's bar,
 * the max statistic, for a family-wise claim about the best class).
 *
 * Legend: F latents, C classes, S null samples, k_s latents per set.
 */
import type { Rng } from '../random.js';
import { quantileSorted } from './quantile.js';

/**
 * C random index sets (C Int32Arrays of ks distinct latents in 0..F-1, in draw order), drawn
 * independently per class from `r` by partial Fisher-Yates over one shared scratch permutation
 * (O(F + C ks); each set is uniform over the ks-subsets). RangeError unless F, ks, C are integers
 * with 1 <= ks <= F and C >= 1.
 */
export function randomClassSets(F: number, ks: number, C: number, r: Rng): Int32Array[] {
  if (!Number.isInteger(F) || F < 1) throw new RangeError(`randomClassSets: F must be a positive integer, got ${F}`);
  if (!Number.isInteger(ks) || ks < 1 || ks > F) throw new RangeError(`randomClassSets: ks must be an integer in 1..${F}, got ${ks}`);
  if (!Number.isInteger(C) || C < 1) throw new RangeError(`randomClassSets: C must be a positive integer, got ${C}`);
  const scratch = Int32Array.from({ length: F }, (_, i) => i); // any permutation of 0..F-1 works as a start
  const sets: Int32Array[] = [];
  for (let c = 0; c < C; c++) {
    for (let j = 0; j < ks; j++) {
      const t = j + r.int(F - j);
      const v = scratch[t]!;
      scratch[t] = scratch[j]!;
      scratch[j] = v;
    }
    sets.push(scratch.slice(0, ks));
  }
  return sets;
}

/**
 * The `top` largest values of `gains` (C), largest first: the same ordering for observed and null
 * gains. RangeError unless 1 <= top <= C and every gain is finite.
 */
export function largestGains(gains: ArrayLike<number>, top: number): Float64Array {
  const C = gains.length;
  if (!Number.isInteger(top) || top < 1 || top > C) throw new RangeError(`largestGains: top must be an integer in 1..${C} (the number of classes), got ${top}`);
  const sorted = Float64Array.from(gains);
  for (let c = 0; c < C; c++)
    if (!Number.isFinite(sorted[c]!)) throw new RangeError(`largestGains: gain of class ${c} is ${sorted[c]}, expected a finite number`);
  sorted.sort();
  return sorted.slice(C - top).reverse();
}

/** The null distribution of the top gains (see the file header). */
export interface TopGainNull {
  /** (top) rank j's 95th percentile: the bar for the observed j-th largest gain. */
  p95: Float64Array;
  /** (top x S) rank j's null distribution (the j-th largest gain of every sample), ascending. */
  distributions: Float64Array[];
  /** Null samples S. */
  samples: number;
}

/**
 * Rank-wise null distributions of the largest gains: gains (S x C), one Float64Array of C per-class
 * gains per null sample. RangeError on no samples, samples of different lengths, top outside 1..C or
 * a non-finite gain (naming the sample).
 */
export function topGainNull(gains: readonly Float64Array[], top = 5): TopGainNull {
  const S = gains.length;
  const first = gains[0];
  if (first === undefined) throw new RangeError('topGainNull: no null samples');
  const C = first.length;
  const distributions = Array.from({ length: top }, () => new Float64Array(S));
  gains.forEach((g, s) => {
    if (g.length !== C) throw new RangeError(`topGainNull: null sample ${s} has ${g.length} class gains, sample 0 has ${C}`);
    let largest: Float64Array;
    try {
      largest = largestGains(g, top);
    } catch (e) {
      throw new RangeError(`topGainNull: null sample ${s}: ${(e as Error).message}`);
    }
    for (let j = 0; j < top; j++) distributions[j]![s] = largest[j]!;
  });
  for (const d of distributions) d.sort();
  return { p95: Float64Array.from(distributions, (d) => quantileSorted(d, 0.95)), distributions, samples: S };
}

/**
 * Per rank j: whether the observed j-th largest gain (`observedSortedGains`, largest first, as
 * `largestGains` returns) strictly exceeds the null's 95th percentile `nullP95[j]`. RangeError when
 * there are more observed gains than null ranks or they are not sorted largest first.
 */
export function beatsNull(observedSortedGains: ArrayLike<number>, nullP95: ArrayLike<number>): boolean[] {
  const n = observedSortedGains.length;
  if (n > nullP95.length) throw new RangeError(`beatsNull: ${n} observed gains but the null has only ${nullP95.length} ranks`);
  for (let j = 1; j < n; j++) {
    if (observedSortedGains[j]! > observedSortedGains[j - 1]!) {
      throw new RangeError(
        `beatsNull: observed gains must be sorted largest first, but gain ${j} (${observedSortedGains[j]}) exceeds gain ${j - 1} (${observedSortedGains[j - 1]})`,
      );
    }
  }
  return Array.from({ length: n }, (_, j) => observedSortedGains[j]! > nullP95[j]!);
}
