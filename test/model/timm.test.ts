/**
 * Reference equivalence with a real timm VisionTransformer (test/fixtures/timm): logits and the
 * final block's input CLS token within 1e-4 (max abs), as the fixture README requires.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initEngine } from '../../src/engine/backend.js';
import { readSafetensors, toFloat32 } from '../../src/io/safetensors.js';
import { timmKwargsFromMetadata, timmKwargsToConfig, vitFromTimm } from '../../src/model/timm.js';
import { fixtureDir } from '../fixtures.js';

const FIXTURES = fixtureDir('timm');
const TOL = 1e-4;

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

before(async () => {
  await initEngine();
});

test('timm ViT fixture: logits and final_block_input_cls match to 1e-4', () => {
  const wf = join(FIXTURES, 'timm_vit_tiny_rgb.weights.safetensors');
  const weights = readSafetensors(wf);
  const config = timmKwargsToConfig(timmKwargsFromMetadata(weights.metadata, wf)!, wf);
  assert.deepEqual([config.imgSize, config.patchSize, config.embedDim, config.depth, config.numHeads], [32, 4, 96, 2, 6]);
  const model = vitFromTimm(config, weights.tensors, wf);
  const io = readSafetensors(join(FIXTURES, 'timm_vit_tiny_rgb.io.safetensors'));
  const input = io.tensors.get('input_nchw')!;
  const before = tf.memory().numTensors;
  const out = tf.tidy(() => {
    const o = model.forward(tf.tensor4d(toFloat32(input, 'input_nchw', 'io'), input.shape as [number, number, number, number]));
    return { logits: o.logits, cls: o.finalBlockInputCls };
  });
  const logitsDiff = maxAbsDiff(out.logits.dataSync() as Float32Array, toFloat32(io.tensors.get('logits')!, 'logits', 'io'));
  const clsDiff = maxAbsDiff(out.cls.dataSync() as Float32Array, toFloat32(io.tensors.get('final_block_input_cls')!, 'cls', 'io'));
  tf.dispose([out.logits, out.cls]);
  assert.equal(tf.memory().numTensors, before, 'forward leaks no tensors');
  assert.ok(logitsDiff < TOL, `logits max abs diff ${logitsDiff}`);
  assert.ok(clsDiff < TOL, `final_block_input_cls max abs diff ${clsDiff}`);
  model.dispose();
});

test('state dict round trip reproduces timm names, shapes and values', () => {
  const wf = join(FIXTURES, 'timm_vit_tiny_rgb.weights.safetensors');
  const weights = readSafetensors(wf);
  const model = vitFromTimm(timmKwargsToConfig(timmKwargsFromMetadata(weights.metadata, wf)!, wf), weights.tensors, wf);
  const sd = model.stateDict();
  assert.deepEqual([...sd.keys()].sort(), [...weights.tensors.keys()].sort());
  for (const [name, t] of weights.tensors) {
    assert.deepEqual(sd.get(name)!.shape, t.shape, name);
    assert.equal(maxAbsDiff(sd.get(name)!.data as Float32Array, t.data as Float32Array), 0, name);
  }
  model.dispose();
});
