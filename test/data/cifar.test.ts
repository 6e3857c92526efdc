/** Tests of the CIFAR-10/100 binary readers on fake tiny folders: round trips and malformed input. */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { CIFAR10, CIFAR10_CLASSES, CIFAR100, CIFAR100_CLASSES, loadCifar } from '../../src/data/cifar.js';
import { assertUserError, listing, tempDirs } from './helpers.js';

const { craft, cleanup } = tempDirs('cifar');
after(cleanup);

/** Records for `labels`: label bytes then 3072 pixels whose value encodes (record, channel). */
function records(labels: number[][], seed: number): Uint8Array {
  const size = (labels[0]?.length ?? 1) + 3072;
  const out = new Uint8Array(labels.length * size);
  labels.forEach((ls, r) => {
    out.set(ls, r * size);
    for (let c = 0; c < 3; c++) out.fill((seed * 16 + r * 3 + c) % 256, r * size + ls.length + c * 1024, r * size + ls.length + (c + 1) * 1024);
  });
  return out;
}

function cifar10Files(prefix: string): Record<string, Uint8Array> {
  const files: Record<string, Uint8Array> = {};
  for (let b = 1; b <= 5; b++) files[`${prefix}data_batch_${b}.bin`] = records([[b], [9 - b]], b);
  files[`${prefix}test_batch.bin`] = records([[3], [0], [7]], 9);
  return files;
}

describe('CIFAR-10', () => {
  it('round-trips a fake folder in the usual subfolder', () => {
    const dir = craft(cifar10Files('cifar-10-batches-bin/'));
    const ds = loadCifar(CIFAR10, dir);
    assert.deepEqual([ds.channels, ds.height, ds.width, ds.train.count, ds.test.count], [3, 32, 32, 10, 3]);
    assert.deepEqual([...ds.train.labels], [1, 8, 2, 7, 3, 6, 4, 5, 5, 4]);
    assert.deepEqual([...ds.test.labels], [3, 0, 7]);
    assert.deepEqual(ds.classNames, CIFAR10_CLASSES);
    assert.equal(ds.source, join(dir, 'cifar-10-batches-bin'));
    // Record 1 of batch 2 is train image 3; its green plane holds 2*16 + 1*3 + 1.
    assert.equal(ds.train.images[3 * 3072 + 1024 + 500], 36);
    assert.equal(ds.mean.length, 3);
  });

  it('accepts files directly in the folder and reads batches.meta.txt', () => {
    const names = Array.from({ length: 10 }, (_, i) => `c${i}`);
    const dir = craft({ ...cifar10Files(''), 'batches.meta.txt': `${names.join('\n')}\n\n` });
    assert.deepEqual(loadCifar(CIFAR10, dir).classNames, names);
  });

  it('rejects a missing folder and a missing file, naming it', () => {
    const files = cifar10Files('');
    delete files['data_batch_4.bin'];
    const dir = craft(files);
    const before = listing(dir);
    assertUserError(() => loadCifar(CIFAR10, join(dir, 'nope')), [/CIFAR-10 folder not found: .*nope/], dir, before);
    assertUserError(() => loadCifar(CIFAR10, dir), [/CIFAR-10: data_batch_4\.bin not found in/], dir, before);
  });

  it('rejects a size that is not a multiple of the record size, giving both numbers', () => {
    const files = cifar10Files('');
    files['test_batch.bin'] = new Uint8Array(3073 * 2 + 100);
    const dir = craft(files);
    assertUserError(() => loadCifar(CIFAR10, dir), [/test_batch\.bin: size 6246 bytes/, /record size 3073/], dir, listing(dir));
  });

  it('rejects a label out of range, naming file and record', () => {
    const files = cifar10Files('');
    files['data_batch_2.bin'] = records([[1], [10]], 0);
    const dir = craft(files);
    assertUserError(() => loadCifar(CIFAR10, dir), [/data_batch_2\.bin: record 1 has label 10, expected 0\.\.9/], dir, listing(dir));
  });

  it('rejects a names file with the wrong number of names', () => {
    const dir = craft({ ...cifar10Files(''), 'batches.meta.txt': 'a\nb\n' });
    assertUserError(() => loadCifar(CIFAR10, dir), [/batches\.meta\.txt: lists 2 class names, expected 10/], dir, listing(dir));
  });
});

describe('CIFAR-100', () => {
  it('round-trips a fake folder using the FINE labels', () => {
    const dir = craft({
      'cifar-100-binary/train.bin': records(
        [
          [0, 99],
          [19, 42],
          [5, 0],
        ],
        1,
      ),
      'cifar-100-binary/test.bin': records([[3, 7]], 2),
    });
    const ds = loadCifar(CIFAR100, dir);
    assert.deepEqual([...ds.train.labels], [99, 42, 0]);
    assert.deepEqual([...ds.test.labels], [7]);
    assert.equal(ds.classNames.length, 100);
    assert.deepEqual(ds.classNames, CIFAR100_CLASSES);
    assert.equal(ds.classNames[99], 'worm');
    assert.equal(ds.train.images[2 * 3072 + 2048], (16 + 6 + 2) % 256);
  });

  it('rejects a fine label out of range and a 3073-byte record layout', () => {
    const bad = craft({ 'train.bin': records([[0, 100]], 0), 'test.bin': records([[0, 1]], 0) });
    assertUserError(() => loadCifar(CIFAR100, bad), [/train\.bin: record 0 has label 100, expected 0\.\.99/], bad, listing(bad));
    const ten = craft({ 'train.bin': records([[1], [2]], 0), 'test.bin': records([[0, 1]], 0) });
    assertUserError(() => loadCifar(CIFAR100, ten), [/train\.bin: size 6146 bytes/, /record size 3074/], ten, listing(ten));
  });
});
