/**
 * The run configuration: one typed section per pipeline stage, each default declared once on its schema
 * field (with why that value), named presets as the differences from those defaults, and one validation
 * that names the bad key and the allowed values. CLI overrides (`--set a.b=value`) are applied to a
 * preset before validation, so unknown keys fail the same way; parsing fills in every default.
 *
 * zod 4: `.default(v)` makes a key optional in the input and required in the output (`Config`); a
 * section uses `.prefault({})` instead, so an absent section is parsed as `{}` and gets its fields'
 * defaults (a `.default` object would be returned as given, unparsed).
 */
import { z } from 'zod';
import { UserError } from './errors.js';
import { DATASET_NAMES, DEFAULT_DATASET } from './data/registry.js';
import { formatZodError } from './model/config.js';
import { saeConfigSchema } from './sae/config.js';
import { layerSpecSchema } from './steer/layers.js';
import { steerOptionsSchema } from './steer/steering.js';
import { PAPER_ALPHA, STRATEGIES } from './steer/strategies.js';

const dataSchema = z.strictObject({
  /** Fashion-MNIST: 28x28 grayscale and 10 classes, so a ViT trains on 2 cores in minutes, yet harder than MNIST. */
  dataset: z.enum(DATASET_NAMES).default(DEFAULT_DATASET),
  /** Folder holding the dataset's files; overrides where it is looked for. */
  dataDir: z.string().optional(),
  /** Procedural set only: image side, channels, classes and split sizes. */
  procedural: z
    .strictObject({
      size: z.number().int().min(8),
      channels: z.number().int().min(1).max(3),
      classes: z.number().int().min(2).max(10),
      train: z.number().int().min(10),
      test: z.number().int().min(10),
    })
    .optional(),
  /**
   * Training-time augmentation: random crop with zero padding (pixels) and horizontal flip. Off unless a
   * preset asks for it (`paper` uses CIFAR's usual crop 4 and flip).
   */
  augment: z.strictObject({ crop: z.number().int().min(0).default(0), flip: z.boolean().default(false) }).prefault({}),
});

/** The default ViT is sized for 28x28 images on 2 cores: 16 patches of 7x7, 6 blocks of 6 heads of width 16. */
const modelSchema = z.strictObject({
  /** Input side fed to the ViT; images are resized (bilinear) when it differs from the dataset's. Absent: the dataset's side. */
  imgSize: z.number().int().min(1).optional(),
  /** 7 tiles a 28-pixel image into 4 x 4 patches. */
  patchSize: z.number().int().min(1).default(7),
  embedDim: z.number().int().min(1).default(96),
  depth: z.number().int().min(1).default(6),
  /** 6, as the paper's ViT-S, so the final layer's decision network gates as many heads as there. */
  numHeads: z.number().int().min(1).default(6),
  /** The standard ViT MLP width, 4 x embedDim. */
  mlpRatio: z.number().positive().default(4),
  /** As timm's ViTs, so their checkpoints load unchanged. */
  qkvBias: z.boolean().default(true),
});

const trainSchema = z.strictObject({
  /**
   * Passes over the training set. Measured on Fashion-MNIST (2 cores): 3 epochs reach 86.7% dense,
   * 6 reach 88.2% (~8 min).
   */
  epochs: z.number().positive().default(6),
  batchSize: z.number().int().min(1).default(128),
  /** Peak learning rate (AdamW). */
  lr: z.number().positive().default(2e-3),
  /** Final learning rate of the cosine decay, as a fraction of `lr`. */
  minLrRatio: z.number().min(0).max(1).default(0.01),
  /** Linear warmup, as a fraction of all steps. */
  warmup: z.number().min(0).max(1).default(0.05),
  weightDecay: z.number().min(0).default(0.01),
  /** Clip the global gradient norm to this value (0 = off). */
  clipNorm: z.number().min(0).default(1),
  labelSmoothing: z.number().min(0).max(1).default(0),
  /** Save a resumable checkpoint every this many steps (and at the end of each epoch). */
  checkpointEvery: z.number().int().min(1).default(200),
  /**
   * Data-parallel replica processes, each with an equal share of every batch (batchSize must divide)
   * and single-threaded OpenBLAS; 1 trains in this process with multi-threaded OpenBLAS.
   * 1 because, measured on 2 cores (default preset), 1 process with 2-thread OpenBLAS trains at 744 img/s
   * dense and 692 gated; 2 replicas at 840 and 673 (gradient exchange and core contention eat the gain).
   */
  workers: z.number().int().min(1).max(16).default(1),
});

/** Pruning fine-tunes the pretrained ViT with the same optimiser keys, plus the gates'. */
const pruneSchema = z.strictObject({
  ...trainSchema.shape,
  /** Measured on Fashion-MNIST (2 cores): 1.5 epochs keep 87.9% accuracy at usage 0.705 (~2.2 min). */
  epochs: trainSchema.shape.epochs.unwrap().default(1.5),
  /** Peak learning rate (AdamW): a quarter of pretraining's, as the weights are already trained. */
  lr: trainSchema.shape.lr.unwrap().default(5e-4),
  /** Target fraction of heads kept (AdaViT rho); 0.7 = 30% pruned as in the paper. */
  rho: z.number().min(0).max(1).default(0.7),
  /** Weight of the usage loss lambda * |mean(m) - rho|. */
  lambda: z.number().min(0).default(2),
  /** Gumbel-Sigmoid temperature (scales the straight-through gradient; the hard mask ignores it). */
  tau: z.number().positive().default(5),
  /**
   * Scale of the Gumbel noise at the end of pruning, reached linearly from 1. Below 1 the training masks
   * converge to the evaluation masks 1[a > 0]; with full noise the usage loss is met by logits near 0 that
   * the noise-free evaluation rounds up to "keep", so evaluation usage lands far above the target. 0 ends
   * on the evaluation masks themselves.
   */
  noiseEnd: z.number().min(0).max(1).default(0),
  /** Initial keep logit of every head (sigmoid(0.5) = 62% kept during early training). */
  gateBiasInit: z.number().default(0.5),
  /** Learning rate of the decision networks. */
  gateLr: z.number().positive().default(1e-2),
  /** 'all' or explicit layer indices that get a decision network. */
  gatedLayers: z.union([z.literal('all'), z.array(z.number().int().min(0))]).default('all'),
});

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

