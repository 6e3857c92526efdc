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
  /**
   * Peak Adam learning rate. Absent: scaled with F by `saeDims` (EleutherAI sparsify's heuristic), kept
   * although more lr buys FVU at this short budget, because it also buys dead latents (default run,
   * constant lr, AuxK with the 200k rule, test FVU / test dead: 1x 0.0243-0.0254 / 3.1-4.8% over seeds
   * 0-4, 1.5x 0.0200-0.0221 / 3.3-6.6% over seeds 0-4, 2x 0.0187 / 5.9%, 4x 0.0141 / 16.4%).
   */
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
  /**
   * AuxK loss on dead latents (Gao et al. 2024), kept on as their recipe. On the default run it neither
   * helps nor hurts (constant lr, 200k rule, seeds 0-4: test FVU within 0.0001 of no AuxK, dead
   * fraction within seed noise); with a rule shorter than ~2 epochs it raises the dead fraction (see
   * `deadSamples`), so it is a safety net for wider SAEs more than a gain here.
   */
  auxk: z.boolean().default(true),
  /** Weight of the AuxK loss relative to the reconstruction MSE; 1/32 as Gao et al. 2024. */
  auxkAlpha: z
    .number()
    .min(0)
    .default(1 / 32),
  /** Dead latents used by the AuxK loss. Absent: D / 2 (rounded down), from `saeDims`. */
  auxkK: z.number().int().min(1).optional(),
  /**
   * A latent that has not fired for this many training samples counts as dead (for AuxK). 200,000, about
   * 3.5 epochs of the default run (14 batches of 4096 per epoch): a latent that fires on a single
   * training sample per epoch can go almost 2 epochs between fires under reshuffling, so a shorter rule
   * hands rare-but-alive latents to AuxK (with 50,000 the number flagged climbs from ~4 to ~20 over the
   * run, vs ~4 without AuxK; those that end dead still have positive pre-activations, they lose the
   * top-k). Measured (constant lr, AuxK 1/32), test / train dead fraction over seeds 0-4: 50,000
   * (~0.9 epoch) 4.6-5.7% / 1.3-2.1%, more than without AuxK at all (2.2-4.3% / 0.1-0.8%); 200,000
   * 3.1-4.8% / 0.4-1.2%. Test FVU does not move (0.0242-0.0254 with either rule).
   */
  deadSamples: z.number().int().min(1).default(200_000),
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
