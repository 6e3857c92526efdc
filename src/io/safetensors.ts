/**
 * The safetensors format (https://github.com/huggingface/safetensors), read and written without
 * dependencies:
 *
 *   [u64 little-endian N] [N bytes JSON header] [raw little-endian tensor bytes]
 *   header = { name: { dtype, shape, data_offsets: [begin, end] }, "__metadata__": { string: string } }
 *
 * Offsets are relative to the end of the header. Writing pads the header with spaces to a multiple of
 * 8 bytes, lists tensors by name, and lays the data out contiguously by element size (largest first)
 * then name, as the Rust library does, so every tensor is aligned to its element size. Assumes a
 * little-endian host (x86, ARM), as typed arrays use the host's byte order.
 *
 * Files stream: writeSafetensors writes the header then each tensor's bytes from its typed array, and
 * readSafetensors reads the header then each tensor into its own typed array, so a file may pass the
 * 4 GiB a single Buffer can hold on Node 20 (features of paper-scale runs are ~6 GB); only one tensor
 * must fit in a typed array. encodeSafetensors/decodeSafetensors do the same in memory.
 */
import { constants } from 'node:buffer';
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { UserError } from '../errors.js';
import { writeAll, writeAtomicWith } from './atomic.js';

/** Element types of the safetensors format that headsteer reads and writes. */
export type DType = 'F32' | 'F64' | 'I32' | 'I64' | 'U8' | 'I8' | 'U16' | 'I16' | 'F16' | 'BF16' | 'BOOL';

/** The typed array holding a tensor's elements; F16 and BF16 keep their raw bits in a Uint16Array. */
export type TensorArray = Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array | Int8Array | Uint16Array | Int16Array;

/** One tensor: row-major elements of `shape` in the typed array that matches `dtype` (see DTYPES). */
export interface TensorData {
  dtype: DType;
  shape: number[];
  data: TensorArray;
}

/** The contents of a safetensors file. */
export interface SafetensorsContents {
  tensors: Map<string, TensorData>;
  metadata: Record<string, string>;
}

interface DTypeInfo {
  bytes: number;
  array: { readonly name: string; new (buffer: ArrayBuffer, byteOffset: number, length: number): TensorArray };
}

const DTYPES: Record<DType, DTypeInfo> = {
  F64: { bytes: 8, array: Float64Array },
  I64: { bytes: 8, array: BigInt64Array },
  F32: { bytes: 4, array: Float32Array },
  I32: { bytes: 4, array: Int32Array },
  F16: { bytes: 2, array: Uint16Array },
  BF16: { bytes: 2, array: Uint16Array },
  U16: { bytes: 2, array: Uint16Array },
  I16: { bytes: 2, array: Int16Array },
  U8: { bytes: 1, array: Uint8Array },
  I8: { bytes: 1, array: Int8Array },
  BOOL: { bytes: 1, array: Uint8Array },
};

const METADATA_KEY = '__metadata__';

/** The most elements one typed array can hold (2^32 on Node 20). */
const MAX_LENGTH = constants.MAX_LENGTH;

function isDType(s: unknown): s is DType {
  return typeof s === 'string' && Object.hasOwn(DTYPES, s);
}

