/**
 * Extraction (stage `extract`): run the pruned ViT once over the train and test sets and keep what the
 * later stages read: x = the CLS token of the final block's residual input (the SAE's data and the final
 * decision network's input), labels, the unsteered predictions and final-layer masks, and for the test
 * set the final block's per-head keys and values (the fast steering path's cache).
 *
 * On disk (`<run>/features/`): `train.safetensors`, `test.safetensors` and `manifest.json`, written last
 * so that its presence marks a complete extraction.
 * Legend: N images, D width, H heads, T tokens, Dh head dim.
 */
import * as tf from '@tensorflow/tfjs';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { makeBatch } from '../data/batch.js';
import type { Dataset, Split } from '../data/dataset.js';
import { UserError } from '../errors.js';
import { readJson } from '../io/atomic.js';
import { readSafetensors, type TensorData } from '../io/safetensors.js';
import { imagesToTensor } from '../model/input.js';
import type { ViT } from '../model/vit.js';
import { finalBlockKeysValues } from './fastpath.js';

/** One split's extracted arrays. */
export interface SplitFeatures {
  count: number;
  x: Float32Array; // (N, D)
  labels: Int32Array; // (N,)
  predictions: Int32Array; // (N,)
  finalMasks: Float32Array; // (N, H)
  /** Test split only: final block keys/values (N, H, T, Dh). */
  k?: Float32Array;
  v?: Float32Array;
}

export interface FeaturesManifest {
  kind: 'features';
  formatVersion: 1;
  /** The pruned checkpoint, relative to the features folder on disk (resolved by loadFeatures). */
  checkpoint: string;
  dim: number;
  heads: number;
  tokens: number;
  classNames: string[];
  train: { count: number };
  test: { count: number; accuracy: number; finalHeadUsage: number };
}

/** Run the model over a split in eval mode and collect its features. */
export function extractSplit(model: ViT, split: Split, ds: Dataset, batchSize: number, withCache: boolean, onBatch?: (done: number) => void): SplitFeatures {
  const { embedDim: D, numHeads: H } = model.config;
  const T = model.dims.numTokens;
  const Dh = D / H;
  const N = split.count;
  const f: SplitFeatures = {
    count: N,
    x: new Float32Array(N * D),
    labels: Int32Array.from(split.labels.subarray(0, N)),
    predictions: new Int32Array(N),
    finalMasks: new Float32Array(N * H),
    ...(withCache ? { k: new Float32Array(N * H * T * Dh), v: new Float32Array(N * H * T * Dh) } : {}),
  };
  for (let start = 0; start < N; start += batchSize) {
    const B = Math.min(batchSize, N - start);
    const batch = makeBatch(split, Array.from({ length: B }, (_, i) => start + i), ds);
    const out = tf.tidy(() => {
      const o = model.forward(imagesToTensor(batch.images, B, ds.channels, ds.height, model.config.imgSize));
      const kv = withCache ? finalBlockKeysValues(model, o.finalBlockInput) : null;
      return { x: o.finalBlockInputCls, pred: o.logits.argMax(1), mask: o.masks[o.masks.length - 1]!, ...(kv ?? {}) };
    });
    f.x.set(out.x.dataSync() as Float32Array, start * D);
    f.predictions.set(out.pred.dataSync() as Int32Array, start);
    f.finalMasks.set(out.mask.dataSync() as Float32Array, start * H);
    if (f.k !== undefined && f.v !== undefined && 'k' in out && 'v' in out) {
      f.k.set(out.k.dataSync() as Float32Array, start * H * T * Dh);
      f.v.set(out.v.dataSync() as Float32Array, start * H * T * Dh);
    }
    tf.dispose(Object.values(out));
    onBatch?.(start + B);
  }
  return f;
}

/** Safetensors tensors for a split. */
export function featureTensors(f: SplitFeatures, D: number, H: number, T: number): Map<string, TensorData> {
  const m = new Map<string, TensorData>([
    ['x', { dtype: 'F32', shape: [f.count, D], data: f.x }],
    ['labels', { dtype: 'I32', shape: [f.count], data: f.labels }],
    ['predictions', { dtype: 'I32', shape: [f.count], data: f.predictions }],
    ['final_masks', { dtype: 'F32', shape: [f.count, H], data: f.finalMasks }],
  ]);
  if (f.k !== undefined && f.v !== undefined) {
    m.set('k', { dtype: 'F32', shape: [f.count, H, T, D / H], data: f.k });
    m.set('v', { dtype: 'F32', shape: [f.count, H, T, D / H], data: f.v });
  }
  return m;
}

/** Read a complete extraction; UserError with the command to run when it is missing or incomplete. */
/** The manifest of a complete extraction, with its checkpoint path resolved; reads no tensors. */
export function loadFeaturesManifest(dir: string): FeaturesManifest {
  const manifestPath = join(dir, 'manifest.json');
  if (!existsSync(manifestPath)) throw new UserError(`no extraction in ${dir} (manifest.json missing); run \`headsteer extract\` first`);
  const saved = readJson(manifestPath, 'features manifest') as FeaturesManifest;
  if (saved.kind !== 'features') throw new UserError(`${manifestPath} is not a features manifest (kind ${String(saved.kind)})`);
  // The checkpoint is recorded relative to the features folder (absolute paths pass through).
  return { ...saved, checkpoint: resolve(dir, saved.checkpoint) };
}

export function loadFeatures(dir: string, split: 'train' | 'test'): { manifest: FeaturesManifest; features: SplitFeatures } {
  const manifest = loadFeaturesManifest(dir);
  const file = join(dir, `${split}.safetensors`);
  if (!existsSync(file)) throw new UserError(`${file} is missing; rerun \`headsteer extract\``);
  const { tensors } = readSafetensors(file);
  const get = <T extends TensorData['data']>(name: string, shape: number[]): T => {
    const t = tensors.get(name);
    if (t === undefined) throw new UserError(`${file} has no tensor '${name}'; rerun \`headsteer extract\``);
    if (t.shape.length !== shape.length || t.shape.some((s, i) => s !== shape[i])) {
      throw new UserError(`${file}: '${name}' has shape [${t.shape.join(',')}], expected [${shape.join(',')}]`);
    }
    return t.data as T;
  };
  const N = manifest[split].count;
  const { dim: D, heads: H, tokens: T } = manifest;
  const features: SplitFeatures = {
    count: N,
    x: get<Float32Array>('x', [N, D]),
    labels: get<Int32Array>('labels', [N]),
    predictions: get<Int32Array>('predictions', [N]),
    finalMasks: get<Float32Array>('final_masks', [N, H]),
    ...(split === 'test' ? { k: get<Float32Array>('k', [N, H, T, D / H]), v: get<Float32Array>('v', [N, H, T, D / H]) } : {}),
  };
  return { manifest, features };
}
