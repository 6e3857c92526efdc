/**
 * The controls' figures (docs/design.md, Controls): where steering's operating points sit against what
 * cheaper knobs reach at the same final-layer head usage.
 *   Frontier     accuracy (%) vs usage: one line per steering strategy (alpha order), the threshold
 *                shift's beta sweep and its concave frontier (the bar margins are taken against), the
 *                per-class-threshold oracle, AdaViT's random policy at each steering point's per-head
 *                usage, and the shared origin alpha = beta = 0 (the reconstruction). Left: everything;
 *                right: zoomed on the steering points, since the beta sweep spans usage 0..1 and would
 *                squeeze them into a corner. With the pruned model's FLOPs, a top axis gives usage as
 *                skipping MFLOPs per image.
 *   Top classes  one zoomed panel per top-gain class: its per-class steering points against its own
 *                threshold curve (its rows of the beta sweep) and that curve's frontier.
 * Zoomed panels get data already cut to their window (clip.ts says why).
 * Legend: C classes, T threshold points, P steering points per strategy.
 */
import type { UsageAccuracy } from '../steer/frontier.js';
import { concaveFrontier, marginOverFrontier } from '../steer/frontier.js';
import type { Controls, SteerResults } from '../steer/results.js';
import { type Box, clipPolyline, insideBox } from './clip.js';
import {
  type ClassShares,
  type FrontierSummary,
  fmtAlpha,
  MARGIN_TOLERANCE,
  marginPt,
  marginSummary,
  oracleFrontier,
  steerPoints,
  sweptStrategies,
  thresholdFrontier,
  thresholdPoints,
} from './controls.js';
import { type FigureSpec, sameAlpha, topGainAlpha } from './figures_steer.js';
import { strategyColorScale, type TopLevelSpec } from './render.js';

const USAGE_TITLE = 'Final-layer head usage (fraction of heads kept)';
const FLOPS_TITLE = 'MFLOPs per image, skipping the pruned heads';
const ACCURACY_TITLE = 'Test accuracy (%)';

const THRESHOLD = 'threshold shift (β sweep)';
const FRONTIER = 'threshold frontier (concave)';
const ORACLE = 'per-class-threshold oracle';
const STEERING = 'steering point (α sweep)';
const RANDOM = 'random policy at matched usage';
const ORIGIN = 'reconstruction x̂ (α = β = 0)';

/** Series colours and dashes: strategies as everywhere in the report; the baselines grey, black and purple. */
function seriesScales(): { color: { domain: string[]; range: string[] }; dash: { domain: string[]; range: number[][] } } {
  const s = strategyColorScale();
  const domain = [...s.domain, THRESHOLD, FRONTIER, ORACLE];
  return {
    color: { domain, range: [...s.range, '#9a9a9a', '#222222', '#7b3fa0'] },
    dash: { domain, range: [...s.domain.map(() => [1, 0]), [1, 0], [7, 4], [2, 3]] },
  };
}

/** Marker shapes by kind of point. */
const MARKERS = { domain: [STEERING, THRESHOLD, RANDOM, ORIGIN], range: ['circle', 'square', 'cross', 'diamond'] };

/** A polyline of one series in drawing order (accuracy in [0, 1]). */
interface Line {
  series: string;
  points: UsageAccuracy[];
}

/** A marked point; steering points carry their alpha (drawn as marker size), `label` names it in tooltips. */
interface Marked extends UsageAccuracy {
  series: string;
  marker: string;
  label: string;
  alpha?: number;
}

/** What one panel draws; `reach` is the bar's lowest usage, left of which the threshold cannot go. */
interface Plot {
  lines: Line[];
  points: Marked[];
  reach: number | undefined;
}

/** A padded [lo, hi] around values, at least `minPad` on each side. */
function padded(values: readonly number[], minPad: number): [number, number] {
  const lo = Math.min(...values);
  const hi = Math.max(...values);
  const pad = Math.max(minPad, 0.12 * (hi - lo));
  return [lo - pad, hi + pad];
}

