/**
 * The run configuration: one typed section per pipeline stage, named presets as plain records, and one
 * validation that names the bad key and the allowed values. CLI overrides (`--set a.b=value`) are
 * applied to a preset before validation, so unknown keys fail the same way.
 */
import { z } from 'zod';
import { UserError } from './errors.js';
import { DATASET_NAMES } from './data/registry.js';
import { formatZodError } from './model/config.js';
import { SAE_DEFAULTS, saeConfigSchema } from './sae/config.js';
import { STRATEGIES } from './steer/strategies.js';

const dataSchema = z.strictObject({
  /** @default 'fashion-mnist' */
  dataset: z.enum(DATASET_NAMES),
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
  /** Training-time augmentation: random crop with zero padding (pixels) and horizontal flip. */
  augment: z.strictObject({ crop: z.number().int().min(0), flip: z.boolean() }),
});

const modelSchema = z.strictObject({
  /** Input side fed to the ViT; images are resized (bilinear) when it differs from the dataset's. */
  imgSize: z.number().int().min(1).optional(),
  patchSize: z.number().int().min(1),
  embedDim: z.number().int().min(1),
  depth: z.number().int().min(1),
  numHeads: z.number().int().min(1),
  mlpRatio: z.number().positive(),
  qkvBias: z.boolean(),
});

const trainSchema = z.strictObject({
  epochs: z.number().positive(),
  batchSize: z.number().int().min(1),
  /** Peak learning rate (AdamW). */
  lr: z.number().positive(),
  /** Final learning rate of the cosine decay, as a fraction of `lr`. */
  minLrRatio: z.number().min(0).max(1),
  /** Linear warmup, as a fraction of all steps. */
  warmup: z.number().min(0).max(1),
  weightDecay: z.number().min(0),
  /** Clip the global gradient norm to this value (0 = off). */
  clipNorm: z.number().min(0),
  labelSmoothing: z.number().min(0).max(1),
  /** Save a resumable checkpoint every this many steps (and at the end of each epoch). */
  checkpointEvery: z.number().int().min(1),
  /**
   * Data-parallel replica processes, each with an equal share of every batch (batchSize must divide)
   * and single-threaded OpenBLAS; 1 trains in this process with multi-threaded OpenBLAS.
   */
  workers: z.number().int().min(1).max(16),
});

const pruneSchema = z.strictObject({
  ...trainSchema.shape,
  /** Target fraction of heads kept (AdaViT rho); 0.7 = 30% pruned as in the paper. */
  rho: z.number().min(0).max(1),
  /** Weight of the usage loss lambda * |mean(m) - rho|. */
  lambda: z.number().min(0),
  /** Gumbel-Sigmoid temperature (scales the straight-through gradient; the hard mask ignores it). */
  tau: z.number().positive(),
  /**
   * Scale of the Gumbel noise at the end of pruning, reached linearly from 1. Below 1 the training masks
   * converge to the evaluation masks 1[a > 0]; with full noise the usage loss is met by logits near 0 that
   * the noise-free evaluation rounds up to "keep", so evaluation usage lands far above the target.
   */
  noiseEnd: z.number().min(0).max(1),
  /** Initial keep logit of every head (sigmoid(0.5) = 62% kept during early training). */
  gateBiasInit: z.number(),
  /** Learning rate of the decision networks. */
  gateLr: z.number().positive(),
  /** 'all' or explicit layer indices that get a decision network. */
  gatedLayers: z.union([z.literal('all'), z.array(z.number().int().min(0))]),
});

export const configSchema = z.strictObject({
  /** Preset this config started from (informational). */
  preset: z.string(),
  seed: z.number().int().min(0),
  data: dataSchema,
  model: modelSchema,
  pretrain: trainSchema,
  prune: pruneSchema,
  eval: z.strictObject({ batchSize: z.number().int().min(1) }),
  /** Top-k SAE on the final block's input CLS token (src/sae/config.ts documents each key). */
  sae: saeConfigSchema,
  steer: z.strictObject({
    /** Amplification strengths alpha (paper Eq. 5; negative = suppress). @default -1.0 .. 1.5 step 0.1 */
    alphas: z.array(z.number().min(-1)).min(1),
    /** Size k_s of each index set S. @default the SAE's k */
    ks: z.number().int().min(1).optional(),
    strategies: z.array(z.enum(STRATEGIES)).min(1),
    /** 'pre': scale pre-activations then re-apply TopK (DESIGN default); 'post': scale z after TopK; 'add': add alpha * mean activation. */
    mode: z.enum(['pre', 'post', 'add']),
    /** 'gate': x~ feeds only the final decision network; 'residual': x~ also replaces the CLS residual. */
    target: z.enum(['gate', 'residual']),
    /** Feed x + x~ - x_hat (keep the SAE's reconstruction error). */
    keepError: z.boolean(),
    batchSize: z.number().int().min(1),
  }),
});

