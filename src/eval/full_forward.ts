/**
 * Test-set evaluation of a whole (gated or dense) ViT, one full forward pass per image in eval mode
 * (steering's final-layer shortcut is src/steer/fastpath_eval.ts): accuracy overall and per class, head
 * usage overall and per layer, analytic FLOPs per image (flops.ts), and AdaViT's random-policy baseline
 * (random head masks at the same per-layer usage), which a learned policy has to beat.
 * Legend: B batch, H heads, L layers, K classes.
 */
import * as tf from '@tensorflow/tfjs';
import { makeBatch } from '../data/batch.js';
import { UserError } from '../errors.js';
import type { Dataset, Split } from '../data/dataset.js';
import { imagesToTensor } from '../model/input.js';
import { bernoulliMasks } from '../model/random_mask.js';
import type { ViTConfig } from '../model/config.js';
import type { ViT } from '../model/vit.js';
import { rng } from '../random.js';
import { flopsReport, type FlopsReport } from './flops.js';

export interface HeadUsage {
  /** Mean fraction of heads kept over images, layers and heads (1 for a dense model). */
  overall: number;
  /** Per layer: mean fraction of heads kept. */
  perLayer: number[];
}

export interface EvalResult {
  accuracy: number;
  perClassAccuracy: number[];
  headUsage: HeadUsage;
  /** Analytic FLOPs per image: dense, masked and with the pruned heads skipped. */
  flops: FlopsReport;
}

export interface EvalReport extends EvalResult {
  classNames: string[];
  count: number;
  /** Random masks with each head kept at its layer's learned usage; absent for a dense model. */
  randomPolicy?: { accuracy: number; headUsage: HeadUsage };
}

/** Per-sample outputs of one pass over a split. */
interface PassOutput {
  predictions: Int32Array; // (count,)
  /** Per layer, heads kept per sample summed over heads: (count,) each. */
  keptPerLayer: Float64Array[];
}

/** Explicit head masks (B, H) for layer l of the batch of B images from image `start`, or null to let the gates decide. */
type MaskFor = (layer: number, start: number, B: number) => tf.Tensor2D | null;

/**
 * Run the model over a split in eval mode, or over its images [from, to) only (the rest of the outputs
 * stay 0), in batches from `from`. `maskFor` may supply explicit head masks (e.g. random policy);
 * otherwise the gates decide.
 */
function pass(model: ViT, split: Split, ds: Dataset, batchSize: number, maskFor?: MaskFor, [from, to] = [0, split.count]): PassOutput {
  const L = model.config.depth;
  const H = model.config.numHeads;
  if (split.count === 0) throw new UserError('the test set holds 0 images; there is nothing to evaluate');
  const predictions = new Int32Array(split.count);
  const keptPerLayer = Array.from({ length: L }, () => new Float64Array(split.count));
  for (let start = from; start < to; start += batchSize) {
    const B = Math.min(batchSize, to - start);
    const indices = Array.from({ length: B }, (_, i) => start + i);
    const batch = makeBatch(split, indices, ds);
    // Tensors leave the tidy scope and are read after it (tidy walks its result, so no typed arrays).
    const { pred, kept } = tf.tidy(() => {
      const x = imagesToTensor(batch.images, B, ds.channels, ds.height, model.config.imgSize);
      const headMasks = maskFor === undefined ? undefined : Array.from({ length: L }, (_, l) => maskFor(l, start, B));
      const out = model.forward(x, headMasks === undefined ? {} : { headMasks });
      return { pred: out.logits.argMax(1), kept: out.masks.map((m) => (m === null ? tf.fill([B], H) : m.sum(1))) }; // (B,) each
    });
    predictions.set(pred.dataSync() as Int32Array, start);
    kept.forEach((k, l) => {
      keptPerLayer[l]!.set(k.dataSync() as Float32Array, start);
    });
    tf.dispose([pred, ...kept]);
  }
  return { predictions, keptPerLayer };
}

function summarisePass(out: PassOutput, split: Split, numClasses: number, config: ViTConfig): EvalResult {
  const H = config.numHeads;
  const correct = new Float64Array(numClasses);
  const total = new Float64Array(numClasses);
  const keptByClass = Array.from({ length: numClasses }, () => new Float64Array(out.keptPerLayer.length)); // (K, L)
  let hits = 0;
  for (let i = 0; i < split.count; i++) {
    const y = split.labels[i]!;
    total[y]! += 1;
    out.keptPerLayer.forEach((k, l) => {
      keptByClass[y]![l]! += k[i]!;
    });
    if (out.predictions[i] === y) {
      correct[y]! += 1;
      hits += 1;
    }
  }
  const perLayer = out.keptPerLayer.map((k) => k.reduce((s, v) => s + v, 0) / (split.count * H));
  // (K, L); a class without test images gets the overall mean
  const perClassUsage = keptByClass.map((kept, y) => (total[y]! > 0 ? Array.from(kept, (k) => k / (total[y]! * H)) : perLayer));
  return {
    accuracy: hits / split.count,
    perClassAccuracy: Array.from(correct, (c, k) => (total[k]! > 0 ? c / total[k]! : 0)),
    headUsage: { overall: perLayer.reduce((s, v) => s + v, 0) / perLayer.length, perLayer },
    flops: flopsReport(config, perLayer, perClassUsage),
  };
}

