/**
 * Reader for the IDX format of (Fashion-)MNIST (LeCun et al., http://yann.lecun.com/exdb/mnist/),
 * gzipped or raw. Header: 4-byte magic 0x0000TTDD (TT = 0x08 for uint8, DD = number of dims), then DD
 * big-endian uint32 sizes, then the data in row-major order.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { UserError } from '../errors.js';

/** Magic of a uint8 image file with dims (N, H, W). */
export const IDX_IMAGES_MAGIC = 0x00000803;
/** Magic of a uint8 label file with dims (N,). */
export const IDX_LABELS_MAGIC = 0x00000801;

/** Decoded IDX images: (N, H, W) uint8 row-major, i.e. (N, 1, H, W) NCHW. */
export interface IdxImages {
  count: number;
  height: number;
  width: number;
  pixels: Uint8Array;
}

const hex = (n: number): string => `0x${n.toString(16).padStart(8, '0')}`;

/**
 * Read a file, gunzipping it when it starts with the gzip magic 1f 8b. The result may be a view into a
 * pooled Buffer: copy what you keep.
 */
export function readMaybeGzip(file: string): Uint8Array {
  let raw: Buffer;
  try {
    raw = readFileSync(file);
  } catch (err) {
    throw new UserError(`${file}: cannot read (${(err as Error).message})`);
  }
  if (raw.length < 2 || raw[0] !== 0x1f || raw[1] !== 0x8b) return raw;
  try {
    return gunzipSync(raw);
  } catch (err) {
    throw new UserError(`${file}: corrupt gzip data (${(err as Error).message})`);
  }
}

/**
 * Parse an IDX file's header and copy its payload. Checks the magic and that the file holds
 * prod(dims) bytes; the payload is copied out of the (possibly pooled) zlib Buffer.
 */
function readIdx(file: string, magic: number, what: string): { dims: number[]; data: Uint8Array } {
  const bytes = readMaybeGzip(file);
  const ndims = magic & 0xff;
  const headerSize = 4 + 4 * ndims;
  if (bytes.length < 4) {
    throw new UserError(`${file}: truncated: ${bytes.length} bytes, too short for an IDX header`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const got = view.getUint32(0, false);
  if (got !== magic) {
    throw new UserError(`${file}: not an IDX ${what} file: expected magic ${hex(magic)}, got ${hex(got)}`);
  }
  if (bytes.length < headerSize) {
    throw new UserError(`${file}: truncated: ${bytes.length} bytes, header alone needs ${headerSize}`);
  }
  const dims: number[] = [];
  for (let d = 0; d < ndims; d++) dims.push(view.getUint32(4 + 4 * d, false));
  const [count = 0, ...rest] = dims;
  const itemSize = rest.reduce((a, b) => a * b, 1);
  const need = count * itemSize;
  const have = bytes.length - headerSize;
  if (have < need) {
    throw new UserError(`${file}: truncated: header says ${count} ${what} of ${itemSize} bytes (${need} bytes) ` + `but the file holds only ${have}`);
  }
  // `bytes` is a Buffer whose slice() is a view into a possibly pooled allocation: copy explicitly.
  return { dims, data: new Uint8Array(bytes.subarray(headerSize, headerSize + need)) };
}

/** Read an IDX images file (magic 0x00000803). Output pixels: (N, H, W) uint8. */
export function readIdxImages(file: string): IdxImages {
  const { dims, data } = readIdx(file, IDX_IMAGES_MAGIC, 'images');
  const [count = 0, height = 0, width = 0] = dims;
  return { count, height, width, pixels: data };
}

/** Read an IDX labels file (magic 0x00000801). Output: (N,) uint8. */
export function readIdxLabels(file: string): Uint8Array {
  return readIdx(file, IDX_LABELS_MAGIC, 'labels').data;
}

/**
 * Find an IDX file by its official base name (e.g. `train-images-idx3-ubyte`) in a folder, gzipped
 * or raw; also accepts the common `train-images.idx3-ubyte` spelling. Returns undefined when absent.
 */
export function findIdxFile(dir: string, base: string): string | undefined {
  const dotted = base.replace(/-(idx\d)-/, '.$1-');
  for (const name of [`${base}.gz`, base, `${dotted}.gz`, dotted]) {
    const path = join(dir, name);
    if (existsSync(path)) return path;
  }
  return undefined;
}
