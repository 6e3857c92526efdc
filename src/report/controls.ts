/**
 * The numbers the report and `compare` quote about the controls (docs/design.md, Controls): how far each
 * steering strategy's points lie above the threshold-shift frontier, how far per-class and predicted-class
 * lie above the per-class-threshold oracle, and the plain sentence saying what those margins support.
 * The frontier figure, the frontier table and the cross-run summary all read these functions, so the
 * page's sentence, table and figure cannot disagree.
 *
 * - Threshold frontier: `concaveFrontier` of the beta sweep (any two shifts may be mixed per image).
 * - Per-class-threshold oracle: one beta per true class. Shifting class c's logits changes only class
 *   c's rows, so the threshold sweep's per-class rows are each class's own curve, and
 *   `oracleGroupFrontier` mixes them with weights = class shares.
 * - alpha = 0 is the reconstruction, the same point as beta = 0, so it is the bars' origin, not a
 *   steering point to score.
 *
 * Margins are accuracy differences in [-1, 1]; text prints them in percentage points.
 * Legend: C classes, T threshold points (betas), P steering points of one strategy.
 */
import { concaveFrontier, marginOverFrontier, oracleGroupFrontier, type UsageAccuracy } from '../steer/frontier.js';
import type { Controls, SteerResults, Strategy } from '../steer/results.js';
import { sameAlpha } from './figures_steer.js';
import { STRATEGY_ORDER } from './render.js';

/** What the page and `compare` say for results written before the controls existed. */
export const CONTROLS_MISSING = 'controls not computed; rerun `headsteer steer --force`';

/** Margins within this are float noise of accuracy ratios k/n (a point on the bar), not a margin. */
export const MARGIN_TOLERANCE = 1e-9;

/** The strategies that read the class (label or prediction) and so are set against the per-class oracle. */
export const CLASS_STRATEGIES: readonly Strategy[] = ['per-class', 'predicted-class'];

/** One steering sweep point as (final-layer usage, accuracy), with its strategy and alpha. */
export interface SteerPoint extends UsageAccuracy {
  strategy: Strategy;
  alpha: number;
}

/** One threshold point as (final-layer usage, accuracy), with its beta. */
export interface ThresholdPoint extends UsageAccuracy {
  beta: number;
}

/** The bar a strategy is measured against. */
export type Bar = 'threshold' | 'oracle';

/** Words for a bar, as tables and sentences name it. */
export const BAR_NAME: Record<Bar, string> = {
  threshold: 'threshold frontier',
  oracle: 'per-class-threshold oracle',
};

/** The strategies present in the sweeps, in legend order. */
export function sweptStrategies(r: SteerResults): Strategy[] {
  return STRATEGY_ORDER.filter((s) => r.sweeps.some((w) => w.strategy === s));
}

/** A strategy's sweep points overall (P), or class `cls`'s rows of them, in alpha order. */
export function steerPoints(r: SteerResults, strategy: Strategy, cls?: number): SteerPoint[] {
  return r.sweeps
    .filter((w) => w.strategy === strategy)
    .flatMap((w): SteerPoint[] => {
      if (cls === undefined) return [{ strategy, alpha: w.alpha, usage: w.headUsage, accuracy: w.accuracy }];
      const row = w.perClass.find((c) => c.class === cls);
      return row === undefined ? [] : [{ strategy, alpha: w.alpha, usage: row.headUsage, accuracy: row.accuracy }];
    })
    .sort((a, b) => a.alpha - b.alpha);
}

/** The threshold sweep overall (T), or class `cls`'s rows of it (that class's per-class-threshold sweep), in beta order. */
export function thresholdPoints(c: Controls, cls?: number): ThresholdPoint[] {
  return c.threshold
    .flatMap((t): ThresholdPoint[] => {
      if (cls === undefined) return [{ beta: t.beta, usage: t.headUsage, accuracy: t.accuracy }];
      const row = t.perClass.find((p) => p.class === cls);
      return row === undefined ? [] : [{ beta: t.beta, usage: row.headUsage, accuracy: row.accuracy }];
    })
    .sort((a, b) => a.beta - b.beta);
}

