/**
 * Stages `stats` and `steer` (docs/design.md "Steering"); the compute is src/steer/stats.ts and
 * src/steer/sweep.ts.
 * stats: SAE codes of the train features -> activation counts per class and global -> index sets S
 *   (per-class, global, random; predicted-class reuses the per-class sets) and their overlaps
 *   -> `<run>/stats/stats.json`.
 * steer: for each strategy and alpha, Eq. 5 on the test features through the fast path; accuracy and
 *   final-layer head usage overall, per class and per head; then the controls of that sweep
 *   (src/steer/controls.ts) -> `<run>/steer/results.json` + results.csv.
 */
import { join } from 'node:path';
import type { Config } from '../config.js';
import { UserError } from '../errors.js';
import { writeFileAtomic, writeJsonAtomic } from '../io/atomic.js';
import { loadTrainedSae } from '../sae/checkpoint.js';
import { loadFeatures } from '../steer/features.js';
import { resultsToCsv, validateResults, type SteerResults } from '../steer/results.js';
import { countLatentStats, type StatsFile } from '../steer/stats.js';
import { runControls } from '../steer/controls.js';
import { loadSteerContext, steerSweep } from '../steer/sweep.js';

/** Count the SAE's latents on the train features into `out/stats.json`. */
export function statsStage(o: { features: string; sae: string; out: string; cfg: Config }): StatsFile {
  const train = loadFeatures(o.features, 'train');
  const sae = loadTrainedSae(o.sae, train.manifest.dim);
  try {
    const file = countLatentStats(sae, train, o.cfg);
    writeJsonAtomic(join(o.out, 'stats.json'), file);
    return file;
  } finally {
    sae.dispose();
  }
}

/** The `steer` stage's input folders, output folder and config. */
export interface SteerStageOptions {
  features: string;
  sae: string;
  stats: string;
  out: string;
  cfg: Config;
  onProgress?: (done: number, total: number) => void;
}

/** The sweep of `cfg.steer` into `out/results.json` and `out/results.csv`. */
export function steerStage(o: SteerStageOptions): SteerResults {
  const s = o.cfg.steer;
  if (!s.alphas.includes(0)) throw new UserError(`steer.alphas must include 0 (it reproduces the splice-back figures); got [${s.alphas.join(', ')}]`);
  const ctx = loadSteerContext(o, s);
  try {
    // Progress: the sweep fills the first half of the bar, its controls the second.
    const half = (offset: number) => (done: number, total: number) => o.onProgress?.(offset + done / 2, total);
    const { results, runs, gainAlpha } = steerSweep(ctx, half(0));
    const sweep = { sweeps: results.sweeps, runs, topGainClasses: results.topGainClasses, topGainAlpha: gainAlpha, ks: ctx.stats.ks };
    results.controls = runControls(ctx, sweep, o.cfg.seed, half(ctx.features.count / 2));
    validateResults(results, join(o.out, 'results.json'));
    writeJsonAtomic(join(o.out, 'results.json'), results);
    writeFileAtomic(join(o.out, 'results.csv'), resultsToCsv(results));
    return results;
  } finally {
    ctx.dispose();
  }
}
