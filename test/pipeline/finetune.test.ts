/**
 * The paper's path on a small timm fixture (docs/design.md "Fine-tuning a pretrained ViT"): `run --from`
 * imports test/fixtures/timm (32 px RGB, 10 classes), fine-tunes it on the smoke preset's procedural
 * data (16 px grayscale, 4 classes: a new head, a resampled position embedding, a summed patch kernel),
 * prunes, extracts, trains the SAE and steers. Bad input — a file whose tensors do not match its
 * metadata, a patch size that does not divide the image side, missing CIFAR files for the paper preset,
 * the paper preset without a model, an imported head pruned without fine-tuning — is one line naming
 * the file or key, and writes nothing.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readSafetensors, writeSafetensors } from '../../src/io/safetensors.js';
import { fixtureDir } from '../fixtures.js';

const CLI = join(dirname(fileURLToPath(import.meta.url)), '../../src/cli/main.js');
const TIMM = join(fixtureDir('timm'), 'timm_vit_tiny_rgb.weights.safetensors');
const root = mkdtempSync(join(tmpdir(), 'headsteer-finetune-'));
after(() => rmSync(root, { recursive: true, force: true }));

function cli(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function json(path: string): Record<string, unknown> {
  return JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
}

test('run --from a timm file: import -> finetune (new head, 10 -> 4 classes) -> prune -> extract -> sae -> steer', () => {
  const run = join(root, 'run');
  const r = cli([
    'run',
    '--preset',
    'smoke',
    '--out',
    run,
    '--from',
    TIMM,
    '--set',
    'finetune.epochs=0.5',
    '--set',
    'prune.epochs=0.5',
    '--set',
    'sae.epochs=3',
  ]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /finetune: new classifier head: 10 -> 4 classes/);
  assert.match(r.stderr, /position embedding resampled 8x8 -> 4x4 \(bicubic, CLS kept\)/);
  assert.match(r.stderr, /patch embedding 3 -> 1 channels/);
  assert.match(r.stdout, /dense ViT: {3}accuracy .* \(fine-tuned\)/);
  const dense = json(join(run, 'dense', 'config.json'));
  assert.equal(dense['stage'], 'import-timm');
  const tuned = json(join(run, 'finetuned', 'config.json'));
  assert.equal(tuned['stage'], 'finetune');
  assert.deepEqual((tuned['model'] as Record<string, unknown>)['numClasses'], 4);
  // The recorded run config says what ran: the imported architecture, not the preset's.
  assert.deepEqual((tuned['run'] as { model: unknown }).model, { imgSize: 16, patchSize: 4, embedDim: 96, depth: 2, numHeads: 6, mlpRatio: 4, qkvBias: true });
  const pruned = json(join(run, 'pruned', 'eval.json')) as { accuracy: number; headUsage: { overall: number } };
  assert.ok(pruned.headUsage.overall < 1, 'the gates prune');
  for (const f of ['finetuned/eval.json', 'features/manifest.json', 'sae/metrics.json', 'steer/results.json', 'report/index.html'])
    assert.ok(existsSync(join(run, f)), f);
  // Rerun: every stage, the import and the fine-tune included, is complete.
  const again = cli(['run', '--preset', 'smoke', '--out', run, '--from', TIMM]);
  assert.equal(again.status, 0, again.stderr);
  assert.equal((again.stderr.match(/already complete, skipped/g) ?? []).length, 8, again.stderr); // import .. steer
});

/** stderr minus the engine notice: exactly one `headsteer: ...` line. */
function errorLine(stderr: string): string {
  const lines = stderr.split('\n').filter((l) => l !== '' && !l.startsWith('engine:') && !/^\[\d+\/\d+\]|^ {2}\S/.test(l));
  assert.equal(lines.length, 1, `one error line, got:\n${stderr}`);
  assert.doesNotMatch(stderr, /\bat .*\.js:\d+/, 'no stack trace');
  return lines[0]!;
}

test('bad input: one line naming the file or key, nothing written', () => {
  const bad = join(root, 'bad');
  const out = join(bad, 'run');
  const wrongShape = join(bad, 'wrong.safetensors');
  const fixture = readSafetensors(TIMM);
  const config = { ...JSON.parse(fixture.metadata['config']!), embed_dim: 48 };
  spawnSync('mkdir', ['-p', bad]);
  writeSafetensors(wrongShape, fixture.tensors, { ...fixture.metadata, config: JSON.stringify(config) });
  const cases: Array<{ args: string[]; expect: RegExp }> = [
    { args: ['import-timm', wrongShape, '--out', join(out, 'dense')], expect: /wrong\.safetensors does not match the model: .*expected \[1,1,48\]/ },
    { args: ['run', '--preset', 'smoke', '--out', out, '--from', wrongShape], expect: /wrong\.safetensors does not match the model/ },
    {
      args: ['run', '--preset', 'smoke', '--out', out, '--from', TIMM, '--set', 'model.imgSize=18'],
      expect: /timm_vit_tiny_rgb\.weights\.safetensors: patch size 4 does not divide the image side 18 \(model\.imgSize/,
    },
    { args: ['run', '--preset', 'paper', '--out', out, '--from', TIMM, '--data-dir', join(bad, 'no-cifar')], expect: /no-cifar/ },
    { args: ['run', '--preset', 'paper', '--out', out], expect: /preset 'paper' fine-tunes a pretrained ViT \(finetune\.pretrained\): pass --from/ },
    { args: ['finetune', '--preset', 'smoke', '--out', out], expect: /dense does not exist; run `headsteer pretrain \(or headsteer import-timm/ },
  ];
  for (const c of cases) {
    const r = cli(c.args);
    assert.equal(r.status, 2, `${c.args.join(' ')}: exit code\n${r.stderr}`);
    assert.match(errorLine(r.stderr), c.expect, c.args.join(' '));
    assert.ok(!existsSync(out), `${c.args.join(' ')}: wrote nothing`);
  }
  // An imported 10-class head straight into prune: refused, and prune writes nothing.
  assert.equal(cli(['import-timm', TIMM, '--out', join(out, 'dense')]).status, 0);
  const r = cli(['prune', '--out', out]);
  assert.equal(r.status, 2, r.stderr);
  assert.match(errorLine(r.stderr), /dense holds an imported model \(a 10-class head\) that was not fine-tuned on a dataset; run `headsteer finetune --out/);
  assert.deepEqual(readdirSync(out), ['dense']);
});
