/**
 * The explorer's PNG encoder (src/io/png.ts): CRC-32 against the spec's known values, and a
 * round trip of grayscale and planar-RGB images through the chunk layout and zlib.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { inflateSync } from 'node:zlib';
import { crc32, decodePng, encodePng, pngDataUrl } from '../../src/io/png.js';

/** Chunks of a PNG file: type -> data, checking each CRC. */
function chunks(png: Buffer): Map<string, Buffer> {
  assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  const out = new Map<string, Buffer>();
  for (let o = 8; o < png.length; ) {
    const len = png.readUInt32BE(o);
    const type = png.subarray(o + 4, o + 8).toString('ascii');
    const data = png.subarray(o + 8, o + 8 + len);
    assert.equal(png.readUInt32BE(o + 8 + len), crc32(png.subarray(o + 4, o + 8 + len)), `CRC of ${type}`);
    out.set(type, data);
    o += 12 + len;
  }
  return out;
}

test('crc32 matches known values (IEND chunk, "123456789")', () => {
  assert.equal(crc32(Buffer.from('IEND', 'ascii')), 0xae426082);
  assert.equal(crc32(Buffer.from('123456789', 'ascii')), 0xcbf43926);
});

test('grayscale (1, H, W) round-trips through IHDR + IDAT', () => {
  const H = 3;
  const W = 5;
  const px = Uint8Array.from({ length: H * W }, (_, i) => i * 17);
  const c = chunks(encodePng(px, 1, H, W));
  const ihdr = c.get('IHDR')!;
  assert.equal(ihdr.readUInt32BE(0), W);
  assert.equal(ihdr.readUInt32BE(4), H);
  assert.deepEqual([ihdr[8], ihdr[9]], [8, 0]);
  const raw = inflateSync(c.get('IDAT')!);
  assert.equal(raw.length, H * (W + 1));
  for (let y = 0; y < H; y++) {
    assert.equal(raw[y * (W + 1)], 0, 'filter byte');
    assert.deepEqual([...raw.subarray(y * (W + 1) + 1, (y + 1) * (W + 1))], [...px.subarray(y * W, (y + 1) * W)]);
  }
  assert.ok(c.has('IEND'));
});

test('planar RGB (3, H, W) is interleaved per pixel', () => {
  const H = 2;
  const W = 2;
  const px = new Uint8Array(3 * H * W);
  px.set([10, 11, 12, 13], 0); // R plane
  px.set([20, 21, 22, 23], 4); // G plane
  px.set([30, 31, 32, 33], 8); // B plane
  const c = chunks(encodePng(px, 3, H, W));
  assert.equal(c.get('IHDR')![9], 2);
  const raw = inflateSync(c.get('IDAT')!);
  assert.deepEqual([...raw], [0, 10, 20, 30, 11, 21, 31, 0, 12, 22, 32, 13, 23, 33]);
  assert.match(pngDataUrl(px, 3, H, W), /^data:image\/png;base64,iVBORw0KGgo/);
});

test('wrong sizes and channel counts are rejected', () => {
  assert.throws(() => encodePng(new Uint8Array(5), 1, 2, 2), /4 bytes|5 bytes/);
  assert.throws(() => encodePng(new Uint8Array(8), 2, 2, 2), /expected 1 or 3/);
});

test('decodePng reads back what encodePng wrote, grayscale and planar RGB', () => {
  for (const channels of [1, 3]) {
    const pixels = Uint8Array.from({ length: channels * 5 * 7 }, (_, i) => (i * 37) % 256); // (C, 5, 7)
    assert.deepEqual(decodePng(encodePng(pixels, channels, 5, 7)), { pixels, channels, height: 5, width: 7 });
  }
  assert.throws(() => decodePng(new Uint8Array(16)), /not a PNG/);
});
