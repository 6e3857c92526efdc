/**
 * Latent activation statistics on the train set and the index sets S of paper Eq. 5 (docs/design.md
 * "Steering"). A latent is active for a sample when z_i > 0. The `stats` stage's file `stats.json`
 * (`StatsFile`) is counted by `countLatentStats` and read back by `loadStats`.
 *
 * Strategies (paper "Steering dynamic pruning", plus one of ours):
 * - per-class: the k_s latents most often active within a class; a row uses its true label's set.
 * - global: the k_s latents most often active over all train samples; every row uses it.
 * - random: k_s distinct latents drawn from the stream `rng(seed, 'random-set')`; every row uses it.
 * - predicted-class: the per-class sets again, but a row uses the set of its unsteered predicted
 *   class (no oracle label, usable at inference). Nothing extra to compute here: pass the predictions
 *   instead of the labels as `rowGroup` to steering.ts `setMask`.
 *
 * Overlaps: |S_a ∩ S_b| / k_s; global vs per-class is its mean over classes (paper 0.1641), and
 * related classes share ~0.38 (paper Appendix, Figure 5).
 *
 * Legend: N train samples, B batch, D width, F latents, C classes.
 */
import * as tf from '@tensorflow/tfjs';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { SteerConfig } from './config.js';
import { UserError } from '../errors.js';
import { readJson } from '../io/atomic.js';
import { permutation, rng } from '../random.js';
import type { SparseAutoencoder } from '../sae/sae.js';
import type { FeaturesManifest, SplitFeatures } from './features.js';

/** Activation statistics of F latents over N train samples in C classes. */
export interface LatentStats {
  /** Samples seen. */
  n: number;
  /** (F) number of samples where latent i is active. */
  global: Float64Array;
  /** (C x F) the same, per true class. */
  perClass: Float64Array[];
  /** (C) samples per class. */
  classSizes: number[];
  /** (F) mean of z_i over the samples where it is active; 0 for a latent never active (mode 'add'). */
  meanActive: Float64Array;
}

/** Accumulates `LatentStats` batch by batch. */
export interface ActivationCounter {
  /** Adds a batch: z (B,F) row-major, labels (B) in 0..C-1. */
  add(z: Float32Array, labels: ArrayLike<number>): void;
  /** The statistics so far (copies; the counter can keep accumulating). */
  result(): LatentStats;
}

/** A fresh counter for C classes and F latents. */
export function activationCounter(c: number, f: number): ActivationCounter {
  for (const [key, v] of Object.entries({ C: c, F: f })) {
    if (!Number.isInteger(v) || v < 1) throw new RangeError(`activationCounter: ${key} must be a positive integer, got ${v}`);
  }
  let n = 0;
  const global = new Float64Array(f);
  const perClass = Array.from({ length: c }, () => new Float64Array(f));
  const classSizes = new Array<number>(c).fill(0);
  const activeSum = new Float64Array(f); // sum of z_i over active samples
  return {
    add(z: Float32Array, labels: ArrayLike<number>): void {
      const b = labels.length;
      if (z.length !== b * f) throw new RangeError(`activationCounter: z has ${z.length} values, expected B*F = ${b}*${f} for ${b} labels`);
      for (let r = 0; r < b; r++) {
        const y = labels[r]!;
        const row = perClass[y];
        if (row === undefined || !Number.isInteger(y)) throw new RangeError(`activationCounter: label ${y} at row ${r}, expected an integer in 0..${c - 1}`);
        classSizes[y]! += 1;
        const off = r * f;
        for (let i = 0; i < f; i++) {
          const v = z[off + i]!;
          if (v > 0) {
            global[i]! += 1;
            row[i]! += 1;
            activeSum[i]! += v;
          }
        }
      }
      n += b;
    },
    result(): LatentStats {
      const meanActive = new Float64Array(f);
      for (let i = 0; i < f; i++) meanActive[i] = global[i]! > 0 ? activeSum[i]! / global[i]! : 0;
      return { n, global: global.slice(), perClass: perClass.map((r) => r.slice()), classSizes: [...classSizes], meanActive };
    },
  };
}

/** One batch for `activationCounts`: z (B,F) row-major and labels (B). */
export interface ActivationBatch {
  z: Float32Array;
  labels: ArrayLike<number>;
}

/** Statistics over all batches (an array, or a generator that encodes the train set chunk by chunk). */
export function activationCounts(batches: Iterable<ActivationBatch>, c: number, f: number): LatentStats {
  const counter = activationCounter(c, f);
  for (const { z, labels } of batches) counter.add(z, labels);
  return counter.result();
}

