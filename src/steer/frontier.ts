/**
 * The accuracy-usage frontier of a set of operating points (docs/design.md, Controls). Steering moves
 * a model along accuracy and final-layer head usage at once, so "steering helps" only means something
 * against what cheaper knobs reach at the same usage: the threshold shift (fastpath.ts `gateShift`)
 * and the random policy (random_policy.ts) each trace a set of points, their frontier is the bar, and
 * a steering point's margin is its accuracy minus the frontier's accuracy at its usage.
 *
 * - Pareto frontier: lower usage and higher accuracy are better; a point is kept unless another point
 *   is at least as good in both and better in one. Sorted by usage, it is strictly increasing in both.
 * - Between neighbouring frontier points the frontier is linear: mixing two operating points at random
 *   per image (probability t for one, 1 - t for the other) reaches the segment in expectation.
 * - Above the largest usage the best accuracy stays reachable (the max-accuracy point uses less);
 *   below the smallest usage nothing on the frontier is reachable (undefined).
 * - `concaveFrontier` (optional, stricter bar): mixing any two points, not only neighbours, reaches
 *   every chord, so the best reachable accuracy is the upper concave envelope of the Pareto points.
 *   It drops the Pareto points lying on or below a chord of others; `frontierAt` works on both.
 *
 * Legend: P points.
 */

/** An operating point: final-layer head usage and accuracy (both usually in [0, 1]). */
export interface UsageAccuracy {
  usage: number;
  accuracy: number;
}

/** Throws a RangeError naming `fn` and the index unless every point has finite usage and accuracy. */
function checkPoints(fn: string, points: readonly UsageAccuracy[]): void {
  points.forEach((p, i) => {
    if (!Number.isFinite(p.usage)) throw new RangeError(`${fn}: point ${i} has usage ${p.usage}, expected a finite number`);
    if (!Number.isFinite(p.accuracy)) throw new RangeError(`${fn}: point ${i} has accuracy ${p.accuracy}, expected a finite number`);
  });
}

/**
 * The Pareto-optimal points (P in -> at most P out), sorted by usage ascending; accuracy is then
 * strictly ascending too. Of exact duplicates the first in input order is kept; among equal usages
 * only the highest accuracy survives, among equal accuracies only the lowest usage. The returned
 * objects are the input objects (extra fields such as a label or alpha are kept).
 * RangeError on a non-finite usage or accuracy.
 */
export function paretoFrontier<P extends UsageAccuracy>(points: readonly P[]): P[] {
  checkPoints('paretoFrontier', points);
  // Usage ascending, accuracy descending; Array.prototype.sort is stable, so duplicates keep input order.
  const order = [...points].sort((a, b) => a.usage - b.usage || b.accuracy - a.accuracy);
  const out: P[] = [];
  let best = -Infinity;
  for (const p of order) {
    // Everything before p uses at most as much; p survives only if it is strictly more accurate.
    if (p.accuracy > best) {
      out.push(p);
      best = p.accuracy;
    }
  }
  return out;
}

/**
 * The upper concave envelope of the Pareto frontier of `points` (a subset of `paretoFrontier`,
 * same order): the bar when any two operating points may be mixed, not only neighbours. Points on a
 * chord (collinear) are dropped, which leaves `frontierAt` unchanged.
 */
export function concaveFrontier<P extends UsageAccuracy>(points: readonly P[]): P[] {
  const hull: P[] = [];
  for (const c of paretoFrontier(points)) {
    // Pop b while it lies on or below the chord from a to c (a left turn or straight, going right).
    while (hull.length >= 2) {
      const a = hull[hull.length - 2]!;
      const b = hull[hull.length - 1]!;
      const cross = (b.usage - a.usage) * (c.accuracy - a.accuracy) - (b.accuracy - a.accuracy) * (c.usage - a.usage);
      if (cross < 0) break;
      hull.pop();
    }
    hull.push(c);
  }
  return hull;
}

/**
 * The best accuracy reachable at usage u on `frontier` (sorted by strictly increasing usage, as
 * `paretoFrontier` and `concaveFrontier` return it): linear interpolation between the neighbouring
 * points around u; the last point's accuracy for u at or above the largest usage; undefined for u
 * below the smallest usage or an empty frontier. RangeError for a non-finite u or an unsorted frontier.
 */
