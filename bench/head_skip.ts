/**
 * The `headSkip` bench item (docs/design.md "Engine", compute saved): the same ViT run dense (no gates),
 * masked (gates, every head computed and multiplied by its mask) and skipping (src/model/skip.ts), plus
 * the skipping layout with every head kept (the dense model through skip.ts), which separates what
 * skipping saves from what the layout alone changes.
 *
 * Masks: random-init weights, each gate's bias set so that every head is kept by 70% of a calibration
 * batch (the threshold at the 30th percentile of its logits). The gates decide per image, as a trained
 * gate does, and both gated paths pay for them; the patterns are more varied than a trained gate's.
 *
 * Batch 1: latency over many single images, the four paths interleaved image by image so that a drift in
 * machine speed hits them alike; median and p90. Batch 256: images per second, interleaved the same way.
 * Legend: B batch, H heads.
 */
import * as tf from '@tensorflow/tfjs';
import { flopsReport } from '../src/eval/flops.js';
import { createSkipCache, groupByPattern, skipForward, type SkipCache } from '../src/model/skip.js';
import { ViT } from '../src/model/vit.js';
import { rng } from '../src/random.js';
import type { BenchModel } from './models.js';

const KEEP = 0.7;
const PATHS = ['dense', 'masked', 'skip', 'skipAllHeads'] as const;
type Path = (typeof PATHS)[number];

export interface Latency {
  medianMs: number;
  p90Ms: number;
}

export interface HeadSkipResult {
  /** Mean fraction of heads kept over the batch-256 images, layers and heads. */
  usage: number;
  /** Distinct mask patterns per layer in one batch of 256. */
  patternsPerLayer: number[];
  /** Analytic FLOPs per image (eval/flops.ts) at the measured usage. */
  flops: { dense: number; pruned: number; savedFraction: number };
  batch1: Record<Path, Latency>;
  batch256: Record<Path, { imagesPerSec: number }>;
  /**
   * skip / dense time per image: the median over images (batch 1) or forwards (batch 256) of the ratio
   * of the two paths' times on the same input, run back to back (robust to the machine's drift).
   */
  ratios: { batch1: number; batch256: number };
}

function images(m: BenchModel, n: number, stream: string): tf.Tensor4D {
  const c = m.config;
  const data = rng(0, stream).fill(new Float32Array(n * c.inChans * c.imgSize * c.imgSize), 'normal');
  return tf.tensor4d(data, [n, c.inChans, c.imgSize, c.imgSize]);
}

/** The value at quantile q of a sorted copy of `v`. */
function quantile(v: ArrayLike<number>, q: number): number {
  const s = Float64Array.from(v).sort();
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
}

/**
 * Move each gate's threshold to the (1 - KEEP) quantile of its head's logits on `x`, layer by layer.
 * Layer 0's gate reads the CLS token before any block, the same for every image: there the threshold
 * keeps the first round(KEEP H) heads, as a trained gate's image-independent first layer does.
 */
function calibrateGates(model: ViT, x: tf.Tensor4D): void {
  const H = model.config.numHeads;
  model.blocks.forEach((block, l) => {
    const fc = block.gate?.fc;
    if (fc === undefined || fc.bias === null) return;
    tf.tidy(() => {
      const a = model.forward(x).gateLogits[l]!.dataSync(); // (B, H), with the layers before already calibrated
      const B = a.length / H;
      const column = (h: number): number[] => Array.from({ length: B }, (_, b) => a[b * H + h]!);
      const cut = Array.from({ length: H }, (_, h) => {
        const v = column(h);
        if (Math.max(...v) - Math.min(...v) > 1e-6) return quantile(v, 1 - KEEP);
        return v[0]! + (h < Math.round(KEEP * H) ? -1 : 1); // an image-independent logit: keep or drop the head
      });
      fc.bias!.assign(tf.sub(fc.bias!, tf.tensor1d(cut)));
    });
  });
}

