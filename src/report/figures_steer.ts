/**
 * The paper's steering figures as vega-lite specs, from `steer/results.json` and `stats/stats.json`:
 *   Fig. 2  accuracy and final-layer head usage vs alpha in [0, 1.5], one line per strategy;
 *   Fig. 4  the same for negative alpha in [-1, 0] (suppressing the latents, paper Appendix);
 *   Fig. 3  final-layer head activation per top-gain class before (alpha 0) and after per-class
 *           steering (alpha = topGainAlpha), rows h0..h{H-1};
 *   Fig. 5  class-by-class overlap of the per-class latent sets, beside the global-vs-per-class overlap.
 * Legend: C classes, H heads of the final layer.
 */
import type { SteerResults } from '../steer/results.js';
import { PAPER_ALPHA } from '../steer/strategies.js';
import type { Stats } from './inputs.js';
import { STRATEGY_ORDER, strategyColorScale, type TopLevelSpec } from './render.js';

/** A figure before rendering: file name (no extension), heading, one-sentence caption and spec. */
export interface FigureSpec {
  name: string;
  title: string;
  caption: string;
  spec: TopLevelSpec;
}

/** The paper's global-vs-per-class overlap (CIFAR-100, k = 64). */
export const PAPER_GLOBAL_OVERLAP = 0.1641;

/** The suppressing alpha the report quotes beside PAPER_ALPHA: halfway into Fig. 4's range [-1, 0]. */
export const SUPPRESS_ALPHA = -0.5;

const ALPHA_TITLE = 'Steering strength α (scale factor, unitless)';
const USAGE_TITLE = 'Final-layer head usage (fraction of heads kept)';

const pct = (v: number, digits = 1): string => `${(100 * v).toFixed(digits)}%`;

/** Alphas equal up to grid rounding. */
export function sameAlpha(a: number, b: number): boolean {
  return Math.abs(a - b) < 1e-9;
}

/** The alpha of the top-gain classes; results written before it was recorded used the paper's. */
export function topGainAlpha(r: SteerResults | undefined): number {
  const a = r?.['topGainAlpha'];
  return typeof a === 'number' ? a : PAPER_ALPHA;
}

/** The sweep entry of `strategy` at `alpha`, if the grid has it. */
export function sweepAt(r: SteerResults, strategy: string, alpha: number): SteerResults['sweeps'][number] | undefined {
  return r.sweeps.find((s) => s.strategy === strategy && sameAlpha(s.alpha, alpha));
}

/**
 * Paper Fig. 2 (`sign` +1, alpha in [0, 1.5]) or Fig. 4 (`sign` -1, alpha in [-1, 0]): accuracy (%) and
 * final-layer head usage vs alpha, one line per strategy, with the unsteered pruned ViT as a dashed rule.
 */
export function alphaSweepFigure(r: SteerResults, sign: 1 | -1): FigureSpec {
  const [lo, hi] = sign > 0 ? [0, 1.5] : [-1, 0]; // the paper figure's alpha range
  const inRange = (a: number): boolean => a >= lo - 1e-9 && a <= hi + 1e-9;
  const values = r.sweeps
    .filter((s) => inRange(s.alpha))
    .map((s) => ({ strategy: s.strategy, alpha: s.alpha, accuracy: 100 * s.accuracy, usage: s.headUsage }));
  const strategies = STRATEGY_ORDER.filter((s) => values.some((v) => v.strategy === s));
  const color = {
    field: 'strategy',
    type: 'nominal' as const,
    title: 'Index set S',
    scale: strategyColorScale(),
    legend: { values: strategies, orient: 'right' as const },
  };
  const panel = (field: 'accuracy' | 'usage', title: string, base: number): object => ({
    width: 360,
    height: 290,
    layer: [
      { mark: { type: 'rule', strokeDash: [5, 4], color: '#555' }, encoding: { y: { datum: base } } },
      {
        mark: { type: 'line', point: { size: 36 }, strokeWidth: 2 },
        encoding: {
          x: { field: 'alpha', type: 'quantitative', title: ALPHA_TITLE, scale: { domain: [lo, hi], nice: false } },
          y: { field, type: 'quantitative', title, scale: { zero: false } },
          color,
          tooltip: [{ field: 'strategy' }, { field: 'alpha' }, { field, format: field === 'accuracy' ? '.2f' : '.3f' }],
        },
      },
    ],
  });
  const fig = sign > 0 ? 2 : 4;
  const lookAt = sign > 0 ? PAPER_ALPHA : SUPPRESS_ALPHA;
  const at = (s: string): string => {
    const w = sweepAt(r, s, lookAt);
    return w === undefined ? `${s}: not swept` : `${s} ${pct(w.accuracy)} at usage ${w.headUsage.toFixed(3)}`;
  };
  const caption =
    sign > 0
      ? `Amplifying the selected SAE latents (α > 0) before the final layer's decision network: at α = ${lookAt}, ${strategies.map(at).join('; ')} (unsteered, dashed: ${pct(r.baseline.accuracy)} at ${r.baseline.headUsage.toFixed(3)}).`
      : `Suppressing the selected SAE latents (α < 0), which the paper finds raises head usage for per-class sets only: at α = ${lookAt}, ${strategies.map(at).join('; ')} (unsteered, dashed: ${pct(r.baseline.accuracy)} at ${r.baseline.headUsage.toFixed(3)}).`;
  return {
    name: sign > 0 ? 'fig2-steering-positive' : 'fig4-steering-negative',
    title: `Fig. ${fig} — ${sign > 0 ? 'Positive' : 'Negative'} steering: accuracy and final-layer head usage vs α`,
    caption,
    spec: {
      title: {
        text: `Fig. ${fig}: accuracy and final-layer head usage, α from ${String(lo).replace('-', '−')} to ${hi}`,
        subtitle: 'one line per index-set strategy; dashed: unsteered pruned ViT on x (α = 0 already feeds the SAE reconstruction x̂)',
      },
      data: { values },
      hconcat: [panel('accuracy', 'Test accuracy (%)', 100 * r.baseline.accuracy), panel('usage', USAGE_TITLE, r.baseline.headUsage)],
    } as TopLevelSpec,
  };
}

