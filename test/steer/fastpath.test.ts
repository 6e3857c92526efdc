/**
 * The fast steering path equals the full forward with the same final-layer input / mask (1e-5), including
 * the forward's per-layer gate edit (`gateInputEdit`, `gateShift`) at the final layer.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initEngine } from '../../src/engine/backend.js';
import { ViT } from '../../src/model/vit.js';
import { clsHeadOutputs, finalBlockKeysValues, finalLayer } from '../../src/steer/fastpath.js';
import { SMALL_GATED_VIT } from './small_vit.js';

before(async () => {
  await initEngine();
});

const config = SMALL_GATED_VIT;
const TOL = 1e-5;

function maxDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!);
}

test('fast path == full forward: unsteered, steered gate input, explicit mask', () => {
  const model = new ViT(config, 11, 0.3);
  const x = tf.randomNormal([6, 2, 12, 12], 0, 1, 'float32', 3) as tf.Tensor4D;
  const before = tf.memory().numTensors;
  tf.tidy(() => {
    const full = model.forward(x);
    const cache = { cls: full.finalBlockInputCls, ...finalBlockKeysValues(model, full.finalBlockInput) };
    const fast = finalLayer(model, cache);
    assert.ok(maxDiff(fast.logits, full.logits) < TOL, 'unsteered logits');
    assert.deepEqual(fast.mask.dataSync(), full.masks[2]!.dataSync());

    const steerInput = tf.add(tf.mul(full.finalBlockInputCls, 1.7), 0.3) as tf.Tensor2D;
    const fullSteered = model.forward(x, { finalGateInput: steerInput });
    const fastSteered = finalLayer(model, cache, { gateInput: steerInput });
    assert.ok(maxDiff(fastSteered.logits, fullSteered.logits) < TOL, 'steered logits');
    assert.deepEqual(fastSteered.mask.dataSync(), fullSteered.masks[2]!.dataSync());

    const m = tf.tensor2d(
      Array.from({ length: 24 }, (_, i) => ((i * 7) % 3 === 0 ? 0 : 1)),
      [6, 4],
    );
    const fullMasked = model.forward(x, { headMasks: [null, null, m] });
    const fastMasked = finalLayer(model, cache, { mask: m });
    assert.ok(maxDiff(fastMasked.logits, fullMasked.logits) < TOL, 'explicit mask');
  });
  assert.equal(tf.memory().numTensors, before, 'no leaks');
  x.dispose();
  model.dispose();
});

test('target residual: replacing the CLS residual equals a forward whose final-block CLS input is replaced', () => {
  const model = new ViT(config, 12, 0.3);
  const x = tf.randomNormal([3, 2, 12, 12], 0, 1, 'float32', 4) as tf.Tensor4D;
  tf.tidy(() => {
    const full = model.forward(x);
    const cache = { cls: full.finalBlockInputCls, ...finalBlockKeysValues(model, full.finalBlockInput) };
    const newCls = tf.mul(full.finalBlockInputCls, -0.5) as tf.Tensor2D;
    const fast = finalLayer(model, cache, { residual: newCls, gateInput: newCls });
    // Reference: run the final block by hand on the residual stream with its CLS row replaced.
    const h = full.finalBlockInput;
    const [B, N, D] = h.shape;
    const h2 = tf.concat([newCls.reshape([B, 1, D]), h.slice([0, 1, 0], [B, N - 1, D])], 1) as tf.Tensor3D;
    const block = model.blocks[2]!;
    const mask = tf.cast(tf.greater(block.gate!.apply(newCls), 0), 'float32') as tf.Tensor2D;
    const out = block.apply(h2, mask);
    const logits = model.classify(out.slice([0, 0, 0], [B, 1, D]).reshape([B, D]) as tf.Tensor2D);
    assert.ok(maxDiff(fast.logits, logits) < TOL);
  });
  x.dispose();
  model.dispose();
});

test('precomputed head outputs (cache.heads) give the same logits and masks bit for bit', () => {
  const model = new ViT(config, 12, 0.3);
  const x = tf.randomNormal([5, 2, 12, 12], 0, 1, 'float32', 4) as tf.Tensor4D;
  tf.tidy(() => {
    const full = model.forward(x);
    const cache = { cls: full.finalBlockInputCls, ...finalBlockKeysValues(model, full.finalBlockInput) };
    const shared = { ...cache, heads: clsHeadOutputs(model, cache.cls, cache.k, cache.v) };
    const gateInput = tf.mul(full.finalBlockInputCls, -0.8) as tf.Tensor2D;
    for (const opts of [{}, { gateInput }, { mask: tf.ones([5, 4]) as tf.Tensor2D }]) {
      const a = finalLayer(model, cache, opts);
      const b = finalLayer(model, shared, opts);
      assert.deepEqual(b.logits.dataSync(), a.logits.dataSync());
      assert.deepEqual(b.mask.dataSync(), a.mask.dataSync());
    }
  });
  x.dispose();
  model.dispose();
});

test('gateInputEdit at the final layer == the fast path with that gate input (1e-5), and its threshold shift too', () => {
  const model = new ViT(config, 13, 0); // gate bias 0: decisions sit near the threshold, so the edit moves some
  const x = tf.randomNormal([7, 2, 12, 12], 0, 1, 'float32', 6) as tf.Tensor4D;
  const before = tf.memory().numTensors;
  tf.tidy(() => {
    const full = model.forward(x);
    const cache = { cls: full.finalBlockInputCls, ...finalBlockKeysValues(model, full.finalBlockInput) };
    const edit = (cls: tf.Tensor2D): tf.Tensor2D => tf.add(tf.mul(cls, -1.4), 0.2) as tf.Tensor2D;
    const gateInput = edit(full.finalBlockInputCls);
    const steered = model.forward(x, { gateInputEdit: { layer: 2, edit } });
    const fast = finalLayer(model, cache, { gateInput });
    assert.ok(maxDiff(fast.logits, steered.logits) < TOL, 'steered logits');
    assert.deepEqual(fast.mask.dataSync(), steered.masks[2]!.dataSync());
    assert.ok(tf.sum(tf.notEqual(fast.mask, full.masks[2]!)).dataSync()[0]! > 0, 'the edit moved some decisions (else the test is vacuous)');
    const shift = tf.scalar(-0.4);
    const shifted = model.forward(x, { gateInputEdit: { layer: 2, edit }, gateShift: { layer: 2, shift } });
    const fastShifted = finalLayer(model, cache, { gateInput, gateShift: shift });
    assert.ok(maxDiff(fastShifted.logits, shifted.logits) < TOL, 'shifted logits');
    assert.deepEqual(fastShifted.mask.dataSync(), shifted.masks[2]!.dataSync());
  });
  assert.equal(tf.memory().numTensors, before, 'no leaks');
  x.dispose();
  model.dispose();
});