/** Accuracy and head usage of `model` on `split`. */
export function evaluate(model: ViT, split: Split, ds: Dataset, batchSize: number): EvalResult {
  return summarisePass(pass(model, split, ds, batchSize), split, ds.classNames.length, model.config);
}

/** One of `count` processes that share work, such as the replicas of a data-parallel training. */
export interface SharedProcess {
  index: number;
  count: number;
  /** Element-wise mean over all the processes of `values` (same length in each); the result may be reused by the next call. */
  allReduce(values: Float32Array): Promise<Float32Array>;
}

/**
 * `pass` shared by the processes of a data-parallel training (src/train/loop.ts): each runs a
 * contiguous share of whole batches, and the per-image outputs meet through `replica.allReduce`. Each
 * process's vector is 0 outside its share, so `count` x the mean is the whole split's; the values are
 * class indices and head counts, small integers that float32 holds exactly (rounding undoes the mean's
 * division). The batches are those of one process's pass, so masks keyed on a batch's start are too.
 */
async function sharedPass(model: ViT, split: Split, ds: Dataset, batchSize: number, replica: SharedProcess, maskFor?: MaskFor): Promise<PassOutput> {
  const n = split.count;
  const L = model.config.depth;
  const batches = Math.ceil(n / batchSize);
  const share = (i: number): number => Math.min(n, batchSize * Math.floor((batches * i) / replica.count));
  const own = pass(model, split, ds, batchSize, maskFor, [share(replica.index), share(replica.index + 1)]);
  const flat = new Float32Array(n * (1 + L)); // [predictions, kept per layer...], each (n,)
  flat.set(own.predictions);
  own.keptPerLayer.forEach((k, l) => {
    flat.set(k, n * (1 + l));
  });
  const mean = await replica.allReduce(flat);
  const whole = (l: number): Float64Array => Float64Array.from(mean.subarray(n * l, n * (l + 1)), (v) => Math.round(v * replica.count));
  return { predictions: Int32Array.from(whole(0)), keptPerLayer: Array.from({ length: L }, (_, l) => whole(1 + l)) };
}

/** `evaluate` shared by the processes of a data-parallel training; the same result as on one process. */
export async function evaluateShared(model: ViT, split: Split, ds: Dataset, batchSize: number, replica: SharedProcess): Promise<EvalResult> {
  return summarisePass(await sharedPass(model, split, ds, batchSize, replica), split, ds.classNames.length, model.config);
}

/**
 * AdaViT's random policy: every head of a gated layer kept with that layer's learned usage, drawn
 * per batch of `batchSize` and gated layer from the seed (the same masks in a shared pass).
 */
function randomPolicy(model: ViT, learned: EvalResult, seed: number, batchSize: number): MaskFor {
  const H = model.config.numHeads;
  const gated = [...new Set(model.config.gatedLayers)].sort((a, b) => a - b); // in the order a forward meets them
  return (l, start, B) => {
    const g = gated.indexOf(l);
    if (g < 0) return null;
    const p = new Array<number>(H).fill(learned.headUsage.perLayer[l]!);
    return tf.tensor2d(bernoulliMasks(B, p, rng(seed, 'random-policy', (start / batchSize) * gated.length + g)), [B, H]);
  };
}

/** The report of `learned` with, for a gated model, its random policy's accuracy and usage from `random`. */
function reportOf(model: ViT, ds: Dataset, learned: EvalResult, random: PassOutput | null): EvalReport {
  const report: EvalReport = { ...learned, classNames: ds.classNames, count: ds.test.count };
  if (random === null) return report;
  const summary = summarisePass(random, ds.test, ds.classNames.length, model.config);
  report.randomPolicy = { accuracy: summary.accuracy, headUsage: summary.headUsage };
  return report;
}

/**
 * Full report: the learned policy and, for a gated model, the random-policy baseline at its per-layer
 * usage. `learned` may pass an evaluation of this model on the test split that was already run.
 */
export function evaluateReport(model: ViT, ds: Dataset, batchSize: number, seed: number, learned = evaluate(model, ds.test, ds, batchSize)): EvalReport {
  const random = model.gated ? pass(model, ds.test, ds, batchSize, randomPolicy(model, learned, seed, batchSize)) : null;
  return reportOf(model, ds, learned, random);
}

/** `evaluateReport` shared by the processes of a data-parallel training, from the learned policy's evaluation; the same report. */
export async function evaluateReportShared(
  model: ViT,
  ds: Dataset,
  batchSize: number,
  seed: number,
  learned: EvalResult,
  replica: SharedProcess,
): Promise<EvalReport> {
  const random = model.gated ? await sharedPass(model, ds.test, ds, batchSize, replica, randomPolicy(model, learned, seed, batchSize)) : null;
  return reportOf(model, ds, learned, random);
}
