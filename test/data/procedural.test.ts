/** Tests of the procedural set: determinism, balance, shapes and option validation. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { classCounts, firstBadLabel } from '../../src/data/dataset.js';
import { makeProcedural, PROCEDURAL_CLASSES, PROCEDURAL_DEFAULTS } from '../../src/data/procedural.js';
import { UserError } from '../../src/errors.js';

describe('makeProcedural', () => {
  it('has the default shape and exactly balanced classes', () => {
    const ds = makeProcedural(0);
    assert.deepEqual([ds.channels, ds.height, ds.width], [1, 16, 16]);
    assert.deepEqual([ds.train.count, ds.test.count], [PROCEDURAL_DEFAULTS.train, PROCEDURAL_DEFAULTS.test]);
    assert.equal(ds.train.images.length, 2000 * 256);
    assert.deepEqual(ds.classNames, PROCEDURAL_CLASSES);
    assert.deepEqual(classCounts(ds.train, 10), new Array(10).fill(200));
    assert.deepEqual(classCounts(ds.test, 10), new Array(10).fill(50));
    assert.ok((ds.std[0] ?? 0) > 0.1, 'images have contrast');
  });

  it('is deterministic given the seed, and the seed matters', () => {
    const opts = { train: 50, test: 20 };
    const a = makeProcedural(7, opts);
    const b = makeProcedural(7, opts);
    const c = makeProcedural(8, opts);
    assert.deepEqual(a.train.images, b.train.images);
    assert.deepEqual(a.test.labels, b.test.labels);
    assert.deepEqual(a.mean, b.mean);
    assert.notDeepEqual(a.train.images, c.train.images);
    assert.notDeepEqual(a.train.images.subarray(0, 20 * 256), a.test.images, 'train and test streams differ');
  });

  it('honours classes, size, channels and counts, balanced within one', () => {
    const ds = makeProcedural(1, { classes: 3, size: 12, channels: 3, train: 31, test: 8 });
    assert.deepEqual([ds.channels, ds.height, ds.width, ds.classNames.length], [3, 12, 12, 3]);
    assert.equal(ds.train.images.length, 31 * 3 * 144);
    assert.deepEqual(classCounts(ds.train, 3).sort(), [10, 10, 11]);
    assert.equal(firstBadLabel(ds.test.labels, 3), -1);
    assert.equal(ds.mean.length, 3);
  });

  it('rejects unknown keys and bad values, naming the key and the allowed values', () => {
    const bad: Array<[Record<string, number>, RegExp]> = [
      [{ clases: 3 }, /unknown option 'clases' \(allowed: classes, size/],
      [{ classes: 11 }, /'classes' is 11, expected an integer in \[2, 10\]/],
      [{ channels: 2 }, /'channels' is 2, expected 1 or 3/],
      [{ size: 8.5 }, /'size' is 8.5/],
      [{ noise: -1 }, /'noise' is -1, expected a number in \[0, 1\]/],
    ];
    for (const [opts, pattern] of bad) {
      assert.throws(
        () => makeProcedural(0, opts),
        (err: unknown) => err instanceof UserError && pattern.test(err.message),
      );
    }
  });
});
