/**
 * A minimal PNG encoder for the explorer's sample images and the latent dashboards' sprite sheet: 8-bit
 * grayscale (1 channel) or RGB (3 channels), no interlacing, filter type 0 on every row, one
 * zlib-deflated IDAT chunk (PNG spec, ISO/IEC 15948). `decodePng` reads back exactly that subset.
 * Legend: C channels, H height, W width.
 */
import { deflateSync, inflateSync } from 'node:zlib';

/** CRC-32 (IEEE 802.3, reflected 0xEDB88320) lookup table, as in the PNG spec's sample code. */
const CRC_TABLE = ((): Uint32Array => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32 of a chunk's type and data (what the PNG spec checksums). */
export function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Uint8Array): Buffer {
  const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const out = Buffer.alloc(body.length + 8);
  out.writeUInt32BE(data.length, 0);
  body.copy(out, 4);
  out.writeUInt32BE(crc32(body), body.length + 4);
  return out;
}

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/**
 * Encode one image stored planar, (C, H, W) uint8 as the datasets keep it, into PNG bytes.
 * C = 1 gives a grayscale PNG, C = 3 an RGB one.
 */
export function encodePng(pixels: Uint8Array, channels: number, height: number, width: number): Buffer {
  if (channels !== 1 && channels !== 3) throw new Error(`encodePng: ${channels} channels; expected 1 or 3`);
  if (pixels.length !== channels * height * width) {
    throw new Error(`encodePng: ${pixels.length} bytes for a ${channels}x${height}x${width} image`);
  }
  const stride = width * channels + 1; // one filter byte per row
  const raw = new Uint8Array(height * stride); // (H, 1 + W*C), rows interleaved HWC
  const plane = height * width;
  for (let y = 0; y < height; y++) {
    raw[y * stride] = 0; // filter: none
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < channels; c++) raw[y * stride + 1 + x * channels + c] = pixels[c * plane + y * width + x]!;
    }
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = channels === 1 ? 0 : 2; // colour type: grayscale or truecolour
  ihdr[10] = 0; // compression: deflate
  ihdr[11] = 0; // filter method 0
  ihdr[12] = 0; // no interlace
  return Buffer.concat([SIGNATURE, chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw)), chunk('IEND', new Uint8Array(0))]);
}

/** The same image as a `data:image/png;base64,...` URL for an `<img src>`. */
export function pngDataUrl(pixels: Uint8Array, channels: number, height: number, width: number): string {
  return `data:image/png;base64,${encodePng(pixels, channels, height, width).toString('base64')}`;
}

/**
 * Decode a PNG written by `encodePng` (8-bit grayscale or RGB, no interlace, filter 0 on every row) into
 * planar (C, H, W) pixels. Anything else is refused with an Error naming what differs.
 */
export function decodePng(png: Uint8Array): { pixels: Uint8Array; channels: number; height: number; width: number } {
  const buf = Buffer.from(png.buffer, png.byteOffset, png.byteLength);
  if (!buf.subarray(0, 8).equals(SIGNATURE)) throw new Error('decodePng: not a PNG file');
  let width = 0;
  let height = 0;
  let channels = 0;
  const idat: Buffer[] = [];
  for (let o = 8; o + 8 <= buf.length; ) {
    const len = buf.readUInt32BE(o);
    const type = buf.subarray(o + 4, o + 8).toString('ascii');
    const data = buf.subarray(o + 8, o + 8 + len);
    if (type === 'IHDR') {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      if (data[8] !== 8 || (data[9] !== 0 && data[9] !== 2) || data[12] !== 0) throw new Error('decodePng: only 8-bit grayscale or RGB without interlace');
      channels = data[9] === 0 ? 1 : 3;
    } else if (type === 'IDAT') idat.push(data);
    o += 12 + len;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * channels + 1;
  if (channels === 0 || raw.length !== height * stride) throw new Error(`decodePng: ${raw.length} bytes of image data for ${width}x${height}x${channels}`);
  const pixels = new Uint8Array(channels * height * width); // (C, H, W)
  const plane = height * width;
  for (let y = 0; y < height; y++) {
    if (raw[y * stride] !== 0) throw new Error(`decodePng: row ${y} uses filter ${raw[y * stride]}; only filter 0 is read`);
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < channels; c++) pixels[c * plane + y * width + x] = raw[y * stride + 1 + x * channels + c]!;
    }
  }
  return { pixels, channels, height, width };
}
