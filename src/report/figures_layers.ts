/**
 * Steering at every layer (docs/design.md "Steering at every layer"), from `steer/layers.json`: per
 * steered layer, what each strategy does at its nonzero alphas (dots, coloured by strategy, shaped by
 * alpha) to that layer's head usage, the total usage over every gated layer and accuracy, beside what the
 * threshold shift of the same layer's gate does over its betas (grey bar: the span, ticks: each beta).
 * Every change is measured from the layer's reconstruction point (alpha = beta = 0, x_hat at its gate).
 * Legend: L steered layers, P points per layer.
 */
import type { LayerPoint, LayersResults } from '../steer/layers_results.js';
import type { FigureSpec } from './figures_steer.js';
import { STRATEGY_ORDER, strategyColorScale, type TopLevelSpec } from './render.js';

/** The three measures, in panel order. */
const MEASURES = ['Δ that layer’s head usage', 'Δ total head usage (all gated layers)', 'Δ accuracy (points)'] as const;

/** Where the threshold's bar stands within a layer's band, right of the strategies. */
const THRESHOLD_SLOT = 'threshold';

/** A point's changes from its layer's reconstruction point, one per measure. */
function changes(p: LayerPoint, origin: LayerPoint): number[] {
  return [p.layerUsage - origin.layerUsage, p.totalUsage - origin.totalUsage, 100 * (p.accuracy - origin.accuracy)];
}

const signed = (v: number, digits: number): string => `${v >= 0 ? '+' : '−'}${Math.abs(v).toFixed(digits)}`;

/** The caption's numbers: the first strategy swept (per-class when swept) at its extreme alphas, layer by layer, and the threshold's span. */
function caption(r: LayersResults, origin: Map<number, LayerPoint>): string {
  const strategy = STRATEGY_ORDER.find((s) => r.strategies.includes(s));
  const alphas = r.alphas.filter((a) => a !== 0);
  const parts = r.layers.map((l) => {
    const o = origin.get(l)!;
    const at = (knob: string, param: number): LayerPoint | undefined => r.points.find((p) => p.layer === l && p.knob === knob && p.param === param);
    const steer = alphas
      .map((a) => at(strategy ?? '', a))
      .filter((p): p is LayerPoint => p !== undefined)
      .map((p) => {
        const [dl, dt, da] = changes(p, o) as [number, number, number];
        return `α ${String(p.param).replace('-', '−')}: ${signed(dl, 3)} / ${signed(dt, 3)} / ${signed(da, 2)} pt`;
      });
    const thr = r.points.filter((p) => p.layer === l && p.knob === 'threshold').map((p) => p.layerUsage - o.layerUsage);
    const span = thr.length === 0 ? '' : `, threshold ${signed(Math.min(...thr), 2)}..${signed(Math.max(...thr), 2)}`;
    return `layer ${l}: ${steer.join(', ')}${span}`;
  });
  return `Changes of that layer's usage / total usage / accuracy from each layer's reconstruction point (x̂ at its gate, α = β = 0), ${strategy ?? 'no'} steering; the threshold span is of that layer's usage over β ∈ [${Math.min(...r.betas)}, ${Math.max(...r.betas)}]: ${parts.join('; ')}.`;
}

/** The every-layer figure, or undefined when the file holds no point at a nonzero alpha or beta. */
export function layersFigure(r: LayersResults): FigureSpec | undefined {
  const origin = new Map<number, LayerPoint>();
  for (const l of r.layers) {
    const o = r.points.find((p) => p.layer === l && p.param === 0);
    if (o !== undefined) origin.set(l, o);
  }
  const values: object[] = [];
  for (const p of r.points) {
    const o = origin.get(p.layer);
    if (o === undefined || p.param === 0) continue;
    changes(p, o).forEach((value, m) => {
      const base = { measure: MEASURES[m], layer: `layer ${p.layer}`, value };
      if (p.knob === 'threshold') values.push({ ...base, kind: 'beta', slot: THRESHOLD_SLOT, beta: p.param });
      else values.push({ ...base, kind: 'steer', slot: p.knob, strategy: p.knob, alpha: `α = ${p.param}` });
    });
  }
  if (values.length === 0) return undefined;
  const x = {
    field: 'layer',
    type: 'ordinal' as const,
    title: 'Steered layer',
    sort: r.layers.map((l) => `layer ${l}`),
    scale: { type: 'band' as const, paddingInner: 0.25 },
    axis: { labelAngle: 0 },
  };
  const strategies = STRATEGY_ORDER.filter((s) => r.strategies.includes(s));
  // Each knob its own place within the layer's band, the threshold last, so bars and dots do not overlap.
  const slot = { field: 'slot', type: 'nominal' as const, sort: [...strategies, THRESHOLD_SLOT], scale: { paddingInner: 0.1 } };
  return {
    name: 'layers-steering',
    title: 'Steering at every layer: each layer’s usage, total usage and accuracy, beside that layer’s threshold shift',
    caption: caption(r, origin),
    spec: {
      title: {
        text: 'Steering gate l with SAE_l: change from the layer’s reconstruction point',
        subtitle: 'dots: strategies at α ≠ 0 (shape: α); grey bar and ticks: the threshold shift of the same gate over β ≠ 0',
      },
      data: { values },
      facet: { column: { field: 'measure', type: 'nominal', title: null, sort: [...MEASURES], header: { labelFontSize: 12, labelFontWeight: 'bold' } } },
      resolve: { scale: { y: 'independent' } },
      spec: {
        width: Math.max(180, 70 * r.layers.length),
        height: 260,
        layer: [
          { mark: { type: 'rule', color: '#555', strokeDash: [4, 3] }, encoding: { y: { datum: 0 } } },
          {
            transform: [
              { filter: "datum.kind === 'beta'" },
              {
                aggregate: [
                  { op: 'min', field: 'value', as: 'lo' },
                  { op: 'max', field: 'value', as: 'hi' },
                ],
                groupby: ['layer', 'measure', 'slot'],
              },
            ],
            mark: { type: 'rule', color: '#c8c8c8', strokeWidth: 10 },
            encoding: { x, xOffset: slot, y: { field: 'lo', type: 'quantitative', title: null }, y2: { field: 'hi' } },
          },
          {
            transform: [{ filter: "datum.kind === 'beta'" }],
            mark: { type: 'tick', color: '#666', thickness: 2, size: 16 },
            encoding: {
              x,
              xOffset: slot,
              y: { field: 'value', type: 'quantitative', title: null },
              tooltip: [{ field: 'layer' }, { field: 'beta', title: 'β' }, { field: 'value', format: '.3f' }],
            },
          },
          {
            transform: [{ filter: "datum.kind === 'steer'" }],
            mark: { type: 'point', filled: true, size: 70, opacity: 0.9 },
            encoding: {
              x,
              xOffset: slot,
              y: { field: 'value', type: 'quantitative', title: null },
              color: { field: 'strategy', type: 'nominal', title: 'Index set S', scale: strategyColorScale(), legend: { values: strategies } },
              shape: { field: 'alpha', type: 'nominal', title: 'Strength' },
              tooltip: [{ field: 'layer' }, { field: 'strategy' }, { field: 'alpha' }, { field: 'value', format: '.3f' }],
            },
          },
        ],
      },
    } as TopLevelSpec,
  };
}
