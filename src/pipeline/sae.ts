/**
 * Stage `sae`: train the top-k SAE on the train-set features of one layer — x, the final block's input
 * CLS, by default; with `layer`, that block's input CLS (docs/design.md "Steering at every layer") — and
 * evaluate it on the test set: reconstruction (MSE, FVU, L0, dead latents) and, at the final layer, the
 * splice-back (src/steer/sweep.ts), into the SAE folder with `metrics.json`. The layer is recorded in the
 * checkpoint's config.json, so a stage that uses the SAE can check it reads the layer it steers.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { type Config, configDiff } from '../config.js';
import { UserError } from '../errors.js';
import { writeJsonAtomic } from '../io/atomic.js';
import { hasTrainingState, requireReplaceable } from '../io/checkpoint.js';
import { STAGES } from '../run/layout.js';
import { provenanceOf, recordedProvenance, staleReason } from '../run/provenance.js';
import { saeMetrics } from '../sae/metrics.js';
import { trainSae, type SaeTrainHooks } from '../sae/train.js';
import { loadFeaturesManifest, loadLayerFeatures } from '../steer/features.js';
import { spliceBack, type SpliceBackResult } from '../steer/sweep.js';

/** The `sae` stage's features folder, output folder, config and progress hooks. */
export interface SaeStageOptions {
  features: string;
  out: string;
  cfg: Config;
  resume: boolean;
  /** Discard a finished or interrupted SAE in `out` and train anew. @default false */
  force?: boolean;
  /** The gated layer whose block-input CLS to train on; default the final layer. */
  layer?: number;
  hooks?: Omit<SaeTrainHooks, 'dir' | 'resume' | 'extraConfig'>;
}

/** Test-set reconstruction of an SAE on its layer's features. */
export interface SaeReconstruction {
  mse: number;
  fvu: number;
  l0: number;
  deadFraction: number;
  /** Dead fraction over the train set (latents that never fire on any train sample). */
  trainDeadFraction: number;
}

/**
 * `metrics.json`: the reconstruction and, at the final layer, the splice-back against the unsteered
 * model (at another layer that is the reconstruction point of steer/layers.json, a full forward).
 */
export interface SaeStageMetrics extends SaeReconstruction, Partial<SpliceBackResult> {}

/**
 * Fresh start or resume, as the ViT stages: a finished SAE is replaced only with `force`, an interrupted
 * one is continued only with `resume` and only with the config and features it started from.
 */
function plan(o: SaeStageOptions): void {
  requireReplaceable(o.out, 'sae');
  if (o.force === true) {
    rmSync(o.out, { recursive: true, force: true });
    return;
  }
  if (STAGES.sae.done(o.out)) throw new UserError(`${o.out} already holds a finished SAE; pass --force to train it again`);
  if (!o.resume) {
    if (hasTrainingState(o.out)) throw new UserError(`${o.out} holds an interrupted SAE training; pass --resume to continue it or --force to start over`);
    return;
  }
  const why = staleReason(o.out);
  if (why !== undefined) throw new UserError(`--resume: the interrupted ${o.out} is stale (${why}); pass --force to start over`);
  const saved = recordedProvenance(o.out)?.config?.['sae'];
  const d = saved === undefined ? undefined : configDiff(saved, o.cfg.sae, 'sae')[0];
  if (d !== undefined) {
    throw new UserError(
      `--resume continues ${o.out} with the config it started with, where ${d.key} is ${JSON.stringify(d.from)}, not ${JSON.stringify(d.to)}; drop the setting, or pass --force to start over with it`,
    );
  }
}

/** Train (or resume) the SAE into `out`, then write `out/metrics.json`. */
export async function saeStage(o: SaeStageOptions): Promise<SaeStageMetrics> {
  plan(o);
  const manifest = loadFeaturesManifest(o.features);
  const final = manifest.depth - 1;
  const layer = o.layer ?? final;
  const train = loadLayerFeatures(o.features, 'train', layer);
  const test = loadLayerFeatures(o.features, 'test', layer);
  const D = train.manifest.dim;
  const provenance = provenanceOf(o.out, { extract: o.features }, o.cfg);
  const extraConfig = { features: o.features, layer, provenance };
  const { sae } = await trainSae(train.features.x, D, o.cfg.sae, { ...o.hooks, dir: o.out, resume: o.resume, extraConfig });
  try {
    const trainStats = saeMetrics(sae, train.features.x);
    const t = saeMetrics(sae, test.features.x);
    const metrics: SaeStageMetrics = {
      mse: t.mse,
      fvu: t.fvu,
      l0: t.l0,
      deadFraction: t.deadFraction,
      trainDeadFraction: trainStats.deadFraction,
      ...(layer === final ? spliceBack(sae, test, o.cfg.steer.batchSize) : {}),
    };
    writeJsonAtomic(join(o.out, 'metrics.json'), metrics);
    return metrics;
  } finally {
    sae.dispose();
  }
}
