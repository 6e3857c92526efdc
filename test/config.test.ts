/** Presets validate and build a model that runs a forward pass; bad keys and values fail by name. */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { parseConfig, PRESETS, resolveConfig } from '../src/config.js';
import { initEngine } from '../src/engine/backend.js';
import { UserError } from '../src/errors.js';
import { ViT } from '../src/model/vit.js';
import { fixtureDir } from './fixtures.js';
import { saeDims } from '../src/sae/config.js';

before(async () => {
  await initEngine();
});

const DATA_SHAPES: Record<string, { side: number; channels: number; classes: number }> = {
  'fashion-mnist': { side: 28, channels: 1, classes: 10 },
  mnist: { side: 28, channels: 1, classes: 10 },
  cifar100: { side: 32, channels: 3, classes: 100 },
  procedural: { side: 16, channels: 1, classes: 4 },
};

for (const name of Object.keys(PRESETS)) {
  test(`preset '${name}' validates and its gated model runs a forward without NaN`, () => {
    const cfg = resolveConfig(name);
    const data = DATA_SHAPES[cfg.data.dataset]!;
    const imgSize = cfg.model.imgSize ?? data.side;
    const { imgSize: _ignored, ...arch } = cfg.model;
    const model = new ViT({ ...arch, imgSize, inChans: data.channels, numClasses: data.classes, gatedLayers: [0, cfg.model.depth - 1] }, 0, 0.5);
    const logits = tf.tidy(() => model.forward(tf.randomNormal([2, data.channels, imgSize, imgSize]) as tf.Tensor4D).logits.dataSync());
    assert.equal(logits.length, 2 * data.classes);
    assert.ok(logits.every(Number.isFinite));
    model.dispose();
  });
}

test('every preset resolves to exactly its recorded config', () => {
  // test/fixtures/presets/README.md: recorded before the defaults moved onto the schema fields.
  const recorded = JSON.parse(readFileSync(join(fixtureDir('presets'), 'resolved.json'), 'utf8')) as Record<string, unknown>;
  assert.deepEqual(Object.keys(PRESETS), Object.keys(recorded));
  for (const name of Object.keys(recorded)) assert.deepEqual(resolveConfig(name), recorded[name], `preset '${name}'`);
});

test('a recorded run config (what every checkpoint stores) parses back to itself', () => {
  const recorded = JSON.parse(readFileSync(join(fixtureDir('presets'), 'resolved.json'), 'utf8')) as Record<string, unknown>;
  for (const [name, run] of Object.entries(recorded)) assert.deepEqual(parseConfig(run, `recorded '${name}'`), run);
});

test("a run config recorded before a key existed parses with that key's default", () => {
  // The run-smoke fixture predates `workers` (its runs trained in one process): it reads today's default,
  // 2 replicas (docs/design.md "Engine" says what replicas change in a step).
  for (const stage of ['dense', 'pruned']) {
    const file = join(fixtureDir('run-smoke'), stage, 'config.json');
    const { run } = JSON.parse(readFileSync(file, 'utf8')) as { run: Record<string, Record<string, unknown>> };
    const cfg = parseConfig(run, file);
    assert.deepEqual([cfg.pretrain.workers, cfg.prune.workers], [2, 2]);
    assert.deepEqual({ ...cfg.pretrain, workers: undefined }, { ...run['pretrain'], workers: undefined });
  }
});

test('the paper preset fine-tunes a pretrained ViT-S/16 at 224 on CIFAR-100, with the SAE 384 -> 3072, k 64', () => {
  const cfg = resolveConfig('paper');
  const m = cfg.model;
  assert.deepEqual([m.imgSize, m.patchSize, m.embedDim, m.depth, m.numHeads], [224, 16, 384, 12, 6]);
  assert.equal(cfg.data.dataset, 'cifar100');
  assert.equal(cfg.finetune.pretrained, true);
  const dims = saeDims(cfg.sae, m.embedDim);
  assert.deepEqual([dims.dSae, dims.k], [3072, 64]);
});

test('unknown preset, unknown key and invalid value fail with the name and what is allowed', () => {
  assert.throws(
    () => resolveConfig('huge'),
    (e: unknown) => e instanceof UserError && /unknown preset 'huge'.*smoke, default, mnist, paper/.test(e.message),
  );
  assert.throws(
    () => resolveConfig('smoke', ['pretrain.epochz=2']),
    (e: unknown) => e instanceof UserError && /unknown key\(s\) 'epochz' at pretrain/.test(e.message),
  );
  assert.throws(
    () => resolveConfig('smoke', ['data.dataset=imagenet']),
    (e: unknown) => e instanceof UserError && /data\.dataset.*fashion-mnist/.test(e.message),
  );
  assert.throws(
    () => resolveConfig('smoke', ['prune.rho=1.5']),
    (e: unknown) => e instanceof UserError && /prune\.rho/.test(e.message),
  );
  assert.throws(
    () => resolveConfig('smoke', ['pretrain']),
    (e: unknown) => e instanceof UserError && /key\.path=value/.test(e.message),
  );
  assert.equal(resolveConfig('smoke', ['prune.rho=0.5']).prune.rho, 0.5);
});
