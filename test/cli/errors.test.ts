/**
 * The CLI turns bad input into one clear line on stderr and exit code 2, without a stack trace and
 * without writing anything: bad configs and data, and (the regression corpus of issue 14) filesystem
 * errors, degenerate datasets, too large batches, corrupt features and weights (NaN, labels out of range).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { resolveConfig } from '../../src/config.js';
import { fsErrorLine, UserError } from '../../src/errors.js';
import { writeSafetensors } from '../../src/io/safetensors.js';
import { fixtureDir } from '../fixtures.js';

const CLI = join(dirname(fileURLToPath(import.meta.url)), '../../src/cli/main.js');

function cli(args: string[]): { status: number | null; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
  return { status: r.status, stderr: r.stderr };
}

/** `cli` without blocking, so that several commands can run side by side. */
function cliAsync(args: string[]): Promise<{ status: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString('utf8');
    });
    child.on('close', (status) => resolve({ status, stderr }));
  });
}

/** stderr minus the engine notice: exactly one `headsteer: ...` line. */
function errorLine(stderr: string): string {
  const lines = stderr.split('\n').filter((l) => l !== '' && !l.startsWith('engine:'));
  assert.equal(lines.length, 1, `one error line, got:\n${stderr}`);
  assert.doesNotMatch(stderr, /\bat .*\.js:\d+/, 'no stack trace');
  return lines[0]!;
}

test('--set refuses __proto__, constructor and prototype keys before assigning anything', () => {
  for (const o of ['__proto__.x=1', 'constructor.prototype.x=1', 'prototype.x=1', 'model.__proto__.x=1', 'constructor.x=1']) {
    assert.throws(
      () => resolveConfig('smoke', ['seed=3', o]),
      (e: unknown) => e instanceof UserError && e.message.includes('is not a config key'),
      o,
    );
    assert.equal(({} as Record<string, unknown>)['x'], undefined, `${o}: Object.prototype untouched`);
    assert.equal(Object.hasOwn(Object.prototype, 'x'), false, o);
  }
});

