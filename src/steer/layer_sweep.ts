/**
 * Steering at every layer (docs/design.md "Steering at every layer"). At a steered layer l, paper Eq. 5
 * acts on SAE_l's code of the CLS token of block l's residual input, and x~_l is fed to gate l only:
 * block l runs on the real residual stream with the mask that follows, and every later layer runs
 * normally on what follows (its gate reads its own, now changed, input CLS). Nothing downstream of l is
 * fixed, so a configuration costs a forward pass from block l over the test images. The blocks before l
 * do not depend on it: per batch, one unsteered pass stops at each steered layer, and its state there is
 * the prefix every configuration of that layer starts from.
 * A configuration's outcome is, per test image, the prediction and the heads kept at every layer.
 * Legend: N test images, B batch, D width, F latents, H heads, L layers, C classes.
 */
import * as tf from '@tensorflow/tfjs';
import { copyInto } from '../engine/wasm_backend.js';
import { makeBatch } from '../data/batch.js';
import type { Dataset, Split } from '../data/dataset.js';
import { imagesToTensor } from '../model/input.js';
import type { ForwardOptions, ForwardState, ViT } from '../model/vit.js';
import type { SparseAutoencoder } from '../sae/sae.js';
import type { LayerClassRow } from './layers_results.js';
import type { IndexSets } from './stats.js';
import { maskBuffer, saeBase, setMask, steerFromBase, type SaeBase, type SteerOptions } from './steering.js';
import type { Strategy } from './strategies.js';
import { rowGroups } from './sweep.js';

/** What steering at one layer needs: the layer, its SAE and the index sets of its statistics. */
export interface LayerSteering {
  layer: number;
  sae: SparseAutoencoder;
  sets: IndexSets;
  /** mu (F), the mean active value per latent (steering mode 'add'). */
  meanActive: Float32Array;
}

/**
 * One configuration of a steered layer: x_hat at its gate (the reconstruction point), Eq. 5 with a
 * strategy's index sets at alpha, or the threshold shift beta on the gate's logits of x_hat.
 */
export type LayerConfig = { kind: 'reconstruction' } | { kind: 'steer'; strategy: Strategy; alpha: number } | { kind: 'threshold'; beta: number };

/** A forward configuration's outcome on the test images. */
export interface ForwardRun {
  predictions: Int32Array; // (N)
  /** Heads kept per image and layer (N, L); an ungated layer keeps all H. */
  kept: Float32Array;
}

/** The unsteered model's run and, per steered layer (in the order given), one run per configuration. */
export interface LayerSweepRuns {
  baseline: ForwardRun;
  runs: ForwardRun[][];
}

export interface LayerSweepOptions {
  /** The configurations evaluated at every steered layer. */
  configs: readonly LayerConfig[];
  steer: Pick<SteerOptions, 'mode' | 'keepError'>;
  batchSize: number;
  onProgress?: (done: number, total: number) => void;
}

/** Heads kept per image and layer (B, L) of a finished forward state. */
function keptPerLayer(model: ViT, state: ForwardState): tf.Tensor2D {
  const B = state.x.shape[0];
  const H = model.config.numHeads;
  return tf.stack(
    state.masks.map((m) => (m === null ? tf.fill([B], H) : m.sum(1))),
    1,
  ) as tf.Tensor2D; // (B, L)
}

/**
 * `model.advance` whose intermediates (attention maps, MLP activations) are freed at once: only the
 * returned state's tensors stay in the caller's scope, so a batch keeps one residual stream per steered
 * layer and not every block's activations.
 */
function advanceLean(model: ViT, state: ForwardState, to: number): ForwardState {
  let next: ForwardState = state;
  tf.tidy(() => {
    next = model.advance(state, to);
    return [next.x, ...next.masks, ...next.gateLogits, ...next.blockInputCls].filter((t): t is tf.Tensor2D | tf.Tensor3D => t !== null);
  });
  return next;
}

/** Store a finished forward state's predictions and kept heads for rows [start, start + B); returns the predictions. */
function record(model: ViT, state: ForwardState, run: ForwardRun, start: number): Int32Array {
  const L = model.config.depth;
  const pred = model.logitsOf(state.x).argMax(1).dataSync() as Int32Array; // (B)
  run.predictions.set(pred, start);
  copyInto(keptPerLayer(model, state), run.kept, start * L);
  return pred;
}

/** Who reads which rows of a batch: the true labels and the unsteered predictions (B). */
interface BatchRows {
  count: number;
  labels: Int32Array;
  predictions: Int32Array;
}

/** The forward options of one configuration of `s.layer`, given the batch's encoding of its input CLS. Creates tensors in the caller's scope. */
function configOptions(c: LayerConfig, s: LayerSteering, base: SaeBase, rows: BatchRows, mu: tf.Tensor1D, steer: LayerSweepOptions['steer']): ForwardOptions {
  const layer = s.layer;
  switch (c.kind) {
    case 'reconstruction':
      return { gateInputEdit: { layer, edit: () => base.xHat } };
    case 'threshold':
      return { gateInputEdit: { layer, edit: () => base.xHat }, gateShift: { layer, shift: tf.scalar(c.beta) } };
    case 'steer': {
      const { groups, rows: g } = rowGroups(c.strategy, rows, s.sets);
      const mask = tf.tensor2d(setMask(groups, g, s.sae.dSae, maskBuffer(rows.count * s.sae.dSae)), [rows.count, s.sae.dSae]); // (B, F)
      return { gateInputEdit: { layer, edit: (cls) => steerFromBase(s.sae, cls, base, mask, c.alpha, { ...steer, meanActive: mu }) } };
    }
  }
}

