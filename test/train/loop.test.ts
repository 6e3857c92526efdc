/**
 * The training loop on the smoke preset: in process, the gated prune loss lowers head usage toward
 * rho, checkpoints and metrics land in the stage folder, and no tensors leak across steps; across two
 * data-parallel replica processes, dense training matches one process.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { loadRunData, resolveConfig } from '../../src/config.js';
import { initEngine } from '../../src/engine/backend.js';
import { readSafetensors, toFloat32 } from '../../src/io/safetensors.js';
import { ViT } from '../../src/model/vit.js';
import { dataInfo, modelConfigFor } from '../../src/pipeline/train.js';
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
      checkpointConfig: (complete) => ({
        kind: 'vit',
        stage: 'prune',
        complete,
        model: model.config,
        run: cfg as unknown as Record<string, unknown>,
        data: dataInfo(ds),
      }),
      evalBatchSize: 64,
      augment: cfg.data.augment,
      onStep: (p) => usage.push(p.headUsage),
    });
    assert.equal(tf.memory().numTensors, tensorsBefore, 'no tensors leaked by the loop');
    assert.equal(result.steps, 24);
    assert.ok(usage[0]! > 0.55, `initial training usage ~sigmoid(0.5) = 0.62, got ${usage[0]}`);
    assert.ok(result.test!.headUsage.overall < 0.8, `evaluation usage moved toward rho 0.5: ${result.test!.headUsage.overall}`);
    assert.ok(existsSync(join(dir, 'pruned', 'weights.safetensors')));
    const lines = readFileSync(join(dir, 'pruned', 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n');
    assert.ok(lines.some((l) => (JSON.parse(l) as { kind: string }).kind === 'epoch'));
  } finally {
    model.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('two data-parallel replicas train the dense smoke model to the same weights as one process (1e-4)', () => {
  const root = mkdtempSync(join(tmpdir(), 'headsteer-replicas-'));
  const cli = join(dirname(fileURLToPath(import.meta.url)), '../../src/cli/main.js');
  try {
    const weights: Float32Array[] = [];
    for (const workers of [1, 2]) {
      const out = join(root, `w${workers}`);
      const r = spawnSync(
        process.execPath,
        [cli, 'pretrain', '--preset', 'smoke', '--out', out, '--set', 'pretrain.epochs=1', '--set', `pretrain.workers=${workers}`],
        { encoding: 'utf8' },
      );
      assert.equal(r.status, 0, r.stderr);
      weights.push(toFloat32(readSafetensors(join(out, 'dense', 'weights.safetensors')).tensors.get('head.weight')!, 'head.weight', out));
    }
    let diff = 0;
    for (let i = 0; i < weights[0]!.length; i++) diff = Math.max(diff, Math.abs(weights[0]![i]! - weights[1]![i]!));
    // Cross-entropy is a batch mean, so averaging the shards' gradients is the full-batch gradient up to rounding.
    assert.ok(diff < 1e-4, `max |w1 - w2| = ${diff}`);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('micro-batches (gradient accumulation) train the dense smoke model to the weights of whole batches (1e-4), no leaks', async () => {
  const heads: Float32Array[] = [];
  for (const micro of [[], ['pretrain.microBatch=8']]) {
    const cfg = resolveConfig('smoke', ['data.procedural.train=256', 'pretrain.epochs=1', ...micro]);
    const ds = loadRunData(cfg);
    const model = new ViT(modelConfigFor(cfg, ds, []), 0);
    const dir = mkdtempSync(join(tmpdir(), 'headsteer-micro-'));
    try {
      const tensorsBefore = tf.memory().numTensors;
      await trainViT({
        model,
        dataset: ds,
        stage: 'pretrain',
        cfg: cfg.pretrain,
        seed: 0,
        dir: join(dir, 'dense'),
        checkpointConfig: (complete) => ({ kind: 'vit', stage: 'pretrain', complete, model: model.config }),
        evalBatchSize: 64,
        augment: cfg.data.augment,
      });
      assert.equal(tf.memory().numTensors, tensorsBefore, 'no tensors leaked');
      heads.push(model.head.weight.dataSync() as Float32Array);
    } finally {
      model.dispose();
      rmSync(dir, { recursive: true, force: true });
    }
  }
  let diff = 0;
  for (let i = 0; i < heads[0]!.length; i++) diff = Math.max(diff, Math.abs(heads[0]![i]! - heads[1]![i]!));
  assert.ok(diff < 1e-4, `head weights differ by ${diff}`);
  assert.ok(
    heads[0]!.some((v, i) => v !== heads[1]![i]),
    'a different summation order (else the option did nothing)',
  );
});
