/**
 * Rendering a vega-lite figure headlessly: vega-lite compiles the spec to vega, vega renders it to SVG
 * without a DOM (`renderer: 'none'`), and resvg rasterises the SVG to PNG at 2x with the DejaVu fonts
 * (resvg has no system fonts here; without font files every label would vanish).
 * Also the shared look of all figures: fonts, sizes and the strategy colours.
 */
import { Resvg } from '@resvg/resvg-js';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import type { Strategy } from '../steer/strategies.js';
import { installTextWidth, loadFontWidths, vegaWidth } from './text_metrics.js';

export type { TopLevelSpec };

export const FONT_FAMILY = 'DejaVu Sans';
const FONT_DIR = '/usr/share/fonts/truetype/dejavu';
const FONT_FILES = ['DejaVuSans.ttf', 'DejaVuSans-Bold.ttf', 'DejaVuSans-Oblique.ttf', 'DejaVuSans-BoldOblique.ttf'].map((f) => `${FONT_DIR}/${f}`);

/** Lays text out with DejaVu Sans's real glyph widths instead of vega's 0.8 em per character guess. */
function useFontMetrics(): Promise<void> {
  return installTextWidth(() => vegaWidth(loadFontWidths(`${FONT_DIR}/DejaVuSans.ttf`), loadFontWidths(`${FONT_DIR}/DejaVuSans-Bold.ttf`)));
}

/**
 * Each steering strategy's colour, in legend order (the paper's strategy first, then the other
 * class-based one); the colours stay apart for colour-blind readers. Typed on `Strategy`, so a
 * strategy added to steer/strategies.ts fails to compile here until it has a colour.
 */
const STRATEGY_COLOR = {
  'per-class': '#1f77b4',
  'predicted-class': '#2ca02c',
  global: '#ff7f0e',
  random: '#7f7f7f',
} as const satisfies Record<Strategy, string>;

/** Steering strategies in legend order. */
export const STRATEGY_ORDER = Object.keys(STRATEGY_COLOR) as readonly Strategy[];

/** The vega-lite colour scale of every strategy legend (fresh arrays: specs own their data). */
export function strategyColorScale(): { domain: Strategy[]; range: string[] } {
  return { domain: [...STRATEGY_ORDER], range: STRATEGY_ORDER.map((s) => STRATEGY_COLOR[s]) };
}

/** The vega-lite `config` every figure uses. */
export const THEME = {
  font: FONT_FAMILY,
  background: 'white',
  padding: 12,
  title: { fontSize: 15, anchor: 'start', offset: 12, subtitleFontSize: 12, subtitleColor: '#444' },
  axis: { labelFontSize: 11, titleFontSize: 12, titleFontWeight: 'normal', gridColor: '#e6e6e6', domainColor: '#888', tickColor: '#888' },
  legend: { labelFontSize: 11, titleFontSize: 12, titleFontWeight: 'normal', labelLimit: 260 },
  header: { labelFontSize: 12, titleFontSize: 12 },
  view: { stroke: '#cccccc' },
  concat: { spacing: 36 },
} as const;

export interface RenderedFigure {
  svg: string;
  png: Uint8Array;
}

/** SVG text and a 2x PNG of a vega-lite spec (THEME is applied unless the spec sets its own config). */
export async function renderFigure(spec: TopLevelSpec): Promise<RenderedFigure> {
  await useFontMetrics();
  const compiled = compile({ config: THEME, ...spec } as TopLevelSpec).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  try {
    const svg = await view.toSVG();
    const png = new Resvg(svg, {
      fitTo: { mode: 'zoom', value: 2 },
      background: 'white',
      font: { fontFiles: FONT_FILES, loadSystemFonts: false, defaultFontFamily: FONT_FAMILY },
    })
      .render()
      .asPng();
    return { svg, png: new Uint8Array(png) };
  } finally {
    view.finalize();
  }
}
