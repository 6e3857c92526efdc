/**
 * The explorer's latent view (docs/design.md "Latent dashboards"): the dashboards of `<run>/latents/`
 * as a table to search and sort, one latent's dashboard with its images cut from the sprite sheet, and
 * that latent alone steered (paper Eq. 5 with S = {i}, every test row) through the fast path
 * (src/steer/sweep.ts `probeRuns`), against the same path at alpha = 0 (the SAE reconstruction, the
 * point the gate effects of latents.json are measured from), overall and on the images where it fires.
 * Legend: N test images, H final-layer heads, C classes, F SAE latents.
 */
import * as tf from '@tensorflow/tfjs';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../errors.js';
import { pngDataUrl } from '../io/png.js';
import { LATENTS_FILE, latentAt, loadLatents, type LatentDashboard, type LatentsFile } from '../latents/file.js';
import { readSprite, spriteTile, type DecodedSprite } from '../latents/sprite.js';
import { stageDir } from '../run/layout.js';
import { summariseFinalLayer, type FinalLayerRun } from '../steer/fastpath_eval.js';
import { probeRuns, steeringProbe, type SteerContext } from '../steer/sweep.js';

/** One row of the latent table. */
export interface LatentRow {
  index: number;
  density: number;
  specificity: number;
  topClass: number | null;
  /** ||mean gate-logit change|| at alpha 1 (0 for a latent that never fires). */
  effect: number;
  /** Change in final-layer usage on its images at alpha 1. */
  usage: number;
  /** Classes whose per-class set holds it. */
  perClass: number[];
  global: boolean;
  random: boolean;
}

/** `GET /api/latents`: the table, with what the page needs to label it. */
export interface LatentList {
  classNames: string[];
  heads: number;
  alpha: number;
  rows: LatentRow[];
}

/** A dashboard image: its test index, activation and a PNG. */
export interface LatentImage {
  index: number;
  value: number;
  label: number;
  png: string;
}

/** `GET /api/latent?i=`: latents.json's dashboard with its images. */
export interface LatentView {
  dashboard: LatentDashboard;
  classNames: string[];
  alpha: number;
  top: LatentImage[];
  random: LatentImage[];
}

/** Accuracy, final-layer usage and per-head keep rates (H) on a set of images. */
export interface LatentSummary {
  count: number;
  accuracy: number;
  headUsage: number;
  heads: number[];
}

/** One image before (alpha = 0) and after steering: prediction and kept heads (H, 0/1). */
export interface LatentSample {
  index: number;
  label: number;
  png: string;
  before: { prediction: number; heads: number[] };
  after: { prediction: number; heads: number[] };
}

/** `GET /api/latent-steer?i=&alpha=`: latent i alone at alpha vs alpha = 0. */
export interface LatentSteerView {
  latent: number;
  alpha: number;
  /** All test images. */
  all: { steered: LatentSummary; reference: LatentSummary };
  /** The images where the latent fires (unsteered). */
  firing: { steered: LatentSummary; reference: LatentSummary };
  /** Its top images, before and after. */
  samples: LatentSample[];
}

export interface LatentsData {
  list(): LatentList;
  view(i: number): LatentView;
  steer(i: number, alpha: number): LatentSteerView;
}

/** Steered runs kept at once ((N) predictions + (N, H) masks each). */
const CACHE_SIZE = 16;
/** Top images shown with predictions under steering. */
const STEER_SAMPLES = 8;

/** Whether the run has dashboards. */
export function hasLatents(run: string): boolean {
  return existsSync(join(stageDir(run, 'latents'), LATENTS_FILE));
}

/** The latent view of `run` on the explorer's steering context (its model, SAE and test features). */
export function openLatentsData(run: string, ctx: SteerContext): LatentsData {
  const { file, sprite } = loadLatents(stageDir(run, 'latents'));
  if (file.latents.length !== ctx.sae.dSae || file.testCount !== ctx.features.count)
    throw new UserError(`${join(stageDir(run, 'latents'), LATENTS_FILE)} does not match the run's SAE or test features; rerun \`headsteer latents --force\``);
  return build(file, readSprite(sprite, file.sprite), ctx);
}

