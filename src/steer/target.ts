/**
 * Target-usage solver (docs/design.md, Controls): find the parameter (alpha of a steering strategy,
 * or beta of the threshold shift) at which test-set head usage hits a target U, so that steering and
 * its controls are compared at matched usage instead of at matched alpha.
 *
 * usageAt(param) is one test-set evaluation (expensive), a step function of param (usage is a mean
 * of 0/1 head masks over finitely many images) and not necessarily monotone. The solver:
 *   1. evaluates both ends of [lo, hi]; done if either is within tol of U (the closer one);
 *   2. if U is not between usage(lo) and usage(hi), grows the bracket geometrically: new ends at
 *      hi + w (g^k - 1) (or lo - w (g^k - 1)), w = hi - lo, k = 1..maxExpansions, never past
 *      `domain`. The side the usage trend points to goes first (the hi side when usage(lo) equals
 *      usage(hi)), then the other side. Each new end is checked against the previous one, so the
 *      bracket kept is the tightest one found. Still not bracketed: TargetUnreachableError giving
 *      the usage range reached and the params searched;
 *   3. bisects on the sign of usage(p) - U until |usage - U| <= tol, the bracket is narrower than
 *      paramTol, or maxIterations. A step that jumps over U (from below U - tol to above U + tol)
 *      cannot be bisected away: the solver stops at paramTol and returns reached = false with the
 *      closest point evaluated and the jump's two sides (`unreached`), instead of looping.
 *
 * Evaluations: at most 2 + 2 maxExpansions + maxIterations; each param is evaluated once.
 */
import { UserError } from '../errors.js';

/** One evaluation of the usage function. */
export interface UsagePoint {
  param: number;
  usage: number;
}

/** Options of `solveTargetUsage`. */
export interface TargetUsageOptions {
  /** Accept |usage - U| <= tol. @default 0.01 */
  tol?: number;
  /** Bisection steps at most. @default 30 */
  maxIterations?: number;
  /** Bracket expansions per side at most. @default 8 (the bracket may grow to 2^8 = 256 times per side) */
  maxExpansions?: number;
  /** Geometric growth factor g > 1 of the expansion. @default 2 */
  growth?: number;
  /** Stop bisecting once the bracket is narrower than this. @default 1e-6 times the bisected bracket's width */
  paramTol?: number;
  /** Expansion never goes outside [min, max] (e.g. alpha >= -1). The initial bracket must lie inside. @default [-Infinity, Infinity] */
  domain?: readonly [number, number];
}

/** What `solveTargetUsage` found. */
export interface TargetUsageResult {
  /** The param returned: within tol of the target when `reached`, else the closest evaluated. */
  param: number;
  /** usageAt(param). */
  usage: number;
  /** Calls of usageAt. */
  evaluations: number;
  /** |usage - target| <= tol. */
  reached: boolean;
  /**
   * When not reached: the final bracket (lower param first), whose usages lie on either side of the
   * target; `cause` 'jump' when it is narrower than paramTol (usage steps over the target there),
   * 'max-iterations' when bisection ran out first; and a sentence saying so for logs.
   */
  unreached?: { lower: UsagePoint; upper: UsagePoint; cause: 'jump' | 'max-iterations'; message: string };
}

/** The target usage lies outside every usage reached over the searched (expanded) bracket. */
export class TargetUnreachableError extends UserError {
  override name = 'TargetUnreachableError';
  constructor(
    readonly target: number,
    /** [min, max] usage over all evaluations. */
    readonly usageRange: readonly [number, number],
    /** [min, max] param evaluated. */
    readonly paramRange: readonly [number, number],
    readonly evaluations: number,
  ) {
    super(
      `target usage ${target} is not reachable: usage ranged over [${usageRange[0].toFixed(3)}, ${usageRange[1].toFixed(3)}] for params in [${+paramRange[0].toFixed(3)}, ${+paramRange[1].toFixed(3)}] (${evaluations} evaluations)`,
    );
  }
}

/** Validated options with defaults. */
interface Settings {
  tol: number;
  maxIterations: number;
  maxExpansions: number;
  growth: number;
  paramTol: number | undefined;
  domain: readonly [number, number];
}

/** Options with defaults, or a RangeError naming the bad value. */
function settings(opts: TargetUsageOptions): Settings {
  const s: Settings = {
    tol: opts.tol ?? 0.01,
    maxIterations: opts.maxIterations ?? 30,
    maxExpansions: opts.maxExpansions ?? 8,
    growth: opts.growth ?? 2,
    paramTol: opts.paramTol,
    domain: opts.domain ?? [-Infinity, Infinity],
  };
  if (!(Number.isFinite(s.tol) && s.tol >= 0)) throw new RangeError(`solveTargetUsage: tol must be a finite number >= 0, got ${s.tol}`);
  for (const key of ['maxIterations', 'maxExpansions'] as const) {
    if (!Number.isInteger(s[key]) || s[key] < 0) throw new RangeError(`solveTargetUsage: ${key} must be an integer >= 0, got ${s[key]}`);
  }
  if (!(Number.isFinite(s.growth) && s.growth > 1)) throw new RangeError(`solveTargetUsage: growth must be a finite number > 1, got ${s.growth}`);
  if (s.paramTol !== undefined && !(s.paramTol >= 0)) throw new RangeError(`solveTargetUsage: paramTol must be >= 0, got ${s.paramTol}`);
  if (!(s.domain[0] < s.domain[1])) throw new RangeError(`solveTargetUsage: domain [${s.domain[0]}, ${s.domain[1]}] must have min < max`);
  return s;
}

