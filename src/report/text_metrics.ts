/**
 * Text widths for vega's layout, measured from the TrueType fonts resvg draws with.
 *
 * Without a canvas, vega estimates every label as 0.8 em per character, about 40% wider than DejaVu Sans:
 * layouts then grow empty margins and cut legends early. vega lets a user-defined `textMetrics.width`
 * replace the estimate (as vl-convert does); this one sums the glyph advance widths from the font's
 * `cmap` (format 4, Unicode BMP) and `hmtx` tables. Kerning is ignored (a pixel or two per label).
 * npm installs several copies of vega-scenegraph under vega (layout runs in vega-view-transforms' copy,
 * drawing in vega-view's), so the hook goes into every copy.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

/** Advance widths of one font, in em, looked up by code point. */
export interface FontWidths {
  /** Width in em of a code point (the font's missing-glyph width when it has none). */
  advance(codePoint: number): number;
}

/** Reads the advance widths of a .ttf file. */
export function loadFontWidths(path: string): FontWidths {
  const buf = readFileSync(path);
  const u16 = (o: number): number => buf.readUInt16BE(o);
  const tables = new Map<string, number>(); // tag -> offset
  const numTables = u16(4);
  for (let i = 0; i < numTables; i++) {
    const rec = 12 + 16 * i;
    tables.set(buf.toString('latin1', rec, rec + 4), buf.readUInt32BE(rec + 8));
  }
  const at = (tag: string): number => {
    const o = tables.get(tag);
    if (o === undefined) throw new Error(`font ${path} has no '${tag}' table`);
    return o;
  };
  const unitsPerEm = u16(at('head') + 18);
  const numberOfHMetrics = u16(at('hhea') + 34);
  const hmtx = at('hmtx');
  const glyphAdvance = (glyph: number): number => u16(hmtx + 4 * Math.min(glyph, numberOfHMetrics - 1)) / unitsPerEm;

  // The Windows Unicode BMP subtable (platform 3, encoding 1), format 4: segments of code points.
  const cmap = at('cmap');
  let sub = -1;
  for (let i = 0; i < u16(cmap + 2); i++) {
    const rec = cmap + 4 + 8 * i;
    if (u16(rec) === 3 && u16(rec + 2) === 1) sub = cmap + buf.readUInt32BE(rec + 4);
  }
  if (sub < 0 || u16(sub) !== 4) throw new Error(`font ${path} has no format-4 Unicode cmap`);
  const segCount = u16(sub + 6) / 2;
  const ends = sub + 14;
  const starts = ends + 2 * segCount + 2;
  const deltas = starts + 2 * segCount;
  const rangeOffsets = deltas + 2 * segCount;

  const glyphOf = (c: number): number => {
    for (let s = 0; s < segCount; s++) {
      if (u16(ends + 2 * s) < c) continue;
      const start = u16(starts + 2 * s);
      if (start > c) return 0;
      const delta = u16(deltas + 2 * s);
      const ro = u16(rangeOffsets + 2 * s);
      if (ro === 0) return (c + delta) & 0xffff;
      const g = u16(rangeOffsets + 2 * s + ro + 2 * (c - start));
      return g === 0 ? 0 : (g + delta) & 0xffff;
    }
    return 0;
  };
  const cache = new Map<number, number>();
  return {
    advance(codePoint: number): number {
      let w = cache.get(codePoint);
      if (w === undefined) {
        w = codePoint > 0xffff ? glyphAdvance(0) : glyphAdvance(glyphOf(codePoint));
        cache.set(codePoint, w);
      }
      return w;
    },
  };
}

/** Width in em of a string. */
export function textWidthEm(font: FontWidths, text: string): number {
  let w = 0;
  for (const ch of text) w += font.advance(ch.codePointAt(0) ?? 0);
  return w;
}

/** The fields of a vega text item that set its width. */
export interface TextItem {
  text?: unknown;
  fontSize?: number | string | null;
  fontWeight?: number | string | null;
  limit?: number | null;
}

/**
 * A vega `textMetrics.width(item, text)` for a regular and a bold font: the width in pixels of `text`
 * (or the item's own text) at the item's font size, capped at the item's `limit` (vega truncates there).
 */
export function vegaWidth(regular: FontWidths, bold: FontWidths): (item: TextItem, text?: unknown) => number {
  return (item, text) => {
    const size = item.fontSize == null ? 11 : Number(item.fontSize) || 0;
    const s = String(text ?? item.text ?? '').trim();
    if (size <= 0 || s === '') return 0;
    const weight = item.fontWeight;
    const isBold =
      weight === 'bold' || weight === 'bolder' || (typeof weight === 'number' && weight >= 600) || (typeof weight === 'string' && Number(weight) >= 600);
    const w = textWidthEm(isBold ? bold : regular, s) * size;
    const limit = item.limit ?? 0;
    return limit > 0 ? Math.min(w, limit) : w;
  };
}

type WidthFn = (item: TextItem, text?: unknown) => number;

/** vega packages that depend on vega-scenegraph and may carry their own copy of it. */
const SCENEGRAPH_USERS = ['vega-view', 'vega-view-transforms', 'vega-label', 'vega-parser', 'vega-functions', 'vega-encode'];

/** Every distinct vega-scenegraph module reachable from `vega` (resolved as vega's packages do). */
async function scenegraphCopies(): Promise<Array<{ textMetrics: { width: WidthFn } }>> {
  const files = new Set<string>();
  const visit = (fromFile: string, depth: number): void => {
    const require = createRequire(fromFile);
    try {
      files.add(require.resolve('vega-scenegraph'));
    } catch {
      // this package does not see vega-scenegraph
    }
    if (depth === 0) return;
    for (const dep of SCENEGRAPH_USERS) {
      try {
        visit(require.resolve(dep), depth - 1);
      } catch {
        // not a dependency here
      }
    }
  };
  visit(createRequire(import.meta.url).resolve('vega'), 2);
  const modules: Array<{ textMetrics: { width: WidthFn } }> = [];
  for (const f of files) modules.push((await import(pathToFileURL(f).href)) as { textMetrics: { width: WidthFn } });
  return modules;
}

let installed: Promise<void> | undefined;

/** Makes every vega-scenegraph copy measure text with `makeWidth()` (once per process; later calls wait for it). */
export function installTextWidth(makeWidth: () => WidthFn): Promise<void> {
  installed ??= scenegraphCopies().then((copies) => {
    const width = makeWidth();
    for (const m of copies) m.textMetrics.width = width;
  });
  return installed;
}
