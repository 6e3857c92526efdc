/**
 * What the explorer shows, computed from a finished run (docs/design.md "Steering"): accuracy,
 * final-layer head usage and per-head keep rates at one (strategy, alpha, class) point next to the
 * unsteered model, and sample test images with their predictions before and after steering.
 *
 * Points on the run's alpha grid come from `<run>/steer/results.json`; points off the grid, and every
 * per-image prediction (results.json keeps only aggregates), come from the fast steering path
 * (src/steer/sweep.ts `steerRuns`, ~0.2 s per point on 10k images), cached per (strategy, alpha).
 *
 * The frontier view (docs/design.md "Controls") reads results.json's `controls` through the report's
 * functions (src/report/controls.ts), so page and report draw the same bar: the threshold sweep, its
 * concave frontier, the random policy, and each point's margin over that frontier, overall or against
 * one class's own threshold curve. The target-usage control runs `steerToTarget` (src/steer/budget.ts)
 * per knob, one fast-path pass per bisection step (~0.35 s on 10k images), within a time budget per
 * request (`TARGET_BUDGET_MS`); knobs left over are named `pending` and found by the next request,
 * since every knob's answer is cached.
 * Legend: N test images, H final-layer heads, C classes, F SAE latents, T threshold points.
 */
import { join } from 'node:path';
import { loadRunData, runConfigOf } from '../config.js';
import type { Dataset } from '../data/dataset.js';
import { UserError } from '../errors.js';
import { readJson } from '../io/atomic.js';
import { finalLayerFlops } from '../eval/flops.js';
import { prunedFlops, type FlopsFile } from '../report/inputs.js';
import { classShares, frontierStatement, frontierSummary, thresholdFrontier, thresholdPoints, type ThresholdPoint } from '../report/controls.js';
import { stageDir } from '../run/layout.js';
import { steerToTarget, type BudgetPoint, type Knob } from '../steer/budget.js';
import { concaveFrontier, marginOverFrontier, type UsageAccuracy } from '../steer/frontier.js';
import { summariseFinalLayer, type FinalLayerRun, type RunSummary } from '../steer/fastpath_eval.js';
import { validateResults, type SteerResults } from '../steer/results.js';
import { STRATEGIES, type Strategy } from '../steer/strategies.js';
import { loadSteerContext, steerRuns, type SteerContext } from '../steer/sweep.js';
import { pngDataUrl } from '../io/png.js';

/** The alpha range the page accepts (docs/design.md "Steering": alpha in [-1, 1.5]). */
export const ALPHA_RANGE = { min: -1, max: 1.5, step: 0.05 } as const;

/**
 * Wall time one target request may start new searches in. A knob's bisection is bounded (at most 48
 * fast-path passes, src/steer/target.ts) but that is ~17 s on 10k images, and five knobs in a row
 * could hold the single-threaded server for over a minute; so a knob starts only while the request is
 * within this budget, and the page asks again for the rest. Worst case per request: the budget plus one knob.
 */
export const TARGET_BUDGET_MS = 5_000;

/** The knobs a target request searches, in table order: the bar first, then the page's strategies. */
export const TARGET_KNOBS: readonly Knob[] = ['threshold', ...STRATEGIES];

/** Accuracy, mean final-layer head usage and per-head keep rates (H) of a set of test images. */
export interface Summary {
  accuracy: number;
  headUsage: number;
  heads: number[];
}

/** `all` or a class index. */
export type ClassChoice = number | 'all';

export interface PointView {
  strategy: Strategy;
  alpha: number;
  class: ClassChoice;
  /** `results` = read from steer/results.json; `live` = computed now through the fast path. */
  source: 'results' | 'live';
  steered: Summary;
  unsteered: Summary;
  /** `steered` against the threshold frontier of the same scope (overall, or the class's own curve); null without controls. */
  margin: Margin | null;
  /**
   * Skipping FLOPs per image of the scope's images, steered and unsteered (eval/flops.ts finalLayerFlops);
   * null when pruned/eval.json holds no FLOPs.
   */
  flops: { steered: number; unsteered: number } | null;
}

