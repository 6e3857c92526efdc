/**
 * Configuration of SAE training (the `sae` stage): a zod schema whose strict objects name unknown
 * keys, frozen defaults, and the width-dependent values (k, lr, k_aux) resolved against the data.
 */
import { z } from 'zod';
import { UserError } from '../errors.js';
import { formatZodError } from '../model/config.js';

export const saeConfigSchema = z.strictObject({
  /** F = expansion * D latents (paper: 8, 384 -> 3072). @default 8 */
  expansion: z.number().int().min(1),
  /** Latents kept per sample. @default round(D / 6), i.e. 64 at D = 384 as the paper */
  k: z.number().int().min(1).optional(),
  /** Peak Adam learning rate. @default 2e-4 / sqrt(F / 2^14) (EleutherAI sparsify's heuristic) */
  lr: z.number().positive().optional(),
  /** Linear warmup, as a fraction of all steps. @default 0.05 */
  warmup: z.number().min(0).max(1),
  /** Cosine decay ends at this fraction of the peak lr. @default 0.1 */
  minLrRatio: z.number().min(0).max(1),
  /** Samples per step; clamped to the dataset size. @default 4096 */
  batchSize: z.number().int().min(1),
  /** Passes over the data. @default 50 */
  epochs: z.number().int().min(1),
  /** AuxK loss on dead latents (Gao et al. 2024). @default true */
  auxk: z.boolean(),
  /** Weight of the AuxK loss relative to the reconstruction MSE. @default 1/32 */
  auxkAlpha: z.number().min(0),
  /** Dead latents used by the AuxK loss. @default D / 2 (rounded down) */
  auxkK: z.number().int().min(1).optional(),
  /** A latent that has not fired for this many training samples counts as dead. @default 50000 */
  deadSamples: z.number().int().min(1),
  /** Weiszfeld iterations for the b_dec init (0 = the mean). @default 20 */
  medianIters: z.number().int().min(0),
  /** Seeds init and shuffling. @default 0 */
  seed: z.number().int().min(0),
});

export type SaeConfig = z.infer<typeof saeConfigSchema>;

export const SAE_DEFAULTS: Readonly<SaeConfig> = Object.freeze({
  expansion: 8,
  warmup: 0.05,
  minLrRatio: 0.1,
  batchSize: 4096,
  epochs: 50,
  auxk: true,
  auxkAlpha: 1 / 32,
  deadSamples: 50_000,
  medianIters: 20,
  seed: 0,
});

/** Validate a full SAE config; `where` names its origin in the error. */
export function parseSaeConfig(raw: unknown, where: string): SaeConfig {
  const r = saeConfigSchema.safeParse(raw);
  if (!r.success) throw new UserError(`${where}: ${formatZodError(r.error)}`);
  return r.data;
}

/** SAE_DEFAULTS overridden by `overrides` (unknown keys and bad values fail, naming the key). */
export function resolveSaeConfig(overrides: unknown = {}, where = 'sae config'): SaeConfig {
  if (typeof overrides !== 'object' || overrides === null || Array.isArray(overrides)) {
    throw new UserError(`${where}: expected an object of SAE settings, got ${JSON.stringify(overrides)}`);
  }
  return parseSaeConfig({ ...SAE_DEFAULTS, ...overrides }, where);
}

/** The config's values once the input width D is known. */
export interface SaeDims {
  dIn: number;
  dSae: number;
  k: number;
  kAux: number;
  lr: number;
}

/** Resolve the width-dependent defaults for input width `d`. */
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