export type Config = z.infer<typeof configSchema>;
export type TrainConfig = z.infer<typeof trainSchema>;
export type PruneConfig = z.infer<typeof pruneSchema>;

const baseTrain: TrainConfig = {
  epochs: 3,
  batchSize: 128,
  lr: 2e-3,
  minLrRatio: 0.01,
  warmup: 0.05,
  weightDecay: 0.01,
  clipNorm: 1,
  labelSmoothing: 0,
  checkpointEvery: 200,
  // Measured on 2 cores (default preset): 1 process with 2-thread OpenBLAS trains at 744 img/s dense and
  // 692 gated; 2 replicas at 840 and 673 (gradient exchange and core contention eat the gain).
  workers: 1,
};

const basePrune: PruneConfig = {
  ...baseTrain,
  epochs: 1,
  lr: 5e-4,
  rho: 0.7,
  lambda: 2,
  tau: 5,
  noiseEnd: 0,
  gateBiasInit: 0.5,
  gateLr: 1e-2,
  gatedLayers: 'all',
};

/** alpha = -1.0, -0.9, ..., 1.5 (26 values, 0 included exactly). */
const ALPHAS = Array.from({ length: 26 }, (_, i) => Math.round((i - 10) * 10) / 100);

const baseSteer: Config['steer'] = {
  alphas: ALPHAS,
  strategies: [...STRATEGIES],
  mode: 'pre',
  target: 'gate',
  keepError: false,
  batchSize: 2000,
};

// Measured on Fashion-MNIST (2 cores): 3 pretrain epochs reach 86.7% dense, 6 reach 88.2% (~8 min);
// 1.5 prune epochs then keep 87.9% at usage 0.705 (~2.2 min).
const fashion: Config = {
  preset: 'default',
  seed: 0,
  data: { dataset: 'fashion-mnist', augment: { crop: 0, flip: false } },
  model: { patchSize: 7, embedDim: 96, depth: 6, numHeads: 6, mlpRatio: 4, qkvBias: true },
  pretrain: { ...baseTrain, epochs: 6 },
  prune: { ...basePrune, epochs: 1.5 },
  eval: { batchSize: 500 },
  sae: { ...SAE_DEFAULTS },
  steer: baseSteer,
};

/** Named presets: `smoke` for tests (seconds), `default` (Fashion-MNIST), `mnist`, `paper` (ViT-S/16, CIFAR-100). */
export const PRESETS: Readonly<Record<string, Config>> = Object.freeze({
  smoke: {
    preset: 'smoke',
    seed: 0,
    data: {
      dataset: 'procedural',
      procedural: { size: 16, channels: 1, classes: 4, train: 2000, test: 256 },
      augment: { crop: 0, flip: false },
    },
    model: { patchSize: 4, embedDim: 32, depth: 2, numHeads: 4, mlpRatio: 2, qkvBias: true },
    pretrain: { ...baseTrain, epochs: 4, batchSize: 32, lr: 3e-3, checkpointEvery: 20 },
    prune: { ...basePrune, epochs: 2, batchSize: 32, lr: 1e-3, checkpointEvery: 20 },
    eval: { batchSize: 128 },
    sae: { ...SAE_DEFAULTS, expansion: 4, epochs: 20, batchSize: 256, deadSamples: 5000 },
    steer: { ...baseSteer, alphas: [-1, -0.5, 0, 0.5, 1, 1.2, 1.5], batchSize: 256 },
  },
  default: fashion,
  mnist: { ...fashion, preset: 'mnist', data: { ...fashion.data, dataset: 'mnist' } },
  paper: {
    preset: 'paper',
    seed: 0,
    data: { dataset: 'cifar100', augment: { crop: 4, flip: true } },
    model: { imgSize: 224, patchSize: 16, embedDim: 384, depth: 12, numHeads: 6, mlpRatio: 4, qkvBias: true },
    pretrain: { ...baseTrain, epochs: 10, batchSize: 64, lr: 1e-3, warmup: 0.1, weightDecay: 0.05 },
    prune: { ...basePrune, epochs: 3, batchSize: 64, lr: 1e-4 },
    eval: { batchSize: 64 },
    sae: { ...SAE_DEFAULTS, epochs: 100 },
    steer: { ...baseSteer, batchSize: 500 },
  },
});

/** Validate a full config; `where` names its origin (a preset, a file) in the error. */
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
  return applyOverrides(base, overrides, `preset '${preset}'`);
}

/** Apply `a.b.c=value` overrides to a config and validate the result. */
export function applyOverrides(base: Config, overrides: readonly string[], where: string): Config {
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
