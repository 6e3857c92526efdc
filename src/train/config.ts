/**
 * The `pretrain`, `finetune` and `prune` sections of the run config (docs/design.md "Model"): the training loop's
 * schedule and optimizer, and the prune stage's AdaViT terms on top. Each default lives on its field;
 * src/config.ts composes these sections into the run config.
 */
import { z } from 'zod';

export const trainSchema = z.strictObject({
  /**
   * Passes over the training set. Measured on Fashion-MNIST (2 cores): 6 epochs of pretraining take ~9 min
   * and reach 88.7% dense (pretrainSchema's recipe).
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
   * 2 because, measured on 2 idle cores (default preset, dense, 0.5 epoch, 3 interleaved pairs), 2
   * replicas trained at 1374, 1365 and 1426 img/s against 1168, 1217 and 1196 for 1 process with 2-thread
   * OpenBLAS (1.15x): OpenBLAS's second thread only joins the matrix products, half of a step, while
   * a replica keeps its core busy with the rest too. With another process holding one core, 2 replicas
   * still won: 854 and 874 img/s against 521 and 656 (docs/findings.md "Speed, round three").
   */
  workers: z.number().int().min(1).max(16).default(2),
  /**
   * Images per forward/backward pass: each batch (or worker's share) runs as passes of this many images
   * whose gradients are averaged before the one update (gradient accumulation), so a large model's batch
   * fits the 4 GiB wasm heap (ViT-S/16 at 224 px trains 16 images per pass). Absent: the whole batch at once.
   */
  microBatch: z.number().int().min(1).optional(),
});

/**
 * Pretraining from scratch: the shared keys with the recipe measured best on the default budget
 * (Fashion-MNIST, 6 epochs, seed 0; docs/findings.md "Dense accuracy"): 88.74% against 87.87% with
 * clipping at 1, weight decay 0.01 and no label smoothing. No clipping alone gave 88.34%, label smoothing
 * 0.1 on top 88.45%, and weight decay 0.05 on top of both 88.74%; flips (88.10%) and a peak lr of 3e-3
 * (88.07%) did not help.
 */
export const pretrainSchema = z.strictObject({
  ...trainSchema.shape,
  /** Off: clipping at 1 cost 0.5-0.7 points on each of three seeds, with no instability without it. */
  clipNorm: trainSchema.shape.clipNorm.unwrap().default(0),
  labelSmoothing: trainSchema.shape.labelSmoothing.unwrap().default(0.1),
  weightDecay: trainSchema.shape.weightDecay.unwrap().default(0.05),
});

/** Pruning fine-tunes the pretrained ViT with the same optimiser keys, plus the gates'. */
export const pruneSchema = z.strictObject({
  ...trainSchema.shape,
  /** Measured on Fashion-MNIST (2 cores): 1.5 epochs from the default dense model give 88.3% at usage 0.716 (~2.2 min alone). */
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

export type TrainConfig = z.infer<typeof trainSchema>;
export type PruneConfig = z.infer<typeof pruneSchema>;

/**
 * Fine-tuning a dense checkpoint (imported from timm, or pretrained here) on the run's data, before
 * pruning (docs/design.md "Fine-tuning a pretrained ViT"): the optimiser keys of pretraining with
 * fine-tuning's usual values, plus layer-wise learning-rate decay and how the position embedding follows
 * a new input size.
 */
export const finetuneSchema = z.strictObject({
  ...trainSchema.shape,
  /** Pretrained features need few passes; DeiT-style CIFAR fine-tunes converge in a handful of epochs. */
  epochs: trainSchema.shape.epochs.unwrap().default(3),
  /** Peak learning rate (AdamW): a quarter of pretraining's, as the weights are already trained. */
  lr: trainSchema.shape.lr.unwrap().default(5e-4),
  /** A tenth of the steps: the new head starts random, so early steps must not wreck the pretrained blocks. */
  warmup: trainSchema.shape.warmup.unwrap().default(0.1),
  /** DeiT's and MAE's fine-tuning weight decay. */
  weightDecay: trainSchema.shape.weightDecay.unwrap().default(0.05),
  /**
   * Layer-wise learning-rate decay (BEiT, MAE): block i learns at lr * layerDecay^(L - i), the embeddings
   * at layerDecay^(L + 1), the final norm and head at lr. 0.75 is MAE's ViT-B value; 1 turns it off.
   */
  layerDecay: z.number().gt(0).max(1).default(0.75),
  /**
   * How the position embedding's patch grid is resampled when the input size changes (timm's
   * `resample_abs_pos_embed`: antialiased, the CLS position kept as it is). Bicubic is timm's default.
   */
  posEmbedInterp: z.enum(['bicubic', 'bilinear']).default('bicubic'),
  /**
   * The run's dense model is a pretrained checkpoint given with `run --from` and fine-tuned here, not a
   * ViT pretrained from scratch. `paper` sets it: the paper fine-tunes an ImageNet ViT-S.
   */
  pretrained: z.boolean().default(false),
});

export type FinetuneConfig = z.infer<typeof finetuneSchema>;