/** Accuracy minus the threshold frontier's at the same usage; 'below-reach' when no beta uses so few heads. */
export type Margin = number | 'below-reach';

/** The threshold sweep of one scope (all test images, or one class's rows of it) and its bar. */
export interface ThresholdCurve {
  /** In beta order. */
  points: ThresholdPoint[];
  /** The concave envelope of `points` (usage order): the bar margins are taken against. */
  frontier: UsageAccuracy[];
}

/** results.json's controls as the frontier view draws them. */
export interface FrontierData {
  all: ThresholdCurve;
  /** (C) class c's rows of the beta sweep: its per-class-threshold curve. */
  perClass: ThresholdCurve[];
  /** AdaViT's random policy at each sweep point's per-head usage; results.json records it overall only. */
  randomPolicy: Array<{ strategy: Strategy; alpha: number; usage: number; accuracy: number }>;
  /** The report's sentence on the margins (overall), word for word. */
  statement: string;
}

/** Every knob at one target final-layer usage (`GET /api/target`). */
export interface TargetView {
  /** The usage searched for. */
  usage: number;
  class: ClassChoice;
  /** The unsteered model's usage on the same images. */
  unsteered: number;
  /** The knobs found so far, in TARGET_KNOBS order; `param` is alpha for a strategy, beta for the threshold. */
  knobs: BudgetPoint[];
  /** Knobs this request's time budget left unsearched; the same request again finds them (found ones are cached). */
  pending: Knob[];
  /** Wall time this request spent searching. */
  seconds: number;
}

/** One test image's prediction and kept final-layer heads (H, 0/1). */
export interface Decision {
  prediction: number;
  name: string;
  correct: boolean;
  heads: number[];
}

export interface SampleView {
  /** Index in the test split. */
  index: number;
  label: number;
  name: string;
  png: string;
  before: Decision;
  after: Decision;
}

/** One grid point of one strategy, as the page's curves need it. */
export interface CurvePoint {
  strategy: Strategy;
  alpha: number;
  accuracy: number;
  headUsage: number;
  /** (C) per-class accuracy and usage. */
  perClass: Array<{ accuracy: number; headUsage: number }>;
}

export interface Meta {
  run: string;
  dataset: string;
  classNames: string[];
  heads: number;
  testCount: number;
  image: { channels: number; height: number; width: number };
  strategies: readonly Strategy[];
  /** Alphas precomputed in results.json (sorted). */
  alphas: number[];
  alphaRange: typeof ALPHA_RANGE;
  steerOptions: { mode: string; target: string; keepError: boolean };
  /** Unsteered model overall and per class (C). */
  unsteered: Summary & { perClass: Summary[] };
  curves: CurvePoint[];
  /** null when results.json predates the controls. */
  controls: FrontierData | null;
}

export interface ExplorerData {
  meta: Meta;
  point(strategy: Strategy, alpha: number, cls: ClassChoice): PointView;
  /** True when `point` answers without the fast path: a results.json grid point or a cached live one. */
  precomputed(strategy: Strategy, alpha: number, cls: ClassChoice): boolean;
  samples(strategy: Strategy, alpha: number, cls: ClassChoice, count: number): SampleView[];
  /** Each knob at final-layer usage `usage` in [0, 1] on the scope's images (within TARGET_BUDGET_MS, see TargetView.pending). */
  target(usage: number, cls: ClassChoice): TargetView;
  /** The loaded model, SAE and test features, shared with the latent view (latents.ts). */
  context: SteerContext;
  dispose(): void;
}

/** Cached fast-path runs kept at once: each holds (N) predictions + (N, H) masks, ~0.3 MB at 10k images. */
const CACHE_SIZE = 48;
/** Cached target answers (one knob each, a few numbers and a sentence). */
const TARGET_CACHE_SIZE = 512;

