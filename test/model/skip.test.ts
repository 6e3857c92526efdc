/**
 * The head-skipping forward (src/model/skip.ts) against the masked forward (`ViT.forward`, heads
 * multiplied by their mask): logits within 1e-5 with the gates' own masks, with explicit masks that set
 * a layer's every head off and another's every head on, in batches of mixed patterns and at batch 1,
 * without qkv bias, and with ungated layers; masks equal to the masked path's; no tensor leaks once the
 * cache is disposed.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initEngine } from '../../src/engine/backend.js';
import type { ViTConfig } from '../../src/model/config.js';
import { TINY_VIT } from './helpers.js';
import { createSkipCache, groupByPattern, skipForward } from '../../src/model/skip.js';
import { ViT } from '../../src/model/vit.js';
import { rng } from '../../src/random.js';

before(async () => {
  await initEngine();
});

const config: ViTConfig = { ...TINY_VIT };
const B = 12;
const TOL = 1e-5;

function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!);
}

/** Per column of a (B, H) tensor, its median over rows (the lower of the middle two). */
function medians(a: tf.Tensor2D): number[] {
  const [rows, cols] = a.shape;
  const v = a.dataSync();
  return Array.from({ length: cols }, (_, j) => {
    const col = Array.from({ length: rows }, (_, i) => v[i * cols + j]!).sort((p, q) => p - q);
    return col[Math.floor((rows - 1) / 2)]! + 1e-4; // just above a row's logit, so no logit sits on the threshold
  });
}

/** Skipping vs masked forward of a fresh model on a random batch; returns the masks the skip path used. */
function compare(c: ViTConfig, batch: number, headMasks?: Array<Float32Array | null>, seed = 3): Float32Array[] {
  const model = new ViT(c, 5, 0);
  const x = tf.randomNormal([batch, c.inChans, c.imgSize, c.imgSize], 0, 1, 'float32', seed) as tf.Tensor4D;
  // Each gate's threshold moved to the batch's median logit per head, so that the images split between
  // patterns (random gates give one image-independent pattern: the CLS tokens differ too little).
  tf.tidy(() => {
    model.forward(x).gateLogits.forEach((a, l) => {
      const fc = model.blocks[l]!.gate?.fc;
      if (a !== null && fc?.bias != null) fc.bias.assign(tf.sub(fc.bias, tf.tensor1d(medians(a))));
    });
  });
  const cache = createSkipCache(model);
  const start = tf.memory().numTensors;
  const skip = skipForward(model, x, cache, headMasks);
  tf.tidy(() => {
    const masked = model.forward(
      x,
      headMasks === undefined ? {} : { headMasks: headMasks.map((m) => (m === null ? null : tf.tensor2d(m, [batch, c.numHeads]))) },
    );
    const diff = maxAbsDiff(skip.logits, masked.logits);
    assert.ok(diff <= TOL, `logits differ by ${diff}`);
    masked.masks.forEach((m, l) => {
      if (m !== null) assert.deepEqual(Array.from(skip.masks[l]!), Array.from(m.dataSync()), `layer ${l} mask`);
    });
  });
  skip.logits.dispose();
  cache.dispose();
  assert.equal(tf.memory().numTensors, start, 'no tensor leaks');
  x.dispose();
  model.dispose();
  return skip.masks;
}

test('gate-decided masks: equals the masked forward, with several patterns per layer', () => {
  const masks = compare(config, B);
  const patterns = masks.map((m) => groupByPattern(m, B, config.numHeads).size);
  assert.ok(
    patterns.some((p) => p > 1),
    `some layer mixes patterns (non-vacuous): ${patterns}`,
  );
});

test('explicit masks: a layer with every head off, one with every head on, random rows elsewhere', () => {
  const H = config.numHeads;
  const r = rng(9, 'skip-test');
  const random = (): Float32Array => Float32Array.from({ length: B * H }, () => (r.uniform() < 0.6 ? 1 : 0));
  compare(config, B, [new Float32Array(B * H), new Float32Array(B * H).fill(1), random(), random()]);
});

test('batch 1, each image alone', () => {
  for (let seed = 0; seed < 3; seed++) compare(config, 1, undefined, seed);
});

test('no qkv bias, ungated layers in between', () => {
  compare({ ...config, qkvBias: false, gatedLayers: [1, 3] }, B);
});

test('groupByPattern: rows by the bit pattern of their kept heads, first seen first', () => {
  const m = Float32Array.from([1, 0, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1]); // 3 rows of 4 heads
  assert.deepEqual(
    [...groupByPattern(m, 3, 4)],
    [
      [0b1101, [0]],
      [0b0001, [1]],
      [0b1110, [2]],
    ],
  );
  assert.deepEqual([...groupByPattern(Float32Array.from([1, 1, 1, 1]), 2, 2)], [[0b11, [0, 1]]]);
});
