/**
 * One dashboard per SAE latent over the test set (docs/design.md "Latent dashboards", after SAE-Vis and
 * Neuronpedia's feature pages): how often it fires and how strongly, its firing rate per class and the
 * class it is most specific to, its top activating images and a random draw from those where it fires
 * (so that the top ones do not mislead), the index sets of stats.json holding it, and its gate effect
 * (gate_effect.ts) averaged over the images where it fires.
 *
 * One pass over the test features: per batch of rows the SAE encoding (steering.ts `saeBase`), the
 * (image, latent) pairs with z > 0 (k per image at most), and their gate effects, all pairs of a batch
 * in one steered batch.
 * Legend: N test images, B batch rows, P pairs, D width, F latents, C classes, H heads.
 */
import * as tf from '@tensorflow/tfjs';
import { permutation, rng } from '../random.js';
import { saeBase } from '../steer/steering.js';
import type { SteerContext } from '../steer/sweep.js';
import { round4, type LatentDashboard } from './file.js';
import { pairGateEffects } from './gate_effect.js';

/** Top activating images per dashboard (SAE-Vis shows a similar handful). */
export const TOP_IMAGES = 16;
/** Images drawn at random from those where the latent fires. */
export const RANDOM_IMAGES = 8;
/** Alpha of the gate effect: the latent's pre-activation doubled (Eq. 5). */
export const GATE_ALPHA = 1;
/** (image, latent) pairs per steered batch: bounds the (P, F) mask and pre-activation copies. */
const PAIRS_PER_BATCH = 2048;

/** The firing (image, latent) pairs of the whole test set, as columns: test row, latent, z. */
interface Pairs {
  rows: number[];
  latents: number[];
  values: number[];
}

/** Mean of `sum` (F x H row-major) row i over `n` -> (H), rounded. */
function meanRow(sum: Float64Array, i: number, H: number, n: number): number[] {
  return Array.from(sum.subarray(i * H, (i + 1) * H), (s) => round4(s / n));
}

/**
 * Every latent's dashboard on the test features of `ctx` (its model, SAE, stats and steering options);
 * `seed` keys the random draws.
 */