function numel(shape: readonly number[]): number {
  let n = 1;
  for (const s of shape) n *= s;
  return n;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isIndex(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/** Where one tensor's bytes sit in the data section, checked against its dtype and shape. */
interface TensorSpan {
  name: string;
  dtype: DType;
  shape: number[];
  begin: number;
  end: number;
  count: number;
}

/** A checked header: the metadata and each tensor's span, in the header's order. */
interface Header {
  metadata: Record<string, string>;
  spans: TensorSpan[];
}

type Fail = (what: string) => never;

function failFor(file: string): Fail {
  return (what) => {
    throw new UserError(`${file} is not a valid safetensors file: ${what}`);
  };
}

/** The data section's start (8 + header length), checked against the file's size in bytes. */
function dataStartOf(headerLen: bigint, fileLen: number, fail: Fail): number {
  if (headerLen > BigInt(fileLen - 8)) fail(`header length ${headerLen} runs past the end of the file (${fileLen} bytes)`);
  return 8 + Number(headerLen);
}

/** Parses and checks the JSON header (`json` = its bytes) against a data section of `dataLen` bytes. */
function parseHeader(json: Uint8Array, dataLen: number, fail: Fail): Header {
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(json));
  } catch (err) {
    fail(`header is not valid JSON (${(err as Error).message})`);
  }
  if (!isPlainObject(header)) return fail('header is not a JSON object');

  const metadata: Record<string, string> = {};
  const rawMeta = header[METADATA_KEY];
  if (rawMeta !== undefined) {
    if (!isPlainObject(rawMeta)) fail(`${METADATA_KEY} is not an object`);
    for (const [k, v] of Object.entries(rawMeta as Record<string, unknown>)) {
      if (typeof v !== 'string') fail(`${METADATA_KEY}.${k} is not a string`);
      metadata[k] = v as string;
    }
  }

  const spans: TensorSpan[] = [];
  for (const [name, entry] of Object.entries(header)) {
    if (name === METADATA_KEY) continue;
    if (!isPlainObject(entry)) return fail(`entry ${name} is not an object`);
    const { dtype, shape, data_offsets: offsets } = entry;
    if (!isDType(dtype)) {
      return fail(`tensor ${name} has unknown dtype ${JSON.stringify(dtype)} (known: ${Object.keys(DTYPES).join(', ')})`);
    }
    if (!Array.isArray(shape) || !shape.every(isIndex)) {
      return fail(`tensor ${name} has shape ${JSON.stringify(shape)}, expected an array of non-negative integers`);
    }
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isIndex)) {
      return fail(`tensor ${name} has data_offsets ${JSON.stringify(offsets)}, expected [begin, end]`);
    }
    const [begin, end] = offsets as [number, number];
    if (begin > end || end > dataLen) {
      fail(`tensor ${name} has data_offsets [${begin},${end}] outside the ${dataLen}-byte data section`);
    }
    const count = numel(shape as number[]);
    if (count * DTYPES[dtype].bytes !== end - begin) {
      fail(`tensor ${name} has shape [${shape.join(',')}] of ${dtype} = ${count * DTYPES[dtype].bytes} bytes, but data_offsets span ${end - begin}`);
    }
    spans.push({ name, dtype, shape: [...(shape as number[])], begin, end, count });
  }

  const sorted = [...spans].sort((a, b) => a.begin - b.begin || a.end - b.end);
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1]!;
    const cur = sorted[i]!;
    if (cur.begin < prev.end) fail(`tensors ${prev.name} and ${cur.name} overlap in the data section`);
  }
  return { metadata, spans };
}

/**
 * Parses safetensors bytes. `file` names the source in errors.
 *
 * Tensors are views into `bytes` (sharing its memory) when that is safe: `bytes` spans its whole
 * ArrayBuffer (so never a slice of Node's pooled Buffer) and the tensor is aligned to its element size.
 * Otherwise the tensor's bytes are copied.
 * @throws UserError naming `file` for a truncated file, bad header, unknown dtype, or bad offsets/shapes.
 */
export function decodeSafetensors(bytes: Uint8Array, file: string): SafetensorsContents {
  const fail = failFor(file);
  if (bytes.byteLength < 8) fail(`${bytes.byteLength} bytes, shorter than the 8-byte header length`);
  const headerLen = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getBigUint64(0, true);
  const dataStart = dataStartOf(headerLen, bytes.byteLength, fail);
  const { metadata, spans } = parseHeader(bytes.subarray(8, dataStart), bytes.byteLength - dataStart, fail);

  // Whole-buffer inputs may be viewed without copying; subarrays (e.g. pooled Buffers) are copied.
  const ownsBuffer = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength && bytes.buffer instanceof ArrayBuffer;
  const tensors = new Map<string, TensorData>();
  for (const { name, dtype, shape, begin, end, count } of spans) {
    const info = DTYPES[dtype];
    const at = bytes.byteOffset + dataStart + begin;
    const data =
      ownsBuffer && at % info.bytes === 0
        ? new info.array(bytes.buffer as ArrayBuffer, at, count)
        : new info.array(copyBytes(bytes.subarray(dataStart + begin, dataStart + end)), 0, count);
    tensors.set(name, { dtype, shape, data });
  }
  return { tensors, metadata };
}

/** A fresh ArrayBuffer holding a copy of `src` (Buffer#slice would return a view, so copy by hand). */
function copyBytes(src: Uint8Array): ArrayBuffer {
  const out = new Uint8Array(src.byteLength);
  out.set(src);
  return out.buffer;
}

/** A file's bytes are read and written in chunks of this size (no single call moves more). */
const CHUNK_BYTES = 64 * 2 ** 20;

/** The bytes of a typed array, as a view (no copy). */
function bytesOf(data: TensorArray): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/** The header and data layout of a safetensors file, before any tensor byte is copied. */
interface Plan {
  /** 8-byte little-endian header length, then the JSON header padded with spaces to a multiple of 8. */
  head: Uint8Array;
  /** Tensors in data-section order, each at `begin` bytes into the data section. */
  layout: Array<{ data: TensorArray; begin: number }>;
  dataLen: number;
}