/** The zoom window (usage, accuracy in %) around `points` that also shows `bar` at their usages. */
function zoomBox(points: readonly UsageAccuracy[], bar: readonly UsageAccuracy[]): Box {
  const x = padded(
    points.map((p) => p.usage),
    0.01,
  );
  const inside = bar.filter((b) => b.usage >= x[0] && b.usage <= x[1]).map((b) => b.accuracy);
  return {
    x,
    y: padded(
      [...points.map((p) => p.accuracy), ...inside].map((a) => 100 * a),
      0.5,
    ),
  };
}

/** Vega rows of a plot in plot units (accuracy in %), cut to `box` when given. */
function plotRows(plot: Plot, box: Box | undefined): object[] {
  const rows: object[] = [];
  // In a zoom, shade the usages no threshold shift reaches, so the points there read as incomparable.
  if (box !== undefined && plot.reach !== undefined && plot.reach > box.x[0]) {
    const x1 = Math.min(plot.reach, box.x[1]);
    rows.push({ layer: 'reach', x0: box.x[0], x1, mid: (box.x[0] + x1) / 2, y0: box.y[0], y1: box.y[1] });
  }
  plot.lines.forEach((l, i) => {
    const xy = l.points.map((p) => ({ x: p.usage, y: 100 * p.accuracy }));
    const pieces = box === undefined ? [xy] : clipPolyline(xy, box);
    pieces.forEach((piece, j) => {
      for (const [k, p] of piece.entries()) rows.push({ layer: 'line', series: l.series, piece: `${i}.${j}`, order: k, usage: p.x, accuracy: p.y });
    });
  });
  for (const p of plot.points) {
    const at = { x: p.usage, y: 100 * p.accuracy };
    const layer = p.marker === ORIGIN ? 'origin' : p.marker === STEERING ? 'steer' : 'point';
    if (box === undefined || insideBox(at, box))
      rows.push({ layer, series: p.series, marker: p.marker, label: p.label, alpha: p.alpha, usage: at.x, accuracy: at.y });
  }
  return rows;
}

/** Which series and markers a panel's legend lists. */
interface LegendValues {
  series: string[];
  markers: string[];
}

/**
 * One panel: lines, markers (steering points sized by alpha, so the sweep's direction reads off the PNG
 * without labels piling up where the strategies' alpha = 0 points coincide) and the origin; `box` fixes
 * the axes to the zoom window. Every panel of a figure passes the same `legend`: vega-lite merges the
 * shared scales' legends, and a legend switched off in one layer would switch it off for all.
 */
