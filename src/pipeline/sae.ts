/**
 * Stage `sae`: train the top-k SAE on the train-set features x and evaluate it on the test set —
 * reconstruction (MSE, FVU, L0, dead latents) and splice-back (src/steer/sweep.ts) — into
 * `<run>/sae/` with `metrics.json`.
 */
import { join } from 'node:path';
import type { Config } from '../config.js';
import { writeJsonAtomic } from '../io/atomic.js';
import { saeMetrics } from '../sae/metrics.js';
import { trainSae, type SaeTrainHooks } from '../sae/train.js';
import { loadFeatures } from '../steer/features.js';
import { spliceBack, type SpliceBackResult } from '../steer/sweep.js';

/** The `sae` stage's features folder, output folder, config and progress hooks. */
export interface SaeStageOptions {
  features: string;
  out: string;
  cfg: Config;
  resume: boolean;
  hooks?: Omit<SaeTrainHooks, 'dir' | 'resume' | 'extraConfig'>;
}

/** `<run>/sae/metrics.json`: test-set reconstruction and the splice-back against the unsteered model. */
export interface SaeStageMetrics extends SpliceBackResult {
  mse: number;
  fvu: number;
  l0: number;
  deadFraction: number;
  /** Dead fraction over the train set (latents that never fire on any train sample). */
  trainDeadFraction: number;
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
