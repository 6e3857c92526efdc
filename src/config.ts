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
import { join } from 'node:path';
import type { Dataset } from './data/dataset.js';
import { DATASET_NAMES, DEFAULT_DATASET, loadDataset } from './data/registry.js';
import { readJson } from './io/atomic.js';
import { formatZodError } from './model/config.js';
import { saeConfigSchema } from './sae/config.js';
import { steerSchema } from './steer/config.js';
import { PAPER_ALPHA } from './steer/strategies.js';
import { finetuneSchema, pretrainSchema, pruneSchema } from './train/config.js';

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

export const configSchema = z.strictObject({
  /** Preset this config started from (informational; `resolveConfig` records it). */
  preset: z.string(),
  /** One seed for every preset: runs differ only when asked to. */
  seed: z.number().int().min(0).default(0),
  data: dataSchema.prefault({}),
  model: modelSchema.prefault({}),
  pretrain: pretrainSchema.prefault({}),
  /** Fine-tuning an imported or pretrained dense checkpoint before pruning (src/train/config.ts). */
  finetune: finetuneSchema.prefault({}),
  prune: pruneSchema.prefault({}),
  eval: z
    .strictObject({
      /**
       * Images per forward pass when evaluating and extracting. 128 rather than 500: as fast (default
       * model, 20,000 images: 6.8 against 7.1 s on one OpenBLAS thread, 5.3–5.9 against 5.5–5.6 s on
       * two), and a process's wasm heap, which never shrinks, stays 0.28 GB smaller (0.40 against 0.68 GB RSS).
       */
      batchSize: z.number().int().min(1).default(128),
    })
    .prefault({}),
  extract: z
    .strictObject({
      /**
       * Processes that share extraction (src/pipeline/extract.ts), each with single-threaded OpenBLAS
       * and a contiguous share of whole batches; 1 extracts in this process with multi-threaded OpenBLAS.
       * 2 because, on 2 idle cores (default model, 70,000 images, 5 interleaved pairs), 2 replicas
       * extracted in 15.8 s against 19.7 s for one process with two OpenBLAS threads (1.25x).
       */
      workers: z.number().int().min(1).max(16).default(2),
    })
    .prefault({}),
  /** Top-k SAE on the final block's input CLS token (src/sae/config.ts documents each key). */
  sae: saeConfigSchema.prefault({}),
  steer: steerSchema.prefault({}),
});

/** A complete, validated run config (every default filled in). */
export type Config = z.infer<typeof configSchema>;
/** What `parseConfig` accepts: a run config in which any key with a default may be left out. */
export type ConfigInput = z.input<typeof configSchema>;
/** A preset: how it differs from the schema defaults (its name is recorded as `preset`). */
export type Preset = Omit<ConfigInput, 'preset'>;

/**
 * Named presets: `smoke` for tests (seconds), `default` (Fashion-MNIST: the schema defaults), `mnist`,
 * `paper` (a pretrained timm ViT-S/16 fine-tuned and pruned on CIFAR-100, as the paper).
 */