function panel(
  plot: Plot,
  box: Box | undefined,
  legend: LegendValues,
  size: { width: number; height: number; title: object },
  flops?: (u: number) => number,
): object {
  const scales = seriesScales();
  // The whole view pads its scales so points on the data's edge are not drawn on the axes.
  const x = {
    field: 'usage',
    type: 'quantitative',
    title: USAGE_TITLE,
    axis: { tickCount: 6 },
    scale: box === undefined ? { zero: false, padding: 10 } : { domain: box.x, nice: false, zero: false },
  };
  const y = {
    field: 'accuracy',
    type: 'quantitative',
    title: ACCURACY_TITLE,
    scale: box === undefined ? { zero: false, padding: 10 } : { domain: box.y, nice: false, zero: false },
  };
  // Colour and dash share field, title and legend, so vega-lite draws one legend with dashed swatches.
  const seriesLegend = { orient: 'bottom', direction: 'vertical', columns: 2, symbolType: 'stroke', values: legend.series };
  const color = { field: 'series', type: 'nominal', title: 'Series', scale: scales.color, legend: seriesLegend };
  const strokeDash = { field: 'series', type: 'nominal', title: 'Series', scale: scales.dash, legend: seriesLegend };
  const shape = {
    field: 'marker',
    type: 'nominal',
    title: 'Marker',
    scale: MARKERS,
    legend: { orient: 'bottom', direction: 'vertical', values: legend.markers },
  };
  const alphaSize = {
    field: 'alpha',
    type: 'quantitative',
    title: 'Steering strength α',
    scale: { range: [20, 140] },
    legend: { orient: 'bottom', direction: 'vertical' },
  };
  // With the FLOPs axis the x axes are independent, so only the line layer draws the usage axis.
  const quiet = (enc: object): object => (flops === undefined ? enc : { ...enc, axis: null });
  const tooltip = [{ field: 'series' }, { field: 'label' }, { field: 'usage', format: '.3f' }, { field: 'accuracy', format: '.2f' }];
  const points = (layer: string, mark: object, extra: object): object => ({
    transform: [{ filter: `datum.layer === '${layer}'` }],
    mark: { type: 'point', filled: true, ...mark },
    encoding: { x: quiet(x), y, shape, tooltip, ...extra },
  });
  return {
    ...size,
    data: { values: plotRows(plot, box) },
    layer: [
      {
        transform: [{ filter: "datum.layer === 'reach'" }],
        mark: { type: 'rect', color: '#eeeeee' },
        encoding: {
          x: quiet({ field: 'x0', type: 'quantitative', scale: x.scale }),
          x2: { field: 'x1' },
          y: { field: 'y0', type: 'quantitative', scale: y.scale },
          y2: { field: 'y1' },
        },
      },
      {
        transform: [{ filter: "datum.layer === 'reach'" }],
        // Rotated along the band, anchored at its top (dx runs along the rotated text).
        mark: { type: 'text', angle: 270, align: 'right', baseline: 'middle', dx: -6, fontSize: 10, color: '#666666', text: 'threshold cannot reach' },
        encoding: { x: quiet({ field: 'mid', type: 'quantitative', scale: x.scale }), y: { field: 'y1', type: 'quantitative', scale: y.scale } },
      },
      {
        transform: [{ filter: "datum.layer === 'line'" }],
        mark: { type: 'line', strokeWidth: 2 },
        encoding: { x, y, color, strokeDash, detail: { field: 'piece' }, order: { field: 'order', type: 'quantitative' } },
      },
      points('point', { size: 40, opacity: 0.85 }, { color }),
      points('steer', { opacity: 0.95 }, { color, size: alphaSize }),
      points('origin', { size: 170, color: '#000000' }, {}),
      ...(flops === undefined ? [] : [flopsAxis(x, y, flops)]),
    ],
    ...(flops === undefined ? {} : { resolve: { axis: { x: 'independent' } } }),
  };
}

/**
 * A second x axis on top: the usage scale relabelled as skipping MFLOPs per image (eval/flops.ts
 * finalLayerFlops, affine in usage). Its layer draws nothing; with independent x axes only the two layers
 * that name an axis draw one, as every other layer's x sets `axis: null`.
 */
function flopsAxis(x: { scale: object }, y: { field: string; scale: object }, flops: (u: number) => number): object {
  const [a, b] = [flops(0) / 1e6, (flops(1) - flops(0)) / 1e6];
  const axis = { orient: 'top', tickCount: 6, title: FLOPS_TITLE, labelExpr: `format(${a} + ${b} * datum.value, '.2f')` };
  return {
    transform: [{ filter: "datum.layer === 'line'" }],
    mark: { type: 'point', opacity: 0 },
    encoding: { x: { field: 'usage', type: 'quantitative', scale: x.scale, axis }, y: { field: y.field, type: 'quantitative', scale: y.scale } },
  };
}

/** Steering points of one strategy as marked points. */
function steeringMarks(series: string, points: ReadonlyArray<UsageAccuracy & { alpha: number }>): Marked[] {
  return points.map((p) => ({ series, marker: STEERING, usage: p.usage, accuracy: p.accuracy, label: `α = ${fmtAlpha(p.alpha)}`, alpha: p.alpha }));
}

/** The origin, alpha = beta = 0, from a beta sweep. */
function originMark(sweep: ReadonlyArray<UsageAccuracy & { beta: number }>): Marked[] {
  return sweep.filter((p) => p.beta === 0).map((p) => ({ series: ORIGIN, marker: ORIGIN, usage: p.usage, accuracy: p.accuracy, label: 'α = β = 0' }));
}

/**
 * A frontier drawn to usage 1: past its most accurate point the best accuracy stays reachable (a point
 * using more heads can always drop to that one), so the bar continues flat (frontier.ts `frontierAt`).
 */
