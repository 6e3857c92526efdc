/**
 * Extraction (stage `extract`): run the pruned ViT once over the train and test sets and keep what the
 * later stages read: x = the CLS token of the final block's residual input (the SAE's data and the final
 * decision network's input), labels, the unsteered predictions and final-layer masks, and for the test
 * set the final block's per-head keys and values (the fast steering path's cache). With steered layers
 * other than the final one (`steer.layers`, docs/design.md "Steering at every layer"), the same forward
 * also yields the CLS token of each such layer's block input: that layer's SAE data.
 *
 * On disk (`<run>/features/`): `train.safetensors`, `test.safetensors`, with extra layers
 * `train.layers.safetensors` and `test.layers.safetensors` (tensor `x.<l>` per layer l), and
 * `manifest.json`, written last so that its presence marks a complete extraction.
 * Legend: N images, D width, H heads, T tokens, Dh head dim.
 */
import * as tf from '@tensorflow/tfjs';
import { copyInto } from '../engine/wasm_backend.js';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { makeBatch } from '../data/batch.js';
import type { Dataset, Split } from '../data/dataset.js';
import { UserError } from '../errors.js';
import { readJson } from '../io/atomic.js';
import { readSafetensors, requireFinite, toFloat32, type TensorData } from '../io/safetensors.js';
import { imagesToTensor } from '../model/input.js';
import type { ViT } from '../model/vit.js';
import { modelConfigOf } from '../run/layout.js';
import { finalBlockKeysValues } from './fastpath.js';
import { steeredLayers } from './layers.js';

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
  /** Per extra layer l: the CLS token of block l's residual input (N, D). */
  layerX?: Map<number, Float32Array>;
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
  /** Blocks of the model; the final layer is depth - 1. */
  depth: number;
  /** The layers whose block-input CLS is stored, ascending: the final layer (`x`) and any extra layers. */
  layers: number[];
  train: { count: number };
  test: { count: number; accuracy: number; finalHeadUsage: number };
}

/** How `extractSplit` runs. */
export interface ExtractSplitOptions {
  batchSize: number;
  /** Keep the final block's keys and values (the test split's fast-path cache). */
  withCache: boolean;
  /** Extra layers (not the final one) whose block-input CLS to keep. */
  layers?: readonly number[];
  /** Images [start, end) of the split; default all of it. */
  range?: readonly [number, number];
  /** Called after each batch with the images of the range done. */
  onBatch?: (done: number) => void;
}

/** Zeroed features of N images with these labels, for a model of width D, H heads and T tokens. */
export function emptyFeatures(
  labels: Int32Array,
  { D, H, T }: { D: number; H: number; T: number },
  withCache: boolean,
  layers: readonly number[],
): SplitFeatures {
  const N = labels.length;
  return {
    count: N,
    x: new Float32Array(N * D),
    labels,
    predictions: new Int32Array(N),
    finalMasks: new Float32Array(N * H),
    ...(withCache ? { k: new Float32Array(N * T * D), v: new Float32Array(N * T * D) } : {}),
    ...(layers.length > 0 ? { layerX: new Map(layers.map((l) => [l, new Float32Array(N * D)])) } : {}),
  };
}

