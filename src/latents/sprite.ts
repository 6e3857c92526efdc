/**
 * The dashboards' sprite sheet (file.ts): every test image a dashboard shows, once, as a tile of at most
 * MAX_TILE pixels a side (box-averaged by an integer factor), row-major in a grid of SPRITE_COLUMNS, as one
 * PNG (io/png.ts). `spriteTile` cuts one tile back out for a page.
 * Legend: C channels, H height, W width (of a test image), h, w (of a tile).
 */
import { decodePng, encodePng } from '../io/png.js';
import type { SpriteLayout } from './file.js';

/** Largest tile side: Fashion-MNIST's 28 px stays whole, a 224 px image shrinks by 7. */
export const MAX_TILE = 32;
/** Tiles per row of the sheet. */
export const SPRITE_COLUMNS = 64;

/** Test images as the datasets keep them: (N, C, H, W) uint8, planar per image. */
export interface ImageSet {
  images: Uint8Array;
  channels: number;
  height: number;
  width: number;
}

/** One image (C, H, W) box-averaged by `s` -> (C, floor(H/s), floor(W/s)). */
function shrink(img: Uint8Array, c: number, H: number, W: number, s: number): Uint8Array {
  if (s === 1) return img;
  const h = Math.floor(H / s);
  const w = Math.floor(W / s);
  const out = new Uint8Array(c * h * w);
  for (let ch = 0; ch < c; ch++) {
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        let sum = 0;
        for (let dy = 0; dy < s; dy++) for (let dx = 0; dx < s; dx++) sum += img[ch * H * W + (y * s + dy) * W + x * s + dx]!;
        out[ch * h * w + y * w + x] = Math.round(sum / (s * s));
      }
    }
  }
  return out;
}

/** The sheet of test images `indices` (ascending, distinct): its layout (file name `file`) and PNG bytes. */
export function spriteSheet(set: ImageSet, indices: readonly number[], file: string): { layout: SpriteLayout; png: Buffer } {
  const { channels: C, height: H, width: W } = set;
  const s = Math.ceil(Math.max(H, W) / MAX_TILE);
  const h = Math.floor(H / s);
  const w = Math.floor(W / s);
  const n = Math.max(indices.length, 1);
  const cols = Math.min(SPRITE_COLUMNS, n);
  const rows = Math.ceil(n / cols);
  const sheetH = rows * h;
  const sheetW = cols * w;
  const sheet = new Uint8Array(C * sheetH * sheetW); // (C, rows*h, cols*w)
  indices.forEach((idx, slot) => {
    const tile = shrink(set.images.subarray(idx * C * H * W, (idx + 1) * C * H * W), C, H, W, s); // (C, h, w)
    const oy = Math.floor(slot / cols) * h;
    const ox = (slot % cols) * w;
    for (let ch = 0; ch < C; ch++) {
      for (let y = 0; y < h; y++) sheet.set(tile.subarray(ch * h * w + y * w, ch * h * w + (y + 1) * w), ch * sheetH * sheetW + (oy + y) * sheetW + ox);
    }
  });
  return {
    layout: { file, tileWidth: w, tileHeight: h, columns: cols, channels: C, images: [...indices] },
    png: encodePng(sheet, C, sheetH, sheetW),
  };
}

/** A decoded sheet, to cut tiles from. */
export interface DecodedSprite {
  layout: SpriteLayout;
  pixels: Uint8Array; // (C, sheetH, sheetW)
  height: number;
  width: number;
  /** test index -> slot */
  slots: Map<number, number>;
}

/** Decode a sheet written by `spriteSheet`. */
export function readSprite(png: Uint8Array, layout: SpriteLayout): DecodedSprite {
  const d = decodePng(png);
  if (d.channels !== layout.channels) throw new Error(`sprite: ${d.channels} channels, its layout says ${layout.channels}`);
  return { layout, pixels: d.pixels, height: d.height, width: d.width, slots: new Map(layout.images.map((idx, slot) => [idx, slot])) };
}

/** Test image `index`'s tile as planar (C, h, w) pixels, or undefined when the sheet does not hold it. */
export function spriteTile(sprite: DecodedSprite, index: number): Uint8Array | undefined {
  const slot = sprite.slots.get(index);
  if (slot === undefined) return undefined;
  const { tileWidth: w, tileHeight: h, columns, channels: C } = sprite.layout;
  const oy = Math.floor(slot / columns) * h;
  const ox = (slot % columns) * w;
  const out = new Uint8Array(C * h * w);
  for (let ch = 0; ch < C; ch++) {
    for (let y = 0; y < h; y++) {
      const from = ch * sprite.height * sprite.width + (oy + y) * sprite.width + ox;
      out.set(sprite.pixels.subarray(from, from + w), ch * h * w + y * w);
    }
  }
  return out;
}
