/**
 * Stages `stats` and `steer` (docs/design.md "Steering"); the compute is src/steer/stats.ts and
 * src/steer/sweep.ts.
 * stats: SAE codes of the train features -> activation counts per class and global -> index sets S
 *   (per-class, global, random; predicted-class reuses the per-class sets) and their overlaps
 *   -> `<run>/stats/stats.json`.
 * steer: for each strategy and alpha, Eq. 5 on the test features through the fast path; accuracy and
 *   final-layer head usage overall, per class and per head; then the controls of that sweep
 *   (src/steer/controls.ts) -> `<run>/steer/results.json` + results.csv; with `steer.workers` > 1,
 *   replica processes share the probes of each (src/steer/shared.ts).
 */
import { join } from 'node:path';
import type { Config } from '../config.js';
import { UserError } from '../errors.js';
import { writeFileAtomic, writeJsonAtomic } from '../io/atomic.js';
import { loadTrainedSae } from '../sae/checkpoint.js';
import { loadFeaturesManifest, loadLayerFeatures } from '../steer/features.js';
import { resultsToCsv, validateResults, type SteerResults } from '../steer/results.js';
import { countLatentStats, type StatsFile } from '../steer/stats.js';
import { steerToTarget, type BudgetPoint } from '../steer/budget.js';
import { controlProbes, controlsFromRuns } from '../steer/controls.js';
import type { FinalLayerRun } from '../steer/fastpath_eval.js';
import { sharedProbeRuns, type ProbeSharing } from '../steer/shared.js';
import { loadSteerContext, pointProbe, probeRuns, sweepPoints, sweepResults, type Probe } from '../steer/sweep.js';
import { requireStageOut } from '../run/layout.js';
import { provenanceOf, writeProvenance } from '../run/provenance.js';
import { runInReplicas } from '../run/replicas.js';

/**
 * Count the SAE's latents on the train features of `layer` (default the final layer) into
 * `out/stats.json`; the SAE must have been trained on that layer.
 */
export function statsStage(o: { features: string; sae: string; out: string; cfg: Config; layer?: number }): StatsFile {
  requireStageOut(o.out, 'stats');
  const manifest = loadFeaturesManifest(o.features);
  const provenance = provenanceOf(o.out, { extract: o.features, sae: o.sae }, o.cfg);
  const finalLayer = manifest.depth - 1;
  const layer = o.layer ?? finalLayer;
  const train = loadLayerFeatures(o.features, 'train', layer);
  const sae = loadTrainedSae(o.sae, train.manifest.dim, { layer, finalLayer });
  try {
    const file = countLatentStats(sae, train, o.cfg);
    writeProvenance(o.out, provenance);
    writeJsonAtomic(join(o.out, 'stats.json'), file);
    return file;
  } finally {
    sae.dispose();
  }
}

/** What the sweep and its controls read: the stage's input folders and config, as plain data. */
export interface SteerSpec {
  features: string;
  sae: string;
  stats: string;
  cfg: Config;
}

/** The `steer` stage's input folders, output folder and config. */
export interface SteerStageOptions extends SteerSpec {
  out: string;
  /** The script steering replicas run (src/cli/steer_replica.ts); without it this process steers alone. */
  replicaEntry?: string;
  onProgress?: (done: number, total: number) => void;
}

/**
 * The sweep of `spec.cfg.steer` and its controls: in this process, or as one of the replicas that share
 * the probes of each (src/steer/shared.ts); every replica computes the same results.
 */
