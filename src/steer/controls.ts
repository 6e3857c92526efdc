/**
 * The controls of a steering sweep (docs/design.md, Controls), computed through the same fast path as
 * the sweep itself, in one pass over the test batches:
 *   - threshold: the final gate's logits of x_hat shifted by beta, for every beta of `steer.betas`
 *     (beta = 0 is the reconstruction point, bit for bit). Shifting only the rows of class c changes
 *     only class c's rows, so each threshold point's per-class rows are the per-class-threshold sweep;
 *   - random policy at matched usage: for every sweep point, final-layer masks drawn per head at that
 *     point's per-head usage (per class for the class strategies, whose usage differs by class);
 *   - the null of the top-gain classes: per-class steering at the top-gain alpha with a random index set
 *     per class, `steer.nullDraws` times, and the rank-wise 95th percentiles of the largest gains;
 *   - per class, the paired-bootstrap interval of the change under per-class steering (alpha vs 0).
 * Legend: N test images, C classes, H heads, F latents.
 */
import * as tf from '@tensorflow/tfjs';
import { rng } from '../random.js';
import { imageOutcomes, pairedBootstrap } from './bootstrap.js';
import type { FinalLayerRun, RunSummary } from './fastpath_eval.js';
import { summariseFinalLayer } from './fastpath_eval.js';
import { beatsNull, largestGains, randomClassSets, topGainNull } from './null.js';
import { maskBatch, randomPolicyMasks, randomPolicyMasksByClass } from './random_policy.js';
import type { ClassDelta, Controls, Sweep, TopGainClass } from './results.js';
import { steeringProbe, type Probe, type SteerContext } from './sweep.js';

/** The threshold baseline's configuration: x_hat at the final gate, its logits shifted by beta. */
export function thresholdProbe(beta: number): Probe {
  return (b) => ({ gateInput: b.base.xHat, gateShift: tf.scalar(beta) });
}

/** An explicit final-layer mask per image, masks (N, H): the random policy. */
export function maskProbe(masks: Float32Array, H: number): Probe {
  return (b) => ({ mask: maskBatch(masks, H, b.start, b.size) });
}

/** Random-policy masks (N, H) at the per-head usage of a sweep point; per class for the class strategies. */
function matchedMasks(ctx: SteerContext, sweep: Sweep, seed: number, index: number): Float32Array {
  const r = rng(seed, 'matched-random-policy', index);
  if (sweep.strategy === 'per-class' || sweep.strategy === 'predicted-class') {
    return randomPolicyMasksByClass(
      ctx.features.labels,
      sweep.perClass.map((c) => c.heads),
      r,
    );
  }
  return randomPolicyMasks(ctx.features.count, sweep.heads ?? [], r);
}

/** What the controls (`controlProbes`, `controlsFromRuns`) need from the sweep they control. */
export interface SweepForControls {
  sweeps: readonly Sweep[];
  /** The runs of the sweep's points, in the order of `sweeps`. */
  runs: readonly FinalLayerRun[];
  /** The top-gain classes (empty when the sweep has no per-class points at a positive alpha). */
  topGainClasses: readonly TopGainClass[];
  topGainAlpha: number;
  /** k_s of the index sets. */
  ks: number;
}

/** What the controls of a finished sweep evaluate: sorted betas, and whether the top-gain null is drawn. */
function controlPlan(ctx: SteerContext, sweep: SweepForControls): { betas: number[]; before: number; after: number; withNull: boolean } {
  const s = ctx.steer;
  const perClassAt = (alpha: number): number => sweep.sweeps.findIndex((w) => w.strategy === 'per-class' && Math.abs(w.alpha - alpha) < 1e-9);
  const before = perClassAt(0);
  const after = perClassAt(sweep.topGainAlpha);
  const withNull = sweep.topGainClasses.length > 0 && before >= 0 && after >= 0 && s.nullDraws > 0;
  return { betas: [...s.betas].sort((a, b) => a - b), before, after, withNull };
}