function toFullUsage(frontier: readonly UsageAccuracy[]): UsageAccuracy[] {
  const last = frontier[frontier.length - 1];
  return last === undefined || last.usage >= 1 ? [...frontier] : [...frontier, { usage: 1, accuracy: last.accuracy }];
}

/** The overall plot: strategies, the beta sweep, its frontier, the oracle, the random policy and the origin. */
function frontierPlot(r: SteerResults, c: Controls, s: ClassShares): Plot {
  const strategies = sweptStrategies(r);
  const sweep = thresholdPoints(c);
  return {
    lines: [
      { series: THRESHOLD, points: sweep },
      { series: FRONTIER, points: toFullUsage(thresholdFrontier(c)) },
      { series: ORACLE, points: toFullUsage(oracleFrontier(c, s)) },
      ...strategies.map((st) => ({ series: st, points: steerPoints(r, st) })),
    ],
    points: [
      ...sweep.map((p): Marked => ({ series: THRESHOLD, marker: THRESHOLD, usage: p.usage, accuracy: p.accuracy, label: `β = ${fmtAlpha(p.beta)}` })),
      ...c.randomPolicy.map(
        (p): Marked => ({
          series: p.strategy,
          marker: RANDOM,
          usage: p.headUsage,
          accuracy: p.accuracy,
          label: `random policy at ${p.strategy} α = ${fmtAlpha(p.alpha)}`,
        }),
      ),
      ...strategies.flatMap((st) => steeringMarks(st, steerPoints(r, st))),
      ...originMark(sweep),
    ],
    reach: thresholdFrontier(c)[0]?.usage,
  };
}

/** How many steering points (alpha != 0) are more accurate than the random policy at their per-head usage. */
function randomPolicyCount(r: SteerResults, c: Controls): { better: number; of: number } {
  let better = 0;
  let of = 0;
  for (const p of c.randomPolicy) {
    const w = r.sweeps.find((s) => s.strategy === p.strategy && sameAlpha(s.alpha, p.alpha));
    if (w === undefined || sameAlpha(p.alpha, 0)) continue;
    of++;
    if (w.accuracy > p.accuracy + MARGIN_TOLERANCE) better++;
  }
  return { better, of };
}

/** The caption's numbers: the best margin per bar, the unreachable points, the random policy and the shares. */
function frontierCaption(r: SteerResults, c: Controls, sum: FrontierSummary): string {
  const best = (rows: FrontierSummary['threshold']): string =>
    rows
      .map((x) => (x.best === undefined ? `${x.strategy}: none within reach` : `${x.strategy} ${marginPt(x.best.margin)} pt at α = ${fmtAlpha(x.best.alpha)}`))
      .join(', ');
  const out = sum.threshold.reduce((n, x) => n + x.unreachable.length, 0);
  const rp = randomPolicyCount(r, c);
  const parts = [
    `Largest margin over the threshold frontier (dashed) per strategy: ${best(sum.threshold)}`,
    sum.oracle.length > 0 ? `over the per-class-threshold oracle (dotted): ${best(sum.oracle)}` : '',
    out > 0
      ? `${out} steering point${out === 1 ? ' uses' : 's use'} fewer heads than the lowest threshold usage (${sum.reach?.toFixed(3)}), where the threshold cannot go`
      : '',
    rp.of > 0 ? `steering is more accurate than the random policy at matched usage (crosses) at ${rp.better} of ${rp.of} points (α ≠ 0)` : '',
  ];
  return `${parts.filter((p) => p !== '').join('; ')}.`;
}

/**
 * The frontier figure; `c.threshold` must hold the sweep (an empty one leaves no bar to draw). `flops` maps
 * final-layer usage to skipping FLOPs per image (eval/flops.ts finalLayerFlops) for the top axis.
 */