/** `map.get(key)`, moved to the back so that Map order is recency. */
function touch<V>(map: Map<string, V>, key: string): V | undefined {
  const hit = map.get(key);
  if (hit !== undefined) {
    map.delete(key);
    map.set(key, hit);
  }
  return hit;
}

/** `map.set`, dropping the least recently used entry beyond `size`. */
function remember<V>(map: Map<string, V>, key: string, value: V, size: number): void {
  map.set(key, value);
  if (map.size > size) map.delete(map.keys().next().value!);
}

function sameAlpha(a: number, b: number): boolean {
  return Math.abs(a - b) < 1e-9;
}

function pick(s: { accuracy: number; headUsage: number; heads: number[] }): Summary {
  return { accuracy: s.accuracy, headUsage: s.headUsage, heads: s.heads };
}

/** Load a finished run: its results, the steering context (model, SAE, test features) and its dataset. */
export function openExplorerData(run: string): ExplorerData {
  const resultsFile = join(stageDir(run, 'steer'), 'results.json');
  const results: SteerResults = validateResults(readJson(resultsFile, 'steering results'), resultsFile);
  const cfg = runConfigOf(stageDir(run, 'prune'));
  const ctx: SteerContext = loadSteerContext({ features: stageDir(run, 'extract'), sae: stageDir(run, 'sae'), stats: stageDir(run, 'stats') }, cfg.steer);
  try {
    const ds = loadRunData(cfg);
    checkAligned(ds, ctx, run);
    return build(run, results, ctx, ds, prunedFlops(run));
  } catch (e) {
    ctx.dispose();
    throw e;
  }
}

/** Features row i must be test image i of the dataset (extraction keeps the split's order). */
function checkAligned(ds: Dataset, ctx: SteerContext, run: string): void {
  const f = ctx.features;
  if (ds.test.count !== f.count)
    throw new UserError(
      `${run}: the features hold ${f.count} test images but the dataset ${ds.name} has ${ds.test.count}; rerun \`headsteer extract --force\``,
    );
  for (let i = 0; i < f.count; i++) {
    if (ds.test.labels[i] !== f.labels[i])
      throw new UserError(
        `${run}: test image ${i} is labelled ${ds.test.labels[i]} in ${ds.name} but ${f.labels[i]} in the features; rerun \`headsteer extract --force\``,
      );
  }
}

