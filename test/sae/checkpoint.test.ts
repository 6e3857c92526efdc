/**
 * SAE checkpoints (src/sae/checkpoint.ts): round trip (bitwise weights, same forward), SAELens-style
 * config fields, and UserErrors that name the problem for wrong shapes, missing tensors, bad fields.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initEngine } from '../../src/engine/backend.js';
import { UserError } from '../../src/errors.js';
import { writeSafetensors } from '../../src/io/safetensors.js';
import { rng } from '../../src/random.js';
import { loadSae, saveSae } from '../../src/sae/checkpoint.js';
import { SparseAutoencoder } from '../../src/sae/sae.js';

before(async () => {
  await initEngine();
});

function withDir(fn: (dir: string) => void): void {
  const root = mkdtempSync(join(tmpdir(), 'headsteer-sae-ckpt-'));
  try {
    fn(join(root, 'sae'));
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

test('save/load round trip: same tensors bitwise, same forward, SAELens-style config.json', () => {
  withDir((dir) => {
    const sae = new SparseAutoencoder({ dIn: 8, dSae: 32, k: 3 }, { seed: 1, bDec: rng(0, 'b').fill(new Float32Array(8), 'normal') });
    tf.tidy(() => sae.bEnc.assign(tf.randomNormal([32], 0, 1, 'float32', 3)));
    saveSae(dir, sae, { train: { epochs: 2 }, d_in: 999 });
    const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
    assert.equal(cfg['kind'], 'sae');
    assert.equal(cfg['architecture'], 'topk');
    assert.equal(cfg['d_in'], 8, 'extra cannot override the dimensions');
    assert.equal(cfg['d_sae'], 32);
    assert.equal(cfg['k'], 3);
    assert.deepEqual(cfg['train'], { epochs: 2 });
    const { sae: back, config } = loadSae(dir);
    assert.equal(config['d_sae'], 32);
    assert.deepEqual([back.dIn, back.dSae, back.k], [8, 32, 3]);
    for (const [a, b] of [
      [sae.wEnc, back.wEnc],
      [sae.bEnc, back.bEnc],
      [sae.wDec, back.wDec],
      [sae.bDec, back.bDec],
    ] as const) {
      assert.deepEqual(a.shape, b.shape);
      assert.deepEqual(a.dataSync(), b.dataSync());
    }
    tf.tidy(() => {
      const x = tf.randomNormal([4, 8], 0, 1, 'float32', 5) as tf.Tensor2D;
      assert.deepEqual(sae.forward(x).xHat.dataSync(), back.forward(x).xHat.dataSync());
    });
    sae.dispose();
    back.dispose();
  });
});

test('loading names shape mismatches, missing tensors and bad config fields', () => {
  withDir((dir) => {
    const sae = new SparseAutoencoder({ dIn: 8, dSae: 32, k: 3 }, { seed: 1 });
    saveSae(dir, sae);
    sae.dispose();
    const cfgPath = join(dir, 'config.json');
    const good = JSON.parse(readFileSync(cfgPath, 'utf8')) as Record<string, unknown>;
    const expectError = (patch: Record<string, unknown>, pattern: RegExp): void => {
      writeFileSync(cfgPath, JSON.stringify({ ...good, ...patch }));
      assert.throws(
        () => loadSae(dir),
        (e: unknown) => e instanceof UserError && pattern.test(e.message),
      );
    };
    expectError({ d_in: 9 }, /W_enc has shape \[8,32\], expected \[9,32\].*b_dec has shape \[8\], expected \[9\]/);
    expectError({ d_sae: 16 }, /W_enc has shape \[8,32\], expected \[8,16\]/);
    expectError({ k: 0 }, /config\.json: k is 0, expected a positive integer/);
    expectError({ k: 40 }, /k = 40 exceeds d_sae = 32/);
    expectError({ architecture: 'jumprelu' }, /architecture is "jumprelu", expected "topk"/);
    expectError({ kind: 'vit' }, /holds a 'vit' checkpoint, expected 'sae'/);
    writeFileSync(cfgPath, JSON.stringify(good));
    const f32 = (shape: number[]): { dtype: 'F32'; shape: number[]; data: Float32Array } => ({
      dtype: 'F32',
      shape,
      data: new Float32Array(shape.reduce((a, b) => a * b, 1)),
    });
    writeSafetensors(
      join(dir, 'weights.safetensors'),
      new Map([
        ['W_enc', f32([8, 32])],
        ['W_dec', f32([32, 8])],
        ['b_dec', f32([8])],
        ['encoder.bias', f32([32])],
      ]),
    );
    assert.throws(() => loadSae(dir), /missing tensor b_enc \[32\]; unexpected tensor encoder\.bias/);
  });
});

test('a missing folder says which command creates it', () => {
  assert.throws(() => loadSae(join(tmpdir(), 'headsteer-no-such-dir', 'sae')), /run `headsteer sae` to create it/);
});