export const PRESETS: Readonly<Record<string, Preset>> = Object.freeze({
  smoke: {
    data: { dataset: 'procedural', procedural: { size: 16, channels: 1, classes: 4, train: 2000, test: 256 } },
    model: { patchSize: 4, embedDim: 32, depth: 2, numHeads: 4, mlpRatio: 2 },
    // One process for every stage, so that tests run in their own (test/pipeline/run.test.ts and
    // test/train/loop.test.ts run replicas).
    pretrain: { epochs: 4, batchSize: 32, lr: 3e-3, checkpointEvery: 20, workers: 1 },
    finetune: { epochs: 2, batchSize: 32, lr: 1e-3, checkpointEvery: 20, workers: 1 },
    prune: { epochs: 2, batchSize: 32, lr: 1e-3, checkpointEvery: 20, workers: 1 },
    eval: { batchSize: 128 },
    extract: { workers: 1 },
    sae: { expansion: 4, epochs: 20, batchSize: 256, deadSamples: 5000 },
    // 0 and the report's headline alphas (SUPPRESS_ALPHA = -0.5 in src/report/figures_steer.ts, and the
    // paper's) on a grid small enough for a test.
    steer: { alphas: [-1, -0.5, 0, 0.5, 1, PAPER_ALPHA, 1.5], batchSize: 256, nullDraws: 20 },
  },
  default: {},
  mnist: { data: { dataset: 'mnist' } },
  paper: {
    data: { dataset: 'cifar100', augment: { crop: 4, flip: true } },
    // The paper's ViT-S/16 (the defaults' 6 heads, MLP ratio 4, qkv bias). The model itself is the user's
    // pretrained timm ViT from `run --from`, whose architecture wins (finetune records it); CIFAR's 32 px
    // are resized to the 224 px input.
    model: { imgSize: 224, patchSize: 16, embedDim: 384, depth: 12 },
    // DeiT-style fine-tuning at batch 64: lr 1e-4 (5e-4 per 512 images, DeiT's scaling), MAE's layer
    // decay. A gated ViT-S/16 at 224 px trains 16 images per pass within the 4 GiB wasm heap (batch 32
    // in one pass aborts; 16 peaks at 4.2 GB RSS), so each batch of 64 is 4 accumulated passes.
    // One process: replicas are not measured at this scale, and each would hold its own 4 GB.
    finetune: { pretrained: true, epochs: 3, batchSize: 64, lr: 1e-4, labelSmoothing: 0.1, microBatch: 16, workers: 1 },
    prune: { epochs: 3, batchSize: 64, lr: 1e-4, microBatch: 16, workers: 1 },
    // Evaluation and extraction hold a whole batch's activations: 32 images at 224 px fit.
    eval: { batchSize: 32 },
    extract: { workers: 1 }, // as training: one process, not measured at this scale
    // The SAE's defaults are the paper's at D = 384: 8 x 384 = 3072 latents, k = 384 / 6 = 64.
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
  const parsed = overrides.map(parseOverride); // every key checked before anything is assigned
  const cfg = structuredClone(base) as unknown as Record<string, unknown>;
  for (const { text: o, path, value } of parsed) {
    let node: Record<string, unknown> = cfg;
    for (let i = 0; i < path.length - 1; i++) {
      const key = path[i]!;
      const next = Object.hasOwn(node, key) ? node[key] : undefined;
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

/** Keys that reach an object's prototype rather than a field of its own: never a config key. */
const PROTOTYPE_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

/** `a.b.c=value` as its key path and JSON value; refuses a malformed override or a prototype key. */
function parseOverride(text: string): { text: string; path: string[]; value: unknown } {
  const eq = text.indexOf('=');
  if (eq <= 0) throw new UserError(`override '${text}' is not of the form key.path=value (e.g. pretrain.epochs=2)`);
  const path = text.slice(0, eq).split('.');
  const bad = path.find((k) => PROTOTYPE_KEYS.has(k) || k === '');
  if (bad !== undefined) throw new UserError(`override '${text}': '${bad}' is not a config key (keys are names like pretrain.epochs)`);
  return { text, path, value: parseValue(text.slice(eq + 1)) };
}

function parseValue(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

/**
 * The run config recorded in a ViT checkpoint's config.json (without loading its weights). A resumed
 * stage continues with its own checkpoint's; `prune` starts from the dense checkpoint's, and the stages
 * after it from the pruned checkpoint's (through the features' manifest when given a features folder).
 */
export function runConfigOf(checkpoint: string): Config {
  const file = join(checkpoint, 'config.json');
  const raw = readJson(file, 'checkpoint config') as Record<string, unknown>;
  if (raw['run'] === undefined)
    throw new UserError(
      `${file} records no run config (an imported model?); fine-tune it on the run's data first (headsteer finetune), or train one with headsteer pretrain`,
    );
  return parseConfig(raw['run'], file);
}

/** A key where two configs differ, as a dotted path, with its value in each. */
export interface ConfigChange {
  key: string;
  from: unknown;
  to: unknown;
}

/** Every leaf key (dotted path) whose value differs between `a` and `b`, in `a`'s key order. */
export function configDiff(a: unknown, b: unknown, prefix = ''): ConfigChange[] {
  const isSection = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (isSection(a) && isSection(b)) {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])];
    return keys.flatMap((k) => configDiff(a[k], b[k], prefix === '' ? k : `${prefix}.${k}`));
  }
  return JSON.stringify(a) === JSON.stringify(b) ? [] : [{ key: prefix, from: a, to: b }];
}

/** Load the dataset a run config names (with an optional data-dir override). */
export function loadRunData(cfg: Config): Dataset {
  const ds = loadDataset(cfg.data.dataset, {
    seed: cfg.seed,
    ...(cfg.data.dataDir === undefined ? {} : { dataDir: cfg.data.dataDir }),
    ...(cfg.data.procedural === undefined ? {} : { procedural: cfg.data.procedural }),
  });
  const side = cfg.model.imgSize ?? Math.min(ds.height, ds.width);
  if (side < cfg.model.patchSize) {
    throw new UserError(
      `${ds.source}: images of ${side}x${side} pixels are smaller than one ${cfg.model.patchSize}x${cfg.model.patchSize} patch (model.patchSize)`,
    );
  }
  return ds;
}