/**
 * Lays out tensors (and optional string metadata) as a safetensors file.
 * @throws TypeError when a tensor's typed array or length does not match its dtype and shape (a bug).
 */
function planSafetensors(tensors: Record<string, TensorData> | Map<string, TensorData>, metadata?: Record<string, string>): Plan {
  const entries = [...(tensors instanceof Map ? tensors.entries() : Object.entries(tensors))];
  for (const [name, t] of entries) {
    const info = DTYPES[t.dtype];
    if (info === undefined) throw new TypeError(`tensor ${name}: unknown dtype ${String(t.dtype)}`);
    if (!(t.data instanceof info.array)) {
      throw new TypeError(`tensor ${name}: dtype ${t.dtype} needs a ${info.array.name}, got ${t.data.constructor.name}`);
    }
    if (!t.shape.every(isIndex) || numel(t.shape) !== t.data.length) {
      throw new TypeError(`tensor ${name}: shape [${t.shape.join(',')}] does not match ${t.data.length} elements`);
    }
  }
  const byName = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
  // Largest elements first keeps every tensor aligned to its element size (the header is 8-aligned).
  const sorted = [...entries].sort(([na, a], [nb, b]) => DTYPES[b.dtype].bytes - DTYPES[a.dtype].bytes || byName(na, nb));
  const offsets = new Map<string, [number, number]>();
  const layout: Plan['layout'] = [];
  let pos = 0;
  for (const [name, t] of sorted) {
    offsets.set(name, [pos, pos + t.data.byteLength]);
    layout.push({ data: t.data, begin: pos });
    pos += t.data.byteLength;
  }

  const header: Record<string, unknown> = {};
  if (metadata !== undefined) header[METADATA_KEY] = metadata;
  for (const [name, t] of [...entries].sort(([na], [nb]) => byName(na, nb))) {
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: offsets.get(name) };
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.byteLength / 8) * 8;
  const head = new Uint8Array(8 + padded).fill(0x20);
  new DataView(head.buffer).setBigUint64(0, BigInt(padded), true);
  head.set(json, 8);
  return { head, layout, dataLen: pos };
}

/**
 * Serialises tensors (and optional string metadata) to safetensors bytes, the bytes writeSafetensors
 * writes. The whole file is one buffer, so it must fit in one (4 GiB on Node 20).
 * @throws TypeError when a tensor's typed array or length does not match its dtype and shape (a bug).
 */
export function encodeSafetensors(tensors: Record<string, TensorData> | Map<string, TensorData>, metadata?: Record<string, string>): Uint8Array {
  const { head, layout, dataLen } = planSafetensors(tensors, metadata);
  const out = new Uint8Array(head.byteLength + dataLen);
  out.set(head);
  for (const { data, begin } of layout) out.set(bytesOf(data), head.byteLength + begin);
  return out;
}

/**
 * Writes tensors (and optional string metadata) to `path` atomically (see writeAtomicWith): the header,
 * then each tensor's bytes from its typed array, gathered in a buffer of at most CHUNK_BYTES that is
 * written whenever full (one write for a small file, however many tensors it has). No buffer of the
 * whole file is built, so files past the 4 GiB buffer limit can be written. Same bytes as encodeSafetensors.
 */
export function writeSafetensors(path: string, tensors: Record<string, TensorData> | Map<string, TensorData>, metadata?: Record<string, string>): void {
  const { head, layout, dataLen } = planSafetensors(tensors, metadata);
  const chunk = new Uint8Array(Math.min(CHUNK_BYTES, head.byteLength + dataLen));
  writeAtomicWith(path, (fd) => {
    let used = 0;
    const put = (bytes: Uint8Array): void => {
      for (let at = 0; at < bytes.byteLength; ) {
        const n = Math.min(chunk.byteLength - used, bytes.byteLength - at);
        chunk.set(bytes.subarray(at, at + n), used);
        used += n;
        at += n;
        if (used === chunk.byteLength) {
          writeAll(fd, chunk);
          used = 0;
        }
      }
    };
    put(head);
    for (const { data } of layout) put(bytesOf(data));
    writeAll(fd, chunk.subarray(0, used));
  });
}

/** Fills `into` from the file at byte `position`, in chunks. `path` names the file in errors. */
function readExactly(fd: number, into: Uint8Array, position: number, path: string): void {
  let got = 0;
  while (got < into.byteLength) {
    const n = readSync(fd, into, got, Math.min(CHUNK_BYTES, into.byteLength - got), position + got);
    if (n === 0) throw new UserError(`safetensors file ${path} shrank while being read`);
    got += n;
  }
}

