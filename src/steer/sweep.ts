/**
 * Steering evaluated on the test features through the fast path (docs/design.md "Steering"): the
 * splice-back of the SAE (x_hat for x at the final decision network; paper: -0.12 pt accuracy, +0.025
 * final-layer head usage) and the sweep of paper Eq. 5 over every (strategy, alpha), with accuracy and
 * final-layer head usage overall, per class and per head. `loadSteerContext` loads what a sweep needs
 * once, for the `steer` stage and for the explorer, which evaluates single points with `steerRuns`.
 * Legend: N test images, B batch, D width, F latents, C classes, H heads, T tokens, Dh head dim.
 */
import * as tf from '@tensorflow/tfjs';
import { copyInto } from '../engine/wasm_backend.js';
import { join } from 'node:path';
import { UserError } from '../errors.js';
import type { ViT } from '../model/vit.js';
import { loadStageViT } from '../run/layout.js';
import { loadTrainedSae } from '../sae/checkpoint.js';
import type { SparseAutoencoder } from '../sae/sae.js';
import type { SteerConfig } from './config.js';
import { clsHeadOutputs, finalLayer, type FinalLayerOptions } from './fastpath.js';
import { runFinalLayer, summariseFinalLayer, type FinalLayerRun, type RunSummary } from './fastpath_eval.js';
import { loadFeatures, type FeaturesManifest, type SplitFeatures } from './features.js';
import { topGainClasses, type SteerResults, type Sweep } from './results.js';
import { loadStats, type IndexSets, type StatsFile } from './stats.js';
import { maskBuffer, saeBase, setMask, steerFromBase, type SaeBase } from './steering.js';
import { PAPER_ALPHA, type Strategy } from './strategies.js';

/** Accuracy and final-layer head usage with x_hat in place of x, and their change from x. */
export interface SpliceBack {
  accuracy: number;
  headUsage: number;
  deltaAccuracy: number;
  deltaHeadUsage: number;
}

/** The unsteered model on x, and its splice-back. */
export interface SpliceBackResult {
  baseline: { accuracy: number; headUsage: number };
  spliceBack: SpliceBack;
}

/** Splice-back of `sae` on loaded test features (model from the manifest's checkpoint). */
export function spliceBack(sae: SparseAutoencoder, test: { manifest: FeaturesManifest; features: SplitFeatures }, batchSize: number): SpliceBackResult {
  const { manifest, features } = test;
  if (sae.dIn !== manifest.dim) throw new UserError(`the SAE reads d_in = ${sae.dIn}, but the features have d = ${manifest.dim}`);
  const { model } = loadStageViT(manifest.checkpoint);
  try {
    const C = manifest.classNames.length;
    const H = manifest.heads;
    const base = summariseFinalLayer(
      runFinalLayer(model, features, batchSize, () => ({})),
      features.labels,
      C,
      H,
    );
    const rec = summariseFinalLayer(
      runFinalLayer(model, features, batchSize, (x) => ({ gateInput: sae.forward(x).xHat })),
      features.labels,
      C,
      H,
    );
    return {
      baseline: { accuracy: base.accuracy, headUsage: base.headUsage },
      spliceBack: {
        accuracy: rec.accuracy,
        headUsage: rec.headUsage,
        deltaAccuracy: rec.accuracy - base.accuracy,
        deltaHeadUsage: rec.headUsage - base.headUsage,
      },
    };
  } finally {
    model.dispose();
  }
}

/** The index sets of a stats file as typed arrays. */
export function toSets(s: StatsFile): IndexSets {
  return { perClass: s.sets.perClass.map((c) => Int32Array.from(c)), global: Int32Array.from(s.sets.global), random: Int32Array.from(s.sets.random) };
}

/**
 * Which set each row uses under a strategy: (N) group index into `groups`. `f` gives the rows' true
 * labels and the unsteered model's predictions (N).
 */
