/**
 * The timm round trip (docs/design.md "timm round trip"): a gated checkpoint exported with `export-timm`
 * holds timm's names for the ViT (exactly the real timm fixture's), its gates as `gates.<l>.*` and its
 * config in the metadata; `import-timm` of that file gives back bitwise the same weights, the same run
 * config and dataset facts, and bitwise the same logits and masks.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { resolveConfig } from '../../src/config.js';
import { initEngine } from '../../src/engine/backend.js';
import { saveCheckpoint } from '../../src/io/checkpoint.js';
import { readSafetensors, toFloat32, writeSafetensors } from '../../src/io/safetensors.js';
import type { ViTCheckpointConfig } from '../../src/model/checkpoint.js';
import { importTimmFile, timmExport } from '../../src/model/timm.js';
import { ViT } from '../../src/model/vit.js';
import { fixtureDir } from '../fixtures.js';

const CLI = join(dirname(fileURLToPath(import.meta.url)), '../../src/cli/main.js');
const TIMM = join(fixtureDir('timm'), 'timm_vit_tiny_rgb.weights.safetensors');
const IO = join(fixtureDir('timm'), 'timm_vit_tiny_rgb.io.safetensors');

before(async () => {
  await initEngine();
});

/** The timm fixture with decision networks on both layers (fresh gates whose masks differ by image). */
function gatedFixture(): { model: ViT; config: ViTCheckpointConfig } {
  const dense = importTimmFile(TIMM).model;
  const model = new ViT({ ...dense.config, gatedLayers: [0, 1] }, 7, 0);
  const state = model.stateDict();
  for (const [k, v] of dense.stateDict()) state.set(k, v);
  model.importState('', state);
  dense.dispose();
  const run = resolveConfig('smoke') as unknown as Record<string, unknown>;
  const data = { name: 'procedural', classNames: 'abcdefghij'.split(''), channels: 3, side: 32, mean: [0.1, 0.2, 0.3], std: [1, 2, 3] };
  return { model, config: { kind: 'vit', stage: 'prune', complete: true, model: model.config, run, data } };
}

function outputs(model: ViT): { logits: Float32Array; masks: Float32Array } {
  const io = readSafetensors(IO).tensors.get('input_nchw')!;
  return tf.tidy(() => {
    const o = model.forward(tf.tensor4d(toFloat32(io, 'input_nchw', IO), io.shape as [number, number, number, number]));
    return { logits: o.logits.dataSync() as Float32Array, masks: tf.stack(o.masks as tf.Tensor2D[], 1).dataSync() as Float32Array };
  });
}

test('export: timm names for the ViT, gates.<l>.* for the gates, timm kwargs and headsteer metadata', () => {
  const { model, config } = gatedFixture();
  const { tensors, metadata } = timmExport(model, config);
  const timmNames = [...readSafetensors(TIMM).tensors.keys()].sort();
  assert.deepEqual([...tensors.keys()].filter((n) => !n.startsWith('gates.')).sort(), timmNames);
  assert.deepEqual([...tensors.keys()].filter((n) => n.startsWith('gates.')).sort(), [
    'gates.0.fc.bias',
    'gates.0.fc.weight',
    'gates.0.norm.bias',
    'gates.0.norm.weight',
    'gates.1.fc.bias',
    'gates.1.fc.weight',
    'gates.1.norm.bias',
    'gates.1.norm.weight',
  ]);
  assert.deepEqual(tensors.get('gates.0.fc.weight')!.shape, [6, 96], 'timm layout (out, in)');
  assert.deepEqual(JSON.parse(metadata['config']!), JSON.parse(readSafetensors(TIMM).metadata['config']!));
  assert.deepEqual(JSON.parse(metadata['headsteer']!).gatedLayers, [0, 1]);
  model.dispose();
});

test('export -> import: bitwise the same weights, config, logits and masks', () => {
  const root = mkdtempSync(join(tmpdir(), 'headsteer-export-'));
  try {
    const { model, config } = gatedFixture();
    const file = join(root, 'export.safetensors');
    const { tensors, metadata } = timmExport(model, config);
    writeSafetensors(file, tensors, metadata);
    const back = importTimmFile(file);
    assert.deepEqual(back.config.model, model.config);
    assert.deepEqual(back.config.run, config.run);
    assert.deepEqual(back.config.data, config.data);
    const a = model.stateDict();
    const b = back.model.stateDict();
    assert.deepEqual([...b.keys()], [...a.keys()]);
    for (const [name, t] of a) assert.deepEqual(Buffer.from(b.get(name)!.data.buffer), Buffer.from(t.data.buffer), name);
    const [oa, ob] = [outputs(model), outputs(back.model)];
    assert.deepEqual(ob.logits, oa.logits);
    assert.deepEqual(ob.masks, oa.masks);
    assert.ok(oa.masks.some((m) => m === 0) && oa.masks.some((m) => m === 1), 'the gates keep some heads and drop others');
    model.dispose();
    back.model.dispose();
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('CLI: export-timm then import-timm writes a byte-identical weights file', () => {
  const root = mkdtempSync(join(tmpdir(), 'headsteer-export-cli-'));
  try {
    const { model, config } = gatedFixture();
    saveCheckpoint(join(root, 'pruned'), { config: config as unknown as Record<string, unknown>, weights: model.stateDict() });
    model.dispose();
    const file = join(root, 'vit.safetensors');
    for (const args of [
      ['export-timm', '--checkpoint', join(root, 'pruned'), '--out', file],
      ['import-timm', file, '--out', join(root, 'back')],
    ]) {
      const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
    }
    assert.ok(readFileSync(join(root, 'back', 'weights.safetensors')).equals(readFileSync(join(root, 'pruned', 'weights.safetensors'))));
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
