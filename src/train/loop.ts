/**
 * The ViT training loop, shared by `pretrain` and `finetune` (dense: cross-entropy; fine-tuning with
 * layer-wise learning-rate decay, train/layer_decay.ts) and `prune` (gated, AdaViT:
 * cross-entropy + lambda * |mean(m) - rho| over batch, gated layers and heads, with Gumbel-Sigmoid
 * masks). Deterministic and resumable: every random draw (shuffle, augmentation, Gumbel noise) comes
 * from a stream keyed by (seed, stage, epoch or step), so a run restarted from a checkpoint at step s
 * replays exactly what an uninterrupted run would do from s on.
 * Legend: B batch, H heads, K classes.
 */
import * as tf from '@tensorflow/tfjs';
import { join } from 'node:path';
import { makeBatch } from '../data/batch.js';
import { copyInto } from '../engine/wasm_backend.js';
import type { Dataset } from '../data/dataset.js';
import { evaluate, evaluateShared, type EvalResult, type SharedProcess } from '../eval/full_forward.js';
import { saveCheckpoint } from '../io/checkpoint.js';
import { appendJsonLine, filterJsonLines } from '../io/jsonl.js';
import type { TensorData } from '../io/safetensors.js';
import type { FinetuneConfig, PruneConfig, TrainConfig } from './config.js';
import type { ViTCheckpointConfig } from '../model/checkpoint.js';
import { logisticNoise } from '../model/gate.js';
import { imagesToTensor } from '../model/input.js';
import type { Param } from '../model/layers.js';
import type { ViT } from '../model/vit.js';
import { permutation, rng } from '../random.js';
import { ADAMW_DEFAULTS, adamwStep, createAdamWState, disposeAdamWState, exportAdamWState, FlatGradients, importAdamWState } from './adamw.js';
import { layerDecayScale } from './layer_decay.js';
import { lrAt } from './schedule.js';
import { UserError } from '../errors.js';

export interface StepProgress {
  step: number; // steps done
  totalSteps: number;
  epoch: number; // 0-based epoch of the step just done
  loss: number;
  accuracy: number; // this batch
  headUsage: number; // this batch's mean mask (1 when dense)
  lr: number;
  imagesPerSec: number; // since the (re)start
}

export interface EpochSummary {
  epoch: number;
  step: number;
  test: EvalResult;
}

/**
 * Data parallelism: this process is replica `index` of `count`; each takes an equal share of every
 * batch and the replicas average their gradients (and loss statistics) before the identical update.
 * The usage term |mean(m) - rho| is then averaged over the shards' means (as DDP computes any
 * batch-nonlinear loss per replica). The epoch's evaluation is shared the same way (`evaluateShared`).
 */
export type Replica = SharedProcess;

export interface TrainJob {
  model: ViT;
  dataset: Dataset;
  stage: 'pretrain' | 'finetune' | 'prune';
  cfg: TrainConfig | PruneConfig | FinetuneConfig;
  seed: number;
  /** Checkpoint folder; also receives metrics.jsonl. */
  dir: string;
  /** config.json content for a checkpoint of this job. */
  checkpointConfig: (complete: boolean) => ViTCheckpointConfig;
  evalBatchSize: number;
  augment: { crop: number; flip: boolean };
  /** Continue from a checkpoint's training state. */
  resume?: { step: number; optimizer: Map<string, TensorData> };
  onStart?: (totalSteps: number) => void;
  onStep?: (p: StepProgress) => void;
  onEpoch?: (s: EpochSummary) => void;
  replica?: Replica;
}

export interface TrainResult {
  steps: number;
  seconds: number;
  /** Final test evaluation (every replica has it: they share it). */
  test: EvalResult;
}

function isPrune(cfg: TrainConfig | PruneConfig | FinetuneConfig): cfg is PruneConfig {
  return 'rho' in cfg;
}

/** Steps in one epoch: the last incomplete batch is dropped, so every step has the same shape. */
export function stepsPerEpoch(trainCount: number, batchSize: number): number {
  return Math.max(1, Math.floor(trainCount / batchSize));
}

