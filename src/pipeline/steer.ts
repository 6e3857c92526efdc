/**
 * Stages `stats` and `steer` (DESIGN.md "Steering").
 * stats: SAE codes of the train features -> activation counts per class and global -> index sets S
 *   (per-class, global, random; predicted-class reuses the per-class sets) and their overlaps.
 * steer: for each strategy and alpha, Eq. 5 on the test features through the fast path; accuracy and
 *   final-layer head usage overall, per class and per head -> results.json + results.csv.
 * Legend: N images, B batch, D width, F latents, C classes, H heads, T tokens, Dh head dim.
 */
import * as tf from '@tensorflow/tfjs';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config.js';
import { UserError } from '../errors.js';
import { readJson, writeFileAtomic, writeJsonAtomic } from '../io/atomic.js';
import type { ViT } from '../model/vit.js';
import { loadStageViT } from '../run/layout.js';
import type { SparseAutoencoder } from '../sae/sae.js';
import { runFinalLayer, summariseFinalLayer, type FinalLayerRun, type RunSummary } from '../steer/fastpath_eval.js';
import { finalLayer } from '../steer/fastpath.js';
import { loadFeatures, type FeaturesManifest, type SplitFeatures } from '../steer/features.js';
import { resultsToCsv, topGainClasses, validateResults, type Strategy, type SteerResults, type Sweep } from '../steer/results.js';
import { saeBase, setMask, steerFromBase } from '../steer/steering.js';
import { activationCounter, classPairOverlaps, globalVsPerClass, indexSets, type IndexSets } from '../steer/stats.js';
import { loadTrainedSae } from './sae.js';

/** stats/stats.json */
export interface StatsFile {
  ks: number;
  classNames: string[];
  classSizes: number[];
  /** (F) train samples on which each latent is active. */
  global: number[];
  /** (C x F) the same per class. */
  perClass: number[][];
  meanActive: number[];
  sets: { perClass: number[][]; global: number[]; random: number[] };
  overlap: { globalVsPerClass: number; classPairs: number[][] };
}

/** SAE codes of the train features, counted per class; index sets of size ks and their overlaps. */
export function statsStage(o: { features: string; sae: string; out: string; cfg: Config }): StatsFile {
  const { manifest, features } = loadFeatures(o.features, 'train');
  const sae = loadTrainedSae(o.sae, manifest.dim);
  try {
    const C = manifest.classNames.length;
    const F = sae.dSae;
    const ks = o.cfg.steer.ks ?? sae.k;
    if (ks > F) throw new UserError(`steer.ks = ${ks} exceeds the SAE's ${F} latents`);
    const counter = activationCounter(C, F);
    const D = manifest.dim;
    const bs = 4096;
    for (let start = 0; start < features.count; start += bs) {
      const B = Math.min(bs, features.count - start);
      const z = tf.tidy(() => sae.encode(tf.tensor2d(features.x.subarray(start * D, (start + B) * D), [B, D])));
      counter.add(z.dataSync() as Float32Array, features.labels.subarray(start, start + B));
      z.dispose();
    }
    const stats = counter.result();
    const sets = indexSets(stats, ks, o.cfg.seed);
    const file: StatsFile = {
      ks,
      classNames: manifest.classNames,
      classSizes: stats.classSizes,
      global: Array.from(stats.global),
      perClass: stats.perClass.map((c) => Array.from(c)),
      meanActive: Array.from(stats.meanActive),
      sets: { perClass: sets.perClass.map((s) => Array.from(s)), global: Array.from(sets.global), random: Array.from(sets.random) },
      overlap: { globalVsPerClass: globalVsPerClass(sets), classPairs: classPairOverlaps(sets) },
    };
    writeJsonAtomic(join(o.out, 'stats.json'), file);
    return file;
  } finally {
    sae.dispose();
  }
}

export function loadStats(dir: string): StatsFile {
  const path = join(dir, 'stats.json');
  if (!existsSync(path)) throw new UserError(`no latent statistics in ${dir}; run \`headsteer stats\` first`);
  return readJson(path, 'latent statistics') as StatsFile;
}

function toSets(s: StatsFile): IndexSets {
  return { perClass: s.sets.perClass.map((c) => Int32Array.from(c)), global: Int32Array.from(s.sets.global), random: Int32Array.from(s.sets.random) };
}

/** Which set each test row uses under a strategy: (N) group index into `groups`. */
function rowGroups(strategy: Strategy, f: SplitFeatures, sets: IndexSets): { groups: Int32Array[]; rows: Int32Array } {
  switch (strategy) {
    case 'per-class':
      return { groups: sets.perClass, rows: f.labels };
    case 'predicted-class':
      return { groups: sets.perClass, rows: f.predictions }; // no oracle label: the unsteered prediction
    case 'global':
      return { groups: [sets.global], rows: new Int32Array(f.count) };
    case 'random':
      return { groups: [sets.random], rows: new Int32Array(f.count) };
  }
}

export interface SteerStageOptions {
  features: string;
  sae: string;
  stats: string;
  out: string;
  cfg: Config;
  onProgress?: (done: number, total: number) => void;
}

/** Everything a steering evaluation needs, loaded once (the stage, or the explorer's server). */
export interface SteerContext {
  model: ViT;
  sae: SparseAutoencoder;
  features: SplitFeatures;
  manifest: FeaturesManifest;
  stats: StatsFile;
  sets: IndexSets;
  steer: Config['steer'];
  dispose(): void;
}

