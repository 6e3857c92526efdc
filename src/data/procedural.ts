/**
 * A small seeded procedural labeled image set for tests and the `smoke` preset: one simple shape per
 * class (bars at four orientations, disk, ring, square outline, plus, checkerboard, triangle) drawn at a
 * random position, scale, small rotation and contrast on a noisy background. A tiny ViT learns it to
 * well above chance in seconds, but the noise and small shapes keep it short of 100%.
 *
 * Images: (N, C, H=size, W=size) uint8. Classes are exactly balanced (counts differ by at most one) and
 * the whole set is a pure function of (seed, options).
 */
import { UserError } from '../errors.js';
import { permutation, rng, type Rng } from '../random.js';
import { channelStats, type Dataset, type Split } from './dataset.js';

/** Shape names in label order; the first `classes` are used. */
export const PROCEDURAL_CLASSES = [
  'horizontal bar',
  'vertical bar',
  'diagonal /',
  'diagonal \\',
  'disk',
  'ring',
  'square outline',
  'plus',
  'checkerboard',
  'triangle',
];

/** Options of the procedural set. */
export interface ProceduralOptions {
  /** Number of classes, 2..10. @default 10 */
  classes: number;
  /** Image height = width in pixels, 8..64. @default 16 */
  size: number;
  /** 1 (grayscale) or 3 (random colour per image; the class never depends on colour). @default 1 */
  channels: number;
  /** Train images. @default 2000 */
  train: number;
  /** Test images. @default 500 */
  test: number;
  /** Std of the Gaussian pixel noise in [0, 1] units, 0..1. @default 0.15 */
  noise: number;
}

export const PROCEDURAL_DEFAULTS: Readonly<ProceduralOptions> = Object.freeze({
  classes: 10,
  size: 16,
  channels: 1,
  train: 2000,
  test: 500,
  noise: 0.15,
});

/** Allowed range of each option, used by the validation below. */
const RANGES: Record<keyof ProceduralOptions, [number, number, boolean /* integer */]> = {
  classes: [2, PROCEDURAL_CLASSES.length, true],
  size: [8, 64, true],
  channels: [1, 3, true],
  train: [1, 1_000_000, true],
  test: [1, 1_000_000, true],
  noise: [0, 1, false],
};

/** Merge overrides into the defaults and validate; unknown keys and bad values throw a UserError. */
export function resolveProceduralOptions(overrides: Partial<ProceduralOptions> = {}): ProceduralOptions {
  const opts: ProceduralOptions = { ...PROCEDURAL_DEFAULTS };
  for (const [key, value] of Object.entries(overrides)) {
    if (!(key in RANGES)) {
      throw new UserError(`procedural: unknown option '${key}' (allowed: ${Object.keys(RANGES).join(', ')})`);
    }
    const k = key as keyof ProceduralOptions;
    const [lo, hi, integer] = RANGES[k];
    const ok = typeof value === 'number' && value >= lo && value <= hi && (!integer || Number.isInteger(value));
    if (!ok || (k === 'channels' && value === 2)) {
      const allowed = k === 'channels' ? '1 or 3' : `${integer ? 'an integer' : 'a number'} in [${lo}, ${hi}]`;
      throw new UserError(`procedural: option '${key}' is ${String(value)}, expected ${allowed}`);
    }
    opts[k] = value as number;
  }
  return opts;
}

/** Generate the procedural dataset; train and test come from independent streams of `seed`. */
export function makeProcedural(seed: number, overrides: Partial<ProceduralOptions> = {}): Dataset {
  const o = resolveProceduralOptions(overrides);
  const train = makeSplit(o, o.train, rng(seed, 'procedural', 'train'));
  const test = makeSplit(o, o.test, rng(seed, 'procedural', 'test'));
  const { mean, std } = channelStats(train, o.channels);
  return {
    name: 'procedural',
    classNames: PROCEDURAL_CLASSES.slice(0, o.classes),
    channels: o.channels,
    height: o.size,
    width: o.size,
    train,
    test,
    source: '(generated)',
    mean,
    std,
  };
}

/** Draw `count` balanced, shuffled samples. Output images: (count, C, size, size). */
function makeSplit(o: ProceduralOptions, count: number, r: Rng): Split {
  const plane = o.size * o.size;
  const images = new Uint8Array(count * o.channels * plane);
  const labels = new Uint8Array(count);
  const order = permutation(count, r);
  const coverage = new Float32Array(plane); // (H*W) fraction of each pixel inside the shape
  for (let n = 0; n < count; n++) {
    const label = (order[n] as number) % o.classes;
    labels[n] = label;
    drawShape(coverage, o.size, label, r);
    for (let c = 0; c < o.channels; c++) {
      const bg = 0.3 * r.uniform();
      const fg = 0.55 + 0.45 * r.uniform();
      const out = images.subarray((n * o.channels + c) * plane, (n * o.channels + c + 1) * plane);
      for (let p = 0; p < plane; p++) {
        const a = coverage[p] as number;
        const v = bg + (fg - bg) * a + o.noise * r.normal();
        out[p] = Math.round(255 * Math.min(Math.max(v, 0), 1));
      }
    }
  }
  return { images, labels, count };
}

/** Supersampling factor per axis for anti-aliased edges. */
const SS = 2;

/** Fill `coverage` (size*size) with the fraction of each pixel covered by a random instance of `label`. */
function drawShape(coverage: Float32Array, size: number, label: number, r: Rng): void {
  const half = size * (0.22 + 0.2 * r.uniform()); // half-extent of the shape in pixels
  const cx = half * 0.8 + (size - 1.6 * half) * r.uniform();
  const cy = half * 0.8 + (size - 1.6 * half) * r.uniform();
  const angle = (r.uniform() - 0.5) * (Math.PI / 9); // +-10 degrees keeps orientations distinct
  const cos = Math.cos(angle);
  const sin = Math.sin(angle);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      let hits = 0;
      for (let sy = 0; sy < SS; sy++) {
        for (let sx = 0; sx < SS; sx++) {
          const dx = (x + (sx + 0.5) / SS - cx) / half;
          const dy = (y + (sy + 0.5) / SS - cy) / half;
          // Local coordinates of the shape, rotated by `angle`; the shape lives in [-1, 1]^2.
          if (inside(label, cos * dx + sin * dy, -sin * dx + cos * dy)) hits++;
        }
      }
      coverage[y * size + x] = hits / (SS * SS);
    }
  }
}

/** Whether local point (u, v) (v pointing down) lies inside the shape of class `label`. */
function inside(label: number, u: number, v: number): boolean {
  const au = Math.abs(u);
  const av = Math.abs(v);
  const box = Math.max(au, av);
  const radius = Math.hypot(u, v);
  switch (label) {
    case 0:
      return av < 0.25 && au < 1;
    case 1:
      return au < 0.25 && av < 1;
    case 2:
      return Math.abs(u + v) < 0.35 && Math.abs(u - v) < 1.4; // '/' in image coordinates
    case 3:
      return Math.abs(u - v) < 0.35 && Math.abs(u + v) < 1.4;
    case 4:
      return radius < 0.8;
    case 5:
      return radius > 0.55 && radius < 0.95;
    case 6:
      return box > 0.6 && box < 0.9;
    case 7:
      return (au < 0.2 && av < 0.9) || (av < 0.2 && au < 0.9);
    case 8:
      return box < 0.9 && (Math.floor((u + 0.9) / 0.45) + Math.floor((v + 0.9) / 0.45)) % 2 === 0;
    default:
      return v > -0.8 && v < 0.8 && au < ((v + 0.8) / 1.6) * 0.9; // triangle pointing up
  }
}
