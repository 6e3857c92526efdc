/** Tests of the IDX reader: round trips (raw and gzipped) and every malformed-file error. */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { findIdxFile, readIdxImages, readIdxLabels } from '../../src/data/idx.js';
import { assertUserError, idx, tempDirs } from './helpers.js';

const { craft, cleanup } = tempDirs('idx');
after(cleanup);

const pixels = Uint8Array.from({ length: 3 * 2 * 4 }, (_, i) => i * 7);

describe('readIdxImages / readIdxLabels', () => {
  it('round-trips raw and gzipped files with the same content', () => {
    const bytes = idx(0x803, [3, 2, 4], pixels);
    const dir = craft({ 'raw-idx3-ubyte': bytes, 'gz-idx3-ubyte.gz': gzipSync(bytes) });
    for (const name of ['raw-idx3-ubyte', 'gz-idx3-ubyte.gz']) {
      const got = readIdxImages(join(dir, name));
      assert.equal(got.count, 3);
      assert.equal(got.height, 2);
      assert.equal(got.width, 4);
      assert.deepEqual(got.pixels, pixels);
      assert.equal(got.pixels.byteOffset, 0, 'owns its memory');
      assert.equal(got.pixels.buffer.byteLength, pixels.length, 'not a view into a pooled buffer');
    }
    const labels = Uint8Array.of(1, 0, 9);
    const dir2 = craft({ l: idx(0x801, [3], labels) });
    assert.deepEqual(readIdxLabels(join(dir2, 'l')), labels);
  });

  it('ignores trailing bytes after the payload', () => {
    const dir = craft({ l: idx(0x801, [2], Uint8Array.of(4, 5, 6, 7)) });
    assert.deepEqual(readIdxLabels(join(dir, 'l')), Uint8Array.of(4, 5));
  });

  it('rejects a wrong magic, naming expected and got in hex', () => {
    const dir = craft({ 'labels-as-images': idx(0x801, [3], Uint8Array.of(1, 2, 3)) });
    assertUserError(() => readIdxImages(join(dir, 'labels-as-images')), [/labels-as-images/, /expected magic 0x00000803/, /got 0x00000801/], dir, [
      'labels-as-images',
    ]);
  });

  it('rejects a truncated raw file, giving item count and size', () => {
    const dir = craft({ short: idx(0x803, [3, 2, 4], pixels.subarray(0, 20)) });
    assertUserError(() => readIdxImages(join(dir, 'short')), [/short: truncated/, /3 images of 8 bytes \(24 bytes\)/, /only 20/], dir, ['short']);
  });

  it('rejects a truncated gzipped file and a file shorter than its header', () => {
    const dir = craft({
      'short.gz': gzipSync(idx(0x801, [10], Uint8Array.of(1, 2, 3))),
      tiny: Uint8Array.of(0, 0, 8),
      header: idx(0x803, [3], new Uint8Array(0)),
    });
    const files = ['short.gz', 'tiny', 'header'];
    assertUserError(() => readIdxLabels(join(dir, 'short.gz')), [/short\.gz: truncated/, /10 labels/, /only 3/], dir, files);
    assertUserError(() => readIdxLabels(join(dir, 'tiny')), [/tiny: truncated/], dir, files);
    assertUserError(() => readIdxImages(join(dir, 'header')), [/header: truncated/, /needs 16/], dir, files);
  });

  it('rejects corrupt gzip data', () => {
    const good = gzipSync(idx(0x801, [3], Uint8Array.of(1, 2, 3)));
    const bad = Uint8Array.from(good);
    bad.fill(0xff, 10, 20);
    const dir = craft({ 'bad.gz': bad, 'cut.gz': good.subarray(0, good.length - 12) });
    assertUserError(() => readIdxLabels(join(dir, 'bad.gz')), [/bad\.gz: corrupt gzip/], dir, ['bad.gz', 'cut.gz']);
    assertUserError(() => readIdxLabels(join(dir, 'cut.gz')), [/cut\.gz: corrupt gzip/], dir, ['bad.gz', 'cut.gz']);
  });

  it('rejects a missing file', () => {
    const dir = craft({});
    assertUserError(() => readIdxLabels(join(dir, 'nope')), [/nope: cannot read/], dir, []);
  });
});

describe('findIdxFile', () => {
  it('prefers .gz, falls back to raw and the dotted spelling', () => {
    const dir = craft({ 'a-idx1-ubyte': new Uint8Array(1), 'a-idx1-ubyte.gz': new Uint8Array(1), 'b.idx3-ubyte': new Uint8Array(1) });
    assert.equal(findIdxFile(dir, 'a-idx1-ubyte'), join(dir, 'a-idx1-ubyte.gz'));
    assert.equal(findIdxFile(dir, 'b-idx3-ubyte'), join(dir, 'b.idx3-ubyte'));
    assert.equal(findIdxFile(dir, 'c-idx3-ubyte'), undefined);
  });
});