/** Each class's share of the test images: the weights of the per-class-threshold oracle. */
export interface ClassShares {
  /** class index -> share; the shares sum to 1. */
  shares: Map<number, number>;
}

/** Class shares from the test split's class sizes that the controls record (`controls.classSizes`). */
export function classShares(c: Controls): ClassShares {
  const total = c.classSizes.reduce((s, v) => s + v, 0);
  return { shares: new Map(c.classSizes.map((n, k) => [k, n / total])) };
}

/** The threshold frontier: the concave envelope of the beta sweep. */
export function thresholdFrontier(c: Controls): ThresholdPoint[] {
  return concaveFrontier(thresholdPoints(c));
}

/** The per-class-threshold oracle frontier: each class on its own threshold curve, weighted by its share. */
export function oracleFrontier(c: Controls, s: ClassShares): UsageAccuracy[] {
  return oracleGroupFrontier([...s.shares].map(([cls, weight]) => ({ weight, points: thresholdPoints(c, cls) })));
}

/** One strategy's points (alpha != 0) against one bar. */
export interface MarginSummary {
  strategy: Strategy;
  bar: Bar;
  /** Steering points scored: alpha != 0. */
  points: number;
  /** Of those, points above the bar by more than MARGIN_TOLERANCE. */
  above: number;
  /** The largest margin (accuracy difference) and where; undefined when no point is within the bar's reach. */
  best: { alpha: number; usage: number; margin: number } | undefined;
  /** Points using fewer heads than the bar's lowest usage: the bar cannot get there, so they have no margin. */
  unreachable: SteerPoint[];
}

/** Margins of `points` over `frontier` (sorted by usage), summarised; the alpha = 0 origin is left out. */
export function marginSummary(strategy: Strategy, bar: Bar, points: readonly SteerPoint[], frontier: readonly UsageAccuracy[]): MarginSummary {
  const scored = points.filter((p) => !sameAlpha(p.alpha, 0));
  const margins = marginOverFrontier(scored, frontier);
  let best: MarginSummary['best'];
  let above = 0;
  const unreachable: SteerPoint[] = [];
  scored.forEach((p, i) => {
    const m = margins[i];
    if (m === undefined) {
      unreachable.push(p);
      return;
    }
    if (m > MARGIN_TOLERANCE) above++;
    if (best === undefined || m > best.margin) best = { alpha: p.alpha, usage: p.usage, margin: m };
  });
  return { strategy, bar, points: scored.length, above, best, unreachable };
}

/** Every strategy against the threshold frontier, and the class strategies against the oracle. */
export interface FrontierSummary {
  /** The lowest usage the threshold sweep reaches (its frontier's first point). */
  reach: number | undefined;
  /** One row per swept strategy, legend order. */
  threshold: MarginSummary[];
  /** per-class and predicted-class, when swept. */
  oracle: MarginSummary[];
}

/** The frontier summary of one run. */
export function frontierSummary(r: SteerResults, c: Controls, s: ClassShares): FrontierSummary {
  const bar = thresholdFrontier(c);
  const oracle = oracleFrontier(c, s);
  const strategies = sweptStrategies(r);
  return {
    reach: bar[0]?.usage,
    threshold: strategies.map((st) => marginSummary(st, 'threshold', steerPoints(r, st), bar)),
    oracle: strategies.filter((st) => CLASS_STRATEGIES.includes(st)).map((st) => marginSummary(st, 'oracle', steerPoints(r, st), oracle)),
  };
}

/** An alpha or beta as the page prints it, with a true minus sign: "−0.5". */
export function fmtAlpha(a: number): string {
  return String(a).replace('-', '−');
}