/** Run the model over a split (or a range of it) in eval mode and collect its features. */
export function extractSplit(model: ViT, split: Split, ds: Dataset, o: ExtractSplitOptions): SplitFeatures {
  const { embedDim: D, numHeads: H } = model.config;
  const T = model.dims.numTokens;
  const Dh = D / H;
  const [first, end] = o.range ?? [0, split.count];
  const N = end - first;
  const layers = o.layers ?? [];
  const f = emptyFeatures(Int32Array.from(split.labels.subarray(first, end)), { D, H, T }, o.withCache, layers);
  for (let start = 0; start < N; start += o.batchSize) {
    const B = Math.min(o.batchSize, N - start);
    const batch = makeBatch(
      split,
      Array.from({ length: B }, (_, i) => first + start + i),
      ds,
    );
    const out = tf.tidy(() => {
      const fw = model.forward(imagesToTensor(batch.images, B, ds.channels, ds.height, model.config.imgSize));
      const kv = o.withCache ? finalBlockKeysValues(model, fw.finalBlockInput) : null;
      const cls = layers.map((l) => {
        const c = fw.blockInputCls[l];
        if (c == null) throw new Error(`extractSplit: layer ${l} has no gate, so the forward keeps no input CLS for it`);
        return c;
      });
      return { x: fw.finalBlockInputCls, pred: fw.logits.argMax(1), mask: fw.masks[fw.masks.length - 1]!, cls, ...(kv ?? {}) };
    });
    copyInto(out.x, f.x, start * D);
    f.predictions.set(out.pred.dataSync() as Int32Array, start);
    copyInto(out.mask, f.finalMasks, start * H);
    if (f.k !== undefined && f.v !== undefined && 'k' in out && 'v' in out) {
      copyInto(out.k, f.k, start * H * T * Dh);
      copyInto(out.v, f.v, start * H * T * Dh);
    }
    layers.forEach((l, i) => {
      copyInto(out.cls[i]!, f.layerX!.get(l)!, start * D);
    });
    tf.dispose([out.x, out.pred, out.mask, ...out.cls, ...('k' in out ? [out.k, out.v] : [])]);
    o.onBatch?.(start + B);
  }
  return f;
}

