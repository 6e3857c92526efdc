/**
 * Equivalence with timm's VisionTransformer across configs other than the real timm fixture: grayscale and
 * 2-channel input, patch sizes 2-8, depth 1-6, head dims 4-12, no qkv bias, a fractional mlp_ratio.
 * The fixtures in test/fixtures/vit-variants come from scripts/make_vit_fixtures.py, a plain-PyTorch
 * re-implementation of timm's eval forward that the script first checks against the real timm fixture
 * (test/fixtures/timm) to ~2e-7. Logits and the final block's input CLS token must match within 1e-4
 * (max abs), through the library and once through the CLI (`import-timm` then `infer`).
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initEngine } from '../../src/engine/backend.js';
import { readSafetensors, toFloat32 } from '../../src/io/safetensors.js';
import { timmKwargsFromMetadata, timmKwargsToConfig, vitFromTimm } from '../../src/model/timm.js';

const here = dirname(fileURLToPath(import.meta.url)); // dist/test/model
const ROOT = join(here, '../../..');
const FIXTURES = join(ROOT, 'test/fixtures/vit-variants');
const CLI = join(ROOT, 'dist/src/cli/main.js');
const TOL = 1e-4;

const VARIANTS = readdirSync(FIXTURES)
  .filter((f) => f.endsWith('.weights.safetensors'))
  .map((f) => f.slice(0, -'.weights.safetensors'.length))
  .sort();

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

function expected(name: string): { images: Float32Array; shape: [number, number, number, number]; logits: Float32Array; cls: Float32Array } {
  const file = join(FIXTURES, `${name}.io.safetensors`);
  const io = readSafetensors(file);
  const input = io.tensors.get('input_nchw')!;
  return {
    images: toFloat32(input, 'input_nchw', file),
    shape: input.shape as [number, number, number, number],
    logits: toFloat32(io.tensors.get('logits')!, 'logits', file),
    cls: toFloat32(io.tensors.get('final_block_input_cls')!, 'final_block_input_cls', file),
  };
}

before(async () => {
  await initEngine();
});

test('the variant fixtures are present', () => {
  assert.ok(VARIANTS.length >= 4, `found ${VARIANTS.join(', ')} in ${FIXTURES}`);
});

for (const name of VARIANTS) {
  test(`timm variant ${name}: logits and final_block_input_cls match to 1e-4`, (t) => {
    const wf = join(FIXTURES, `${name}.weights.safetensors`);
    const weights = readSafetensors(wf);
    const kwargs = timmKwargsFromMetadata(weights.metadata, wf);
    assert.ok(kwargs !== undefined, 'fixture carries __metadata__.config');
    const config = timmKwargsToConfig(kwargs, wf);
    assert.deepEqual(
      [config.imgSize, config.patchSize, config.inChans, config.numClasses, config.embedDim, config.depth, config.numHeads, config.mlpRatio, config.qkvBias],
      [
        kwargs['img_size'],
        kwargs['patch_size'],
        kwargs['in_chans'],
        kwargs['num_classes'],
        kwargs['embed_dim'],
        kwargs['depth'],
        kwargs['num_heads'],
        kwargs['mlp_ratio'],
        kwargs['qkv_bias'],
      ],
    );
    const model = vitFromTimm(config, weights.tensors, wf);
    try {
      const exp = expected(name);
      const before = tf.memory().numTensors;
      const out = tf.tidy(() => {
        const o = model.forward(tf.tensor4d(exp.images, exp.shape));
        return { logits: o.logits, cls: o.finalBlockInputCls };
      });
      assert.deepEqual(out.logits.shape, [exp.shape[0], config.numClasses]);
      assert.deepEqual(out.cls.shape, [exp.shape[0], config.embedDim]);
      const logitsDiff = maxAbsDiff(out.logits.dataSync() as Float32Array, exp.logits);
      const clsDiff = maxAbsDiff(out.cls.dataSync() as Float32Array, exp.cls);
      tf.dispose([out.logits, out.cls]);
      assert.equal(tf.memory().numTensors, before, 'forward leaks no tensors');
      t.diagnostic(`max abs diff: logits ${logitsDiff.toExponential(2)}, final_block_input_cls ${clsDiff.toExponential(2)}`);
      assert.ok(logitsDiff < TOL, `logits max abs diff ${logitsDiff}`);
      assert.ok(clsDiff < TOL, `final_block_input_cls max abs diff ${clsDiff}`);
    } finally {
      model.dispose();
    }
  });
}

test('CLI: import-timm then infer reproduces a variant to 1e-4', () => {
  const name = 'gray28_p4_d24_depth6';
  assert.ok(VARIANTS.includes(name));
  const dir = mkdtempSync(join(tmpdir(), 'headsteer-timm-variant-'));
  try {
    const run = (args: string[]): void => {
      const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 120_000 });
      assert.equal(r.status, 0, `headsteer ${args.join(' ')} exited ${r.status}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
    };
    const ckpt = join(dir, 'ckpt');
    const outFile = join(dir, 'out.safetensors');
    run(['import-timm', join(FIXTURES, `${name}.weights.safetensors`), '--out', ckpt]);
    run(['infer', '--checkpoint', ckpt, '--input', join(FIXTURES, `${name}.io.safetensors`), '--key', 'input_nchw', '--out', outFile]);
    const got = readSafetensors(outFile);
    const exp = expected(name);
    const logits = got.tensors.get('logits');
    const cls = got.tensors.get('final_block_input_cls');
    assert.ok(logits !== undefined && cls !== undefined, `infer wrote ${[...got.tensors.keys()].join(', ')}`);
    assert.deepEqual(logits.shape, [exp.shape[0], 10]);
    assert.deepEqual(cls.shape, [exp.shape[0], 24]);
    assert.ok(!got.tensors.has('masks'), 'a dense import writes no masks');
    const logitsDiff = maxAbsDiff(toFloat32(logits, 'logits', outFile), exp.logits);
    const clsDiff = maxAbsDiff(toFloat32(cls, 'final_block_input_cls', outFile), exp.cls);
    assert.ok(logitsDiff < TOL, `logits max abs diff ${logitsDiff}`);
    assert.ok(clsDiff < TOL, `final_block_input_cls max abs diff ${clsDiff}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
