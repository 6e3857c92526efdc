/**
 * Configuration of SAE training (the `sae` stage): a zod schema whose strict objects name unknown
 * keys and whose fields carry their defaults, and the width-dependent values (k, lr, k_aux) resolved
 * against the data by `saeDims`.
 */
import { z } from 'zod';
import { UserError } from '../errors.js';
import { formatZodError } from '../model/config.js';

export const saeConfigSchema = z.strictObject({
  /** F = expansion * D latents; 8 as the paper (384 -> 3072). */
  expansion: z.number().int().min(1).default(8),
  /** Latents kept per sample. Absent: derived from D by `saeDims` (64 at D = 384, as the paper). */
  k: z.number().int().min(1).optional(),
  /** Peak Adam learning rate. Absent: scaled with F by `saeDims` (EleutherAI sparsify's heuristic). */
  lr: z.number().positive().optional(),
  /**
   * Linear warmup, as a fraction of all steps. 0: the default run is only ~700 steps (50 epochs of 14
   * batches), shorter than sparsify's 1000 warmup steps, and every warmup measured cost reconstruction
   * (Fashion-MNIST default run, constant lr, test FVU: no warmup 0.0245-0.0247, 1% 0.0255, 5%
   * 0.0274-0.0275).
   */
  warmup: z.number().min(0).max(1).default(0),
  /**
   * Cosine decay (after the warmup) ends at this fraction of the peak lr; 1 = constant lr. 1: at ~700
   * steps the SAE is far from converged (train FVU still falling ~1% per epoch at epoch 50), so decay
   * only removes progress: test FVU 0.0372 cosine to 0.1 vs 0.0275 constant (both with 5% warmup), and
   * 0.0372 / 0.0360 (seeds 0 / 1) for the former 5% warmup + cosine vs 0.0247 / 0.0245 constant without
   * warmup. What counts at this budget is the lr integral: cosine at 2x the lr (0.0276) ~ constant at
   * 1x (0.0275). sparsify's Adam path decays linearly to 0, but over runs of 10^4+ steps.
   */
  minLrRatio: z.number().min(0).max(1).default(1),
  /** Samples per step; clamped to the dataset size. */
  batchSize: z.number().int().min(1).default(4096),
  /** Passes over the data. */
  epochs: z.number().int().min(1).default(50),
  /** AuxK loss on dead latents (Gao et al. 2024), on because it revives latents that stop firing. */
  auxk: z.boolean().default(true),
  /** Weight of the AuxK loss relative to the reconstruction MSE; 1/32 as Gao et al. 2024. */
  auxkAlpha: z.number().min(0).default(1 / 32),
  /** Dead latents used by the AuxK loss. Absent: D / 2 (rounded down), from `saeDims`. */
  auxkK: z.number().int().min(1).optional(),
  /** A latent that has not fired for this many training samples counts as dead. */
  deadSamples: z.number().int().min(1).default(50_000),
  /** Weiszfeld iterations for the b_dec init (0 = the mean). */
  medianIters: z.number().int().min(0).default(20),
  /** Seeds init and shuffling. */
  seed: z.number().int().min(0).default(0),
});

/** A complete SAE config (every default filled in; k, lr and auxkK may stay width-dependent). */
export type SaeConfig = z.infer<typeof saeConfigSchema>;

/** The schema's defaults as one object, derived by parsing `{}` so they are declared only on the fields. */
export const SAE_DEFAULTS: Readonly<SaeConfig> = Object.freeze(saeConfigSchema.parse({}));

/** Validate an SAE config and fill in its defaults; `where` names its origin in the error. */
export function parseSaeConfig(raw: unknown, where: string): SaeConfig {
  const r = saeConfigSchema.safeParse(raw);
  if (!r.success) throw new UserError(`${where}: ${formatZodError(r.error)}`);
  return r.data;
}

/** The schema defaults overridden by `overrides` (unknown keys and bad values fail, naming the key). */
export function resolveSaeConfig(overrides: unknown = {}, where = 'sae config'): SaeConfig {
  if (typeof overrides !== 'object' || overrides === null || Array.isArray(overrides)) {
    throw new UserError(`${where}: expected an object of SAE settings, got ${JSON.stringify(overrides)}`);
  }
  return parseSaeConfig(overrides, where);
}

/** The config's values once the input width D is known. */
export interface SaeDims {
  dIn: number;
  dSae: number;
  k: number;
  kAux: number;
  lr: number;
}

/**
 * Resolve the width-dependent defaults for input width `d`: k = round(D / 6) (64 at D = 384, as the
 * paper), k_aux = D / 2 and lr = 2e-4 / sqrt(F / 2^14) (EleutherAI sparsify), each unless set.
 */
export function saeDims(cfg: SaeConfig, d: number): SaeDims {
  const dSae = cfg.expansion * d;
  const k = cfg.k ?? Math.max(1, Math.round(d / 6));
  if (k > dSae) throw new UserError(`sae config: k = ${k} exceeds the ${dSae} latents (expansion ${cfg.expansion} x d_in ${d})`);
  return {
    dIn: d,
    dSae,
    k,
    kAux: Math.min(dSae, cfg.auxkK ?? Math.max(1, Math.floor(d / 2))),
    lr: cfg.lr ?? 2e-4 / Math.sqrt(dSae / 2 ** 14),
  };
}