/** Train `job.model` in place; writes checkpoints and metrics.jsonl into `job.dir`. */
export async function trainViT(job: TrainJob): Promise<TrainResult> {
  const { model, dataset: ds, cfg, seed, stage } = job;
  const B = cfg.batchSize;
  const shards = job.replica?.count ?? 1;
  const shard = job.replica?.index ?? 0;
  const leader = shard === 0; // writes checkpoints and metrics, evaluates, reports progress
  if (B % shards !== 0) throw new UserError(`${stage}.batchSize ${B} does not split over ${shards} workers; use a multiple of ${stage}.workers`);
  if (B > ds.train.count) throw new UserError(`${stage}.batchSize ${B} is larger than the ${ds.train.count} training images; use at most ${ds.train.count}`);
  const Bs = B / shards; // this replica's share of each batch
  const micro = cfg.microBatch ?? Bs; // images per forward/backward pass
  if (Bs % micro !== 0) throw new UserError(`${stage}.microBatch ${micro} does not divide the ${Bs} images of each batch${shards > 1 ? ' per worker' : ''}`);
  const H = model.config.numHeads;
  const spe = stepsPerEpoch(ds.train.count, B);
  const totalSteps = Math.max(1, Math.round(cfg.epochs * spe));
  const prune = isPrune(cfg) ? cfg : null;
  if (prune !== null && !model.gated) throw new Error('prune stage needs a gated model');

  const params = model.parameters();
  // With replicas: the vector their gradients travel in, reused every step.
  const exchange = job.replica === undefined ? null : { replica: job.replica, flat: flatGradients(params) };
  const byVarName = new Map(params.map((p) => [p.variable.name, p]));
  const gateNames = new Set(model.gateParameters().map((p) => p.name));
  // Fine-tuning's layer-wise decay: a fixed scale per parameter on top of the schedule.
  const layerScale = new Map(params.map((p) => [p.name, 'layerDecay' in cfg ? layerDecayScale(p.name, model.config.depth, cfg.layerDecay) : 1]));
  const opt = createAdamWState(params);
  const metricsPath = join(job.dir, 'metrics.jsonl');
  let step = 0;
  if (job.resume !== undefined) {
    importAdamWState(opt, job.resume.optimizer, job.resume.step, join(job.dir, 'optimizer.safetensors'));
    step = job.resume.step;
    if (leader) filterJsonLines(metricsPath, (r) => typeof r['step'] === 'number' && r['step'] <= step);
  }

  const save = (complete: boolean): void => {
    if (!leader) return;
    saveCheckpoint(job.dir, {
      config: job.checkpointConfig(complete),
      weights: model.stateDict(),
      ...(complete ? {} : { training: { optimizer: exportAdamWState(opt), state: { step, totalSteps, stage } } }),
    });
  };

  if (job.resume === undefined && leader) {
    save(false); // step 0: the folder is a checkpoint from the start, so metrics.jsonl can live in it
    filterJsonLines(metricsPath, () => false);
  }
  job.onStart?.(totalSteps);
  const t0 = performance.now();
  const startStep = step;
  let perm: Uint32Array | null = null;
  let permEpoch = -1;
  let test: EvalResult | null = null;
  try {
    while (step < totalSteps) {
      const epoch = Math.floor(step / spe);
      if (epoch !== permEpoch) {
        perm = permutation(ds.train.count, rng(seed, stage, 'shuffle', epoch));
        permEpoch = epoch;
      }
      const pos = step % spe;
      const indices = perm!.subarray(pos * B + shard * Bs, pos * B + (shard + 1) * Bs);
      const augmentRng = shards === 1 ? rng(seed, stage, 'augment', step) : rng(seed, stage, 'augment', step, shard);
      const batch = makeBatch(ds.train, indices, ds, { augment: job.augment, rng: augmentRng });
      const lrScale = lrAt(step, totalSteps, 1, cfg.warmup, cfg.minLrRatio);
      const noiseScale = prune === null ? 0 : 1 + (prune.noiseEnd - 1) * (step / Math.max(1, totalSteps - 1));

      // Forward and backward on images [offset, offset + n) of this replica's share; gradients leave the
      // scope for the micro-batch sum and the replicas' average.
      const pass = (offset: number, n: number): { grads: Record<string, tf.Tensor>; statsTensor: tf.Tensor } =>
        tf.tidy(() => {
          const pixels = batch.images.length / Bs;
          const x = imagesToTensor(batch.images.subarray(offset * pixels, (offset + n) * pixels), n, ds.channels, ds.height, model.config.imgSize);
          const labels = tf.tensor1d(batch.labels.subarray(offset, offset + n), 'int32');
          const y = tf.oneHot(labels, ds.classNames.length); // (n, K)
          // Noise is drawn for the whole batch, so an image gets the same noise whatever the sharding.
          const first = shard * Bs + offset;
          const noiseRows = (l: number): Float32Array =>
            logisticNoise(B * H, rng(seed, stage, 'gumbel', step, l), noiseScale).subarray(first * H, (first + n) * H);
          const gateNoise = prune === null ? undefined : model.blocks.map((b, l) => (b.gate === null ? null : tf.tensor2d(noiseRows(l), [n, H])));
          let kept: tf.Tensor[] = [];
          const { value, grads } = tf.variableGrads(
            () => {
              const out = model.forward(x, { training: prune !== null, ...(gateNoise === undefined ? {} : { gateNoise }), tau: prune?.tau ?? 5 });
              const ce = tf.losses.softmaxCrossEntropy(y, out.logits, undefined, cfg.labelSmoothing);
              const correct = tf.mean(tf.cast(tf.equal(out.logits.argMax(1), labels), 'float32'));
              const gated = out.masks.filter((m): m is tf.Tensor2D => m !== null);
              if (prune === null || gated.length === 0) {
                kept = [tf.keep(correct), tf.keep(tf.scalar(1))];
                return ce as tf.Scalar;
              }
              const usage = tf.mean(tf.stack(gated)); // over gated layers, batch and heads
              const loss = tf.add(ce, tf.mul(prune.lambda, tf.abs(tf.sub(usage, prune.rho)))) as tf.Scalar;
              kept = [tf.keep(correct), tf.keep(usage)];
              return loss;
            },
            params.map((p) => p.variable),
          );
          const statsTensor = tf.stack([value, ...kept]); // [loss, accuracy, usage]
          tf.dispose(kept); // kept out of variableGrads' scope by tf.keep, so not tidied automatically
          const named: Record<string, tf.Tensor> = {};
          for (const [varName, g] of Object.entries(grads)) named[byVarName.get(varName)!.name] = g;
          return { grads: named, statsTensor };
        });
      let { grads, statsTensor } = pass(0, micro);
      if (micro < Bs) ({ grads, statsTensor } = accumulate({ grads, statsTensor }, (offset) => pass(offset, micro), micro, Bs));
      const averaged = exchange === null ? null : await averageAcrossReplicas(exchange.replica, params, grads, statsTensor, exchange.flat);
      const stats = averaged?.stats ?? statsTensor.dataSync();
      tf.tidy(() => {
        const lrOf = (p: Param): number => lrScale * layerScale.get(p.name)! * (gateNames.has(p.name) ? (prune?.gateLr ?? cfg.lr) : cfg.lr);
        adamwStep(params, averaged?.grads ?? grads, opt, lrOf, { ...ADAMW_DEFAULTS, weightDecay: cfg.weightDecay, clipNorm: cfg.clipNorm });
      });
      tf.dispose([...Object.values(grads), statsTensor, ...(averaged === null ? [] : [averaged.grads.flat])]);
      const [loss, accuracy, headUsage] = [stats[0]!, stats[1]!, stats[2]!]; // [loss, accuracy, usage]
      if (!Number.isFinite(loss)) {
        throw new UserError(
          `${stage}: loss became ${loss} at step ${step + 1} (epoch ${epoch + 1}); the last good checkpoint in ${job.dir} is kept — lower the learning rate (--set ${stage}.lr=...) and rerun with --resume or --force`,
        );
      }
      step += 1;
      const elapsed = (performance.now() - t0) / 1000;
      const progress: StepProgress = {
        step,
        totalSteps,
        epoch,
        loss,
        accuracy,
        headUsage,
        lr: lrScale * cfg.lr,
        imagesPerSec: ((step - startStep) * B) / elapsed,
      };
      if (leader) job.onStep?.(progress);
      await yieldToEventLoop(); // lets progress timers render and signals arrive during long runs
      if (leader && (step % 10 === 0 || step === totalSteps)) appendJsonLine(metricsPath, { kind: 'train', ...progress, time: elapsed });

      const epochEnd = step % spe === 0 || step === totalSteps;
      if (epochEnd) {
        // Every replica evaluates a share of the test set: the other core would otherwise wait idle. It
        // does so in batches no larger than its training pass, which its wasm heap (never shrinking)
        // already holds: batches of eval.batchSize (500) grew each replica from 0.35 to 0.6 GB.
        const { replica } = job;
        const t =
          replica === undefined
            ? evaluate(model, ds.test, ds, job.evalBatchSize)
            : await evaluateShared(model, ds.test, ds, Math.min(job.evalBatchSize, micro), replica);
        test = t;
        if (leader) {
          appendJsonLine(metricsPath, {
            kind: 'epoch',
            epoch: epoch + 1,
            step,
            testAccuracy: t.accuracy,
            testHeadUsage: t.headUsage.overall,
            perLayerUsage: t.headUsage.perLayer,
          });
          job.onEpoch?.({ epoch: epoch + 1, step, test: t });
        }
      }
      if (step < totalSteps && (epochEnd || step % cfg.checkpointEvery === 0)) save(false);
    }
    save(true);
    const seconds = (performance.now() - t0) / 1000;
    return { steps: totalSteps, seconds, test: test ?? evaluate(model, ds.test, ds, job.evalBatchSize) };
  } finally {
    disposeAdamWState(opt);
  }
}