/**
 * The controls' configurations for a finished sweep, to run through the fast path (`probeRuns`):
 * threshold points, the matched random policy of every sweep point, the top-gain null's draws. `seed`
 * is the run's; every draw comes from its own stream of it.
 */
export function controlProbes(ctx: SteerContext, sweep: SweepForControls, seed: number): Probe[] {
  const { features: f, manifest, sae, steer: s } = ctx;
  const C = manifest.classNames.length;
  const H = manifest.heads;
  const { betas, withNull } = controlPlan(ctx, sweep);
  return [
    ...betas.map(thresholdProbe),
    ...sweep.sweeps.map((w, i) => maskProbe(matchedMasks(ctx, w, seed, i), H)),
    ...(withNull
      ? Array.from({ length: s.nullDraws }, (_, d) =>
          steeringProbe(ctx, { groups: randomClassSets(sae.dSae, sweep.ks, C, rng(seed, 'null-sets', d)), rows: f.labels, alpha: sweep.topGainAlpha }),
        )
      : []),
  ];
}

/**
 * Threshold points, matched random policy, the top-gain null and per-class bootstrap intervals for a
 * finished sweep, from the runs of its `controlProbes` (same `seed`).
 */
export function controlsFromRuns(ctx: SteerContext, sweep: SweepForControls, seed: number, runs: readonly FinalLayerRun[]): Controls {
  const { features: f, manifest, steer: s } = ctx;
  const C = manifest.classNames.length;
  const H = manifest.heads;
  const summary = (run: FinalLayerRun): RunSummary => summariseFinalLayer(run, f.labels, C, H);
  const { betas, before, after, withNull } = controlPlan(ctx, sweep);
  const thresholdRuns = runs.slice(0, betas.length);
  const policyRuns = runs.slice(betas.length, betas.length + sweep.sweeps.length);
  const nullRuns = runs.slice(betas.length + sweep.sweeps.length);

  const threshold = thresholdRuns.map((run, i) => {
    const r = summary(run);
    return {
      beta: betas[i]!,
      accuracy: r.accuracy,
      headUsage: r.headUsage,
      heads: r.heads,
      perClass: r.perClass.map((c, k) => ({
        class: k,
        name: manifest.classNames[k] ?? String(k),
        accuracy: c.accuracy,
        headUsage: c.headUsage,
        heads: c.heads,
      })),
    };
  });
  const randomPolicy = policyRuns.map((run, i) => {
    const r = summary(run);
    return { strategy: sweep.sweeps[i]!.strategy, alpha: sweep.sweeps[i]!.alpha, accuracy: r.accuracy, headUsage: r.headUsage };
  });
  const controls: Controls = { threshold, randomPolicy, perClassDelta: [], classSizes: summary(runs[0]!).perClass.map((c) => c.count) };
  if (!withNull) return controls;

  // The null: each draw's per-class gains against per-class steering at alpha = 0.
  const base = sweep.sweeps[before]!.perClass.map((c) => c.accuracy);
  const top = Math.min(sweep.topGainClasses.length, C);
  const nullDist = topGainNull(
    nullRuns.map((run) => Float64Array.from(summary(run).perClass, (c, k) => c.accuracy - base[k]!)),
    top,
  );
  const observed = largestGains(
    sweep.topGainClasses.map((t) => t.gain),
    top,
  );
  controls.topGainNull = {
    alpha: sweep.topGainAlpha,
    draws: s.nullDraws,
    ks: sweep.ks,
    p95: Array.from(nullDist.p95),
    beats: beatsNull(observed, nullDist.p95),
  };
  controls.perClassDelta = Array.from({ length: C }, (_, c): ClassDelta => {
    const d = pairedBootstrap(imageOutcomes(sweep.runs[before]!, f.labels, H, c), imageOutcomes(sweep.runs[after]!, f.labels, H, c), {
      seed,
      stream: c,
      resamples: s.bootstrap,
    });
    return { class: c, deltaAccuracy: d.deltaAccuracy, deltaHeadUsage: d.deltaUsage, ci95: { accuracy: d.ci95.accuracy, headUsage: d.ci95.usage } };
  });
  return controls;
}
