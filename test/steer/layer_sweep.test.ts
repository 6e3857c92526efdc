/**
 * Steering at every layer (src/steer/layer_sweep.ts) on a small random ViT and SAE:
 *   - extraction keeps, per requested layer, exactly the forward's block-input CLS (bit for bit in the
 *     same batches, 1e-6 across batch sizes);
 *   - the sweep's unsteered run is the plain forward's (bit for bit); beta = 0 is the reconstruction
 *     point bit for bit;
 *   - at the final layer, the reconstruction and a per-class steering point equal the fast path on the
 *     extracted cache (same predictions and final-layer masks; the fast path equals the full forward
 *     within 1e-5, test/steer/fastpath.test.ts);
 *   - at an earlier layer, steering leaves the layers before it alone and changes later layers' masks;
 *   - no tensor leaks; summariseForwardRun's arithmetic on a hand-made run.
 * Legend: N images, L layers, H heads, F latents.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { makeBatch } from '../../src/data/batch.js';
import { makeProcedural } from '../../src/data/procedural.js';
import { initEngine } from '../../src/engine/backend.js';
import type { ViTConfig } from '../../src/model/config.js';
import { imagesToTensor } from '../../src/model/input.js';
import { ViT } from '../../src/model/vit.js';
import { SparseAutoencoder } from '../../src/sae/sae.js';
import { runFinalLayer } from '../../src/steer/fastpath_eval.js';
import { extractSplit } from '../../src/steer/features.js';
import { layerSweepRuns, summariseForwardRun, type ForwardRun, type LayerConfig, type LayerSteering } from '../../src/steer/layer_sweep.js';
import type { IndexSets } from '../../src/steer/stats.js';
import { saeBase, setMask, steerFromBase } from '../../src/steer/steering.js';

before(async () => {
  await initEngine();
});

const ds = makeProcedural(3, { classes: 3, size: 12, channels: 1, train: 10, test: 30 });
const config: ViTConfig = {
  imgSize: 12,
  patchSize: 4,
  inChans: 1,
  numClasses: 3,
  embedDim: 24,
  depth: 3,
  numHeads: 4,
  mlpRatio: 2,
  qkvBias: true,
  gatedLayers: [0, 1, 2],
};
const L = config.depth;
const H = config.numHeads;
const N = ds.test.count;
const BS = 8; // batches of 8, 8, 8, 6: the last one short

const SETS: IndexSets = {
  perClass: [Int32Array.from([0, 5, 9, 14, 20, 33]), Int32Array.from([1, 5, 17, 22, 40, 41]), Int32Array.from([2, 3, 7, 50, 60, 63])],
  global: Int32Array.from([5, 9, 17, 20, 33, 40]),
  random: Int32Array.from([4, 8, 15, 16, 23, 42]),
};

function sae(seed: number): SparseAutoencoder {
  return new SparseAutoencoder({ dIn: config.embedDim, dSae: 64, k: 6 }, { seed });
}

/** Heads kept per image at layer l of a run. */
function keptAt(run: ForwardRun, l: number): number[] {
  return Array.from({ length: N }, (_, i) => run.kept[i * L + l]!);
}

/** Heads kept per image of final-layer masks (N, H). */
function keptOfMasks(masks: Float32Array): number[] {
  return Array.from({ length: N }, (_, i) => masks.subarray(i * H, (i + 1) * H).reduce((a, b) => a + b, 0));
}

test("extraction keeps each requested layer's block-input CLS: the forward's, bit for bit in the same batches", () => {
  const model = new ViT(config, 5, 0);
  try {
    const before = tf.memory().numTensors;
    const f = extractSplit(model, ds.test, ds, { batchSize: BS, withCache: true, layers: [0, 1] });
    assert.equal(tf.memory().numTensors, before, 'extraction leaks no tensors');
    const g = extractSplit(model, ds.test, ds, { batchSize: N, withCache: false, layers: [1] });
    const D = config.embedDim;
    for (let start = 0; start < N; start += BS) {
      const B = Math.min(BS, N - start);
      const batch = makeBatch(
        ds.test,
        Array.from({ length: B }, (_, i) => start + i),
        ds,
      );
      tf.tidy(() => {
        const out = model.forward(imagesToTensor(batch.images, B, ds.channels, ds.height, config.imgSize));
        for (const l of [0, 1])
          assert.deepEqual(f.layerX!.get(l)!.subarray(start * D, (start + B) * D), out.blockInputCls[l]!.dataSync(), `layer ${l}, rows from ${start}`);
        assert.deepEqual(f.x.subarray(start * D, (start + B) * D), out.blockInputCls[L - 1]!.dataSync(), "x is the final layer's");
      });
    }
    const a = f.layerX!.get(1)!;
    const b = g.layerX!.get(1)!;
    assert.ok(
      a.every((v, i) => Math.abs(v - b[i]!) <= 1e-6 * Math.max(1, Math.abs(v))),
      'batch size does not matter beyond float noise (1e-6)',
    );
    assert.deepEqual([...f.layerX!.keys()], [0, 1]);
  } finally {
    model.dispose();
  }
});