test('bad input to training verbs: one line, exit 2, no run folder written', () => {
  const root = mkdtempSync(join(tmpdir(), 'headsteer-cli-'));
  try {
    const bad = join(root, 'bad-idx');
    const out = join(root, 'run');
    rmSync(bad, { recursive: true, force: true });
    const cases: Array<{ args: string[]; expect: RegExp; setup?: () => void }> = [
      { args: ['pretrain', '--preset', 'nope', '--out', out], expect: /unknown preset 'nope' \(allowed: smoke, default, mnist, paper\)/ },
      { args: ['pretrain', '--preset', 'smoke', '--set', 'model.depht=3', '--out', out], expect: /unknown key\(s\) 'depht' at model/ },
      { args: ['pretrain', '--preset', 'smoke', '--set', 'pretrain.lr=-1', '--out', out], expect: /pretrain\.lr/ },
      { args: ['pretrain', '--preset', 'smoke', '--set', '__proto__.x=1', '--out', out], expect: /'__proto__' is not a config key/ },
      { args: ['pretrain', '--preset', 'smoke', '--set', 'model.constructor.x=1', '--out', out], expect: /'constructor' is not a config key/ },
      {
        args: ['pretrain', '--preset', 'default', '--data-dir', bad, '--out', out],
        expect: /train-images-idx3-ubyte.*(magic|truncated)|magic/i,
        setup: () => {
          mkdirSync(bad, { recursive: true });
          for (const f of ['train-images-idx3-ubyte', 'train-labels-idx1-ubyte', 't10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte'])
            writeFileSync(join(bad, f), Buffer.from([0, 0, 9, 9, 0, 0, 0, 1]));
        },
      },
      { args: ['prune', '--out', out], expect: /checkpoint folder .*dense does not exist; run `headsteer pretrain` to create it/ },
      { args: ['eval', '--checkpoint', join(root, 'nowhere')], expect: /nowhere does not exist/ },
      { args: ['data', '--dataset', 'cifar10', '--data-dir', join(root, 'missing')], expect: /missing/ },
    ];
    for (const c of cases) {
      c.setup?.();
      const r = cli(c.args);
      assert.equal(r.status, 2, `${c.args.join(' ')}: exit code\n${r.stderr}`);
      assert.match(errorLine(r.stderr), c.expect, c.args.join(' '));
      assert.ok(!existsSync(out), `${c.args.join(' ')}: wrote nothing`);
    }
    assert.deepEqual(readdirSync(root).sort(), ['bad-idx']);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

/** An IDX image + label file pair per split, as Fashion-MNIST names them: `count` images of side x side. */
function writeIdx(dir: string, count: { train: number; test: number }, side: number): void {
  mkdirSync(dir, { recursive: true });
  for (const [prefix, n] of [
    ['train', count.train],
    ['t10k', count.test],
  ] as const) {
    const images = Buffer.alloc(16 + n * side * side);
    images.writeUInt32BE(0x803, 0);
    images.writeUInt32BE(n, 4);
    images.writeUInt32BE(side, 8);
    images.writeUInt32BE(side, 12);
    writeFileSync(join(dir, `${prefix}-images-idx3-ubyte`), images);
    const labels = Buffer.alloc(8 + n);
    labels.writeUInt32BE(0x801, 0);
    labels.writeUInt32BE(n, 4);
    writeFileSync(join(dir, `${prefix}-labels-idx1-ubyte`), labels);
  }
}

/** A features folder of N = 8 samples of d = 4 (2 classes), with one sample's x or label spoiled. */
function writeFeatures(dir: string, spoil: { x?: number; label?: number }): void {
  mkdirSync(dir, { recursive: true });
  const N = 8;
  const D = 4;
  // The checkpoint they came from: its run config is all the sae verb reads of it.
  mkdirSync(join(dir, 'ckpt'), { recursive: true });
  writeFileSync(join(dir, 'ckpt', 'config.json'), JSON.stringify({ run: { preset: 'smoke' } }));
  const manifest = { kind: 'features', formatVersion: 1, checkpoint: 'ckpt', dim: D, heads: 2, tokens: 2, classNames: ['a', 'b'], depth: 1, layers: [0] };
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify({ ...manifest, train: { count: N }, test: { count: N, accuracy: 1, finalHeadUsage: 1 } }));
  for (const split of ['train', 'test']) {
    const x = Float32Array.from({ length: N * D }, (_, i) => Math.sin(i));
    const labels = Int32Array.from({ length: N }, (_, i) => i % 2);
    if (spoil.x !== undefined) x[3 * D + 1] = spoil.x;
    if (spoil.label !== undefined) labels[5] = spoil.label;
    const kv = new Float32Array(N * 2 * 2 * 2);
    writeSafetensors(join(dir, `${split}.safetensors`), {
      x: { dtype: 'F32', shape: [N, D], data: x },
      labels: { dtype: 'I32', shape: [N], data: labels },
      predictions: { dtype: 'I32', shape: [N], data: labels },
      final_masks: { dtype: 'F32', shape: [N, 2], data: new Float32Array(N * 2).fill(1) },
      ...(split === 'test' ? { k: { dtype: 'F32', shape: [N, 2, 2, 2], data: kv }, v: { dtype: 'F32', shape: [N, 2, 2, 2], data: kv } } : {}),
    } as Parameters<typeof writeSafetensors>[1]);
  }
}

/** Copy of a safetensors file whose first F32 value of tensor `name` is NaN. */
function withNaN(file: string, name: string, out: string): void {
  const bytes = readFileSync(file);
  const headerLen = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + headerLen).toString('utf8')) as Record<string, { data_offsets: [number, number] }>;
  bytes.writeFloatLE(Number.NaN, 8 + headerLen + header[name]!.data_offsets[0]);
  writeFileSync(out, bytes);
}