export function frontierFigure(r: SteerResults, c: Controls, sum: FrontierSummary, s: ClassShares, flops?: (u: number) => number): FigureSpec {
  const plot = frontierPlot(r, c, s);
  const strategies = sweptStrategies(r);
  const box = zoomBox(
    strategies.flatMap((st) => steerPoints(r, st)),
    thresholdFrontier(c),
  );
  const legend = { series: [...strategies, THRESHOLD, FRONTIER, ORACLE], markers: MARKERS.domain.filter((m) => m !== RANDOM || c.randomPolicy.length > 0) };
  return {
    name: 'frontier',
    title: 'Controls — steering against the threshold shift, the per-class oracle and the random policy',
    caption: frontierCaption(r, c, sum),
    spec: {
      title: {
        text: 'Accuracy vs final-layer head usage: steering and its controls',
        subtitle: 'left: every operating point; right: zoomed on the steering points. Margin = accuracy above the dashed frontier at the same usage',
      },
      hconcat: [
        panel(plot, undefined, legend, { width: 300, height: 300, title: { text: 'all operating points', fontSize: 12 } }, flops),
        panel(plot, box, legend, { width: 420, height: 300, title: { text: 'zoom on the steering points', fontSize: 12 } }, flops),
      ],
    } as TopLevelSpec,
  };
}

/** One top-gain class's panel: its per-class steering rows against its threshold curve and that curve's frontier. */
function classPanel(r: SteerResults, c: Controls, cls: number, name: string, topAlpha: number, legend: LegendValues): { spec: object; margin: string } {
  const steer = steerPoints(r, 'per-class', cls);
  const curve = thresholdPoints(c, cls);
  const bar = concaveFrontier(curve);
  const m = marginSummary('per-class', 'threshold', steer, bar);
  const plot: Plot = {
    lines: [
      { series: THRESHOLD, points: curve },
      { series: FRONTIER, points: bar },
      { series: 'per-class', points: steer },
    ],
    points: [
      ...curve.map((p): Marked => ({ series: THRESHOLD, marker: THRESHOLD, usage: p.usage, accuracy: p.accuracy, label: `β = ${fmtAlpha(p.beta)}` })),
      ...steeringMarks('per-class', steer),
      ...originMark(curve),
    ],
    reach: bar[0]?.usage,
  };
  const atTop = marginOverFrontier(
    steer.filter((p) => sameAlpha(p.alpha, topAlpha)),
    bar,
  )[0];
  const margin = `α = ${fmtAlpha(topAlpha)}: ${atTop === undefined ? 'out of reach' : `${marginPt(atTop)} pt`}; best ${m.best === undefined ? 'out of reach' : `${marginPt(m.best.margin)} pt at α = ${fmtAlpha(m.best.alpha)}`}`;
  const title = { text: name, subtitle: margin, fontSize: 12, subtitleFontSize: 11 };
  return { spec: panel(plot, zoomBox(steer, bar), legend, { width: 250, height: 200, title }), margin: `${name} ${margin}` };
}

/** Small multiples for the top-gain classes (paper Fig. 3's classes), or undefined without any. */
export function classFrontierFigure(r: SteerResults, c: Controls): FigureSpec | undefined {
  const top = r.topGainClasses;
  if (top.length === 0) return undefined;
  const legend = { series: ['per-class', THRESHOLD, FRONTIER], markers: [STEERING, THRESHOLD, ORIGIN] };
  const alpha = topGainAlpha(r);
  const panels = top.map((t) => classPanel(r, c, t.class, t.name, alpha, legend));
  return {
    name: 'frontier-top-classes',
    title: `Controls — top-gain classes (α = ${fmtAlpha(alpha)}): per-class steering against the class’s own threshold curve`,
    caption: `For each of the ${top.length} classes with the largest accuracy gain under per-class steering, its per-class steering points (α order) against its own rows of the β sweep and their concave frontier (dashed), on that class’s test images; margin over that frontier at the top-gain α and the best of the sweep: ${panels.map((p) => p.margin).join('; ')}.`,
    spec: {
      title: {
        text: 'Top-gain classes: per-class steering vs the class’s own threshold curve',
        subtitle:
          'on each class’s test images; under each name: margin over the class’s threshold frontier (dashed) at the top-gain α, and the best; black diamond: α = β = 0',
      },
      concat: panels.map((p) => p.spec),
      // Four panels read better as 2 x 2 than as 3 + 1.
      columns: top.length === 4 ? 2 : Math.min(3, top.length),
      resolve: { scale: { x: 'independent', y: 'independent' } },
    } as TopLevelSpec,
  };
}