function build(file: LatentsFile, sprite: DecodedSprite, ctx: SteerContext): LatentsData {
  const f = ctx.features;
  const H = ctx.manifest.heads;
  const C = ctx.manifest.classNames.length;
  const { channels, tileHeight, tileWidth } = file.sprite;
  const png = (index: number): string => {
    const tile = spriteTile(sprite, index);
    return tile === undefined ? '' : pngDataUrl(tile, channels, tileHeight, tileWidth);
  };
  const image = (index: number, value: number): LatentImage => ({ index, value, label: f.labels[index]!, png: png(index) });

  const runs = new Map<string, FinalLayerRun>();
  const runAt = (i: number, alpha: number): FinalLayerRun => {
    const key = alpha === 0 ? 'reference' : `${i}@${alpha}`; // alpha = 0 is the reconstruction whatever S is
    const hit = runs.get(key);
    if (hit !== undefined) return hit;
    const r = probeRuns(ctx, [steeringProbe(ctx, { groups: [Int32Array.of(i)], rows: new Int32Array(f.count), alpha })])[0]!;
    runs.set(key, r);
    if (runs.size > CACHE_SIZE) runs.delete([...runs.keys()].find((k) => k !== 'reference')!);
    return r;
  };
  const summary = (r: FinalLayerRun, rows: number[]): LatentSummary => {
    const sub: FinalLayerRun = { predictions: Int32Array.from(rows, (n) => r.predictions[n]!), masks: new Float32Array(rows.length * H) };
    rows.forEach((n, j) => {
      sub.masks.set(r.masks.subarray(n * H, (n + 1) * H), j * H);
    });
    const s = summariseFinalLayer(
      sub,
      Int32Array.from(rows, (n) => f.labels[n]!),
      C,
      H,
    );
    return {
      count: rows.length,
      accuracy: rows.length === 0 ? 0 : s.accuracy,
      headUsage: rows.length === 0 ? 0 : s.headUsage,
      heads: rows.length === 0 ? [] : s.heads,
    };
  };
  let firing: number[][] | undefined;
  /** The test rows where latent i fires, from the SAE codes (computed once, k entries per row). */
  const firingRows = (i: number): number[] => {
    firing ??= firingSets(ctx);
    return firing[i]!;
  };

  return {
    list: () => ({
      classNames: file.classNames,
      heads: file.heads,
      alpha: file.alpha,
      rows: file.latents.map((l) => ({
        index: l.index,
        density: l.density,
        specificity: l.specificity,
        topClass: l.topClass,
        effect: l.gate?.effect ?? 0,
        usage: l.gate?.usage ?? 0,
        perClass: l.sets.perClass,
        global: l.sets.global,
        random: l.sets.random,
      })),
    }),
    view(i) {
      const l = latentAt(file, i);
      return {
        dashboard: l,
        classNames: file.classNames,
        alpha: file.alpha,
        top: l.top.map((n, j) => image(n, l.topValues[j]!)),
        random: l.random.map((n, j) => image(n, l.randomValues[j]!)),
      };
    },
    steer(i, alpha) {
      const l = latentAt(file, i);
      const steered = runAt(i, alpha);
      const reference = runAt(i, 0);
      const all = [...Array(f.count).keys()];
      const fires = firingRows(i);
      const decision = (r: FinalLayerRun, n: number) => ({ prediction: r.predictions[n]!, heads: Array.from(r.masks.subarray(n * H, (n + 1) * H)) });
      return {
        latent: i,
        alpha,
        all: { steered: summary(steered, all), reference: summary(reference, all) },
        firing: { steered: summary(steered, fires), reference: summary(reference, fires) },
        samples: l.top
          .slice(0, STEER_SAMPLES)
          .map((n) => ({ index: n, label: f.labels[n]!, png: png(n), before: decision(reference, n), after: decision(steered, n) })),
      };
    },
  };
}

/** (F) the test rows where each latent fires (z > 0), ascending. */
function firingSets(ctx: SteerContext): number[][] {
  const { sae, features: f } = ctx;
  const D = ctx.manifest.dim;
  const F = sae.dSae;
  const out: number[][] = Array.from({ length: F }, () => []);
  const bs = 1024;
  for (let start = 0; start < f.count; start += bs) {
    const B = Math.min(bs, f.count - start);
    // Read outside the tidy: a typed array returned from tf.tidy is walked element by element (~0.3 s here).
    const zt = tf.tidy(() => sae.encode(tf.tensor2d(f.x.subarray(start * D, (start + B) * D), [B, D])));
    const z = zt.dataSync() as Float32Array; // (B, F)
    zt.dispose();
    for (let r = 0; r < B; r++) for (let i = 0; i < F; i++) if (z[r * F + i]! > 0) out[i]!.push(start + r);
  }
  return out;
}