function build(run: string, results: SteerResults, ctx: SteerContext, ds: Dataset, flops: FlopsFile | undefined): ExplorerData {
  const f = ctx.features;
  const names = ctx.manifest.classNames;
  const C = names.length;
  const H = ctx.manifest.heads;
  const unsteeredRun: FinalLayerRun = { predictions: f.predictions, masks: f.finalMasks };
  const unsteered = summariseFinalLayer(unsteeredRun, f.labels, C, H);
  const cache = new Map<string, { run: FinalLayerRun; summary: RunSummary }>();
  const targets = new Map<string, BudgetPoint>();

  /** The fast path at one point, memoised. */
  const live = (strategy: Strategy, alpha: number): { run: FinalLayerRun; summary: RunSummary } => {
    const key = `${strategy}@${alpha}`;
    const hit = touch(cache, key);
    if (hit !== undefined) return hit;
    const r = steerRuns(ctx, [{ strategy, alpha }])[0]!;
    const entry = { run: r, summary: summariseFinalLayer(r, f.labels, C, H) };
    remember(cache, key, entry, CACHE_SIZE);
    return entry;
  };

  const checkClass = (cls: ClassChoice): void => {
    if (cls !== 'all' && (!Number.isInteger(cls) || cls < 0 || cls >= C)) throw new UserError(`class must be 'all' or an integer in [0, ${C - 1}]; got ${cls}`);
  };
  const checkAlpha = (alpha: number): void => {
    if (!Number.isFinite(alpha) || alpha < ALPHA_RANGE.min || alpha > ALPHA_RANGE.max)
      throw new UserError(`alpha must be a number in [${ALPHA_RANGE.min}, ${ALPHA_RANGE.max}]; got ${alpha}`);
  };

  const fromResults = (strategy: Strategy, alpha: number, cls: ClassChoice): Summary | undefined => {
    const sweep = results.sweeps.find((s) => s.strategy === strategy && sameAlpha(s.alpha, alpha));
    if (sweep === undefined) return undefined;
    if (cls === 'all') return sweep.heads === undefined ? undefined : pick({ ...sweep, heads: sweep.heads });
    const row = sweep.perClass.find((r) => r.class === cls);
    return row === undefined ? undefined : pick(row);
  };

  // The unsteered fast path equals the pruned model's full forward (test/steer), so its final-layer usage
  // is the one eval.json counted the FLOPs at.
  const flopsLine = (cls: ClassChoice): ((u: number) => number) | undefined =>
    flops === undefined
      ? undefined
      : cls === 'all'
        ? finalLayerFlops(flops, unsteered.headUsage)
        : finalLayerFlops(flops, unsteered.perClass[cls]!.headUsage, cls);
  const unsteeredOf = (cls: ClassChoice): Summary => {
    if (cls !== 'all') return pick(unsteered.perClass[cls]!);
    const b = results.baseline;
    return b.heads === undefined ? pick(unsteered) : pick({ ...b, heads: b.heads });
  };

  const decision = (r: FinalLayerRun, i: number, label: number): Decision => {
    const p = r.predictions[i]!;
    return { prediction: p, name: names[p] ?? String(p), correct: p === label, heads: Array.from(r.masks.subarray(i * H, (i + 1) * H)) };
  };

  /** Test indices to show: the first `count` of the class, or round-robin over classes for `all`. */
  const sampleIndices = (cls: ClassChoice, count: number): number[] => {
    const byClass: number[][] = Array.from({ length: C }, () => []);
    for (let i = 0; i < f.count && byClass.some((b) => b.length < count); i++) {
      const b = byClass[f.labels[i]!]!;
      if (b.length < count) b.push(i);
    }
    if (cls !== 'all') return byClass[cls]!;
    const out: number[] = [];
    for (let j = 0; out.length < count && byClass.some((b) => b.length > j); j++) {
      for (const b of byClass) if (j < b.length && out.length < count) out.push(b[j]!);
    }
    return out.sort((a, b) => a - b);
  };

  const imageSize = ds.channels * ds.height * ds.width;
  const pngs = new Map<number, string>();
  const png = (i: number): string => {
    let url = pngs.get(i);
    if (url === undefined) {
      url = pngDataUrl(ds.test.images.subarray(i * imageSize, (i + 1) * imageSize), ds.channels, ds.height, ds.width);
      pngs.set(i, url);
    }
    return url;
  };

  const controls = frontierData(results, C);
  const marginOf = (s: Summary, cls: ClassChoice): Margin | null => {
    const bar = controls === null ? undefined : cls === 'all' ? controls.all.frontier : controls.perClass[cls]?.frontier;
    if (bar === undefined || bar.length === 0) return null;
    return marginOverFrontier([{ usage: s.headUsage, accuracy: s.accuracy }], bar)[0] ?? 'below-reach';
  };

  const alphas = [...new Set(results.sweeps.map((s) => s.alpha))].sort((a, b) => a - b);
  const meta: Meta = {
    run,
    dataset: ds.name,
    classNames: names,
    heads: H,
    testCount: f.count,
    image: { channels: ds.channels, height: ds.height, width: ds.width },
    strategies: STRATEGIES,
    alphas,
    alphaRange: ALPHA_RANGE,
    steerOptions: { mode: ctx.steer.mode, target: ctx.steer.target, keepError: ctx.steer.keepError },
    unsteered: { ...unsteeredOf('all'), perClass: unsteered.perClass.map(pick) },
    curves: results.sweeps.map((s) => ({
      strategy: s.strategy,
      alpha: s.alpha,
      accuracy: s.accuracy,
      headUsage: s.headUsage,
      perClass: s.perClass.map((r) => ({ accuracy: r.accuracy, headUsage: r.headUsage })),
    })),
    controls,
  };

  return {
    meta,
    point(strategy, alpha, cls) {
      checkAlpha(alpha);
      checkClass(cls);
      const saved = fromResults(strategy, alpha, cls);
      const unsteeredView = unsteeredOf(cls);
      const atFlops = flopsLine(cls);
      const view = (source: PointView['source'], steered: Summary): PointView => ({
        strategy,
        alpha,
        class: cls,
        source,
        steered,
        unsteered: unsteeredView,
        margin: marginOf(steered, cls),
        flops: atFlops === undefined ? null : { steered: atFlops(steered.headUsage), unsteered: atFlops(unsteeredView.headUsage) },
      });
      if (saved !== undefined) return view('results', saved);
      const { summary } = live(strategy, alpha);
      return view('live', cls === 'all' ? pick(summary) : pick(summary.perClass[cls]!));
    },
    precomputed(strategy, alpha, cls) {
      return fromResults(strategy, alpha, cls) !== undefined || cache.has(`${strategy}@${alpha}`);
    },
    samples(strategy, alpha, cls, count) {
      checkAlpha(alpha);
      checkClass(cls);
      const { run: steeredRun } = live(strategy, alpha);
      return sampleIndices(cls, count).map((i) => {
        const label = f.labels[i]!;
        return {
          index: i,
          label,
          name: names[label] ?? String(label),
          png: png(i),
          before: decision(unsteeredRun, i, label),
          after: decision(steeredRun, i, label),
        };
      });
    },
    target(usage, cls) {
      if (!(Number.isFinite(usage) && usage >= 0 && usage <= 1)) throw new UserError(`usage must be a number in [0, 1]; got ${usage}`);
      checkClass(cls);
      if (cls !== 'all' && unsteered.perClass[cls]!.count === 0) throw new UserError(`class ${cls} (${names[cls]}) has no test images`);
      const started = performance.now();
      const knobs: BudgetPoint[] = [];
      const pending: Knob[] = [];
      for (const knob of TARGET_KNOBS) {
        const key = `${knob}|${usage}|${cls}`;
        let p = touch(targets, key);
        if (p === undefined) {
          // The first uncached knob always runs, so asking again always gets further.
          if (performance.now() - started > TARGET_BUDGET_MS) {
            pending.push(knob);
            continue;
          }
          p = steerToTarget(ctx, [knob], usage, cls === 'all' ? {} : { cls })[0]!;
          remember(targets, key, p, TARGET_CACHE_SIZE);
        }
        knobs.push(p);
      }
      const base = cls === 'all' ? unsteered.headUsage : unsteered.perClass[cls]!.headUsage;
      return { usage, class: cls, unsteered: base, knobs, pending, seconds: (performance.now() - started) / 1000 };
    },
    context: ctx,
    dispose: () => ctx.dispose(),
  };
}

/** The frontier view's data from results.json's controls (C classes), or null when it has none. */
function frontierData(results: SteerResults, C: number): FrontierData | null {
  const c = results.controls;
  if (c === undefined) return null;
  const classCurve = (k: number): ThresholdCurve => {
    const points = thresholdPoints(c, k);
    return { points, frontier: concaveFrontier(points) };
  };
  return {
    all: { points: thresholdPoints(c), frontier: thresholdFrontier(c) },
    perClass: Array.from({ length: C }, (_, k) => classCurve(k)),
    randomPolicy: c.randomPolicy.map((p) => ({ strategy: p.strategy, alpha: p.alpha, usage: p.headUsage, accuracy: p.accuracy })),
    statement: frontierStatement(frontierSummary(results, c, classShares(c))),
  };
}