/** Load the pruned model, the SAE, the test features and the index sets of a run's stages. */
export function loadSteerContext(paths: { features: string; sae: string; stats: string }, steer: Config['steer']): SteerContext {
  const { manifest, features } = loadFeatures(paths.features, 'test');
  const sae = loadTrainedSae(paths.sae, manifest.dim);
  try {
    const stats = loadStats(paths.stats);
    if (stats.global.length !== sae.dSae) throw new UserError(`${join(paths.stats, 'stats.json')} counts ${stats.global.length} latents, but the SAE in ${paths.sae} has ${sae.dSae}; rerun \`headsteer stats\``);
    const { model } = loadStageViT(manifest.checkpoint);
    return { model, sae, features, manifest, stats, sets: toSets(stats), steer, dispose: () => { model.dispose(); sae.dispose(); } };
  } catch (e) {
    sae.dispose();
    throw e;
  }
}

/** One steering configuration. */
export interface SteerPoint {
  strategy: Strategy;
  alpha: number;
}

/**
 * Evaluate configurations on the whole test set through the fast path: per test image, the prediction
 * and the final-layer mask under each configuration. The SAE encoder runs once per batch for all of them.
 */
export function steerRuns(ctx: SteerContext, points: readonly SteerPoint[], onProgress?: (done: number, total: number) => void): FinalLayerRun[] {
  const { model, sae, features: f, manifest, steer: s } = ctx;
  const H = manifest.heads;
  const D = manifest.dim;
  const T = manifest.tokens;
  const Dh = D / H;
  const configs = points.map((p) => ({ ...p, ...rowGroups(p.strategy, f, ctx.sets) }));
  const runs = configs.map(() => ({ predictions: new Int32Array(f.count), masks: new Float32Array(f.count * H) }));
  const bs = s.batchSize;
  for (let start = 0; start < f.count; start += bs) {
    const B = Math.min(bs, f.count - start);
    tf.tidy(() => {
      const cls = tf.tensor2d(f.x.subarray(start * D, (start + B) * D), [B, D]);
      const kv = (a: Float32Array): tf.Tensor4D => tf.tensor4d(a.subarray(start * H * T * Dh, (start + B) * H * T * Dh), [B, H, T, Dh]);
      const cache = { cls, k: kv(f.k!), v: kv(f.v!) };
      const base = saeBase(sae, cls); // encoder once per batch, shared by every (strategy, alpha)
      const meanActive = tf.tensor1d(ctx.stats.meanActive);
      configs.forEach((c, i) => {
        tf.tidy(() => {
          const mask = tf.tensor2d(setMask(c.groups, c.rows.subarray(start, start + B), sae.dSae), [B, sae.dSae]);
          const xTilde = steerFromBase(sae, cls, base, mask, c.alpha, { mode: s.mode, keepError: s.keepError, meanActive });
          const r = finalLayer(model, cache, { gateInput: xTilde, ...(s.target === 'residual' ? { residual: xTilde } : {}) });
          runs[i]!.predictions.set(r.logits.argMax(1).dataSync() as Int32Array, start);
          runs[i]!.masks.set(r.mask.dataSync() as Float32Array, start * H);
        });
      });
    });
    onProgress?.(start + B, f.count);
  }
  return runs;
}

/** The sweep: every (strategy, alpha) on the whole test set through the fast path. */
export function steerStage(o: SteerStageOptions): SteerResults {
  const s = o.cfg.steer;
  if (!s.alphas.includes(0)) throw new UserError(`steer.alphas must include 0 (it reproduces the splice-back figures); got [${s.alphas.join(', ')}]`);
  const ctx = loadSteerContext(o, s);
  try {
    const { model, sae, features: f, manifest, stats } = ctx;
    const C = manifest.classNames.length;
    const H = manifest.heads;
    const points = s.strategies.flatMap((strategy) => s.alphas.map((alpha) => ({ strategy, alpha })));
    const runs = steerRuns(ctx, points, o.onProgress);
    const sweeps: Sweep[] = points.map((p, i) => sweepEntry(p.strategy, p.alpha, summariseFinalLayer(runs[i]!, f.labels, C, H), manifest.classNames));
    const baseline = summariseFinalLayer(runFinalLayer(model, f, s.batchSize, () => ({})), f.labels, C, H);
    const recon = summariseFinalLayer(runFinalLayer(model, f, s.batchSize, (x) => ({ gateInput: saeBase(sae, x).xHat })), f.labels, C, H);
    const gainAlpha = s.alphas.includes(1.2) ? 1.2 : Math.max(...s.alphas);
    const results: SteerResults = {
      baseline: { accuracy: baseline.accuracy, headUsage: baseline.headUsage, heads: baseline.heads },
      reconstruction: { accuracy: recon.accuracy, headUsage: recon.headUsage, heads: recon.heads },
      sweeps,
      overlap: stats.overlap,
      topGainClasses: s.strategies.includes('per-class') && gainAlpha > 0 ? topGainClasses(sweeps, gainAlpha) : [],
      topGainAlpha: gainAlpha,
      ks: stats.ks,
      options: { mode: s.mode, target: s.target, keepError: s.keepError },
    };
    validateResults(results, join(o.out, 'results.json'));
    writeJsonAtomic(join(o.out, 'results.json'), results);
    writeFileAtomic(join(o.out, 'results.csv'), resultsToCsv(results));
    return results;
  } finally {
    ctx.dispose();
  }
}

export function sweepEntry(strategy: Strategy, alpha: number, r: RunSummary, names: string[]): Sweep {
  return {
    strategy,
    alpha,
    accuracy: r.accuracy,
    headUsage: r.headUsage,
    heads: r.heads,
    perClass: r.perClass.map((c, k) => ({ class: k, name: names[k] ?? String(k), accuracy: c.accuracy, headUsage: c.headUsage, heads: c.heads })),
  };
}