/** One forward of `path` on x, read back to the host as a caller would. */
function runner(dense: ViT, gated: ViT, caches: { gated: SkipCache; dense: SkipCache }): (path: Path, x: tf.Tensor4D) => void {
  return (path, x) => {
    if (path === 'skip' || path === 'skipAllHeads') {
      const out = path === 'skip' ? skipForward(gated, x, caches.gated) : skipForward(dense, x, caches.dense);
      out.logits.dataSync();
      out.logits.dispose();
      return;
    }
    tf.tidy(() => {
      (path === 'dense' ? dense : gated).forward(x).logits.dataSync();
    });
  };
}

/** Median and p90 of `times`. */
function latency(times: number[]): Latency {
  const s = [...times].sort((a, b) => a - b);
  return { medianMs: s[Math.floor(s.length / 2)]!, p90Ms: s[Math.floor(0.9 * (s.length - 1))]! };
}

/** Median over i of a[i] / b[i]. */
function pairedRatio(a: number[], b: number[]): number {
  const r = a.map((t, i) => t / b[i]!).sort((p, q) => p - q);
  return r[Math.floor(r.length / 2)]!;
}

/** Measure `m`'s three paths: `singles` batch-1 images, `reps` batch-256 forwards per path. */
export function headSkip(m: BenchModel, singles: number, reps: number): HeadSkipResult {
  const c = m.config;
  const gated = new ViT(c, 0, 0);
  const dense = new ViT({ ...c, gatedLayers: [] }, 0); // the same weights: gate parameters draw from their own streams
  const big = images(m, 256, 'bench-skip-256');
  calibrateGates(gated, big);
  const caches = { gated: createSkipCache(gated), dense: createSkipCache(dense) };
  const run = runner(dense, gated, caches);

  const probe = skipForward(gated, big, caches.gated);
  probe.logits.dispose();
  const H = c.numHeads;
  const patternsPerLayer = probe.masks.map((mk) => groupByPattern(mk, 256, H).size);
  const perLayer = probe.masks.map((mk) => mk.reduce((s, v) => s + v, 0) / mk.length);
  const usage = perLayer.reduce((s, v) => s + v, 0) / perLayer.length;
  const f = flopsReport(c, perLayer, []);

  const one = images(m, singles, 'bench-skip-1');
  const single = (i: number): tf.Tensor4D => one.slice([i, 0, 0, 0], [1, -1, -1, -1]);
  const warm = Math.min(singles, 64); // every path sees the images once, so the skip caches hold their patterns
  for (let i = 0; i < warm; i++) for (const p of PATHS) tf.tidy(() => run(p, single(i)));
  const times = Object.fromEntries(PATHS.map((p) => [p, [] as number[]])) as Record<Path, number[]>;
  for (let i = 0; i < singles; i++) {
    const x = single(i);
    for (const p of PATHS) {
      const t = performance.now();
      run(p, x);
      times[p].push(performance.now() - t);
    }
    x.dispose();
  }
  const batchTimes = Object.fromEntries(PATHS.map((p) => [p, [] as number[]])) as Record<Path, number[]>;
  for (const p of PATHS) run(p, big);
  for (let r = 0; r < reps; r++) {
    for (const p of PATHS) {
      const t = performance.now();
      run(p, big);
      batchTimes[p].push(performance.now() - t);
    }
  }
  const batch1 = Object.fromEntries(PATHS.map((p) => [p, latency(times[p])])) as Record<Path, Latency>;
  const batch256 = Object.fromEntries(PATHS.map((p) => [p, { imagesPerSec: (256 * 1000) / latency(batchTimes[p]).medianMs }])) as Record<
    Path,
    { imagesPerSec: number }
  >;
  tf.dispose([big, one]);
  caches.gated.dispose();
  caches.dense.dispose();
  gated.dispose();
  dense.dispose();
  return {
    usage,
    patternsPerLayer,
    flops: { dense: f.dense, pruned: f.pruned, savedFraction: f.savedFraction },
    batch1,
    batch256,
    ratios: { batch1: pairedRatio(times.skip, times.dense), batch256: pairedRatio(batchTimes.skip, batchTimes.dense) },
  };
}
