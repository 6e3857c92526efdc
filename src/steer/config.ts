/**
 * The `steer` section of the run config (docs/design.md "Steering" and "Controls"): the alpha grid, the
 * strategies and options of paper Eq. 5, the controls' grids and draws, and the layers to steer. Each
 * default lives on its field; src/config.ts composes this section into the run config.
 */
import { z } from 'zod';
import { layerSpecSchema } from './layers.js';
import { steerOptionsSchema } from './steering.js';
import { STRATEGIES } from './strategies.js';

/**
 * alpha = -1.0, -0.9, ..., 1.5 (26 values, 0 included exactly): the ranges of the paper's Figures 4
 * (suppress) and 2 (amplify) at steps of 0.1, which hold 0 (the splice-back point the steer stage
 * needs) and PAPER_ALPHA.
 */
const ALPHAS = Array.from({ length: 26 }, (_, i) => Math.round((i - 10) * 10) / 100);

/**
 * beta = -8 .. 8, dense near 0: shifts of the final gate's logits for the threshold baseline. Gate logits
 * of a pruned model sit within a few units of 0, so the ends drop or keep nearly every head, and 0 is the
 * reconstruction point that every steering sweep starts from.
 */
const BETAS = [-8, -6, -4, -3, -2, -1.5, -1, -0.75, -0.5, -0.25, 0, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 4, 6, 8];

export const steerSchema = z.strictObject({
  /** Amplification strengths alpha (paper Eq. 5; negative = suppress). */
  alphas: z.array(z.number().min(-1)).min(1).default(ALPHAS),
  /** Size k_s of each index set S. Absent: the SAE's k. */
  ks: z.number().int().min(1).optional(),
  /** Every strategy, so the figures compare them all. */
  strategies: z
    .array(z.enum(STRATEGIES))
    .min(1)
    .default(() => [...STRATEGIES]),
  /** Where alpha is applied; declared, with its default, beside the steering code (src/steer/steering.ts). */
  mode: steerOptionsSchema.shape.mode,
  /** 'gate': x~ feeds only the final decision network (the paper's setting); 'residual': x~ also replaces the CLS residual. */
  target: z.enum(['gate', 'residual']).default('gate'),
  /** Feed x + x~ - x_hat (keep the SAE's reconstruction error); declared beside the steering code too. */
  keepError: steerOptionsSchema.shape.keepError,
  batchSize: z.number().int().min(1).default(2000),
  /**
   * Processes that share the sweep and its controls (src/steer/shared.ts), each with single-threaded
   * OpenBLAS and every n-th probe; 1 steers in this process with multi-threaded OpenBLAS. 2 is 1.32x
   * faster on 2 cores alone (the default run's stage, 14.1 -> 10.7 s, same bytes), but each replica
   * holds about 0.5 GB: inside `run`, whose own process already holds 0.45 GB by then, the job's summed
   * RSS reached 1.43 GiB for 2 s saved of 5.7 min. So 1 by default; `steer --workers 2` when memory allows.
   */
  workers: z.number().int().min(1).max(16).default(1),
  /** Threshold-baseline shifts beta of the final gate's logits (docs/design.md, Controls); must hold 0. */
  betas: z
    .array(z.number())
    .min(1)
    .refine((b) => b.includes(0), { message: 'must include 0 (the reconstruction point the baseline starts from)' })
    .default(BETAS),
  /**
   * Random index sets per class drawn for the null of the top-gain classes (0 = no null). 100 puts the
   * null's 95th percentile between the 5th and 6th largest draw; it costs about one sweep's time.
   */
  nullDraws: z.number().int().min(0).default(100),
  /** Paired-bootstrap resamples for each class's confidence interval. */
  bootstrap: z.number().int().min(100).default(1000),
  /**
   * Where to steer (docs/design.md "Steering at every layer"): 'final', the paper's final layer only;
   * 'all' (every gated layer but layer 0, whose gate input is the same for every image) or explicit gated
   * layers add, per layer, its own features, SAE, statistics and a full-forward sweep (steer/layers.json). 'final' by default, as the paper, and because the other layers cost an SAE
   * each and full forwards of the test set.
   */
  layers: layerSpecSchema.default('final'),
  /**
   * alpha at every steered layer: the paper's two ends (suppress fully, amplify most) and 0, the
   * reconstruction point each change is measured from. Few, since each costs a full forward per layer.
   */
  layerAlphas: z
    .array(z.number().min(-1))
    .min(1)
    .refine((a) => a.includes(0), { message: "must include 0 (the layer's reconstruction point, the origin of every change)" })
    .default([-1, 0, 1.5]),
  /** Threshold shifts beta of each steered layer's gate, as steer.betas but few for the same reason; must hold 0. */
  layerBetas: z
    .array(z.number())
    .min(1)
    .refine((b) => b.includes(0), { message: "must include 0 (the layer's reconstruction point, the origin of every change)" })
    .default([-1, -0.5, 0, 0.5, 1]),
});

/** The validated `steer` section (every default filled in). */
export type SteerConfig = z.infer<typeof steerSchema>;