/**
 * Paper Fig. 3: final-layer head activation rate per head (rows) of each top-gain class (columns) before
 * (alpha 0) and after per-class steering at `topGainAlpha`; labels carry accuracy and usage before -> after.
 */
export function headActivationFigure(r: SteerResults): FigureSpec | undefined {
  const top = r.topGainClasses;
  if (top.length === 0) return undefined;
  const alpha = topGainAlpha(r);
  const before = 'Before (α = 0)';
  const after = `After per-class steering (α = ${alpha})`;
  const label = (t: (typeof top)[number]): string =>
    `${t.name}\nacc ${(100 * t.accuracyBefore).toFixed(1)}→${pct(t.accuracyAfter)}\nusage ${t.headUsageBefore.toFixed(2)}→${t.headUsageAfter.toFixed(2)}`;
  const h = top[0]?.headsBefore.length ?? 0;
  const values = top.flatMap((t) =>
    t.headsBefore.flatMap((v, i) => [
      { column: label(t), head: `h${i}`, state: before, rate: v },
      { column: label(t), head: `h${i}`, state: after, rate: t.headsAfter[i] ?? 0 },
    ]),
  );
  const best = top[0]!;
  return {
    name: 'fig3-head-activation',
    title: `Fig. 3 — Final-layer head activation before and after per-class steering (α = ${alpha})`,
    caption: `Columns are the ${top.length} classes whose test accuracy gains most under per-class steering at α = ${alpha}, rows the final layer's ${h} heads, and each cell the fraction of that class's test images for which the head is kept; the top class, ${best.name}, goes from ${pct(best.accuracyBefore)} to ${pct(best.accuracyAfter)} accuracy at usage ${best.headUsageBefore.toFixed(2)}→${best.headUsageAfter.toFixed(2)}.`,
    spec: {
      title: {
        text: `Fig. 3: final-layer head activation, top-${top.length} classes by accuracy gain`,
        subtitle: 'cell: fraction of the class’s test images for which the head is kept',
      },
      data: { values },
      facet: { column: { field: 'state', type: 'nominal', title: null, sort: [before, after], header: { labelFontSize: 13, labelFontWeight: 'bold' } } },
      spec: {
        width: { step: 112 },
        height: { step: 30 },
        encoding: {
          x: {
            field: 'column',
            type: 'nominal',
            sort: null,
            title: 'Class (accuracy, usage: before → after)',
            axis: { labelAngle: 0, labelExpr: "split(datum.value, '\\n')", labelLineHeight: 14, labelLimit: 0 },
          },
          y: { field: 'head', type: 'ordinal', sort: null, title: 'Final-layer head' },
        },
        layer: [
          {
            mark: { type: 'rect', stroke: 'white', strokeWidth: 1 },
            encoding: { color: { field: 'rate', type: 'quantitative', title: ['Head activation', 'rate (0–1)'], scale: { scheme: 'blues', domain: [0, 1] } } },
          },
          {
            mark: { type: 'text', fontSize: 11 },
            encoding: {
              text: { field: 'rate', type: 'quantitative', format: '.2f' },
              color: { condition: { test: 'datum.rate > 0.6', value: 'white' }, value: '#222' },
            },
          },
        ],
      },
    } as TopLevelSpec,
  };
}

