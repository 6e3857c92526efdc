/**
 * The training loop on the smoke preset, in process: the gated prune loss lowers head usage toward
 * rho, checkpoints and metrics land in the stage folder, and no tensors leak across steps.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { resolveConfig } from '../../src/config.js';
import { initEngine } from '../../src/engine/backend.js';
import { ViT } from '../../src/model/vit.js';
import { dataInfo, loadRunData, modelConfigFor } from '../../src/pipeline/common.js';
import { trainViT } from '../../src/train/loop.js';

before(async () => {
  await initEngine();
});

test('gated training on smoke data: usage moves toward rho, files written, no leaks', async () => {
  const cfg = resolveConfig('smoke', ['data.procedural.train=256', 'prune.epochs=3', 'prune.rho=0.5', 'prune.checkpointEvery=5']);
  const ds = loadRunData(cfg);
  const model = new ViT(modelConfigFor(cfg, ds, [0, 1]), 0, cfg.prune.gateBiasInit);
  const dir = mkdtempSync(join(tmpdir(), 'headsteer-loop-'));
  try {
    const tensorsBefore = tf.memory().numTensors;
    const usage: number[] = [];
    const result = await trainViT({
      model,
      dataset: ds,
      stage: 'prune',
      cfg: cfg.prune,
      seed: 0,
      dir: join(dir, 'pruned'),
      checkpointConfig: (complete) => ({ kind: 'vit', stage: 'prune', complete, model: model.config, run: cfg as unknown as Record<string, unknown>, data: dataInfo(ds) }),
      evalBatchSize: 64,
      augment: cfg.data.augment,
      onStep: (p) => usage.push(p.headUsage),
    });
    assert.equal(tf.memory().numTensors, tensorsBefore, 'no tensors leaked by the loop');
    assert.equal(result.steps, 24);
    assert.ok(usage[0]! > 0.55, `initial training usage ~sigmoid(0.5) = 0.62, got ${usage[0]}`);
    assert.ok(result.test.headUsage.overall < 0.8, `evaluation usage moved toward rho 0.5: ${result.test.headUsage.overall}`);
    assert.ok(existsSync(join(dir, 'pruned', 'weights.safetensors')));
    const lines = readFileSync(join(dir, 'pruned', 'metrics.jsonl'), 'utf8').trim().split('\n');
    assert.ok(lines.some((l) => (JSON.parse(l) as { kind: string }).kind === 'epoch'));
  } finally {
    model.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
});
