/** Tests of makeBatch: normalisation, label gathering, and crop/flip augmentation. Tolerance 1e-6. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { makeBatch } from '../../src/data/batch.js';
import type { Dataset, Split } from '../../src/data/dataset.js';
import { rng } from '../../src/random.js';

/** A 3-image, 2-channel, 3x4 dataset with pixel value = 10*n + index-in-image (distinct per pixel). */
function tiny(): Dataset {
  const C = 2;
  const H = 3;
  const W = 4;
  const split: Split = {
    images: Uint8Array.from({ length: 3 * C * H * W }, (_, i) => 10 * Math.floor(i / 24) + (i % 24) + 1),
    labels: Uint8Array.of(2, 0, 1),
    count: 3,
  };
  return {
    name: 'tiny',
    classNames: ['a', 'b', 'c'],
    channels: C,
    height: H,
    width: W,
    train: split,
    test: split,
    source: '-',
    mean: [0.1, 0.2],
    std: [0.5, 0.25],
  };
}

const close = (a: number, b: number): boolean => Math.abs(a - b) < 1e-6;

describe('makeBatch', () => {
  it('normalises per channel and gathers labels in index order', () => {
    const ds = tiny();
    const { images, labels } = makeBatch(ds.train, [2, 0], ds);
    assert.deepEqual([...labels], [1, 2]);
    assert.equal(images.length, 2 * 24);
    for (let b = 0; b < 2; b++) {
      const n = b === 0 ? 2 : 0;
      for (let i = 0; i < 24; i++) {
        const c = Math.floor(i / 12);
        const raw = ds.train.images[n * 24 + i] ?? 0;
        const want = (raw / 255 - (ds.mean[c] ?? 0)) / (ds.std[c] ?? 1);
        assert.ok(close(images[b * 24 + i] ?? NaN, want), `b${b} i${i}`);
      }
    }
  });

  it('augmentation keeps shapes, is deterministic with the same rng, and pads with raw 0', () => {
    const ds = tiny();
    const opts = (seed: number) => ({ augment: { crop: 2, flip: true }, rng: rng(seed, 'aug') });
    const idx = Uint32Array.of(0, 1, 2, 0, 1, 2, 0, 1);
    const a = makeBatch(ds.train, idx, ds, opts(3));
    const b = makeBatch(ds.train, idx, ds, opts(3));
    assert.equal(a.images.length, 8 * 24);
    assert.deepEqual(a.images, b.images);
    assert.deepEqual(a.labels, b.labels);
    const plain = makeBatch(ds.train, idx, ds);
    assert.notDeepEqual(a.images, plain.images, 'augmentation changed something');
    // Every output value is either a normalised input pixel of that channel or the normalised raw 0.
    const pads = [-0.1 / 0.5, -0.2 / 0.25];
    for (let i = 0; i < a.images.length; i++) {
      const c = Math.floor((i % 24) / 12);
      const v = a.images[i] ?? NaN;
      const raw = Math.round((v * (ds.std[c] ?? 1) + (ds.mean[c] ?? 0)) * 255);
      assert.ok(close(v, pads[c] ?? NaN) || (raw >= 1 && raw <= 44), `value ${v}`);
    }
  });

  it('flip alone mirrors rows; crop alone shifts with zero fill', () => {
    const ds = tiny();
    const flips = makeBatch(ds.train, new Array(16).fill(1), ds, { augment: { flip: true }, rng: rng(0, 'flip') });
    const plain = makeBatch(ds.train, [1], ds).images;
    let mirrored = 0;
    for (let b = 0; b < 16; b++) {
      const img = flips.images.subarray(b * 24, (b + 1) * 24);
      const isFlip = img[0] === plain[3];
      if (isFlip) {
        mirrored++;
        for (let row = 0; row < 6; row++) {
          for (let x = 0; x < 4; x++) assert.equal(img[row * 4 + x], plain[row * 4 + 3 - x]);
        }
      } else {
        assert.deepEqual(img, plain);
      }
    }
    assert.ok(mirrored > 0 && mirrored < 16, `mirrored ${mirrored}/16`);
    const crops = makeBatch(ds.train, new Array(16).fill(0), ds, { augment: { crop: 1 }, rng: rng(0, 'crop') });
    const pad = -0.1 / 0.5;
    const anyPad = [...crops.images].some((v) => close(v, pad));
    assert.ok(anyPad, 'some crop revealed padding');
  });

  it('rejects out-of-range indices and augmentation without an rng', () => {
    const ds = tiny();
    assert.throws(() => makeBatch(ds.train, [3], ds), /index 3 out of range \[0, 3\)/);
    assert.throws(() => makeBatch(ds.train, [0], ds, { augment: { flip: true } }), /needs an rng/);
  });
});
