/** Tests of the dataset registry: names, listing and loading by name. */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { DATASET_NAMES, listDatasets, loadDataset } from '../../src/data/registry.js';
import { UserError } from '../../src/errors.js';
import { tempDirs } from './helpers.js';

const { craft, cleanup } = tempDirs('registry');
after(cleanup);

describe('registry', () => {
  it('rejects an unknown name, listing the allowed ones', () => {
    assert.throws(
      () => loadDataset('imagenet'),
      (err: unknown) => err instanceof UserError && err.message === "unknown dataset 'imagenet' (allowed: fashion-mnist, mnist, cifar10, cifar100, procedural)",
    );
  });

  it('lists every dataset; procedural is always available; CIFAR needs a folder', () => {
    const rows = listDatasets();
    assert.deepEqual(
      rows.map((r) => r.name),
      [...DATASET_NAMES],
    );
    const byName = new Map(rows.map((r) => [r.name, r]));
    assert.equal(byName.get('procedural')?.available, true);
    assert.equal(byName.get('cifar10')?.available, false);
    assert.match(byName.get('cifar10')?.detail ?? '', /--data-dir/);
  });

  it('with an empty --data-dir reports what is missing and writes nothing', () => {
    const dir = craft({});
    const rows = listDatasets({ dataDir: dir });
    const fashion = rows.find((r) => r.name === 'fashion-mnist');
    assert.equal(fashion?.available, false);
    assert.match(fashion?.detail ?? '', /missing train-images-idx3-ubyte\(\.gz\)/);
    assert.match(rows.find((r) => r.name === 'cifar100')?.detail ?? '', /missing train\.bin, test\.bin/);
    assert.throws(() => loadDataset('cifar10', {}), /CIFAR-10 needs --data-dir/);
    assert.throws(() => loadDataset('cifar10', { dataDir: dir }), /CIFAR-10: data_batch_1\.bin not found/);
    assert.deepEqual(readdirSync(dir), []);
  });

  it('loads the procedural set with seed and options', () => {
    const a = loadDataset('procedural', { seed: 5, procedural: { train: 20, test: 10, classes: 2 } });
    assert.deepEqual([a.train.count, a.test.count, a.classNames.length], [20, 10, 2]);
    const b = loadDataset('procedural', { seed: 5, procedural: { train: 20, test: 10, classes: 2 } });
    assert.deepEqual(a.train.images, b.train.images);
  });
});