const steerSchema = z.strictObject({
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

export const configSchema = z.strictObject({
  /** Preset this config started from (informational; `resolveConfig` records it). */
  preset: z.string(),
  /** One seed for every preset: runs differ only when asked to. */
  seed: z.number().int().min(0).default(0),
  data: dataSchema.prefault({}),
  model: modelSchema.prefault({}),
  pretrain: trainSchema.prefault({}),
  prune: pruneSchema.prefault({}),
  eval: z.strictObject({ batchSize: z.number().int().min(1).default(500) }).prefault({}),
  /** Top-k SAE on the final block's input CLS token (src/sae/config.ts documents each key). */
  sae: saeConfigSchema.prefault({}),
  steer: steerSchema.prefault({}),
});

/** A complete, validated run config (every default filled in). */
export type Config = z.infer<typeof configSchema>;
/** What `parseConfig` accepts: a run config in which any key with a default may be left out. */
export type ConfigInput = z.input<typeof configSchema>;
export type TrainConfig = z.infer<typeof trainSchema>;
export type PruneConfig = z.infer<typeof pruneSchema>;
/** A preset: how it differs from the schema defaults (its name is recorded as `preset`). */
export type Preset = Omit<ConfigInput, 'preset'>;

/**
 * Named presets: `smoke` for tests (seconds), `default` (Fashion-MNIST: the schema defaults), `mnist`,
 * `paper` (ViT-S/16, CIFAR-100).
 */
export const PRESETS: Readonly<Record<string, Preset>> = Object.freeze({
  smoke: {
    data: { dataset: 'procedural', procedural: { size: 16, channels: 1, classes: 4, train: 2000, test: 256 } },
    model: { patchSize: 4, embedDim: 32, depth: 2, numHeads: 4, mlpRatio: 2 },
    pretrain: { epochs: 4, batchSize: 32, lr: 3e-3, checkpointEvery: 20 },
    prune: { epochs: 2, batchSize: 32, lr: 1e-3, checkpointEvery: 20 },
    eval: { batchSize: 128 },
    sae: { expansion: 4, epochs: 20, batchSize: 256, deadSamples: 5000 },
    // 0 and the report's headline alphas (SUPPRESS_ALPHA = -0.5 in src/report/figures_steer.ts, and the
    // paper's) on a grid small enough for a test.
    steer: { alphas: [-1, -0.5, 0, 0.5, 1, PAPER_ALPHA, 1.5], batchSize: 256, nullDraws: 20 },
  },
  default: {},
  mnist: { data: { dataset: 'mnist' } },
  paper: {
    data: { dataset: 'cifar100', augment: { crop: 4, flip: true } },
    // ViT-S/16 with the defaults' 6 heads, MLP ratio 4 and qkv bias.
    model: { imgSize: 224, patchSize: 16, embedDim: 384, depth: 12 },
    pretrain: { epochs: 10, batchSize: 64, lr: 1e-3, warmup: 0.1, weightDecay: 0.05 },
    prune: { epochs: 3, batchSize: 64, lr: 1e-4 },
    eval: { batchSize: 64 },
    sae: { epochs: 100 },
    steer: { batchSize: 500 },
  },
});

/** Validate a config and fill in its defaults; `where` names its origin (a preset, a file) in the error. */
export function parseConfig(raw: unknown, where: string): Config {
  const r = configSchema.safeParse(raw);
  if (!r.success) throw new UserError(`${where}: ${formatZodError(r.error)}`);
  return r.data;
}

/** A preset by name, with `key.path=value` overrides applied (values parsed as JSON, else kept as strings). */
export function resolveConfig(preset: string, overrides: readonly string[] = []): Config {
  const base = PRESETS[preset];
  if (base === undefined) {
    throw new UserError(`unknown preset '${preset}' (allowed: ${Object.keys(PRESETS).join(', ')})`);
  }
  return applyOverrides({ ...base, preset }, overrides, `preset '${preset}'`);
}

/** Apply `a.b.c=value` overrides to a config (full, or a preset's keys) and validate the result. */
export function applyOverrides(base: ConfigInput, overrides: readonly string[], where: string): Config {
  const cfg = structuredClone(base) as unknown as Record<string, unknown>;
  for (const o of overrides) {
    const eq = o.indexOf('=');
    if (eq <= 0) throw new UserError(`override '${o}' is not of the form key.path=value (e.g. pretrain.epochs=2)`);
    const path = o.slice(0, eq).split('.');
    const value = parseValue(o.slice(eq + 1));
    let node: Record<string, unknown> = cfg;
    for (let i = 0; i < path.length - 1; i++) {
      const key = path[i]!;
      const next = node[key];
      if (next === undefined) node[key] = {};
      else if (typeof next !== 'object' || next === null || Array.isArray(next)) {
        throw new UserError(`override '${o}': '${path.slice(0, i + 1).join('.')}' is not a section`);
      }
      node = node[key] as Record<string, unknown>;
    }
    node[path[path.length - 1]!] = value;
  }
  return parseConfig(cfg, `${where} with overrides`);
}

function parseValue(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}
