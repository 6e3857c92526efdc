/**
 * Stage `sae`: train the top-k SAE on the train-set features x and evaluate it on the test set —
 * reconstruction (MSE, FVU, L0, dead latents) and splice-back: accuracy and final-layer head usage when
 * x_hat replaces x at the final decision network, against the unsteered model (paper: -0.12 pt, +0.025).
 */
import { join } from 'node:path';
import type { Config } from '../config.js';
import { UserError } from '../errors.js';
import { writeJsonAtomic } from '../io/atomic.js';
import { loadStageViT } from '../run/layout.js';
import { loadSae, saveSae } from '../sae/checkpoint.js';
import { saeMetrics } from '../sae/metrics.js';
import type { SparseAutoencoder } from '../sae/sae.js';
import { trainSae, type SaeTrainHooks } from '../sae/train.js';
import { loadFeatures, type FeaturesManifest, type SplitFeatures } from '../steer/features.js';
import { runFinalLayer, summariseFinalLayer } from '../steer/fastpath_eval.js';

export interface SaeStageOptions {
  features: string;
  out: string;
  cfg: Config;
  resume: boolean;
  hooks?: Omit<SaeTrainHooks, 'dir' | 'resume' | 'extraConfig'>;
}

export interface SpliceBack {
  accuracy: number;
  headUsage: number;
  deltaAccuracy: number;
  deltaHeadUsage: number;
}

export interface SaeStageMetrics {
  mse: number;
  fvu: number;
  l0: number;
  deadFraction: number;
  /** Dead fraction over the train set (latents that never fire on any train sample). */
  trainDeadFraction: number;
  baseline: { accuracy: number; headUsage: number };
  spliceBack: SpliceBack;
}

/** Splice-back of `sae` on loaded test features (model from the manifest's checkpoint). */
export function spliceBack(sae: SparseAutoencoder, test: { manifest: FeaturesManifest; features: SplitFeatures }, batchSize: number): Pick<SaeStageMetrics, 'baseline' | 'spliceBack'> {
  const { manifest, features } = test;
  if (sae.dIn !== manifest.dim) throw new UserError(`the SAE reads d_in = ${sae.dIn}, but the features have d = ${manifest.dim}`);
  const { model } = loadStageViT(manifest.checkpoint);
  try {
    const C = manifest.classNames.length;
    const H = manifest.heads;
    const base = summariseFinalLayer(runFinalLayer(model, features, batchSize, () => ({})), features.labels, C, H);
    const rec = summariseFinalLayer(runFinalLayer(model, features, batchSize, (x) => ({ gateInput: sae.forward(x).xHat })), features.labels, C, H);
    return {
      baseline: { accuracy: base.accuracy, headUsage: base.headUsage },
      spliceBack: { accuracy: rec.accuracy, headUsage: rec.headUsage, deltaAccuracy: rec.accuracy - base.accuracy, deltaHeadUsage: rec.headUsage - base.headUsage },
    };
  } finally {
    model.dispose();
  }
}

/** Train (or resume) the SAE into `out`, then write `out/metrics.json`. */
export async function saeStage(o: SaeStageOptions): Promise<SaeStageMetrics> {
  const train = loadFeatures(o.features, 'train');
  const test = loadFeatures(o.features, 'test');
  const D = train.manifest.dim;
  const { sae } = await trainSae(train.features.x, D, o.cfg.sae, { ...o.hooks, dir: o.out, resume: o.resume, extraConfig: { features: o.features } });
  try {
    const trainStats = saeMetrics(sae, train.features.x);
    const t = saeMetrics(sae, test.features.x);
    const metrics: SaeStageMetrics = {
      mse: t.mse,
      fvu: t.fvu,
      l0: t.l0,
      deadFraction: t.deadFraction,
      trainDeadFraction: trainStats.deadFraction,
      ...spliceBack(sae, test, o.cfg.steer.batchSize),
    };
    writeJsonAtomic(join(o.out, 'metrics.json'), metrics);
    return metrics;
  } finally {
    sae.dispose();
  }
}

/** Load a trained SAE for later stages, checking it reads features of width `d`. */
export function loadTrainedSae(dir: string, d: number): SparseAutoencoder {
  const { sae, config } = loadSae(dir);
  if (config['complete'] !== true) {
    sae.dispose();
    throw new UserError(`${dir} holds an unfinished SAE; rerun \`headsteer sae --resume\``);
  }
  if (sae.dIn !== d) {
    sae.dispose();
    throw new UserError(`${join(dir, 'config.json')}: the SAE reads d_in = ${sae.dIn}, but the features have d = ${d}`);
  }
  return sae;
}