export function latentDashboards(ctx: SteerContext, seed: number, onProgress?: (done: number, total: number) => void): LatentDashboard[] {
  const { model, sae, features: f, manifest, stats, steer: s } = ctx;
  const F = sae.dSae;
  const D = manifest.dim;
  const H = manifest.heads;
  const C = manifest.classNames.length;
  const N = f.count;
  const options = { mode: s.mode, keepError: s.keepError, meanActive: Float32Array.from(stats.meanActive) };
  const pairs: Pairs = { rows: [], latents: [], values: [] };
  const logitSum = new Float64Array(F * H);
  const keepSum = new Float64Array(F * H);
  const linearSum = new Float64Array(F * H);
  const bs = Math.max(1, Math.floor(PAIRS_PER_BATCH / sae.k));
  for (let start = 0; start < N; start += bs) {
    const B = Math.min(bs, N - start);
    const x = tf.tensor2d(f.x.subarray(start * D, (start + B) * D), [B, D]);
    const base = saeBase(sae, x);
    const z = base.z.dataSync() as Float32Array; // (B, F)
    const rows: number[] = [];
    const latents: number[] = [];
    for (let r = 0; r < B; r++) {
      for (let i = 0; i < F; i++) {
        const v = z[r * F + i]!;
        if (v > 0) {
          rows.push(r);
          latents.push(i);
          pairs.rows.push(start + r);
          pairs.latents.push(i);
          pairs.values.push(v);
        }
      }
    }
    if (rows.length > 0) {
      const e = pairGateEffects(model, sae, { x, base }, { rows: Int32Array.from(rows), latents: Int32Array.from(latents) }, GATE_ALPHA, options);
      latents.forEach((i, p) => {
        for (let h = 0; h < H; h++) {
          logitSum[i * H + h]! += e.logit[p * H + h]!;
          keepSum[i * H + h]! += e.keep[p * H + h]!;
          linearSum[i * H + h]! += e.linear[p * H + h]!;
        }
      });
    }
    tf.dispose([x, base.pre, base.z, base.xHat]);
    onProgress?.(start + B, N);
  }

  // Group the pairs by latent (counting sort, rows ascending within a latent).
  const fires = new Int32Array(F);
  for (const i of pairs.latents) fires[i]! += 1;
  const offset = new Int32Array(F + 1);
  for (let i = 0; i < F; i++) offset[i + 1] = offset[i]! + fires[i]!;
  const at = offset.slice(0, F);
  const byRow = new Int32Array(pairs.rows.length);
  const byValue = new Float32Array(pairs.rows.length);
  pairs.latents.forEach((i, p) => {
    byRow[at[i]!] = pairs.rows[p]!;
    byValue[at[i]!] = pairs.values[p]!;
    at[i]! += 1;
  });

  const classSizes = new Array<number>(C).fill(0);
  for (let n = 0; n < N; n++) classSizes[f.labels[n]!]! += 1;
  const { sets } = ctx;
  const inGlobal = new Set(sets.global);
  const inRandom = new Set(sets.random);
  return Array.from({ length: F }, (_, i): LatentDashboard => {
    const n = fires[i]!;
    const rowsOf = byRow.subarray(offset[i]!, offset[i + 1]!);
    const valuesOf = byValue.subarray(offset[i]!, offset[i + 1]!);
    const counts = new Array<number>(C).fill(0);
    let sum = 0;
    let max = 0;
    rowsOf.forEach((r, j) => {
      counts[f.labels[r]!]! += 1;
      sum += valuesOf[j]!;
      max = Math.max(max, valuesOf[j]!);
    });
    const rates = counts.map((c, k) => (classSizes[k]! > 0 ? c / classSizes[k]! : 0));
    const rateSum = rates.reduce((a, b) => a + b, 0);
    const topClass = n === 0 ? null : rates.indexOf(Math.max(...rates));
    // Most activating first; ties to the lower test index.
    const order = Array.from(rowsOf.keys()).sort((a, b) => valuesOf[b]! - valuesOf[a]! || rowsOf[a]! - rowsOf[b]!);
    const top = order.slice(0, TOP_IMAGES);
    const drawn = Array.from(permutation(n, rng(seed, 'latent-samples', i)).subarray(0, RANDOM_IMAGES));
    const logit = n === 0 ? [] : meanRow(logitSum, i, H, n);
    const keep = n === 0 ? [] : meanRow(keepSum, i, H, n);
    return {
      index: i,
      density: round4(n / N),
      fires: n,
      meanActive: n === 0 ? 0 : round4(sum / n),
      maxActive: round4(max),
      classRates: rates.map(round4),
      topClass,
      specificity: rateSum > 0 ? round4(Math.max(...rates) / rateSum) : 0,
      top: top.map((j) => rowsOf[j]!),
      topValues: top.map((j) => round4(valuesOf[j]!)),
      random: drawn.map((j) => rowsOf[j]!),
      randomValues: drawn.map((j) => round4(valuesOf[j]!)),
      gate:
        n === 0
          ? null
          : {
              logit,
              keep,
              linear: meanRow(linearSum, i, H, n),
              effect: round4(Math.hypot(...Array.from(logitSum.subarray(i * H, (i + 1) * H), (v) => v / n))),
              usage: round4(Array.from(keepSum.subarray(i * H, (i + 1) * H)).reduce((a, b) => a + b, 0) / (n * H)),
            },
      sets: {
        perClass: sets.perClass.flatMap((set, c) => (set.includes(i) ? [c] : [])),
        global: inGlobal.has(i),
        random: inRandom.has(i),
      },
    };
  });
}