export async function steerResults(spec: SteerSpec, replica?: ProbeSharing, onProgress?: (done: number, total: number) => void): Promise<SteerResults> {
  const ctx = loadSteerContext(spec, spec.cfg.steer);
  try {
    const run = async (probes: readonly Probe[], progress: (done: number, total: number) => void): Promise<FinalLayerRun[]> =>
      replica === undefined ? probeRuns(ctx, probes, progress) : sharedProbeRuns(ctx, probes, replica, progress);
    // Progress: the sweep fills the first half of the bar, its controls the second.
    const half = (offset: number) => (done: number, total: number) => onProgress?.(offset + done / 2, total);
    const points = sweepPoints(ctx.steer);
    const runs = await run(
      points.map((p) => pointProbe(ctx, p)),
      half(0),
    );
    const { results, gainAlpha } = sweepResults(ctx, points, runs);
    const sweep = { sweeps: results.sweeps, runs, topGainClasses: results.topGainClasses, topGainAlpha: gainAlpha, ks: ctx.stats.ks };
    const seed = spec.cfg.seed;
    results.controls = controlsFromRuns(ctx, sweep, seed, await run(controlProbes(ctx, sweep, seed), half(ctx.features.count / 2)));
    return results;
  } finally {
    ctx.dispose();
  }
}

/**
 * The sweep of `cfg.steer` into `out/results.json` and `out/results.csv`, in `steer.workers` replica
 * processes when `replicaEntry` is given (the first one reports progress and returns the results).
 */
export async function steerStage(o: SteerStageOptions): Promise<SteerResults> {
  const s = o.cfg.steer;
  if (!s.alphas.includes(0)) throw new UserError(`steer.alphas must include 0 (it reproduces the splice-back figures); got [${s.alphas.join(', ')}]`);
  requireStageOut(o.out, 'steer');
  const provenance = provenanceOf(o.out, { extract: o.features, sae: o.sae, stats: o.stats }, o.cfg);
  const spec: SteerSpec = { features: o.features, sae: o.sae, stats: o.stats, cfg: o.cfg };
  const entry = s.workers > 1 ? o.replicaEntry : undefined;
  const results = entry === undefined ? await steerResults(spec, undefined, o.onProgress) : await steerInReplicas(entry, spec, s.workers, o.onProgress);
  validateResults(results, join(o.out, 'results.json'));
  writeProvenance(o.out, provenance);
  writeJsonAtomic(join(o.out, 'results.json'), results);
  writeFileAtomic(join(o.out, 'results.csv'), resultsToCsv(results));
  return results;
}

/** `steerResults` in `count` replica processes running `entry`; the first reports progress and returns the results. */
async function steerInReplicas(entry: string, spec: SteerSpec, count: number, onProgress?: (done: number, total: number) => void): Promise<SteerResults> {
  const hooks = { onProgress: (arg: [number, number]): void => onProgress?.(...arg) };
  const results = await runInReplicas<SteerSpec, SteerResults, 'onProgress'>(
    entry,
    spec,
    count,
    hooks,
    'interrupted before any result was written; rerun to steer',
  );
  return results[0]!;
}

/** `steer --target-usage`: every strategy of the config and the threshold shift, at one usage. */
export interface BudgetResult {
  target: number;
  /** The class matched, when one was given. */
  className?: string;
  /** Usage of the unsteered model on the same images. */
  unsteered: number;
  points: BudgetPoint[];
}

/** Each strategy of `cfg.steer` and the threshold shift at final-layer usage `targetUsage` (nothing written). */
export function targetStage(o: { features: string; sae: string; stats: string; cfg: Config; targetUsage: number; cls?: number }): BudgetResult {
  provenanceOf('.', { extract: o.features, sae: o.sae, stats: o.stats }); // refuses stale inputs
  const ctx = loadSteerContext(o, o.cfg.steer);
  try {
    const points = steerToTarget(ctx, [...o.cfg.steer.strategies, 'threshold'], o.targetUsage, o.cls === undefined ? {} : { cls: o.cls });
    const f = ctx.features;
    const H = ctx.manifest.heads;
    let kept = 0;
    let n = 0;
    for (let i = 0; i < f.count; i++) {
      if (o.cls !== undefined && f.labels[i] !== o.cls) continue;
      n += 1;
      for (let h = 0; h < H; h++) kept += f.finalMasks[i * H + h]!;
    }
    return {
      target: o.targetUsage,
      ...(o.cls === undefined ? {} : { className: ctx.manifest.classNames[o.cls] ?? String(o.cls) }),
      unsteered: kept / (n * H),
      points,
    };
  } finally {
    ctx.dispose();
  }
}
