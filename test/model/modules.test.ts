/**
 * Pins the module bookkeeping of a small gated ViT: `parameters()` names, decay flags and order (the
 * optimizer's saved state and deterministic training are keyed by them), the exported state dict's
 * timm names, shapes and order, and a digest of its values (any change in init RNG consumption shows
 * there). Also: import reproduces the exported state bit for bit, and dispose frees every variable.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as tf from '@tensorflow/tfjs';
import { initEngine } from '../../src/engine/backend.js';
import type { TensorData } from '../../src/io/safetensors.js';
import type { ViTConfig } from '../../src/model/config.js';
import { ViT } from '../../src/model/vit.js';

before(async () => {
  await initEngine();
});

// Block 0 ungated, block 1 gated: covers the absent optional child and the gate's place in the order.
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
  gatedLayers: [1],
};

/** `name` for decayed parameters, `name -` for the rest. */
const PARAMS = [
  'patch_embed.proj.weight',
  'patch_embed.proj.bias -',
  'cls_token -',
  'pos_embed -',
  ...[0, 1].flatMap((i) => [
    `blocks.${i}.norm1.weight -`,
    `blocks.${i}.norm1.bias -`,
    `blocks.${i}.attn.q.weight`,
    `blocks.${i}.attn.q.bias -`,
    `blocks.${i}.attn.k.weight`,
    `blocks.${i}.attn.k.bias -`,
    `blocks.${i}.attn.v.weight`,
    `blocks.${i}.attn.v.bias -`,
    `blocks.${i}.attn.proj.weight`,
    `blocks.${i}.attn.proj.bias -`,
    `blocks.${i}.norm2.weight -`,
    `blocks.${i}.norm2.bias -`,
    `blocks.${i}.mlp.fc1.weight`,
    `blocks.${i}.mlp.fc1.bias -`,
    `blocks.${i}.mlp.fc2.weight`,
    `blocks.${i}.mlp.fc2.bias -`,
    ...(i === 1 ? [`blocks.${i}.gate.norm.weight -`, `blocks.${i}.gate.norm.bias -`, `blocks.${i}.gate.fc.weight`, `blocks.${i}.gate.fc.bias -`] : []),
  ]),
  'norm.weight -',
  'norm.bias -',
  'head.weight',
  'head.bias -',
];

/** Exported names with their timm shapes, in export order (D 12, F 24, H 3, K 3, N 5). */
const STATE: Array<[string, number[]]> = [
  ['patch_embed.proj.weight', [12, 1, 4, 4]],
  ['patch_embed.proj.bias', [12]],
  ['cls_token', [1, 1, 12]],
  ['pos_embed', [1, 5, 12]],
  ...[0, 1].flatMap(
    (i): Array<[string, number[]]> => [
      [`blocks.${i}.norm1.weight`, [12]],
      [`blocks.${i}.norm1.bias`, [12]],
      [`blocks.${i}.attn.qkv.weight`, [36, 12]],
      [`blocks.${i}.attn.qkv.bias`, [36]],
      [`blocks.${i}.attn.proj.weight`, [12, 12]],
      [`blocks.${i}.attn.proj.bias`, [12]],
      [`blocks.${i}.norm2.weight`, [12]],
      [`blocks.${i}.norm2.bias`, [12]],
      [`blocks.${i}.mlp.fc1.weight`, [24, 12]],
      [`blocks.${i}.mlp.fc1.bias`, [24]],
      [`blocks.${i}.mlp.fc2.weight`, [12, 24]],
      [`blocks.${i}.mlp.fc2.bias`, [12]],
      ...(i === 1
        ? ([
            [`blocks.${i}.gate.norm.weight`, [12]],
            [`blocks.${i}.gate.norm.bias`, [12]],
            [`blocks.${i}.gate.fc.weight`, [3, 12]],
            [`blocks.${i}.gate.fc.bias`, [3]],
          ] as Array<[string, number[]]>)
        : []),
    ],
  ),
  ['norm.weight', [12]],
  ['norm.bias', [12]],
  ['head.weight', [3, 12]],
  ['head.bias', [3]],
];

/** sha256 over every tensor's name, shape and float32 bytes, in export order. */
function digest(state: Map<string, TensorData>): string {
  const h = createHash('sha256');
  for (const [name, t] of state) {
    h.update(`${name}:${t.shape.join('x')}:`);
    const data = t.data as Float32Array;
    h.update(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  }
  return h.digest('hex');
}

test('parameters(): names, decay flags and order are pinned', () => {
  const model = new ViT(tiny, 3, 0.5);
  assert.deepEqual(
    model.parameters().map((p) => (p.decay ? p.name : `${p.name} -`)),
    PARAMS,
  );
  assert.deepEqual(
    model.gateParameters().map((p) => p.name),
    PARAMS.filter((n) => n.includes('.gate.')).map((n) => n.replace(/ -$/, '')),
  );
  model.dispose();
});

test('stateDict(): timm names, shapes, order and values (seeded init) are pinned', () => {
  const model = new ViT(tiny, 3, 0.5);
  const state = model.stateDict();
  assert.deepEqual(
    [...state].map(([k, t]) => [k, t.shape]),
    STATE,
  );
  assert.equal(digest(state), 'a4b0659af0c80fe94e847890029c849c10276c50208352b6b3714fbd9d594cfb');
  const noBias = new ViT({ ...tiny, qkvBias: false }, 4, -1);
  const plain = noBias.stateDict();
  assert.deepEqual(
    [...plain.keys()],
    STATE.map(([k]) => k).filter((k) => !k.endsWith('.qkv.bias')),
  );
  assert.equal(digest(plain), '90017e0b45a774c1e70c0020405d3d78b7c00c8edff8420db1a7e8674fce50bf');
  model.dispose();
  noBias.dispose();
});

test('importState reproduces an exported state bit for bit; dispose frees every variable', () => {
  const before = tf.memory().numTensors;
  const source = new ViT(tiny, 3, 0.5);
  const target = new ViT(tiny, 11, -2);
  const state = source.stateDict();
  target.importState('', state);
  assert.equal(digest(target.stateDict()), digest(state));
  source.dispose();
  target.dispose();
  assert.equal(tf.memory().numTensors, before, 'no variable left after dispose');
});