/**
 * The ks indices with the largest counts, most frequent first; ties go to the lower index, so the
 * result is deterministic. (If fewer than ks latents were ever active, never-active ones fill up the
 * set in index order.)
 */
export function topFrequent(counts: Float64Array, ks: number): Int32Array {
  if (!Number.isInteger(ks) || ks < 1 || ks > counts.length) throw new RangeError(`topFrequent: ks must be an integer in 1..${counts.length}, got ${ks}`);
  const order = Array.from({ length: counts.length }, (_, i) => i);
  order.sort((a, b) => counts[b]! - counts[a]! || a - b);
  return Int32Array.from(order.slice(0, ks));
}

/** The index sets S of each strategy, ks latents each. */
export interface IndexSets {
  /** (C) per-class sets, most frequent first. */
  perClass: Int32Array[];
  /** Global set, most frequent first. */
  global: Int32Array;
  /** Random set, in draw order. */
  random: Int32Array;
}

/** Index sets of size ks (docs/design.md default k_s = k) from train-set statistics; `seed` fixes the random set. */
export function indexSets(stats: LatentStats, ks: number, seed: number): IndexSets {
  const f = stats.global.length;
  return {
    perClass: stats.perClass.map((counts) => topFrequent(counts, ks)),
    global: topFrequent(stats.global, ks),
    random: Int32Array.from(permutation(f, rng(seed, 'random-set')).subarray(0, ks)),
  };
}

/** |a ∩ b| / ks (a and b hold distinct indices). */
export function overlap(a: ArrayLike<number>, b: ArrayLike<number>, ks: number): number {
  if (!(ks > 0)) throw new RangeError(`overlap: ks must be positive, got ${ks}`);
  const inA = new Set(Array.from(a));
  let shared = 0;
  for (let j = 0; j < b.length; j++) if (inA.has(b[j]!)) shared++;
  return shared / ks;
}

/** Mean over classes c of overlap(global, perClass[c]), with ks = |global| (paper: 0.1641). */
export function globalVsPerClass(sets: Pick<IndexSets, 'global' | 'perClass'>): number {
  if (sets.perClass.length === 0) throw new RangeError('globalVsPerClass: no per-class sets');
  const ks = sets.global.length;
  let s = 0;
  for (const pc of sets.perClass) s += overlap(sets.global, pc, ks);
  return s / sets.perClass.length;
}

/** (C x C) overlap(perClass[a], perClass[b]) with ks = |perClass[a]|; symmetric, 1 on the diagonal. */
export function classPairOverlaps(sets: Pick<IndexSets, 'perClass'>): number[][] {
  const pc = sets.perClass;
  const out = pc.map(() => new Array<number>(pc.length).fill(0));
  for (let a = 0; a < pc.length; a++) {
    for (let b = a; b < pc.length; b++) {
      const v = overlap(pc[a]!, pc[b]!, pc[a]!.length);
      out[a]![b] = v;
      out[b]![a] = v;
    }
  }
  return out;
}

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

/**
 * SAE codes of the train features x (N, D), counted per class; index sets of size k_s (`steer.ks`,
 * default the SAE's k) and their overlaps.
 */
export function countLatentStats(
  sae: SparseAutoencoder,
  train: { manifest: FeaturesManifest; features: SplitFeatures },
  cfg: { steer: Pick<SteerConfig, 'ks'>; seed: number },
): StatsFile {
  const { manifest, features } = train;
  const C = manifest.classNames.length;
  const F = sae.dSae;
  const ks = cfg.steer.ks ?? sae.k;
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
  const sets = indexSets(stats, ks, cfg.seed);
  return {
    ks,
    classNames: manifest.classNames,
    classSizes: stats.classSizes,
    global: Array.from(stats.global),
    perClass: stats.perClass.map((c) => Array.from(c)),
    meanActive: Array.from(stats.meanActive),
    sets: { perClass: sets.perClass.map((s) => Array.from(s)), global: Array.from(sets.global), random: Array.from(sets.random) },
    overlap: { globalVsPerClass: globalVsPerClass(sets), classPairs: classPairOverlaps(sets) },
  };
}

/** The `stats` stage's file in `dir`; UserError naming the verb when it is missing. */
export function loadStats(dir: string): StatsFile {
  const path = join(dir, 'stats.json');
  if (!existsSync(path)) throw new UserError(`no latent statistics in ${dir}; run \`headsteer stats\` first`);
  return readJson(path, 'latent statistics') as StatsFile;
}
