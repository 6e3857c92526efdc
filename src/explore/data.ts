/**
 * What the explorer shows, computed from a finished run (docs/design.md "Steering"): accuracy,
 * final-layer head usage and per-head keep rates at one (strategy, alpha, class) point next to the
 * unsteered model, and sample test images with their predictions before and after steering.
 *
 * Points on the run's alpha grid come from `<run>/steer/results.json`; points off the grid, and every
 * per-image prediction (results.json keeps only aggregates), come from the fast steering path
 * (src/steer/sweep.ts `steerRuns`, ~0.2 s per point on 10k images), cached per (strategy, alpha).
 * Legend: N test images, H final-layer heads, C classes, F SAE latents.
 */
import { join } from 'node:path';
import type { Dataset } from '../data/dataset.js';
import { UserError } from '../errors.js';
import { readJson } from '../io/atomic.js';
import { loadRunData, runConfigOf, stageDir } from '../run/layout.js';
import { summariseFinalLayer, type FinalLayerRun, type RunSummary } from '../steer/fastpath_eval.js';
import { validateResults, type SteerResults } from '../steer/results.js';
import { STRATEGIES, type Strategy } from '../steer/strategies.js';
import { loadSteerContext, steerRuns, type SteerContext } from '../steer/sweep.js';
import { pngDataUrl } from './png.js';

/** The alpha range the page accepts (docs/design.md "Steering": alpha in [-1, 1.5]). */
export const ALPHA_RANGE = { min: -1, max: 1.5, step: 0.05 } as const;

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
}

export interface ExplorerData {
  meta: Meta;
  point(strategy: Strategy, alpha: number, cls: ClassChoice): PointView;
  samples(strategy: Strategy, alpha: number, cls: ClassChoice, count: number): SampleView[];
  dispose(): void;
}

/** Cached fast-path runs kept at once: each holds (N) predictions + (N, H) masks, ~0.3 MB at 10k images. */
const CACHE_SIZE = 48;

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
    return build(run, results, ctx, ds);
  } catch (e) {
    ctx.dispose();
    throw e;
  }
}

/** Features row i must be test image i of the dataset (extraction keeps the split's order). */
function checkAligned(ds: Dataset, ctx: SteerContext, run: string): void {
  const f = ctx.features;
  if (ds.test.count !== f.count) throw new UserError(`${run}: the features hold ${f.count} test images but the dataset ${ds.name} has ${ds.test.count}; rerun \`headsteer extract\``);
  for (let i = 0; i < f.count; i++) {
    if (ds.test.labels[i] !== f.labels[i]) throw new UserError(`${run}: test image ${i} is labelled ${ds.test.labels[i]} in ${ds.name} but ${f.labels[i]} in the features; rerun \`headsteer extract\``);
  }
}

function build(run: string, results: SteerResults, ctx: SteerContext, ds: Dataset): ExplorerData {
  const f = ctx.features;
  const names = ctx.manifest.classNames;
  const C = names.length;
  const H = ctx.manifest.heads;
  const unsteeredRun: FinalLayerRun = { predictions: f.predictions, masks: f.finalMasks };
  const unsteered = summariseFinalLayer(unsteeredRun, f.labels, C, H);
  const cache = new Map<string, { run: FinalLayerRun; summary: RunSummary }>();

  /** The fast path at one point, memoised (Map order = recency). */
  const live = (strategy: Strategy, alpha: number): { run: FinalLayerRun; summary: RunSummary } => {
    const key = `${strategy}@${alpha}`;
    const hit = cache.get(key);
    if (hit !== undefined) {
      cache.delete(key);
      cache.set(key, hit);
      return hit;
    }
    const r = steerRuns(ctx, [{ strategy, alpha }])[0]!;
    const entry = { run: r, summary: summariseFinalLayer(r, f.labels, C, H) };
    cache.set(key, entry);
    if (cache.size > CACHE_SIZE) cache.delete(cache.keys().next().value!);
    return entry;
  };

  const checkClass = (cls: ClassChoice): void => {
    if (cls !== 'all' && (!Number.isInteger(cls) || cls < 0 || cls >= C)) throw new UserError(`class must be 'all' or an integer in [0, ${C - 1}]; got ${cls}`);
  };
  const checkAlpha = (alpha: number): void => {
    if (!Number.isFinite(alpha) || alpha < ALPHA_RANGE.min || alpha > ALPHA_RANGE.max) throw new UserError(`alpha must be a number in [${ALPHA_RANGE.min}, ${ALPHA_RANGE.max}]; got ${alpha}`);
  };

  const fromResults = (strategy: Strategy, alpha: number, cls: ClassChoice): Summary | undefined => {
    const sweep = results.sweeps.find((s) => s.strategy === strategy && sameAlpha(s.alpha, alpha));
    if (sweep === undefined) return undefined;
    if (cls === 'all') return sweep.heads === undefined ? undefined : pick({ ...sweep, heads: sweep.heads });
    const row = sweep.perClass.find((r) => r.class === cls);
    return row === undefined ? undefined : pick(row);
  };

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
  };

  return {
    meta,
    point(strategy, alpha, cls) {
      checkAlpha(alpha);
      checkClass(cls);
      const saved = fromResults(strategy, alpha, cls);
      const unsteeredView = unsteeredOf(cls);
      if (saved !== undefined) return { strategy, alpha, class: cls, source: 'results', steered: saved, unsteered: unsteeredView };
      const { summary } = live(strategy, alpha);
      const steered = cls === 'all' ? pick(summary) : pick(summary.perClass[cls]!);
      return { strategy, alpha, class: cls, source: 'live', steered, unsteered: unsteeredView };
    },
    samples(strategy, alpha, cls, count) {
      checkAlpha(alpha);
      checkClass(cls);
      const { run: steeredRun } = live(strategy, alpha);
      return sampleIndices(cls, count).map((i) => {
        const label = f.labels[i]!;
        return { index: i, label, name: names[label] ?? String(label), png: png(i), before: decision(unsteeredRun, i, label), after: decision(steeredRun, i, label) };
      });
    },
    dispose: () => ctx.dispose(),
  };
}