/** Whether u lies between the usages of a and b (inclusive). */
function between(u: number, a: UsagePoint, b: UsagePoint): boolean {
  return Math.min(a.usage, b.usage) <= u && u <= Math.max(a.usage, b.usage);
}

/**
 * The param whose test-set usage is within tol of `target` (see the file header). `usageAt` must
 * return a finite usage; `bracket` [lo, hi] is finite with lo < hi. RangeError naming the value for a
 * target outside [0, 1], a non-finite or empty bracket, or bad options; TargetUnreachableError when
 * the expanded bracket never brackets the target; Error naming the param for a non-finite usage.
 */
export function solveTargetUsage(
  usageAt: (param: number) => number,
  bracket: readonly [number, number],
  target: number,
  opts: TargetUsageOptions = {},
): TargetUsageResult {
  if (!(Number.isFinite(target) && target >= 0 && target <= 1)) throw new RangeError(`solveTargetUsage: target usage must be in [0, 1], got ${target}`);
  const [lo, hi] = bracket;
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) throw new RangeError(`solveTargetUsage: bracket must be finite, got [${lo}, ${hi}]`);
  if (!(lo < hi)) throw new RangeError(`solveTargetUsage: bracket [${lo}, ${hi}] must have lo < hi`);
  const s = settings(opts);
  if (lo < s.domain[0] || hi > s.domain[1])
    throw new RangeError(`solveTargetUsage: bracket [${lo}, ${hi}] must lie inside the domain [${s.domain[0]}, ${s.domain[1]}]`);

  const evaluated: UsagePoint[] = [];
  const evaluate = (param: number): UsagePoint => {
    const usage = usageAt(param);
    if (!Number.isFinite(usage)) throw new Error(`solveTargetUsage: usageAt(${param}) returned ${usage}, expected a finite usage`);
    const p = { param, usage };
    evaluated.push(p);
    return p;
  };
  const miss = (p: UsagePoint): number => Math.abs(p.usage - target);
  const done = (p: UsagePoint): TargetUsageResult => ({ param: p.param, usage: p.usage, evaluations: evaluated.length, reached: true });

  // 1. Both ends.
  const a0 = evaluate(lo);
  const b0 = evaluate(hi);
  const nearer = miss(b0) < miss(a0) ? b0 : a0;
  if (miss(nearer) <= s.tol) return done(nearer);

  // 2. Bracket the target, expanding geometrically if needed.
  let pair: [UsagePoint, UsagePoint] | undefined = between(target, a0, b0) ? [a0, b0] : undefined;
  const width = hi - lo;
  const expand = (side: 'lo' | 'hi'): [UsagePoint, UsagePoint] | UsagePoint | undefined => {
    let prev = side === 'hi' ? b0 : a0;
    for (let k = 1; k <= s.maxExpansions; k++) {
      const step = width * (s.growth ** k - 1);
      const param = side === 'hi' ? Math.min(hi + step, s.domain[1]) : Math.max(lo - step, s.domain[0]);
      if (param === prev.param || !Number.isFinite(param)) return undefined; // at the domain's edge
      const p = evaluate(param);
      if (miss(p) <= s.tol) return p;
      if (between(target, prev, p)) return side === 'hi' ? [prev, p] : [p, prev];
      prev = p;
    }
    return undefined;
  };
  if (pair === undefined) {
    // The side the usage trend points to first; the hi side when flat.
    const trend = b0.usage - a0.usage;
    const hiFirst = trend === 0 || (target - b0.usage) * trend > 0;
    for (const side of hiFirst ? (['hi', 'lo'] as const) : (['lo', 'hi'] as const)) {
      const r = expand(side);
      if (r === undefined) continue;
      if (!Array.isArray(r)) return done(r);
      pair = r;
      break;
    }
  }
  if (pair === undefined) {
    const usages = evaluated.map((p) => p.usage);
    const params = evaluated.map((p) => p.param);
    throw new TargetUnreachableError(target, [Math.min(...usages), Math.max(...usages)], [Math.min(...params), Math.max(...params)], evaluated.length);
  }

  // 3. Bisection on the sign of usage - target.
  let [a, b] = pair;
  const paramTol = s.paramTol ?? 1e-6 * (b.param - a.param);
  let cause: 'jump' | 'max-iterations' = 'max-iterations';
  for (let it = 0; ; it++) {
    const mid = a.param + (b.param - a.param) / 2;
    if (b.param - a.param <= paramTol || mid <= a.param || mid >= b.param) {
      cause = 'jump'; // narrower than paramTol (or float resolution): usage steps over the target here
      break;
    }
    if (it >= s.maxIterations) break;
    const m = evaluate(mid);
    if (miss(m) <= s.tol) return done(m);
    if (Math.sign(m.usage - target) === Math.sign(a.usage - target)) a = m;
    else b = m;
  }
  let closest = evaluated[0]!;
  for (const p of evaluated) if (miss(p) < miss(closest)) closest = p;
  const where = `between param ${a.param} (usage ${a.usage}) and ${b.param} (usage ${b.usage})`;
  const message =
    (cause === 'jump'
      ? `usage jumps over the target ${target} (tol ${s.tol}) ${where}`
      : `target ${target} (tol ${s.tol}) not reached after ${s.maxIterations} bisection steps; it lies ${where}`) +
    `; closest evaluated: param ${closest.param}, usage ${closest.usage}`;
  return { param: closest.param, usage: closest.usage, evaluations: evaluated.length, reached: false, unreached: { lower: a, upper: b, cause, message } };
}
