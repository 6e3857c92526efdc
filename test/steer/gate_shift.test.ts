/**
 * Threshold shift in the fast path (src/steer/fastpath.ts `gateShift`, docs/design.md, Controls):
 * shift 0 (scalar or per row) gives the unshifted mask and logits bit for bit; a large positive shift
 * keeps every head, a large negative one drops every head; per-row shifts act per row and equal
 * 1[a + beta > 0] on the gate logits; bad shapes and shift-with-mask fail; no tensor leaks.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initEngine } from '../../src/engine/backend.js';
import { ViT } from '../../src/model/vit.js';
import { finalBlockKeysValues, finalLayer, type FinalBlockCache } from '../../src/steer/fastpath.js';
import { SMALL_GATED_VIT } from './small_vit.js';

before(async () => {
  await initEngine();
});

const config = SMALL_GATED_VIT;
const B = 6;
const H = config.numHeads;

/** A small random gated ViT, a batch and its fast-path cache; `run` is called inside one tf.tidy. */
function withCache(run: (model: ViT, cache: FinalBlockCache) => void): void {
  const model = new ViT(config, 21, 0);
  const x = tf.randomNormal([B, 2, 12, 12], 0, 1, 'float32', 5) as tf.Tensor4D;
  const before = tf.memory().numTensors;
  tf.tidy(() => {
    const full = model.forward(x);
    run(model, { cls: full.finalBlockInputCls, ...finalBlockKeysValues(model, full.finalBlockInput) });
  });
  assert.equal(tf.memory().numTensors, before, 'no leaks');
  x.dispose();
  model.dispose();
}

test('gateShift 0 (scalar and per row) equals the unshifted call bit for bit', () => {
  withCache((model, cache) => {
    const plain = finalLayer(model, cache);
    const gateInput = tf.mul(cache.cls, 1.3) as tf.Tensor2D;
    const steered = finalLayer(model, cache, { gateInput });
    for (const shift of [tf.scalar(0), tf.zeros([B, 1])]) {
      const a = finalLayer(model, cache, { gateShift: shift });
      assert.deepEqual(a.mask.dataSync(), plain.mask.dataSync());
      assert.deepEqual(a.logits.dataSync(), plain.logits.dataSync());
      const b = finalLayer(model, cache, { gateInput, gateShift: shift });
      assert.deepEqual(b.mask.dataSync(), steered.mask.dataSync());
      assert.deepEqual(b.logits.dataSync(), steered.logits.dataSync());
    }
    // The random model keeps some heads and drops others, so the tests below are not vacuous.
    const kept = plain.mask.sum().dataSync()[0]!;
    assert.ok(kept > 0 && kept < B * H, `unshifted mask keeps ${kept} of ${B * H} heads`);
  });
});

test('a large positive shift keeps every head, a large negative one drops every head', () => {
  withCache((model, cache) => {
    assert.deepEqual(Array.from(finalLayer(model, cache, { gateShift: tf.scalar(1e6) }).mask.dataSync()), new Array<number>(B * H).fill(1));
    assert.deepEqual(Array.from(finalLayer(model, cache, { gateShift: tf.scalar(-1e6) }).mask.dataSync()), new Array<number>(B * H).fill(0));
    // Keeping every head equals passing the all-ones mask explicitly.
    const all = finalLayer(model, cache, { mask: tf.ones([B, H]) as tf.Tensor2D });
    assert.deepEqual(finalLayer(model, cache, { gateShift: tf.scalar(1e6) }).logits.dataSync(), all.logits.dataSync());
  });
});

test('per-row shifts act per row: mask = 1[a + beta_row > 0]', () => {
  withCache((model, cache) => {
    const beta = [1e6, -1e6, 0, 0.25, -0.25, 1e6];
    const shifted = finalLayer(model, cache, { gateShift: tf.tensor2d(beta, [B, 1]) }).mask.arraySync();
    const a = model.blocks[2]!.gate!.apply(cache.cls).arraySync(); // (B, H)
    for (let b = 0; b < B; b++) {
      const expected = a[b]!.map((v) => (v + beta[b]! > 0 ? 1 : 0));
      assert.deepEqual(shifted[b], expected, `row ${b} (beta ${beta[b]})`);
    }
    // Row b of a per-row shift equals row b of the same scalar shift.
    const scalar = finalLayer(model, cache, { gateShift: tf.scalar(0.25) }).mask.arraySync();
    assert.deepEqual(shifted[3], scalar[3]);
  });
});

test('gateShift: a wrong shape or an explicit mask is an error', () => {
  withCache((model, cache) => {
    assert.throws(() => finalLayer(model, cache, { gateShift: tf.zeros([B]) }), /gateShift must be a scalar or \(B, 1\) = \(6, 1\), got shape \[6\]/);
    assert.throws(() => finalLayer(model, cache, { gateShift: tf.zeros([B, H]) }), /got shape \[6, 4\]/);
    assert.throws(() => finalLayer(model, cache, { gateShift: tf.scalar(0), mask: tf.ones([B, H]) as tf.Tensor2D }), /one or the other/);
  });
});