/** A fresh, zeroed typed array for a tensor's elements; a clear error when it cannot be allocated. */
function allocTensor(span: TensorSpan, path: string): TensorArray {
  const info = DTYPES[span.dtype];
  const what = `${path}: tensor ${span.name} of shape [${span.shape.join(',')}] ${span.dtype}`;
  if (span.count > MAX_LENGTH) {
    throw new UserError(`${what} has ${span.count} elements, more than the ${MAX_LENGTH} one typed array can hold in this Node.js`);
  }
  try {
    return new info.array(new ArrayBuffer(span.count * info.bytes), 0, span.count);
  } catch (err) {
    throw new UserError(`${what} (${span.count * info.bytes} bytes) cannot be allocated: ${(err as Error).message}`);
  }
}

/**
 * Reads a safetensors file: the header first, then each tensor's bytes straight into its own fresh
 * typed array, so no buffer is larger than one tensor (files past 4 GiB read fine).
 * @throws UserError naming the file when it is missing, unreadable or invalid, or a tensor too large.
 */
export function readSafetensors(path: string): SafetensorsContents {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new UserError(`safetensors file ${path} does not exist`);
    throw new UserError(`cannot read safetensors file ${path}: ${(err as Error).message}`);
  }
  try {
    const fail = failFor(path);
    const size = fstatSync(fd).size;
    if (size < 8) fail(`${size} bytes, shorter than the 8-byte header length`);
    const lenBytes = new Uint8Array(8);
    readExactly(fd, lenBytes, 0, path);
    const dataStart = dataStartOf(new DataView(lenBytes.buffer).getBigUint64(0, true), size, fail);
    const json = new Uint8Array(dataStart - 8);
    readExactly(fd, json, 8, path);
    const { metadata, spans } = parseHeader(json, size - dataStart, fail);
    const tensors = new Map<string, TensorData>();
    for (const span of spans) {
      const data = allocTensor(span, path);
      readExactly(fd, bytesOf(data), dataStart + span.begin, path);
      tensors.set(span.name, { dtype: span.dtype, shape: span.shape, data });
    }
    return { tensors, metadata };
  } finally {
    closeSync(fd);
  }
}

/**
 * A tensor's values as float32: F32 data is returned as is (no copy); F16, BF16 and F64 are converted.
 * `name` and `file` identify the tensor in errors.
 * @throws UserError for integer and boolean dtypes.
 */
export function toFloat32(t: TensorData, name: string, file: string): Float32Array {
  const { dtype, data } = t;
  if (dtype === 'F32' && data instanceof Float32Array) return data;
  if (dtype === 'F64' && data instanceof Float64Array) return Float32Array.from(data);
  if (dtype === 'BF16' && data instanceof Uint16Array) {
    // bf16 is the top half of a float32.
    const bits = new Uint32Array(data.length);
    for (let i = 0; i < data.length; i++) bits[i] = data[i]! << 16;
    return new Float32Array(bits.buffer);
  }
  if (dtype === 'F16' && data instanceof Uint16Array) {
    const out = new Float32Array(data.length);
    for (let i = 0; i < data.length; i++) out[i] = halfToFloat(data[i]!);
    return out;
  }
  throw new UserError(`${file}: tensor ${name} has dtype ${dtype}, expected a float type (F32, F16, BF16, F64)`);
}

/** IEEE 754 binary16 bits -> number (handles subnormals, infinities and NaN). */
function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 0x1f) return frac === 0 ? sign * Infinity : NaN;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/**
 * Checks that every value of the float tensors (F32, F64, and F16/BF16 through toFloat32) is finite: a
 * NaN or an infinity in weights or features gives garbage that looks like a result (chance accuracy,
 * exit 0). `rowOf` names the row of a tensor's first bad element (e.g. a sample of a features file).
 * @throws UserError naming `file`, the tensor and where the first NaN or infinity sits.
 */
export function requireFinite(tensors: Map<string, TensorData>, file: string, rowOf?: (name: string, index: number) => string | undefined): void {
  for (const [name, t] of tensors) {
    if (!['F32', 'F64', 'F16', 'BF16'].includes(t.dtype)) continue;
    const data = t.dtype === 'F32' || t.dtype === 'F64' ? (t.data as Float32Array | Float64Array) : toFloat32(t, name, file);
    for (let i = 0; i < data.length; i++) {
      const v = data[i]!;
      if (v - v === 0) continue; // finite (NaN - NaN and inf - inf are NaN)
      const where = rowOf?.(name, i) ?? `element ${i} of [${t.shape.join(',')}]`;
      throw new UserError(
        `${file}: tensor ${name} holds ${Number.isNaN(v) ? 'NaN' : v > 0 ? 'Infinity' : '-Infinity'} (at ${where}); the file is corrupt or its training diverged`,
      );
    }
  }
}
