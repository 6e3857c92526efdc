/**
 * Steering to a head budget (docs/design.md, Controls): for each strategy, the alpha (or, for the
 * threshold shift, the beta) at which final-layer head usage reaches a target U, found by bisection on
 * the fast path (target.ts), and the accuracy there. Compute budget in, accuracy out: the practical
 * form of the question whether steering beats a threshold shift.
 *
 * With a class, only that class's test images are evaluated and its usage is the one matched (every
 * strategy still picks its index sets as usual). Alpha is searched from [-1, 1.5] (the sweep's range)
 * outwards to at most 1.5 + 255 * 2.5, never below -1 (where (1 + alpha) would flip the sign of the
 * amplified pre-activations); beta from [-2, 2] outwards.
 * Legend: N test images, n images evaluated, H heads.
 */
import { UserError } from '../errors.js';
import { thresholdProbe } from './controls.js';
import { summariseFinalLayer } from './fastpath_eval.js';
import type { SplitFeatures } from './features.js';
import type { Strategy } from './strategies.js';
import { pointProbe, probeRuns, type Probe, type SteerContext } from './sweep.js';
import { solveTargetUsage, TargetUnreachableError, type TargetUsageResult } from './target.js';

/** What can be steered to a target: a steering strategy (alpha) or the threshold shift (beta). */
export type Knob = Strategy | 'threshold';

/** One knob at the target. */
export interface BudgetPoint {
  knob: Knob;
  /** The alpha (a strategy) or beta (threshold) found. */
  param: number;
  usage: number;
  accuracy: number;
  reached: boolean;
  evaluations: number;
  /** Why the target was not reached within tolerance (usage jumps over it), when it was not. */
  note?: string;
}

/** The rows of one class: a copy of the test features restricted to them (n rows). */
export function classRows(f: SplitFeatures, cls: number, D: number, H: number, T: number, Dh: number): SplitFeatures {
  const rows: number[] = [];
  for (let i = 0; i < f.count; i++) if (f.labels[i] === cls) rows.push(i);
  const take = (a: Float32Array, width: number): Float32Array => {
    const out = new Float32Array(rows.length * width);
    rows.forEach((r, j) => {
      out.set(a.subarray(r * width, (r + 1) * width), j * width);
    });
    return out;
  };
  const kv = H * T * Dh;
  return {
    count: rows.length,
    x: take(f.x, D),
    labels: Int32Array.from(rows, (r) => f.labels[r]!),
    predictions: Int32Array.from(rows, (r) => f.predictions[r]!),
    finalMasks: take(f.finalMasks, H),
    ...(f.k === undefined ? {} : { k: take(f.k, kv) }),
    ...(f.v === undefined ? {} : { v: take(f.v, kv) }),
  };
}

/**
 * Each knob at final-layer usage `target` (in [0, 1]) within `tol`, on the whole test set or on the
 * images of class `cls`. UserError for a target outside [0, 1] or a class the run does not have.
 */
export function steerToTarget(ctx: SteerContext, knobs: readonly Knob[], target: number, opts: { cls?: number; tol?: number } = {}): BudgetPoint[] {
  if (!(Number.isFinite(target) && target >= 0 && target <= 1)) throw new UserError(`--target-usage must be a fraction of heads in [0, 1], got ${target}`);
  const { manifest } = ctx;
  const C = manifest.classNames.length;
  const H = manifest.heads;
  let sub = ctx;
  if (opts.cls !== undefined) {
    if (!Number.isInteger(opts.cls) || opts.cls < 0 || opts.cls >= C)
      throw new UserError(`--class must be a class index in 0..${C - 1} (${manifest.classNames.join(', ')}), got ${opts.cls}`);
    sub = { ...ctx, features: classRows(ctx.features, opts.cls, manifest.dim, H, manifest.tokens, manifest.dim / H) };
  }
  const f = sub.features;
  return knobs.map((knob): BudgetPoint => {
    const probe = (p: number): Probe => (knob === 'threshold' ? thresholdProbe(p) : pointProbe(sub, { strategy: knob, alpha: p }));
    // Each param evaluated once: its accuracy and final-layer usage on the images evaluated.
    const points = new Map<number, { usage: number; accuracy: number }>();
    const at = (p: number): { usage: number; accuracy: number } => {
      let point = points.get(p);
      if (point === undefined) {
        const r = summariseFinalLayer(probeRuns(sub, [probe(p)])[0]!, f.labels, C, H);
        point = { usage: r.headUsage, accuracy: r.accuracy };
        points.set(p, point);
      }
      return point;
    };
    const bracket: [number, number] = knob === 'threshold' ? [-2, 2] : [-1, 1.5];
    const domain: [number, number] = knob === 'threshold' ? [-Infinity, Infinity] : [-1, Infinity];
    let r: TargetUsageResult;
    try {
      r = solveTargetUsage((p) => at(p).usage, bracket, target, { domain, ...(opts.tol === undefined ? {} : { tol: opts.tol }) });
    } catch (e) {
      if (!(e instanceof TargetUnreachableError)) throw e;
      // This knob cannot get there: report its closest point, and go on with the other knobs.
      const [param, point] = [...points].reduce((best, cur) => (Math.abs(cur[1].usage - target) < Math.abs(best[1].usage - target) ? cur : best));
      return { knob, param, ...point, reached: false, evaluations: e.evaluations, note: e.message };
    }
    return {
      knob,
      param: r.param,
      usage: r.usage,
      accuracy: at(r.param).accuracy,
      reached: r.reached,
      evaluations: r.evaluations,
      ...(r.unreached === undefined ? {} : { note: r.unreached.message }),
    };
  });
}