/** Copy `rows`, the features of images [start, start + rows.count) of a split, into that split's `f`. */
export function placeRows(f: SplitFeatures, rows: SplitFeatures, start: number): void {
  const put = <A extends Float32Array | Int32Array>(into: A, from: A): void => {
    into.set(from, start * (into.length / f.count));
  };
  put(f.x, rows.x);
  put(f.labels, rows.labels);
  put(f.predictions, rows.predictions);
  put(f.finalMasks, rows.finalMasks);
  if (f.k !== undefined && f.v !== undefined) {
    put(f.k, rows.k!);
    put(f.v, rows.v!);
  }
  for (const [l, x] of f.layerX ?? []) put(x, rows.layerX!.get(l)!);
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

/** The file of a split's extra-layer CLS tokens. */
export function layerFeaturesFile(dir: string, split: 'train' | 'test'): string {
  return join(dir, `${split}.layers.safetensors`);
}

/** Safetensors tensors of a split's extra layers: `x.<l>` (N, D) per layer; empty without extra layers. */
export function layerFeatureTensors(f: SplitFeatures, D: number): Map<string, TensorData> {
  return new Map([...(f.layerX ?? new Map<number, Float32Array>())].map(([l, x]) => [`x.${l}`, { dtype: 'F32', shape: [f.count, D], data: x }]));
}

/**
 * The manifest of a complete extraction, with its checkpoint path resolved; reads no tensors. A manifest
 * written before extra layers existed stored the final layer only; its depth comes from the checkpoint.
 * UserError with the command to run when it is missing.
 */
export function loadFeaturesManifest(dir: string): FeaturesManifest {
  const manifestPath = join(dir, 'manifest.json');
  if (!existsSync(manifestPath)) throw new UserError(`no extraction in ${dir} (manifest.json missing); run \`headsteer extract\` first`);
  const saved = readJson(manifestPath, 'features manifest') as Partial<FeaturesManifest> & Pick<FeaturesManifest, 'kind' | 'checkpoint'>;
  if (saved.kind !== 'features') throw new UserError(`${manifestPath} is not a features manifest (kind ${String(saved.kind)})`);
  // The checkpoint is recorded relative to the features folder (absolute paths pass through).
  const checkpoint = resolve(dir, saved.checkpoint);
  if (saved.depth !== undefined && saved.layers !== undefined) return { ...(saved as FeaturesManifest), checkpoint };
  const model = (readJson(join(checkpoint, 'config.json'), 'checkpoint config') as { model?: { depth?: unknown } }).model;
  if (typeof model?.depth !== 'number') throw new UserError(`${join(checkpoint, 'config.json')} records no model depth; rerun \`headsteer extract --force\``);
  return { ...(saved as FeaturesManifest), checkpoint, depth: model.depth, layers: [model.depth - 1] };
}

/** Read a complete extraction's split (final layer); UserError with the command to run when it is missing or incomplete. */
export function loadFeatures(dir: string, split: 'train' | 'test'): { manifest: FeaturesManifest; features: SplitFeatures } {
  const manifest = loadFeaturesManifest(dir);
  const file = join(dir, `${split}.safetensors`);
  if (!existsSync(file)) throw new UserError(`${file} is missing; rerun \`headsteer extract --force\``);
  const { tensors } = readSafetensors(file);
  const get = <T extends TensorData['data']>(name: string, shape: number[]): T => {
    const t = tensors.get(name);
    if (t === undefined) throw new UserError(`${file} has no tensor '${name}'; rerun \`headsteer extract --force\``);
    if (t.shape.length !== shape.length || t.shape.some((s, i) => s !== shape[i])) {
      throw new UserError(`${file}: '${name}' has shape [${t.shape.join(',')}], expected [${shape.join(',')}]`);
    }
    return t.data as T;
  };
  const N = manifest[split].count;
  const { dim: D, heads: H, tokens: T } = manifest;
  // The first bad value's sample, for a features file (rows are samples).
  requireFinite(tensors, file, (name, i) => {
    const t = tensors.get(name)!;
    return t.shape.length > 1 ? `sample ${Math.floor(i / (t.data.length / t.shape[0]!))}` : undefined;
  });
  const features: SplitFeatures = {
    count: N,
    x: get<Float32Array>('x', [N, D]),
    labels: get<Int32Array>('labels', [N]),
    predictions: get<Int32Array>('predictions', [N]),
    finalMasks: get<Float32Array>('final_masks', [N, H]),
    ...(split === 'test' ? { k: get<Float32Array>('k', [N, H, T, D / H]), v: get<Float32Array>('v', [N, H, T, D / H]) } : {}),
  };
  const K = manifest.classNames.length;
  for (const [name, values] of [
    ['labels', features.labels],
    ['predictions', features.predictions],
  ] as const) {
    const i = values.findIndex((c) => !(c >= 0 && c < K));
    if (i >= 0)
      throw new UserError(`${file}: '${name}' of sample ${i} is ${values[i]}, expected a class index in 0..${K - 1} (manifest.json names ${K} classes)`);
  }
  return { manifest, features };
}

/**
 * A split's features with x = the CLS token of block `layer`'s residual input (N, D): the final layer's
 * `x`, or an extra layer's from the layers file. Labels and predictions are the split's; for an extra
 * layer the fast path's cache (final block only) is left out. UserError for a layer without a decision
 * network, and naming the extract command for a gated layer that is not stored.
 */
export function loadLayerFeatures(dir: string, split: 'train' | 'test', layer: number): { manifest: FeaturesManifest; features: SplitFeatures } {
  const loaded = loadFeatures(dir, split);
  const { manifest, features } = loaded;
  if (layer === manifest.depth - 1) return loaded;
  if (!manifest.layers.includes(layer)) {
    steeredLayers([layer], modelConfigOf(manifest.checkpoint), dir); // a layer without a gate is named as such
    throw new UserError(
      `${dir} holds the block-input CLS of layers [${manifest.layers.join(', ')}], not layer ${layer}; run \`headsteer extract --layers ${layer}\` (or --layers all)`,
    );
  }
  const file = layerFeaturesFile(dir, split);
  if (!existsSync(file)) throw new UserError(`${file} is missing; rerun \`headsteer extract --layers all --force\``);
  const name = `x.${layer}`;
  const t = readSafetensors(file).tensors.get(name);
  const D = manifest.dim;
  if (t === undefined || t.shape.length !== 2 || t.shape[0] !== features.count || t.shape[1] !== D) {
    throw new UserError(
      `${file}: '${name}' is ${t === undefined ? 'missing' : `[${t.shape.join(',')}]`}, expected [${features.count},${D}]; rerun \`headsteer extract --force\``,
    );
  }
  requireFinite(new Map([[name, t]]), file, (_, i) => `sample ${Math.floor(i / D)}`);
  const { count, labels, predictions, finalMasks } = features;
  return { manifest, features: { count, x: toFloat32(t, name, file), labels, predictions, finalMasks } };
}