test('every-layer sweep: baseline = plain forward, beta 0 = reconstruction, final layer = fast path, early layer moves later masks; no leaks', () => {
  const model = new ViT(config, 5, 0);
  const saes = [sae(1), sae(2)];
  try {
    const layers: LayerSteering[] = [1, 2].map((layer, i) => ({ layer, sae: saes[i]!, sets: SETS, meanActive: new Float32Array(64) }));
    const configs: LayerConfig[] = [
      { kind: 'reconstruction' },
      { kind: 'steer', strategy: 'per-class', alpha: 1.5 },
      { kind: 'steer', strategy: 'predicted-class', alpha: -1 },
      { kind: 'threshold', beta: 0 },
      { kind: 'threshold', beta: -0.5 },
    ];
    const before = tf.memory().numTensors;
    const { baseline, runs } = layerSweepRuns(model, ds.test, ds, layers, { configs, steer: { mode: 'pre', keepError: false }, batchSize: BS });
    assert.equal(tf.memory().numTensors, before, 'no leaks');

    // The unsteered run is the extraction's forward.
    const test = extractSplit(model, ds.test, ds, { batchSize: BS, withCache: true });
    assert.deepEqual(baseline.predictions, test.predictions);
    assert.deepEqual(keptAt(baseline, L - 1), keptOfMasks(test.finalMasks));

    for (const [i] of layers.entries()) {
      assert.deepEqual(runs[i]![3], runs[i]![0], `layer ${layers[i]!.layer}: beta 0 is the reconstruction point bit for bit`);
    }

    // Final layer (2) against the fast path on the cache.
    const final = saes[1]!;
    const fastRecon = runFinalLayer(model, test, BS, (x) => ({ gateInput: saeBase(final, x).xHat }));
    const fastSteer = runFinalLayer(model, test, BS, (x, start) => {
      const mask = tf.tensor2d(setMask(SETS.perClass, test.labels.subarray(start, start + x.shape[0]), 64), [x.shape[0], 64]);
      return { gateInput: steerFromBase(final, x, saeBase(final, x), mask, 1.5) };
    });
    for (const [j, fast] of [
      [0, fastRecon],
      [1, fastSteer],
    ] as const) {
      assert.deepEqual(runs[1]![j]!.predictions, fast.predictions, `config ${j}: predictions`);
      assert.deepEqual(keptAt(runs[1]![j]!, 2), keptOfMasks(fast.masks), `config ${j}: final-layer heads kept`);
      for (const l of [0, 1]) assert.deepEqual(keptAt(runs[1]![j]!, l), keptAt(baseline, l), `config ${j}: layer ${l} as unsteered`);
    }
    assert.notDeepEqual(keptAt(runs[1]![1]!, 2), keptAt(runs[1]![0]!, 2), 'per-class steering moved the final layer (else vacuous)');

    // Layer 1: layer 0 untouched, layer 2 decides differently once layer 1's mask changes.
    const early = runs[0]!;
    for (const j of configs.keys()) assert.deepEqual(keptAt(early[j]!, 0), keptAt(baseline, 0), `config ${j}: layer 0 as unsteered`);
    const moved = [1, 2, 4].filter((j) => keptAt(early[j]!, 1).some((v, n) => v !== keptAt(early[0]!, 1)[n]));
    assert.ok(moved.length > 0, 'some configuration moved layer 1 (else vacuous)');
    assert.ok(
      moved.some((j) => keptAt(early[j]!, 2).some((v, n) => v !== keptAt(early[0]!, 2)[n])),
      'and with it layer 2, which runs normally on what follows',
    );
  } finally {
    for (const s of saes) s.dispose();
    model.dispose();
  }
});

test('layers must ascend', () => {
  const model = new ViT(config, 5, 0);
  const s = sae(1);
  try {
    const layers = [2, 1].map((layer): LayerSteering => ({ layer, sae: s, sets: SETS, meanActive: new Float32Array(64) }));
    assert.throws(
      () => layerSweepRuns(model, ds.test, ds, layers, { configs: [{ kind: 'reconstruction' }], steer: { mode: 'pre', keepError: false }, batchSize: BS }),
      /must ascend/,
    );
  } finally {
    s.dispose();
    model.dispose();
  }
});

test('summariseForwardRun: accuracy, per-layer usage (ungated = all heads), total over gated layers, per class', () => {
  // 3 images (classes 0, 1, 1), L = 2 (layer 0 ungated: H = 2 kept), layer 1 keeps 2, 1, 0 heads.
  const run: ForwardRun = { predictions: Int32Array.from([0, 0, 1]), kept: Float32Array.from([2, 2, 2, 1, 2, 0]) };
  const s = summariseForwardRun(run, Int32Array.from([0, 1, 1]), ['a', 'b'], 2, [1]);
  assert.equal(s.accuracy, 2 / 3);
  assert.deepEqual(s.perLayerUsage, [1, 0.5]);
  assert.equal(s.totalUsage, 0.5, 'the mean over the gated layer only');
  assert.deepEqual(s.perClass, [
    { class: 0, name: 'a', accuracy: 1, totalUsage: 1, perLayerUsage: [1, 1] },
    { class: 1, name: 'b', accuracy: 0.5, totalUsage: 0.25, perLayerUsage: [1, 0.25] },
  ]);
});