/**
 * Gradient accumulation: the first pass's gradients and statistics plus those of `pass(offset)` for
 * every further micro-batch of `micro` images in `total`, divided by their number (the mean over equal
 * micro-batches is the whole batch's mean loss's gradient). Takes ownership of `first`; returns new tensors.
 */
function accumulate(
  first: { grads: Record<string, tf.Tensor>; statsTensor: tf.Tensor },
  pass: (offset: number) => { grads: Record<string, tf.Tensor>; statsTensor: tf.Tensor },
  micro: number,
  total: number,
): { grads: Record<string, tf.Tensor>; statsTensor: tf.Tensor } {
  let acc = first;
  for (let offset = micro; offset < total; offset += micro) {
    const part = pass(offset);
    const sum = tf.tidy(() => ({
      grads: Object.fromEntries(Object.entries(acc.grads).map(([k, g]) => [k, tf.add(g, part.grads[k]!)])),
      statsTensor: tf.add(acc.statsTensor, part.statsTensor),
    }));
    tf.dispose([...Object.values(acc.grads), acc.statsTensor, ...Object.values(part.grads), part.statsTensor]);
    acc = sum;
  }
  const scale = micro / total;
  const mean = tf.tidy(() => ({
    grads: Object.fromEntries(Object.entries(acc.grads).map(([k, g]) => [k, tf.mul(g, scale)])),
    statsTensor: tf.mul(acc.statsTensor, scale),
  }));
  tf.dispose([...Object.values(acc.grads), acc.statsTensor]);
  return mean;
}

/** One flat vector for every parameter's gradient and the 3 step statistics (see `averageAcrossReplicas`). */
function flatGradients(params: readonly Param[]): Float32Array {
  return new Float32Array(params.reduce((n, p) => n + p.variable.size, 0) + 3);
}

/**
 * Mean of every replica's gradients and [loss, accuracy, usage], through `flat` (from `flatGradients`,
 * reused across steps) in parameter order. Returns the mean as one tensor, the statistics last (caller
 * disposes), and the averaged statistics.
 */
async function averageAcrossReplicas(
  replica: Replica,
  params: readonly Param[],
  grads: Record<string, tf.Tensor>,
  stats: tf.Tensor,
  flat: Float32Array,
): Promise<{ grads: FlatGradients; stats: Float32Array }> {
  let at = 0;
  for (const p of params) {
    copyInto(grads[p.name]!, flat, at);
    at += p.variable.size;
  }
  copyInto(stats, flat, at);
  const mean = await replica.allReduce(flat);
  return { grads: new FlatGradients(tf.tensor1d(mean)), stats: mean.slice(at, at + 3) };
}

function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
