/**
 * Cutting plotted data to a zoom window before it reaches vega. A zoomed panel must hide what lies outside
 * its axes, but vega's own `clip` wraps each mark in an SVG clip path, and resvg aborts the whole process
 * (a Rust panic, not an exception) when a clipped element lies wholly outside its clip rectangle. So
 * zoomed figures drop the points outside and cut lines at the window's edges here (Liang–Barsky).
 * Legend: P polyline points.
 */

/** A point in plot units (x, y as the axes show them). */
export interface XY {
  x: number;
  y: number;
}

/** A closed window [x0, x1] x [y0, y1]. */
export interface Box {
  x: readonly [number, number];
  y: readonly [number, number];
}

/** Whether p lies in the closed box. */
export function insideBox(p: XY, box: Box): boolean {
  return p.x >= box.x[0] && p.x <= box.x[1] && p.y >= box.y[0] && p.y <= box.y[1];
}

/**
 * The part of segment a -> b inside the box (same direction), or undefined when none is. An end inside the
 * box is returned as the same object, so consecutive segments of a polyline can be joined by identity.
 */
export function clipSegment(a: XY, b: XY, box: Box): [XY, XY] | undefined {
  const dx = b.x - a.x;
  const dy = b.y - a.y;
  let t0 = 0;
  let t1 = 1;
  // Each edge as p t <= q: left, right, bottom, top.
  const edges: Array<[number, number]> = [
    [-dx, a.x - box.x[0]],
    [dx, box.x[1] - a.x],
    [-dy, a.y - box.y[0]],
    [dy, box.y[1] - a.y],
  ];
  for (const [p, q] of edges) {
    if (p === 0) {
      if (q < 0) return undefined; // parallel to this edge and outside it
      continue;
    }
    const t = q / p;
    if (p < 0) t0 = Math.max(t0, t);
    else t1 = Math.min(t1, t);
    if (t0 > t1) return undefined;
  }
  const at = (t: number): XY => ({ x: a.x + t * dx, y: a.y + t * dy });
  return [t0 === 0 ? a : at(t0), t1 === 1 ? b : at(t1)];
}

/**
 * A polyline (P points, in drawing order) cut to the box: the runs that lie inside, each a polyline of
 * its own (a line leaving and re-entering the window gives two pieces). A single point is kept if inside.
 */
export function clipPolyline(line: readonly XY[], box: Box): XY[][] {
  if (line.length === 1) return insideBox(line[0]!, box) ? [[line[0]!]] : [];
  const pieces: XY[][] = [];
  for (let i = 1; i < line.length; i++) {
    const seg = clipSegment(line[i - 1]!, line[i]!, box);
    if (seg === undefined) continue;
    const last = pieces.at(-1);
    if (last !== undefined && last.at(-1) === seg[0]) last.push(seg[1]);
    else pieces.push([seg[0], seg[1]]);
  }
  return pieces;
}
