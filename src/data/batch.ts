/**
 * Turn a list of sample indices into a normalised float batch, optionally augmented with the usual
 * CIFAR recipe (random crop with zero padding, horizontal flip). This runs once per training step, so
 * it uses a per-channel lookup table (256 entries) instead of arithmetic per pixel.
 *
 * Legend: B batch, C channels, H height, W width.
 */
import type { Rng } from '../random.js';
import type { Dataset, Split } from './dataset.js';

/** Augmentation applied per sample; everything is off by default. */
export interface Augment {
  /** Random crop after padding each side by this many zero pixels (0 = off). */
  crop?: number;
  /** Flip horizontally with probability 1/2. */
  flip?: boolean;
}

export interface BatchOptions {
  augment?: Augment;
  /** Required when any augmentation is on. */
  rng?: Rng;
}

/** A batch ready for the model. */
export interface Batch {
  /** (B, C, H, W) pixels normalised per channel: (x/255 - mean[c]) / std[c]. */
  images: Float32Array;
  /** (B,) class indices. */
  labels: Int32Array;
}

/**
 * Gather `indices` of `split` into a normalised (B, C, H, W) batch. With `augment.crop = p` each image
 * is shifted by a random (dy, dx) in [-p, p]^2 and the uncovered border is raw 0 (so the normalised
 * pad value is -mean/std, exactly as if the padded image had been normalised); with `augment.flip`
 * each image is mirrored left-right with probability 1/2. Per sample the rng draws dy, dx, then flip.
 */
export function makeBatch(split: Split, indices: ArrayLike<number>, ds: Dataset, opts: BatchOptions = {}): Batch {
  const { channels: C, height: H, width: W } = ds;
  const B = indices.length;
  const plane = H * W;
  const imageSize = C * plane;
  const images = new Float32Array(B * imageSize);
  const labels = new Int32Array(B);
  const luts = normalisationTables(ds);
  const crop = opts.augment?.crop ?? 0;
  const flip = opts.augment?.flip ?? false;
  const r = opts.rng;
  if ((crop > 0 || flip) && r === undefined) throw new Error('makeBatch: augmentation needs an rng');

  for (let b = 0; b < B; b++) {
    const n = indices[b] as number;
    if (!(n >= 0 && n < split.count && Number.isInteger(n))) {
      throw new RangeError(`makeBatch: index ${n} out of range [0, ${split.count})`);
    }
    labels[b] = split.labels[n] as number;
    const src = n * imageSize;
    const dst = b * imageSize;

    if (crop === 0 && !flip) {
      for (let c = 0; c < C; c++) {
        const lut = luts[c] as Float32Array;
        const s = src + c * plane;
        const d = dst + c * plane;
        for (let p = 0; p < plane; p++) images[d + p] = lut[split.images[s + p] as number] as number;
      }
      continue;
    }

    // Output pixel (y, x) reads input (y + dy, x' + dx) with x' = flipped x; outside -> raw 0.
    const rr = r as Rng;
    const dy = crop > 0 ? rr.int(2 * crop + 1) - crop : 0;
    const dx = crop > 0 ? rr.int(2 * crop + 1) - crop : 0;
    const mirrored = flip && rr.uniform() < 0.5;
    for (let c = 0; c < C; c++) {
      const lut = luts[c] as Float32Array;
      const pad = lut[0] as number;
      const s = src + c * plane;
      const d = dst + c * plane;
      for (let y = 0; y < H; y++) {
        const sy = y + dy;
        const row = d + y * W;
        if (sy < 0 || sy >= H) {
          images.fill(pad, row, row + W);
          continue;
        }
        for (let x = 0; x < W; x++) {
          const sx = (mirrored ? W - 1 - x : x) + dx;
          images[row + x] = sx < 0 || sx >= W ? pad : (lut[split.images[s + sy * W + sx] as number] as number);
        }
      }
    }
  }
  return { images, labels };
}

/** Per channel, the normalised value of each raw byte: (C,) tables of 256 floats. */
function normalisationTables(ds: Dataset): Float32Array[] {
  const tables: Float32Array[] = [];
  for (let c = 0; c < ds.channels; c++) {
    const mean = ds.mean[c] ?? 0;
    const std = ds.std[c] ?? 1;
    const lut = new Float32Array(256);
    for (let v = 0; v < 256; v++) lut[v] = (v / 255 - mean) / std;
    tables.push(lut);
  }
  return tables;
}
