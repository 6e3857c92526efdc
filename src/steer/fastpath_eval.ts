/**
 * Test-set evaluation through the fast path (fastpath.ts): only the final layer runs, on the cache that
 * extraction stored (a whole model's full-forward evaluation is src/eval/full_forward.ts). For every
 * batch, a caller-supplied edit of the final decision network's input (identity, SAE reconstruction, a
 * steered reconstruction), then accuracy and final-layer head usage — overall, per class, and per head.
 * Legend: N test images, B batch, D width, H heads, C classes, T tokens, Dh head dim.
 */
import * as tf from '@tensorflow/tfjs';
import { copyInto } from '../engine/wasm_backend.js';
import type { ViT } from '../model/vit.js';
import { finalLayer, type FinalLayerOptions } from './fastpath.js';
import type { SplitFeatures } from './features.js';

/** Replacement inputs for rows [start, start + B): x (B, D) is the original final-block input CLS. */
export type InputEdit = (x: tf.Tensor2D, start: number) => Omit<FinalLayerOptions, 'mask'>;

export interface FinalLayerRun {
  predictions: Int32Array; // (N,)
  masks: Float32Array; // (N, H)
}

/** Run the final layer over all test rows with `edit` applied to its input. */
export function runFinalLayer(model: ViT, f: SplitFeatures, batchSize: number, edit: InputEdit): FinalLayerRun {
  if (f.k === undefined || f.v === undefined) throw new Error('runFinalLayer needs the test split with its K/V cache');
  const { embedDim: D, numHeads: H } = model.config;
  const T = model.dims.numTokens;
  const Dh = D / H;
  const N = f.count;
  const predictions = new Int32Array(N);
  const masks = new Float32Array(N * H);
  for (let start = 0; start < N; start += batchSize) {
    const B = Math.min(batchSize, N - start);
    const out = tf.tidy(() => {
      const cls = tf.tensor2d(f.x.subarray(start * D, (start + B) * D), [B, D]);
      const kv = (a: Float32Array): tf.Tensor4D => tf.tensor4d(a.subarray(start * H * T * Dh, (start + B) * H * T * Dh), [B, H, T, Dh]);
      const r = finalLayer(model, { cls, k: kv(f.k!), v: kv(f.v!) }, edit(cls, start));
      return { pred: r.logits.argMax(1), mask: r.mask };
    });
    predictions.set(out.pred.dataSync() as Int32Array, start);
    copyInto(out.mask, masks, start * H);
    tf.dispose([out.pred, out.mask]);
  }
  return { predictions, masks };
}

export interface ClassSummary {
  accuracy: number;
  headUsage: number;
  /** Per head: fraction of the class's images on which the head is kept. */
  heads: number[];
  count: number;
}

export interface RunSummary {
  accuracy: number;
  headUsage: number;
  heads: number[];
  perClass: ClassSummary[];
}

/** Accuracy and final-layer usage overall, per class and per head. */
export function summariseFinalLayer(run: FinalLayerRun, labels: Int32Array, numClasses: number, H: number): RunSummary {
  const N = labels.length;
  const correct = new Float64Array(numClasses);
  const count = new Float64Array(numClasses);
  const heads = Array.from({ length: numClasses }, () => new Float64Array(H));
  for (let i = 0; i < N; i++) {
    const c = labels[i]!;
    count[c]! += 1;
    if (run.predictions[i] === c) correct[c]! += 1;
    for (let h = 0; h < H; h++) heads[c]![h]! += run.masks[i * H + h]!;
  }
  const perClass = Array.from({ length: numClasses }, (_, c): ClassSummary => {
    const n = count[c]!;
    const rates = Array.from(heads[c]!, (s) => (n > 0 ? s / n : 0));
    return { accuracy: n > 0 ? correct[c]! / n : 0, headUsage: rates.reduce((a, b) => a + b, 0) / H, heads: rates, count: n };
  });
  const allHeads = Array.from({ length: H }, (_, h) => heads.reduce((s, hc) => s + hc[h]!, 0) / N);
  return {
    accuracy: correct.reduce((a, b) => a + b, 0) / N,
    headUsage: allHeads.reduce((a, b) => a + b, 0) / H,
    heads: allHeads,
    perClass,
  };
}