export function rowGroups(
  strategy: Strategy,
  f: Pick<SplitFeatures, 'count' | 'labels' | 'predictions'>,
  sets: IndexSets,
): { groups: Int32Array[]; rows: Int32Array } {
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

/** Everything a steering evaluation needs, loaded once (the stage, or the explorer's server). */
export interface SteerContext {
  model: ViT;
  sae: SparseAutoencoder;
  features: SplitFeatures;
  manifest: FeaturesManifest;
  stats: StatsFile;
  sets: IndexSets;
  steer: SteerConfig;
  dispose(): void;
}

/** Load the pruned model, the SAE, the test features and the index sets of a run's stages. */
export function loadSteerContext(paths: { features: string; sae: string; stats: string }, steer: SteerConfig): SteerContext {
  const { manifest, features } = loadFeatures(paths.features, 'test');
  const finalLayer = manifest.depth - 1;
  const sae = loadTrainedSae(paths.sae, manifest.dim, { layer: finalLayer, finalLayer }); // the fast path steers the final layer only
  try {
    const stats = loadStats(paths.stats);
    if (stats.global.length !== sae.dSae)
      throw new UserError(
        `${join(paths.stats, 'stats.json')} counts ${stats.global.length} latents, but the SAE in ${paths.sae} has ${sae.dSae}; rerun \`headsteer stats --force\``,
      );
    const { model } = loadStageViT(manifest.checkpoint);
    return {
      model,
      sae,
      features,
      manifest,
      stats,
      sets: toSets(stats),
      steer,
      dispose: () => {
        model.dispose();
        sae.dispose();
      },
    };
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

/** One batch of test rows [start, start + size) as every configuration sees it. */
export interface ProbeBatch {
  /** The rows' final-block input CLS (B, D). */
  cls: tf.Tensor2D;
  /** The SAE's unsteered encoding of `cls`, computed once per batch for every configuration. */
  base: SaeBase;
  /** mu (F), the mean active value per latent (steering mode 'add'). */
  meanActive: tf.Tensor1D;
  start: number;
  size: number;
}

/**
 * A configuration of the final layer (a steering point, a threshold shift, an explicit mask): the
 * fast path's options for one batch, created in the batch's tf.tidy scope.
 */
export type Probe = (b: ProbeBatch) => FinalLayerOptions;

/** Paper Eq. 5 with index sets `groups`, row i using group rows[i] (N), at `alpha`. */
export function steeringProbe(ctx: SteerContext, p: { groups: Int32Array[]; rows: Int32Array; alpha: number }): Probe {
  const { sae, steer: s } = ctx;
  return (b) => {
    const rows = p.rows.subarray(b.start, b.start + b.size);
    const mask = tf.tensor2d(setMask(p.groups, rows, sae.dSae, maskBuffer(b.size * sae.dSae)), [b.size, sae.dSae]);
    const xTilde = steerFromBase(sae, b.cls, b.base, mask, p.alpha, { mode: s.mode, keepError: s.keepError, meanActive: b.meanActive });
    return { gateInput: xTilde, ...(s.target === 'residual' ? { residual: xTilde } : {}) };
  };
}

/** A sweep point as a probe: its strategy's index sets on every test row. */
export function pointProbe(ctx: SteerContext, point: SteerPoint): Probe {
  return steeringProbe(ctx, { ...rowGroups(point.strategy, ctx.features, ctx.sets), alpha: point.alpha });
}

/**
 * Evaluate configurations on the whole test set through the fast path: per test image, the prediction
 * and the final-layer mask under each configuration. The cached K/V and the SAE encoder are read once
 * per batch for all of them.
 */
export function probeRuns(ctx: SteerContext, probes: readonly Probe[], onProgress?: (done: number, total: number) => void): FinalLayerRun[] {
  const { model, sae, features: f, manifest, steer: s } = ctx;
  const H = manifest.heads;
  const D = manifest.dim;
  const T = manifest.tokens;
  const Dh = D / H;
  const runs = probes.map(() => ({ predictions: new Int32Array(f.count), masks: new Float32Array(f.count * H) }));
  const bs = s.batchSize;
  for (let start = 0; start < f.count; start += bs) {
    const B = Math.min(bs, f.count - start);
    tf.tidy(() => {
      const cls = tf.tensor2d(f.x.subarray(start * D, (start + B) * D), [B, D]);
      const kv = (a: Float32Array): tf.Tensor4D => tf.tensor4d(a.subarray(start * H * T * Dh, (start + B) * H * T * Dh), [B, H, T, Dh]);
      const k = kv(f.k!);
      const v = kv(f.v!);
      // Unless a probe replaces the CLS residual, only the mask differs between probes: attend once.
      const cache = { cls, k, v, ...(s.target === 'residual' ? {} : { heads: clsHeadOutputs(model, cls, k, v) }) };
      const batch: ProbeBatch = { cls, base: saeBase(sae, cls), meanActive: tf.tensor1d(ctx.stats.meanActive), start, size: B };
      probes.forEach((probe, i) => {
        tf.tidy(() => {
          const r = finalLayer(model, cache, probe(batch));
          runs[i]!.predictions.set(r.logits.argMax(1).dataSync() as Int32Array, start);
          copyInto(r.mask, runs[i]!.masks, start * H);
        });
      });
    });
    onProgress?.(start + B, f.count);
  }
  return runs;
}

/** `probeRuns` of steering points. */
export function steerRuns(ctx: SteerContext, points: readonly SteerPoint[], onProgress?: (done: number, total: number) => void): FinalLayerRun[] {
  return probeRuns(
    ctx,
    points.map((p) => pointProbe(ctx, p)),
    onProgress,
  );
}

/** The sweep's points: every (strategy, alpha) of `s`, strategy by strategy. */
export function sweepPoints(s: SteerConfig): SteerPoint[] {
  return s.strategies.flatMap((strategy) => s.alphas.map((alpha) => ({ strategy, alpha })));
}

/**
 * The sweep's results from the runs of its points (`sweepPoints`, in order; `steerRuns`), next to the
 * unsteered model and the plain SAE reconstruction; the top-gain classes at the paper's alpha when the
 * grid has it (else its largest alpha).
 */
export function sweepResults(ctx: SteerContext, points: readonly SteerPoint[], runs: readonly FinalLayerRun[]): { results: SteerResults; gainAlpha: number } {
  const { model, sae, features: f, manifest, stats, steer: s } = ctx;
  const C = manifest.classNames.length;
  const H = manifest.heads;
  const sweeps: Sweep[] = points.map((p, i) => sweepEntry(p.strategy, p.alpha, summariseFinalLayer(runs[i]!, f.labels, C, H), manifest.classNames));
  const baseline = summariseFinalLayer(
    runFinalLayer(model, f, s.batchSize, () => ({})),
    f.labels,
    C,
    H,
  );
  const recon = summariseFinalLayer(
    runFinalLayer(model, f, s.batchSize, (x) => ({ gateInput: saeBase(sae, x).xHat })),
    f.labels,
    C,
    H,
  );
  const gainAlpha = s.alphas.includes(PAPER_ALPHA) ? PAPER_ALPHA : Math.max(...s.alphas);
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
  return { results, gainAlpha };
}

/** One sweep entry of results.json from a run's summary; `names` (C) are the class names. */
function sweepEntry(strategy: Strategy, alpha: number, r: RunSummary, names: string[]): Sweep {
  return {
    strategy,
    alpha,
    accuracy: r.accuracy,
    headUsage: r.headUsage,
    heads: r.heads,
    perClass: r.perClass.map((c, k) => ({ class: k, name: names[k] ?? String(k), accuracy: c.accuracy, headUsage: c.headUsage, heads: c.heads })),
  };
}
