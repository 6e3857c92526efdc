/**
 * The ViT forward's per-layer controls (src/model/vit.ts; docs/design.md "Steering at every layer"):
 * running the blocks in pieces (`start`, `advance`) equals `forward` bit for bit; `blockInputCls[l]` is
 * the CLS of block l's residual input; an identity `gateInputEdit` equals the plain forward bit for bit at
 * every gated layer, and `gateShift` 0 too; an edit at an early layer leaves the layers before it alone
 * and changes later layers' masks (non-vacuous); a huge shift keeps or drops every head of its layer
 * only; misuse throws; no tensor leaks.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initEngine } from '../../src/engine/backend.js';
import type { ViTConfig } from '../../src/model/config.js';
import { TINY_VIT } from './helpers.js';
import { ViT, type ForwardOutput } from '../../src/model/vit.js';

before(async () => {
  await initEngine();
});

const config: ViTConfig = { ...TINY_VIT };
const B = 16;
const L = config.depth;

/** A random gated ViT and a batch; `run` is called inside one tf.tidy, and nothing may leak. */
function withModel(run: (model: ViT, x: tf.Tensor4D) => void, gatedLayers = config.gatedLayers): void {
  const model = new ViT({ ...config, gatedLayers }, 31, 0);
  const x = tf.randomNormal([B, 2, 12, 12], 0, 1, 'float32', 7) as tf.Tensor4D;
  const before = tf.memory().numTensors;
  tf.tidy(() => run(model, x));
  assert.equal(tf.memory().numTensors, before, 'no leaks');
  x.dispose();
  model.dispose();
}

/** Values of a mask list (null stays null). */
function maskValues(o: Pick<ForwardOutput, 'masks'>): Array<Float32Array | null> {
  return o.masks.map((m) => (m === null ? null : (m.dataSync() as Float32Array)));
}

/** Two forwards give the same logits and masks bit for bit. */
function assertSame(a: ForwardOutput, b: ForwardOutput, what: string): void {
  assert.deepEqual(b.logits.dataSync(), a.logits.dataSync(), `${what}: logits`);
  assert.deepEqual(maskValues(b), maskValues(a), `${what}: masks`);
}

test('start + advance in pieces == forward bit for bit; blockInputCls[l] is the CLS entering block l', () => {
  withModel((model, x) => {
    const full = model.forward(x);
    let state = model.start(x);
    for (let l = 0; l < L; l++) {
      const cls = state.x.slice([0, 0, 0], [-1, 1, -1]).squeeze([1]);
      assert.deepEqual(full.blockInputCls[l]!.dataSync(), cls.dataSync(), `block ${l} input CLS`);
      state = model.advance(state, l + 1);
    }
    assert.deepEqual(model.logitsOf(state.x).dataSync(), full.logits.dataSync());
    assert.deepEqual(maskValues(state), maskValues(full));
    assert.deepEqual(full.finalBlockInputCls.dataSync(), full.blockInputCls[L - 1]!.dataSync());
  });
});

test('an ungated layer keeps no input CLS (except the final one) and runs all heads', () => {
  withModel(
    (model, x) => {
      const out = model.forward(x);
      assert.deepEqual(
        out.blockInputCls.map((c) => c !== null),
        [false, true, false, true],
      );
      assert.deepEqual(
        out.masks.map((m) => m !== null),
        [false, true, false, true],
      );
    },
    [1, 3],
  );
});

test('identity gateInputEdit and gateShift 0 at each gated layer == the plain forward bit for bit', () => {
  withModel((model, x) => {
    const plain = model.forward(x);
    for (let layer = 0; layer < L; layer++) {
      assertSame(plain, model.forward(x, { gateInputEdit: { layer, edit: (cls) => cls } }), `identity edit at layer ${layer}`);
      assertSame(plain, model.forward(x, { gateShift: { layer, shift: tf.scalar(0) } }), `shift 0 at layer ${layer}`);
    }
  });
});

test('an edit at layer 1 keeps layer 0 and block 1 input as they were, and changes the masks of later layers', () => {
  withModel((model, x) => {
    const plain = model.forward(x);
    const steered = model.forward(x, { gateInputEdit: { layer: 1, edit: (cls) => tf.mul(cls, -4) as tf.Tensor2D } });
    assert.deepEqual(steered.masks[0]!.dataSync(), plain.masks[0]!.dataSync(), 'layer 0 untouched');
    assert.deepEqual(steered.blockInputCls[1]!.dataSync(), plain.blockInputCls[1]!.dataSync(), 'block 1 reads the real residual');
    const flips = (l: number): number => tf.sum(tf.notEqual(steered.masks[l]!, plain.masks[l]!)).dataSync()[0]!;
    assert.ok(flips(1) > 0, 'the edit moved layer 1 decisions (else the test is vacuous)');
    assert.ok(flips(2) + flips(3) > 0, 'later layers see a changed input CLS and decide differently');
    assert.notDeepEqual(steered.blockInputCls[2]!.dataSync(), plain.blockInputCls[2]!.dataSync(), 'block 2 input changed');
  });
});

test('a huge gateShift keeps or drops every head of its layer, and only there', () => {
  withModel((model, x) => {
    const plain = model.forward(x);
    for (const [shift, value] of [
      [100, 1],
      [-100, 0],
    ] as const) {
      const out = model.forward(x, { gateShift: { layer: 3, shift: tf.scalar(shift) } });
      assert.ok(
        Array.from(out.masks[3]!.dataSync()).every((m) => m === value),
        `shift ${shift}`,
      );
      for (let l = 0; l < 3; l++) assert.deepEqual(out.masks[l]!.dataSync(), plain.masks[l]!.dataSync(), `layer ${l} untouched`);
    }
  });
});

test('misuse throws: an edit at an ungated layer, a shift in training or with an explicit mask, two final gate inputs', () => {
  withModel(
    (model, x) => {
      const cls = model.forward(x).finalBlockInputCls;
      assert.throws(() => model.forward(x, { gateInputEdit: { layer: 0, edit: (c) => c } }), /layer 0 has no decision network/);
      assert.throws(
        () => model.forward(x, { gateShift: { layer: 1, shift: tf.scalar(1) }, headMasks: [null, tf.ones([B, 4]) as tf.Tensor2D, null, null] }),
        /gateShift at layer 1/,
      );
      assert.throws(
        () =>
          model.forward(x, {
            training: true,
            gateNoise: [null, tf.zeros([B, 4]) as tf.Tensor2D, null, tf.zeros([B, 4]) as tf.Tensor2D],
            gateShift: { layer: 1, shift: tf.scalar(1) },
          }),
        /gateShift at layer 1/,
      );
      assert.throws(() => model.forward(x, { finalGateInput: cls, gateInputEdit: { layer: 3, edit: (c) => c } }), /pass one/);
      assert.throws(() => model.advance(model.start(x), L + 1), RangeError);
    },
    [1, 3],
  );
});