/**
 * Every configuration at every steered layer (ascending) over `split`, beside the unsteered model.
 * Per batch the unsteered pass runs once; each configuration of layer l runs blocks l..L-1 from its
 * state at l. The SAE encoder runs once per batch and layer for all of that layer's configurations.
 */
export function layerSweepRuns(model: ViT, split: Split, ds: Dataset, layers: readonly LayerSteering[], o: LayerSweepOptions): LayerSweepRuns {
  const L = model.config.depth;
  const N = split.count;
  layers.forEach((s, i) => {
    if (i > 0 && s.layer <= layers[i - 1]!.layer) throw new RangeError(`layerSweepRuns: layers must ascend, got ${layers.map((x) => x.layer).join(', ')}`);
  });
  const newRun = (): ForwardRun => ({ predictions: new Int32Array(N), kept: new Float32Array(N * L) });
  const baseline = newRun();
  const runs = layers.map(() => o.configs.map(newRun));
  for (let start = 0; start < N; start += o.batchSize) {
    const B = Math.min(o.batchSize, N - start);
    const batch = makeBatch(
      split,
      Array.from({ length: B }, (_, i) => start + i),
      ds,
    );
    tf.tidy(() => {
      const images = imagesToTensor(batch.images, B, ds.channels, ds.height, model.config.imgSize);
      // The unsteered pass, stopped at each steered layer: the prefixes of that layer's configurations.
      const prefixes: ForwardState[] = [];
      let state = model.start(images);
      for (const s of layers) {
        state = advanceLean(model, state, s.layer);
        prefixes.push(state);
      }
      const last = state;
      const predictions = tf.tidy(() => record(model, model.advance(last, L), baseline, start));
      const rows: BatchRows = { count: B, labels: Int32Array.from(split.labels.subarray(start, start + B)), predictions };
      layers.forEach((s, i) => {
        const prefix = prefixes[i]!;
        const cls = prefix.x.slice([0, 0, 0], [-1, 1, -1]).squeeze([1]) as tf.Tensor2D; // (B, D): what gate l reads
        const base = saeBase(s.sae, cls);
        const mu = tf.tensor1d(s.meanActive);
        o.configs.forEach((c, j) => {
          tf.tidy(() => {
            record(model, model.advance(prefix, L, configOptions(c, s, base, rows, mu, o.steer)), runs[i]![j]!, start);
          });
        });
      });
    });
    o.onProgress?.(start + B, N);
  }
  return { baseline, runs };
}

/** Accuracy and usage of a forward run: overall, per layer and per class. */
export interface ForwardSummary {
  accuracy: number;
  /** Mean of perLayerUsage over the gated layers. */
  totalUsage: number;
  /** (L) fraction of heads kept per layer; 1 for an ungated layer. */
  perLayerUsage: number[];
  perClass: LayerClassRow[];
}

/** Summarise a run over images with `labels` (N) in C = `classNames.length` classes, H heads, gated layers `gated`. */
export function summariseForwardRun(run: ForwardRun, labels: Int32Array, classNames: readonly string[], H: number, gated: readonly number[]): ForwardSummary {
  const N = labels.length;
  const C = classNames.length;
  const L = run.kept.length / N;
  const correct = new Float64Array(C);
  const count = new Float64Array(C);
  const kept = Array.from({ length: C }, () => new Float64Array(L)); // (C, L) heads kept, summed over images
  for (let i = 0; i < N; i++) {
    const c = labels[i]!;
    count[c]! += 1;
    if (run.predictions[i] === c) correct[c]! += 1;
    for (let l = 0; l < L; l++) kept[c]![l]! += run.kept[i * L + l]!;
  }
  const usage = (k: ArrayLike<number>, n: number): number[] => Array.from({ length: L }, (_, l) => (n > 0 ? k[l]! / (n * H) : 0));
  const total = (perLayer: number[]): number => (gated.length === 0 ? 1 : gated.reduce((a, l) => a + perLayer[l]!, 0) / gated.length);
  const perClass = classNames.map((name, c): LayerClassRow => {
    const perLayerUsage = usage(kept[c]!, count[c]!);
    return { class: c, name, accuracy: count[c]! > 0 ? correct[c]! / count[c]! : 0, totalUsage: total(perLayerUsage), perLayerUsage };
  });
  const all = Array.from({ length: L }, (_, l) => kept.reduce((a, k) => a + k[l]!, 0));
  const perLayerUsage = usage(all, N);
  return { accuracy: correct.reduce((a, b) => a + b, 0) / N, totalUsage: total(perLayerUsage), perLayerUsage, perClass };
}