test('regression corpus: filesystem errors, degenerate data, corrupt weights and features — one line, exit 2, nothing finished changed', async () => {
  const root = mkdtempSync(join(tmpdir(), 'headsteer-corpus-'));
  try {
    const file = join(root, 'a-file');
    writeFileSync(file, 'not a folder\n');
    const idx = (name: string, count: { train: number; test: number }, side: number): string => {
      writeIdx(join(root, name), count, side);
      return join(root, name);
    };
    const cifar = join(root, 'cifar', 'cifar-10-batches-bin');
    mkdirSync(join(cifar, 'data_batch_1.bin'), { recursive: true }); // a folder where a batch file belongs
    for (const f of ['data_batch_2.bin', 'data_batch_3.bin', 'data_batch_4.bin', 'data_batch_5.bin', 'test_batch.bin'])
      writeFileSync(join(cifar, f), Buffer.alloc(3073));
    writeFeatures(join(root, 'feat-label'), { label: 7 });
    writeFeatures(join(root, 'feat-nan'), { x: Number.NaN });
    const ckpt = join(root, 'vit-nan');
    const imported = cli(['import-timm', join(fixtureDir('timm'), 'timm_vit_tiny_rgb.weights.safetensors'), '--out', ckpt]);
    assert.equal(imported.status, 0, imported.stderr);
    withNaN(join(ckpt, 'weights.safetensors'), 'blocks.0.attn.qkv.weight', join(ckpt, 'weights.safetensors'));
    const runs = [join(root, 'run-a'), join(root, 'run-b')];
    for (const r of runs) cpSync(fixtureDir('run-smoke'), r, { recursive: true });
    // One folder each: the cases run side by side, and a stage locks the folder that holds its --out.
    const parents: string[] = [];
    const out = (name: string): string => {
      const parent = join(root, `case-${name}`);
      mkdirSync(parent);
      parents.push(parent);
      return join(parent, 'out');
    };
    const cases: Array<{ name: string; args: string[]; expect: RegExp }> = [
      {
        name: '--out is a file',
        args: ['pretrain', '--preset', 'smoke', '--out', file],
        expect: /a-file: (it already exists as a file|a part of the path is a file, not a folder)/,
      },
      { name: '--out under a file', args: ['pretrain', '--preset', 'smoke', '--out', join(file, 'run')], expect: /a part of the path is a file, not a folder/ },
      { name: 'name over 255', args: ['pretrain', '--preset', 'smoke', '--out', join(root, 'n'.repeat(300))], expect: /the name is too long/ },
      { name: 'path over 4096', args: ['pretrain', '--preset', 'smoke', '--out', join(root, 'p/'.repeat(2100))], expect: /the name is too long/ },
      {
        name: 'read-only mount',
        args: ['pretrain', '--preset', 'smoke', '--out', '/sys/headsteer-test'],
        expect: /cannot mkdir \/sys\/headsteer-test[^:]*: .*(read-only|not permitted|permission)/,
      },
      { name: 'unreadable CIFAR batch', args: ['data', '--dataset', 'cifar10', '--data-dir', join(root, 'cifar')], expect: /data_batch_1\.bin/ },
      {
        name: 'IDX of 0 images',
        args: ['pretrain', '--preset', 'default', '--data-dir', idx('idx0', { train: 0, test: 0 }, 28), '--out', out('idx0')],
        expect: /the train split holds 0 images/,
      },
      { name: 'IDX of 0 test images', args: ['data', '--data-dir', idx('idx0test', { train: 10, test: 0 }, 28)], expect: /the test split holds 0 images/ },
      { name: 'IDX of 0x0 images', args: ['data', '--data-dir', idx('idx00', { train: 10, test: 10 }, 0)], expect: /images are 0x0 pixels/ },
      {
        name: 'IDX smaller than a patch',
        args: ['pretrain', '--preset', 'default', '--data-dir', idx('idx4', { train: 10, test: 10 }, 4), '--out', out('idx4')],
        expect: /images of 4x4 pixels are smaller than one 7x7 patch \(model\.patchSize\)/,
      },
      {
        name: 'IDX smaller than a patch, at data time',
        args: ['data', '--preset', 'default', '--data-dir', idx('idx4data', { train: 10, test: 10 }, 4)],
        expect: /images of 4x4 pixels are smaller than one 7x7 patch \(model\.patchSize\)/,
      },
      { name: '--set without --preset on data', args: ['data', '--set', 'model.patchSize=4'], expect: /--set goes with --preset/ },
      {
        name: 'batch larger than the data',
        args: ['pretrain', '--preset', 'smoke', '--set', 'pretrain.batchSize=4096', '--out', out('batch')],
        expect: /pretrain\.batchSize 4096 is larger than the 2000 training images/,
      },
      {
        name: 'features labels out of range',
        args: ['sae', '--features', join(root, 'feat-label'), '--out', out('label')],
        expect: /'labels' of sample 5 is 7, expected a class index in 0\.\.1/,
      },
      {
        name: 'features with a NaN row',
        args: ['sae', '--features', join(root, 'feat-nan'), '--out', out('nan')],
        expect: /train\.safetensors: tensor x holds NaN \(at sample 3\)/,
      },
      { name: 'weights with NaN', args: ['eval', '--checkpoint', ckpt], expect: /weights\.safetensors: tensor blocks\.0\.attn\.qkv\.weight holds NaN/ },
      {
        name: 'compare --out a file',
        args: ['compare', ...runs, '--out', file],
        expect: /a-file: (it already exists as a file|a part of the path is a file, not a folder)/,
      },
    ];
    const before = readdirSync(root).sort();
    // Three at a time: each case is mostly the CLI's start-up.
    for (let i = 0; i < cases.length; i += 3) {
      const batch = cases.slice(i, i + 3);
      const results = await Promise.all(batch.map((c) => cliAsync(c.args)));
      for (const [j, r] of results.entries()) {
        const c = batch[j]!;
        assert.equal(r.status, 2, `${c.name}: exit code\n${r.stderr}`);
        assert.match(errorLine(r.stderr), c.expect, c.name);
      }
    }
    assert.deepEqual(readdirSync(root).sort(), before, 'nothing written');
    for (const parent of parents) assert.deepEqual(readdirSync(parent), [], `nothing written in ${parent}`);
    assert.ok(!existsSync(join(ckpt, 'eval.json')), 'no eval.json for NaN weights');
    const fits = cli(['data', '--preset', 'default', '--data-dir', join(root, 'idx4data'), '--set', 'model.patchSize=4']);
    assert.equal(fits.status, 0, `4x4 images fit a 4x4 patch: ${fits.stderr}`);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('a full disk (ENOSPC) and other filesystem errors are one line naming the path and the fix', () => {
  const err = (code: string, syscall: string, path: string): Error => Object.assign(new Error(`${code}: ${syscall} '${path}'`), { code, syscall, path });
  assert.equal(
    fsErrorLine(err('ENOSPC', 'write', 'runs/x/dense/weights.safetensors')),
    'cannot write runs/x/dense/weights.safetensors: the disk is full; free some space and rerun (finished files were left as they were)',
  );
  assert.match(fsErrorLine(err('EROFS', 'mkdir', '/mnt/ro/run'))!, /^cannot mkdir \/mnt\/ro\/run: the file system is read-only; choose another --out$/);
  assert.match(fsErrorLine(err('EACCES', 'open', 'runs/x/.lock'))!, /permission denied/);
  assert.equal(fsErrorLine(new TypeError('a bug')), undefined, 'other errors keep their stack trace');
});