/** The class pair (a < b) with the largest overlap, or undefined with fewer than two classes. */
export function maxOffDiagonal(pairs: number[][]): { a: number; b: number; value: number } | undefined {
  let best: { a: number; b: number; value: number } | undefined;
  pairs.forEach((row, a) => {
    row.forEach((value, b) => {
      if (b > a && (best === undefined || value > best.value)) best = { a, b, value };
    });
  });
  return best;
}

/**
 * Paper Fig. 5: |S_a ∩ S_b| / k_s for every class pair (C x C heatmap with class names and values),
 * beside our global-vs-per-class overlap and the paper's 0.1641.
 */
export function overlapFigure(stats: Stats): FigureSpec {
  const names = stats.classNames;
  const pairs = stats.overlap.classPairs;
  const values = pairs.flatMap((row, a) => row.map((v, b) => ({ a: names[a] ?? `class ${a}`, b: names[b] ?? `class ${b}`, overlap: v, diagonal: a === b })));
  const ours = stats.overlap.globalVsPerClass;
  const top = maxOffDiagonal(pairs);
  const step = names.length > 12 ? 24 : 44;
  const cellText = names.length <= 20;
  const topText =
    top === undefined
      ? ''
      : `; the most related pair is ${names[top.a]} / ${names[top.b]} at ${top.value.toFixed(2)} (paper: bowl/plate 0.38, beaver/squirrel 0.39)`;
  return {
    name: 'fig5-latent-overlap',
    title: 'Fig. 5 — Class-by-class overlap of per-class SAE latent sets',
    caption: `Each cell is the fraction of the k_s = ${stats.ks} most frequent latents two classes share${topText}; the overlap between the global and per-class sets is ${ours.toFixed(4)} (paper: ${PAPER_GLOBAL_OVERLAP}).`,
    spec: {
      title: {
        text: `Fig. 5: per-class latent-set overlap |S_a ∩ S_b| / k_s (k_s = ${stats.ks})`,
        subtitle: 'right: mean overlap of the global set with the per-class sets, ours vs the paper’s (CIFAR-100)',
      },
      hconcat: [
        {
          data: { values },
          width: { step },
          height: { step },
          encoding: {
            x: { field: 'b', type: 'nominal', sort: names, title: 'Class b', axis: { labelAngle: -40, labelLimit: 140 } },
            y: { field: 'a', type: 'nominal', sort: names, title: 'Class a', axis: { labelLimit: 160 } },
          },
          layer: [
            {
              mark: { type: 'rect', stroke: 'white', strokeWidth: 1 },
              encoding: {
                color: {
                  condition: { test: 'datum.diagonal', value: '#e9e9e9' }, // a class with itself: always 1
                  field: 'overlap',
                  type: 'quantitative',
                  title: ['Latent overlap', '(fraction of k_s)'],
                  scale: { scheme: 'oranges', domain: [0, 1] },
                },
              },
            },
            ...(cellText
              ? [
                  {
                    mark: { type: 'text', fontSize: names.length > 12 ? 8 : 11 },
                    encoding: {
                      text: { field: 'overlap', type: 'quantitative', format: '.2f' },
                      color: { condition: { test: 'datum.overlap > 0.55 && !datum.diagonal', value: 'white' }, value: '#333' },
                    },
                  },
                ]
              : []),
          ],
        },
        {
          data: {
            values: [
              { source: 'ours', value: ours },
              { source: 'paper', value: PAPER_GLOBAL_OVERLAP },
            ],
          },
          width: 120,
          height: Math.max(200, step * names.length * 0.6),
          encoding: {
            x: { field: 'source', type: 'nominal', title: null, sort: null, axis: { labelAngle: 0 } },
            y: {
              field: 'value',
              type: 'quantitative',
              title: ['Global vs per-class overlap', '(fraction of k_s)'],
              scale: { domain: [0, Math.max(0.5, ours * 1.25)] },
            },
          },
          layer: [
            {
              mark: { type: 'bar', width: 38 },
              encoding: { color: { field: 'source', type: 'nominal', legend: null, scale: { range: ['#d95f02', '#999999'] } } },
            },
            { mark: { type: 'text', dy: -8, fontSize: 12 }, encoding: { text: { field: 'value', type: 'quantitative', format: '.4f' } } },
          ],
        },
      ],
      resolve: { scale: { color: 'independent' } },
    } as TopLevelSpec,
  };
}