export function frontierAt(frontier: readonly UsageAccuracy[], u: number): number | undefined {
  if (!Number.isFinite(u)) throw new RangeError(`frontierAt: usage ${u}, expected a finite number`);
  for (let i = 1; i < frontier.length; i++) {
    if (!(frontier[i]!.usage > frontier[i - 1]!.usage)) {
      throw new RangeError(
        `frontierAt: the frontier must be sorted by strictly increasing usage, but point ${i} has usage ${frontier[i]!.usage} after ${frontier[i - 1]!.usage} (use paretoFrontier)`,
      );
    }
  }
  const first = frontier[0];
  const last = frontier[frontier.length - 1];
  if (first === undefined || last === undefined || u < first.usage) return undefined;
  if (u >= last.usage) return last.accuracy;
  // Binary search for the segment [lo, lo + 1] with usage[lo] <= u < usage[lo + 1].
  let lo = 0;
  let hi = frontier.length - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (frontier[mid]!.usage <= u) lo = mid;
    else hi = mid;
  }
  const a = frontier[lo]!;
  const b = frontier[hi]!;
  const t = (u - a.usage) / (b.usage - a.usage);
  return a.accuracy + t * (b.accuracy - a.accuracy);
}

/**
 * Per point (P in, P out): accuracy - frontierAt(frontier, usage), positive when the point beats the
 * frontier at its usage; undefined where its usage is below the frontier's smallest (unreachable).
 */
export function marginOverFrontier(points: readonly UsageAccuracy[], frontier: readonly UsageAccuracy[]): Array<number | undefined> {
  checkPoints('marginOverFrontier', points);
  return points.map((p) => {
    const f = frontierAt(frontier, p.usage);
    return f === undefined ? undefined : p.accuracy - f;
  });
}

/** One group's operating points (a class under per-class thresholds) and its share of the images. */
export interface WeightedCurve {
  /** The group's share of all images (its class size / N); the weights should sum to 1. */
  weight: number;
  points: readonly UsageAccuracy[];
}

/**
 * The overall frontier when every group picks its own operating point (an oracle per-class knob, e.g.
 * one threshold shift per true class): overall usage and accuracy are the weighted sums of the groups'
 * choices, and with mixing each group may sit anywhere on its concave frontier. The best overall
 * accuracy at each overall usage is then the Minkowski sum of the weighted concave frontiers: start with
 * every group at its lowest-usage point and spend usage on the group segments in order of falling slope
 * (accuracy gained per unit of usage). G groups in, a concave frontier (sorted by usage) out.
 */
export function oracleGroupFrontier(groups: readonly WeightedCurve[]): UsageAccuracy[] {
  const segments: Array<{ du: number; da: number }> = [];
  let usage = 0;
  let accuracy = 0;
  groups.forEach((g, i) => {
    if (!(g.weight >= 0) || !Number.isFinite(g.weight))
      throw new RangeError(`oracleGroupFrontier: group ${i} has weight ${g.weight}, expected a finite number >= 0`);
    const hull = concaveFrontier(g.points);
    const first = hull[0];
    if (first === undefined) throw new RangeError(`oracleGroupFrontier: group ${i} has no points`);
    usage += g.weight * first.usage;
    accuracy += g.weight * first.accuracy;
    for (let j = 1; j < hull.length; j++) {
      segments.push({ du: g.weight * (hull[j]!.usage - hull[j - 1]!.usage), da: g.weight * (hull[j]!.accuracy - hull[j - 1]!.accuracy) });
    }
  });
  // Within a group the slopes already fall (concave), so one global sort keeps each group's order.
  segments.sort((a, b) => b.da / b.du - a.da / a.du);
  const out: UsageAccuracy[] = [{ usage, accuracy }];
  for (const s of segments) {
    if (s.du <= 0) continue; // a zero-weight group adds nothing
    usage += s.du;
    accuracy += s.da;
    out.push({ usage, accuracy });
  }
  return out;
}
