/**
 * The run folder layout (src/run/layout.ts): stage folders in pipeline order, done-tests on what each
 * stage writes last, training status of a checkpoint folder, the verb a missing checkpoint folder
 * names, and the per-layer folders of steering at every layer.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runConfigOf } from '../../src/config.js';
import { UserError } from '../../src/errors.js';
import { saveCheckpoint } from '../../src/io/checkpoint.js';
import {
  checkpointWriter,
  layersResultsPath,
  layerStageDir,
  layerStageDone,
  layerStageVerb,
  loadStageViT,
  stageDir,
  stageDone,
  stageStatus,
  STAGE_ORDER,
  denseStage,
  STAGES,
} from '../../src/run/layout.js';

function withRun(fn: (run: string) => void): void {
  const run = mkdtempSync(join(tmpdir(), 'headsteer-layout-'));
  try {
    fn(run);
  } finally {
    rmSync(run, { recursive: true, force: true });
  }
}

const userError =
  (re: RegExp) =>
  (e: unknown): boolean =>
    e instanceof UserError && re.test(e.message);

test('stages in pipeline order, each with its own folder under the run', () => {
  assert.deepEqual(STAGE_ORDER, ['pretrain', 'finetune', 'prune', 'extract', 'sae', 'stats', 'latents', 'steer', 'report']);
  assert.deepEqual(
    STAGE_ORDER.map((s) => STAGES[s].folder),
    ['dense', 'finetuned', 'pruned', 'features', 'sae', 'stats', 'latents', 'steer', 'report'],
  );
  assert.equal(stageDir('runs/x', 'prune'), join('runs/x', 'pruned'));
  for (const s of STAGE_ORDER) assert.equal(STAGES[s].verb, `headsteer ${s}`);
});

test('done-tests look at what each stage writes last; the report is never done', () => {
  withRun((run) => {
    assert.deepEqual(
      STAGE_ORDER.filter((s) => stageDone(run, s)),
      [],
    );
    for (const [stage, file] of [
      ['extract', 'manifest.json'],
      ['stats', 'stats.json'],
      ['latents', 'latents.json'],
      ['steer', 'results.json'],
    ] as const) {
      mkdirSync(stageDir(run, stage), { recursive: true });
      writeFileSync(join(stageDir(run, stage), file), '{}');
    }
    saveCheckpoint(stageDir(run, 'pretrain'), { config: { kind: 'vit', complete: true }, weights: {} });
    saveCheckpoint(stageDir(run, 'prune'), {
      config: { kind: 'vit', complete: false },
      weights: {},
      training: { optimizer: {}, state: { step: 3, totalSteps: 10 } },
    });
    saveCheckpoint(stageDir(run, 'sae'), { config: { kind: 'sae' }, weights: {} });
    mkdirSync(stageDir(run, 'report'), { recursive: true });
    writeFileSync(join(stageDir(run, 'report'), 'index.html'), '');
    assert.deepEqual(
      STAGE_ORDER.filter((s) => stageDone(run, s)),
      ['pretrain', 'extract', 'stats', 'latents', 'steer'],
    );
    writeFileSync(join(stageDir(run, 'sae'), 'metrics.json'), '{}'); // the SAE stage writes it after training
    assert.ok(stageDone(run, 'sae'));
  });
});

test('the dense model prune starts from: finetuned/ once it holds a checkpoint, else dense/', () => {
  withRun((run) => {
    assert.equal(denseStage(run), 'pretrain');
    saveCheckpoint(stageDir(run, 'pretrain'), { config: { kind: 'vit', complete: true }, weights: {} });
    assert.equal(denseStage(run), 'pretrain');
    saveCheckpoint(stageDir(run, 'finetune'), {
      config: { kind: 'vit', complete: false },
      weights: {},
      training: { optimizer: {}, state: { step: 1, totalSteps: 4 } },
    });
    assert.equal(denseStage(run), 'finetune', 'an interrupted fine-tune is still the dense model (prune refuses it until finished)');
  });
});

test('stageStatus: missing, interrupted at its step, complete', () => {
  withRun((run) => {
    const dir = stageDir(run, 'prune');
    assert.deepEqual(stageStatus(dir), { state: 'missing' });
    saveCheckpoint(dir, { config: { kind: 'vit', complete: false }, weights: {} });
    assert.deepEqual(stageStatus(dir), { state: 'missing' }, 'no training state to resume from');
    saveCheckpoint(dir, { config: { kind: 'vit', complete: false }, weights: {}, training: { optimizer: {}, state: { step: 3, totalSteps: 10 } } });
    assert.deepEqual(stageStatus(dir), { state: 'interrupted', step: 3, totalSteps: 10 });
    saveCheckpoint(dir, { config: { kind: 'vit', complete: true }, weights: {} });
    assert.deepEqual(stageStatus(dir), { state: 'complete' });
  });
});

test('a missing checkpoint folder named like a stage folder names its verb; other names get none', () => {
  assert.equal(checkpointWriter('runs/x/dense'), 'headsteer pretrain');
  assert.equal(checkpointWriter('runs/x/pruned'), 'headsteer prune');
  assert.equal(checkpointWriter('runs/x/sae'), 'headsteer sae');
  assert.equal(checkpointWriter('runs/x/features'), undefined, 'not a checkpoint folder');
  assert.equal(checkpointWriter('runs/x/mine'), undefined);
  withRun((run) => {
    assert.throws(() => loadStageViT(stageDir(run, 'prune')), userError(/pruned does not exist; run `headsteer prune` to create it/));
    assert.throws(() => loadStageViT(join(run, 'mine')), userError(/mine does not exist; run the stage that writes it first/));
  });
});

test('runConfigOf: a checkpoint without a recorded run config is refused with the reason', () => {
  withRun((run) => {
    const dir = join(run, 'imported');
    saveCheckpoint(dir, { config: { kind: 'vit', complete: true }, weights: {} });
    assert.throws(() => runConfigOf(dir), userError(/records no run config \(an imported model\?\)/));
  });
});

test('per-layer folders: the final layer keeps the stage folder, another layer gets <run>/layers/<l>/', () => {
  assert.equal(layerStageDir('runs/x', 'sae', 5, 5), join('runs/x', 'sae'));
  assert.equal(layerStageDir('runs/x', 'sae', 2, 5), join('runs/x', 'layers', '2', 'sae'));
  assert.equal(layerStageDir('runs/x', 'stats', 2, 5), join('runs/x', 'layers', '2', 'stats'));
  assert.equal(layerStageVerb('sae', 2, 5), 'headsteer sae --layer 2');
  assert.equal(layerStageVerb('stats', 5, 5), 'headsteer stats');
  assert.equal(layersResultsPath('runs/x'), join('runs/x', 'steer', 'layers.json'));
  withRun((run) => {
    assert.ok(!layerStageDone(run, 'stats', 2, 5));
    mkdirSync(layerStageDir(run, 'stats', 2, 5), { recursive: true });
    writeFileSync(join(layerStageDir(run, 'stats', 2, 5), 'stats.json'), '{}');
    assert.ok(layerStageDone(run, 'stats', 2, 5));
    assert.ok(!stageDone(run, 'stats'), "another layer's statistics are not the final layer's");
  });
});
