/** Layer-wise learning-rate decay (src/train/layer_decay.ts): BEiT's layer ids on timm names. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { layerDecayScale } from '../../src/train/layer_decay.js';

test('embeddings get decay^(L+1), block i decay^(L-i), norm and head 1; decay 1 is off', () => {
  const L = 2;
  const d = 0.5;
  assert.equal(layerDecayScale('patch_embed.proj.weight', L, d), 0.125);
  assert.equal(layerDecayScale('pos_embed', L, d), 0.125);
  assert.equal(layerDecayScale('cls_token', L, d), 0.125);
  assert.equal(layerDecayScale('blocks.0.attn.proj.weight', L, d), 0.25);
  assert.equal(layerDecayScale('blocks.1.mlp.fc1.bias', L, d), 0.5);
  assert.equal(layerDecayScale('norm.weight', L, d), 1);
  assert.equal(layerDecayScale('head.weight', L, d), 1);
  assert.equal(layerDecayScale('blocks.0.norm1.weight', L, 1), 1);
});
