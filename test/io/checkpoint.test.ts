/** Tests for src/io/checkpoint.ts: round trip, training state, every load error, and the atomic swap. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UserError } from '../../src/errors.js';
import { FORMAT_VERSION, checkShapes, hasTrainingState, isCheckpoint, loadCheckpoint, saveCheckpoint } from '../../src/io/checkpoint.js';
import type { TensorData } from '../../src/io/safetensors.js';

function f32(shape: number[], fill: number): TensorData {
  const n = shape.reduce((a, b) => a * b, 1);
  return { dtype: 'F32', shape, data: new Float32Array(n).fill(fill) };
}

function withDir(fn: (root: string) => void): void {
  const root = mkdtempSync(join(tmpdir(), 'ckpt-'));
  try {
    fn(root);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

function userError(pattern: RegExp): (e: unknown) => boolean {
  return (e) => e instanceof UserError && pattern.test(e.message) && !e.message.includes('\n');
}

const weights = { 'blocks.0.attn.qkv.weight': f32([288, 96], 0.5), 'head.bias': f32([10], 1) };

test('round trip: config gets formatVersion, weights come back, no training unless asked', () => {
  withDir((root) => {
    const dir = join(root, 'dense');
    saveCheckpoint(dir, { config: { kind: 'vit', depth: 2 }, weights });
    assert.ok(isCheckpoint(dir));
    assert.deepEqual(readdirSync(root), ['dense']);
    const ck = loadCheckpoint(dir, { kind: 'vit' });
    assert.deepEqual(ck.config, { formatVersion: FORMAT_VERSION, kind: 'vit', depth: 2 });
    assert.deepEqual(ck.weights.get('blocks.0.attn.qkv.weight')?.shape, [288, 96]);
    assert.equal((ck.weights.get('head.bias')!.data as Float32Array)[3], 1);
    assert.equal(ck.training, undefined);
    assert.ok(readFileSync(join(dir, 'config.json'), 'utf8').endsWith('}\n'));
  });
});

test('training state round trip; withTraining errors when it is absent', () => {
  withDir((root) => {
    const dir = join(root, 'sae');
    saveCheckpoint(dir, {
      config: { kind: 'sae' },
      weights,
      training: { optimizer: new Map([['m.head.bias', f32([10], 0.25)]]), state: { step: 120, epoch: 2 } },
    });
    assert.ok(hasTrainingState(dir));
    const ck = loadCheckpoint(dir, { withTraining: true });
    assert.deepEqual(ck.training?.state, { step: 120, epoch: 2 });
    assert.equal((ck.training!.optimizer.get('m.head.bias')!.data as Float32Array)[0], 0.25);

    // Saving again without training removes the stale optimizer state.
    saveCheckpoint(dir, { config: { kind: 'sae' }, weights });
    assert.ok(!hasTrainingState(dir));
    assert.throws(() => loadCheckpoint(dir, { withTraining: true }), userError(/has no training state/));
  });
});

test('each load error is one UserError naming the folder or file', () => {
  withDir((root) => {
    assert.throws(() => loadCheckpoint(join(root, 'x'), { createdBy: 'headsteer sae' }), userError(/x does not exist; run `headsteer sae` to create it/));
    assert.throws(() => loadCheckpoint(join(root, 'x')), userError(/x does not exist; run the stage/));
    // io/ knows no CLI verbs: a folder named like a run's stage folder gets only the hint its caller passes.
    assert.throws(() => loadCheckpoint(join(root, 'pruned')), userError(/pruned does not exist; run the stage that writes it first/));

    const dir = join(root, 'dense');
    saveCheckpoint(dir, { config: { kind: 'vit' }, weights });
    const config = join(dir, 'config.json');
    assert.throws(() => loadCheckpoint(dir, { kind: 'sae' }), userError(/config\.json holds a 'vit' checkpoint, expected 'sae'/));

    writeFileSync(config, JSON.stringify({ formatVersion: 2, kind: 'vit' }));
    assert.throws(() => loadCheckpoint(dir), userError(/config\.json was written by format 2, this headsteer reads 1/));
    writeFileSync(config, JSON.stringify({ formatVersion: 1 }));
    assert.throws(() => loadCheckpoint(dir), userError(/config\.json has no string "kind"/));
    writeFileSync(config, '{"formatVersion": 1,');
    assert.throws(() => loadCheckpoint(dir), userError(/checkpoint config .*config\.json is not valid JSON/));
    writeFileSync(config, '[]');
    assert.throws(() => loadCheckpoint(dir), userError(/config\.json must be a JSON object/));
    rmSync(config);
    assert.throws(() => loadCheckpoint(dir), userError(/dense is not a checkpoint: config\.json is missing/));

    writeFileSync(config, JSON.stringify({ formatVersion: 1, kind: 'vit' }));
    rmSync(join(dir, 'weights.safetensors'));
    assert.throws(() => loadCheckpoint(dir), userError(/dense is incomplete: weights\.safetensors is missing/));
    assert.ok(!isCheckpoint(dir));
  });
});

test('checkShapes names the file and every missing, unexpected and mis-shaped tensor', () => {
  const actual = new Map(Object.entries(weights));
  checkShapes(
    new Map([
      ['blocks.0.attn.qkv.weight', [288, 96]],
      ['head.bias', [10]],
    ]),
    actual,
    'w.safetensors',
  );
  const expected = new Map([
    ['blocks.0.attn.qkv.weight', [192, 96]],
    ['pos_embed', [1, 65, 96]],
  ]);
  assert.throws(
    () => checkShapes(expected, actual, 'dense/weights.safetensors'),
    userError(
      /^dense\/weights\.safetensors .*blocks\.0\.attn\.qkv\.weight has shape \[288,96\], expected \[192,96\]; missing tensor pos_embed \[1,65,96\]; unexpected tensor head\.bias$/,
    ),
  );
});

test('atomic swap: stale temp folders are ignored and cleaned, foreign files survive', () => {
  withDir((root) => {
    const dir = join(root, 'dense');
    saveCheckpoint(dir, { config: { kind: 'vit', v: 1 }, weights });
    writeFileSync(join(dir, 'metrics.jsonl'), '{"step":1}\n');
    // A half-written save of a dead process (pid far beyond pid_max) and a leftover atomic-write temp file.
    mkdirSync(`${dir}.tmp-999999999`);
    writeFileSync(join(`${dir}.tmp-999999999`, 'weights.safetensors'), 'partial');
    writeFileSync(join(dir, '.weights.safetensors.tmp-999999999-0'), 'partial');
    assert.equal(loadCheckpoint(dir).config['v'], 1);

    saveCheckpoint(dir, { config: { kind: 'vit', v: 2 }, weights });
    assert.equal(loadCheckpoint(dir).config['v'], 2);
    assert.equal(readFileSync(join(dir, 'metrics.jsonl'), 'utf8'), '{"step":1}\n');
    assert.deepEqual(readdirSync(root), ['dense']);
    assert.ok(!existsSync(join(dir, '.weights.safetensors.tmp-999999999-0')));
  });
});

test('atomic swap: a kill between the two renames is recovered from the .old- folder', () => {
  withDir((root) => {
    const dir = join(root, 'sae');
    saveCheckpoint(dir, { config: { kind: 'sae', v: 1 }, weights });
    // Simulate the kill: dir already renamed to .old-<pid>, the new tmp folder (unfinished) not yet moved.
    cpSync(dir, `${dir}.tmp-999999999`, { recursive: true });
    rmSync(join(`${dir}.tmp-999999999`, 'config.json'));
    renameSync(dir, `${dir}.old-999999999`);
    assert.equal(loadCheckpoint(dir, { kind: 'sae' }).config['v'], 1);
    assert.ok(existsSync(dir));

    // Same state again, but the next save (not a load) meets it: it recovers, replaces, cleans up.
    renameSync(dir, `${dir}.old-999999999`);
    saveCheckpoint(dir, { config: { kind: 'sae', v: 2 }, weights });
    assert.equal(loadCheckpoint(dir).config['v'], 2);
    assert.deepEqual(readdirSync(root), ['sae']);
  });
});

test('refuses to replace a folder that is not a checkpoint; accepts an empty one', () => {
  withDir((root) => {
    const dir = join(root, 'mine');
    mkdirSync(dir);
    saveCheckpoint(dir, { config: { kind: 'vit' }, weights });
    assert.ok(isCheckpoint(dir));
    const other = join(root, 'notes');
    mkdirSync(other);
    writeFileSync(join(other, 'todo.txt'), 'keep me');
    assert.throws(() => saveCheckpoint(other, { config: { kind: 'vit' }, weights }), userError(/notes exists and is not a checkpoint folder/));
    assert.equal(readFileSync(join(other, 'todo.txt'), 'utf8'), 'keep me');
  });
});