/** A margin in percentage points with its sign, e.g. "+0.80" or "−0.12". */
export function marginPt(m: number): string {
  return `${m >= 0 ? '+' : '−'}${Math.abs(100 * m).toFixed(2)}`;
}

/** "0.12" percentage points, unsigned. */
const pts = (m: number): string => Math.abs(100 * m).toFixed(2);

/** "per-class at α = 1.2 (usage 0.852)". */
const where = (strategy: Strategy, b: NonNullable<MarginSummary['best']>): string => `${strategy} at α = ${fmtAlpha(b.alpha)} (usage ${b.usage.toFixed(3)})`;

/** The row with the largest defined margin, if any. */
function bestRow(rows: readonly MarginSummary[]): (MarginSummary & { best: NonNullable<MarginSummary['best']> }) | undefined {
  let out: (MarginSummary & { best: NonNullable<MarginSummary['best']> }) | undefined;
  for (const row of rows) {
    const b = row.best;
    if (b !== undefined && (out === undefined || b.margin > out.best.margin)) out = { ...row, best: b };
  }
  return out;
}

/** The sentence on the threshold frontier: what the largest margin is, and no more. */
function thresholdSentence(s: FrontierSummary): string {
  const top = bestRow(s.threshold);
  if (top === undefined)
    return `No steering point (α ≠ 0) lies within the threshold’s reach (usage ≥ ${s.reach?.toFixed(3) ?? '—'}), so none has a margin over the threshold frontier.`;
  const m = top.best.margin;
  const scored = s.threshold.reduce((n, r) => n + r.points - r.unreachable.length, 0);
  const above = s.threshold.reduce((n, r) => n + r.above, 0);
  if (m > MARGIN_TOLERANCE) {
    return `${where(top.strategy, top.best)} lies ${pts(m)} points above the threshold frontier, the largest margin of any steering point (${above} of ${scored} points within reach lie above it); one run has no seed band, so this does not show that steering beats the threshold (run \`headsteer compare\` over seeds).`;
  }
  if (m >= -MARGIN_TOLERANCE) return `No steering point lies above the threshold frontier: the closest, ${where(top.strategy, top.best)}, lies on it.`;
  return `No steering point lies above the threshold frontier: the closest, ${where(top.strategy, top.best)}, lies ${pts(m)} points below it.`;
}

/** The sentence on the per-class-threshold oracle, for the class strategies. */
function oracleSentence(s: FrontierSummary): string {
  const parts = s.oracle.map((r) =>
    r.best === undefined
      ? `${r.strategy} has no point within its reach`
      : `${r.strategy}: largest margin ${marginPt(r.best.margin)} points at α = ${fmtAlpha(r.best.alpha)} (${r.above} of ${r.points - r.unreachable.length} points above)`,
  );
  return parts.length === 0 ? '' : `Against the per-class-threshold oracle (one β per true class), ${parts.join('; ')}.`;
}

/** The sentence naming the points no threshold reaches. */
function unreachableSentence(s: FrontierSummary): string {
  const out = s.threshold.flatMap((r) => r.unreachable);
  if (out.length === 0) return '';
  const list = out.map((p) => `${p.strategy} at α = ${fmtAlpha(p.alpha)}, usage ${p.usage.toFixed(3)}`).join('; ');
  const n = out.length === 1 ? '1 steering point uses' : `${out.length} steering points use`;
  return `${n} fewer heads than any threshold shift reaches (lowest usage ${s.reach?.toFixed(3) ?? '—'}): ${list}; the threshold cannot get there, so these have no margin.`;
}

/**
 * The plain statement of one run: the largest margin over the threshold frontier in numbers (and that one
 * run has no seed band), the class strategies against the oracle, and the points the threshold cannot
 * reach. Says "lies above", never "beats": that needs the seed band of `headsteer compare`.
 */
export function frontierStatement(s: FrontierSummary): string {
  return [thresholdSentence(s), oracleSentence(s), unreachableSentence(s)].filter((t) => t !== '').join(' ');
}
