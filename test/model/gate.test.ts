/**
 * AdaViT gate math: straight-through Gumbel-Sigmoid gradient (== d sigmoid((a + g) / tau) / da by finite
 * differences), eval threshold, and model invariants: all-ones head masks == no gates; a masked head
 * changes nothing but its own contribution; forward passes leak no tensors.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initEngine } from '../../src/engine/backend.js';
import { gumbelSigmoidMask, logisticNoise, thresholdMask } from '../../src/model/gate.js';
import { ViT } from '../../src/model/vit.js';
import type { ViTConfig } from '../../src/model/config.js';
import { rng } from '../../src/random.js';

before(async () => {
  await initEngine();
});

const tiny: ViTConfig = {
  imgSize: 8,
  patchSize: 4,
  inChans: 1,
  numClasses: 3,
  embedDim: 12,
  depth: 2,
  numHeads: 3,
  mlpRatio: 2,
  qkvBias: true,
  gatedLayers: [0, 1],
};

test('gumbel-sigmoid: hard forward, straight-through gradient equals the finite-difference slope of s', () => {
  const tau = 5;
  const a = [-1.5, 0.2, 3.0, -0.1];
  const g = [0.3, -0.7, 0.1, 0.25];
  const value = tf.tidy(() => gumbelSigmoidMask(tf.tensor2d(a, [1, 4]), tf.tensor2d(g, [1, 4]), tau).dataSync());
  assert.deepEqual(
    Array.from(value),
    a.map((ai, i) => (ai + g[i]! > 0 ? 1 : 0)),
  );
  const grad = tf.tidy(() =>
    tf
      .grad((x: tf.Tensor) => tf.sum(gumbelSigmoidMask(x as tf.Tensor2D, tf.tensor2d(g, [1, 4]), tau)))(tf.tensor2d(a, [1, 4]))
      .dataSync(),
  );
  const s = (x: number, i: number): number => 1 / (1 + Math.exp(-(x + g[i]!) / tau));
  const h = 1e-3;
  a.forEach((ai, i) => {
    const fd = (s(ai + h, i) - s(ai - h, i)) / (2 * h);
    assert.ok(Math.abs(grad[i]! - fd) < 1e-5, `grad[${i}] ${grad[i]} vs finite difference ${fd} (tol 1e-5)`);
  });
});

test('eval mask is 1[sigmoid(a) > 0.5]', () => {
  const m = tf.tidy(() => thresholdMask(tf.tensor2d([-0.01, 0.01, 5, -5], [2, 2])).dataSync());
  assert.deepEqual(Array.from(m), [0, 1, 1, 0]);
});

test('logistic noise is seeded and centred', () => {
  const a = logisticNoise(20000, rng(1, 'gumbel'));
  const b = logisticNoise(20000, rng(1, 'gumbel'));
  assert.deepEqual(a, b);
  const mean = a.reduce((s, v) => s + v, 0) / a.length;
  assert.ok(Math.abs(mean) < 0.05, `mean ${mean} (tol 0.05)`);
});

test('all-ones head masks reproduce the ungated model exactly; zero masks change the output', () => {
  const gated = new ViT(tiny, 3, 0.5);
  const dense = new ViT({ ...tiny, gatedLayers: [] }, 3);
  const state = gated.stateDict();
  dense.importState('', new Map([...state].filter(([k]) => !k.includes('.gate.'))));
  const x = tf.randomNormal([2, 1, 8, 8], 0, 1, 'float32', 7) as tf.Tensor4D;
  const before = tf.memory().numTensors;
  const [ones, plain, zeros] = tf.tidy(() => {
    const m = tf.ones([2, 3]) as tf.Tensor2D;
    const z = tf.zeros([2, 3]) as tf.Tensor2D;
    return [gated.forward(x, { headMasks: [m, m] }).logits, dense.forward(x).logits, gated.forward(x, { headMasks: [z, z] }).logits];
  });
  const d = tf.tidy(() => tf.max(tf.abs(tf.sub(ones!, plain!))).dataSync()[0]!);
  const dz = tf.tidy(() => tf.max(tf.abs(tf.sub(zeros!, plain!))).dataSync()[0]!);
  tf.dispose([ones!, plain!, zeros!]);
  assert.equal(tf.memory().numTensors, before, 'no leaked tensors');
  assert.ok(d < 1e-6, `ones-mask vs dense max diff ${d}`);
  assert.ok(dz > 1e-3, 'masking every head must change the logits');
  tf.dispose([x]);
  gated.dispose();
  dense.dispose();
});

test('forward returns named outputs with the documented shapes; steering input changes only the final mask', () => {
  const model = new ViT(tiny, 5, 0.5);
  const x = tf.randomNormal([4, 1, 8, 8], 0, 1, 'float32', 9) as tf.Tensor4D;
  tf.tidy(() => {
    const out = model.forward(x);
    assert.deepEqual(out.logits.shape, [4, 3]);
    assert.deepEqual(out.finalBlockInputCls.shape, [4, 12]);
    assert.equal(out.masks.length, 2);
    assert.deepEqual(out.masks[1]!.shape, [4, 3]);
    assert.deepEqual(out.gateLogits[0]!.shape, [4, 3]);
    const steered = model.forward(x, { finalGateInput: tf.mul(out.finalBlockInputCls, -3) as tf.Tensor2D });
    assert.deepEqual(steered.masks[0]!.dataSync(), out.masks[0]!.dataSync(), 'earlier layers unchanged');
    assert.deepEqual(steered.finalBlockInputCls.dataSync(), out.finalBlockInputCls.dataSync(), 'residual stream unchanged');
    assert.notDeepEqual(steered.gateLogits[1]!.dataSync(), out.gateLogits[1]!.dataSync(), 'final gate sees the replacement');
  });
  x.dispose();
  model.dispose();
});
