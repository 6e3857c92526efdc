/** Tests for src/io/safetensors.ts: round trips, the real PyTorch-written timm fixture, and corrupt files. */
import { constants } from 'node:buffer';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UserError } from '../../src/errors.js';
import { decodeSafetensors, encodeSafetensors, readSafetensors, toFloat32, writeSafetensors, type TensorData } from '../../src/io/safetensors.js';
import { fixtureDir } from '../fixtures.js';

const FIXTURES = fixtureDir('timm');

function allDtypes(): Record<string, TensorData> {
  return {
    f32: { dtype: 'F32', shape: [2, 3], data: new Float32Array([1, -2, 3.5, 0, 1e-3, -7]) },
    f64: { dtype: 'F64', shape: [2], data: new Float64Array([Math.PI, -1e300]) },
    i32: { dtype: 'I32', shape: [3], data: new Int32Array([-1, 0, 2147483647]) },
    i64: { dtype: 'I64', shape: [1, 2], data: new BigInt64Array([-5n, 9007199254740993n]) },
    u8: { dtype: 'U8', shape: [3], data: new Uint8Array([0, 128, 255]) },
    i8: { dtype: 'I8', shape: [3], data: new Int8Array([-128, 0, 127]) },
    u16: { dtype: 'U16', shape: [1], data: new Uint16Array([65535]) },
    i16: { dtype: 'I16', shape: [2], data: new Int16Array([-32768, 5]) },
    // F16: 1.0, -2.0, 65504 (max), 2^-24 (smallest subnormal). BF16: 1.0, -2.0.
    f16: { dtype: 'F16', shape: [4], data: new Uint16Array([0x3c00, 0xc000, 0x7bff, 0x0001]) },
    bf16: { dtype: 'BF16', shape: [2], data: new Uint16Array([0x3f80, 0xc000]) },
    bool: { dtype: 'BOOL', shape: [2, 1], data: new Uint8Array([1, 0]) },
    scalar: { dtype: 'F32', shape: [], data: new Float32Array([42]) },
    empty: { dtype: 'F32', shape: [0, 4], data: new Float32Array(0) },
  };
}

test('round trip of every dtype plus metadata; header 8-aligned, every tensor aligned', () => {
  const tensors = allDtypes();
  const bytes = encodeSafetensors(tensors, { note: 'hi', config: '{"a":1}' });
  const headerLen = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  assert.equal(headerLen % 8, 0);
  const { tensors: back, metadata } = decodeSafetensors(bytes, 'mem.safetensors');
  assert.deepEqual(metadata, { note: 'hi', config: '{"a":1}' });
  assert.deepEqual([...back.keys()].sort(), Object.keys(tensors).sort());
  for (const [name, t] of Object.entries(tensors)) {
    const got = back.get(name)!;
    assert.equal(got.dtype, t.dtype, name);
    assert.deepEqual(got.shape, t.shape, name);
    assert.equal(got.data.constructor, t.data.constructor, name);
    assert.deepEqual(Array.from(got.data as ArrayLike<unknown>), Array.from(t.data as ArrayLike<unknown>), name);
    // Aligned layout means every tensor could be a zero-copy view into the encoded bytes.
    if (t.data.length > 0) assert.equal(got.data.buffer, bytes.buffer, `${name} is a view`);
  }
  assert.deepEqual(Array.from(toFloat32(back.get('f16')!, 'f16', 'mem')), [1, -2, 65504, 2 ** -24]);
  assert.deepEqual(Array.from(toFloat32(back.get('bf16')!, 'bf16', 'mem')), [1, -2]);
  assert.deepEqual(Array.from(toFloat32(back.get('f64')!, 'f64', 'mem')), [Math.fround(Math.PI), -Infinity]);
  assert.equal(toFloat32(back.get('f32')!, 'f32', 'mem'), back.get('f32')!.data);
  assert.throws(
    () => toFloat32(back.get('i32')!, 'i32', 'mem.safetensors'),
    (e: unknown) => e instanceof UserError && /mem\.safetensors.*i32.*I32/.test(e.message),
  );
});

test('decoding an unaligned subarray copies, and never aliases the source bytes', () => {
  const bytes = encodeSafetensors({ x: { dtype: 'F32', shape: [2], data: new Float32Array([1, 2]) } });
  const shifted = new Uint8Array(bytes.byteLength + 1);
  shifted.set(bytes, 1);
  const { tensors } = decodeSafetensors(shifted.subarray(1), 'shifted');
  const x = tensors.get('x')!.data;
  assert.deepEqual(Array.from(x as Float32Array), [1, 2]);
  assert.notEqual(x.buffer, shifted.buffer);
});

test('write then read a file (atomic write) with a Map', () => {
  const dir = mkdtempSync(join(tmpdir(), 'st-'));
  try {
    const path = join(dir, 'a.safetensors');
    writeSafetensors(path, new Map(Object.entries(allDtypes())));
    assert.equal(readSafetensors(path).tensors.size, Object.keys(allDtypes()).length);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('streaming write gives the bytes of encodeSafetensors; streaming read gives what decode gives', () => {
  const dir = mkdtempSync(join(tmpdir(), 'st-stream-'));
  try {
    const cases: Array<[string, Record<string, TensorData>, Record<string, string> | undefined]> = [
      ['all', allDtypes(), { note: 'hi' }],
      ['none', {}, undefined],
      ['one', { x: { dtype: 'U8', shape: [3], data: new Uint8Array([1, 2, 3]) } }, undefined],
    ];
    for (const [label, tensors, metadata] of cases) {
      const path = join(dir, `${label}.safetensors`);
      writeSafetensors(path, tensors, metadata);
      const bytes = encodeSafetensors(tensors, metadata);
      assert.deepEqual(new Uint8Array(readFileSync(path)), bytes, label);
      const streamed = readSafetensors(path);
      const decoded = decodeSafetensors(bytes, path);
      assert.deepEqual(streamed.metadata, decoded.metadata, label);
      assert.deepEqual([...streamed.tensors.keys()], [...decoded.tensors.keys()], label);
      for (const [name, t] of decoded.tensors) {
        const got = streamed.tensors.get(name)!;
        assert.equal(got.dtype, t.dtype, name);
        assert.deepEqual(got.shape, t.shape, name);
        assert.equal(got.data.constructor, t.data.constructor, name);
        assert.deepEqual(got.data, t.data, name);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

const HUGE = 2 ** 32 + 8; // more elements than a typed array holds on Node 20

test('a tensor with more elements than a typed array holds is refused by name (sparse file, nothing allocated)', {
  skip: constants.MAX_LENGTH >= HUGE && 'typed arrays hold more on this Node.js',
}, () => {
  const dir = mkdtempSync(join(tmpdir(), 'st-huge-'));
  try {
    const path = join(dir, 'huge.safetensors');
    const n = HUGE;
    const head = rawFile({ big: { dtype: 'U8', shape: [n], data_offsets: [0, n] } }, 0);
    writeFileSync(path, head);
    truncateSync(path, head.byteLength + n);
    assert.throws(
      () => readSafetensors(path),
      (e: unknown) =>
        e instanceof UserError && e.message.includes(path) && /tensor big of shape \[4294967304\] U8/.test(e.message) && !e.message.includes('\n'),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('reads the PyTorch-written timm fixture', () => {
  const w = readSafetensors(join(FIXTURES, 'timm_vit_tiny_rgb.weights.safetensors'));
  const qkv = w.tensors.get('blocks.0.attn.qkv.weight')!;
  assert.equal(qkv.dtype, 'F32');
  assert.deepEqual(qkv.shape, [288, 96]);
  assert.equal(qkv.data.length, 288 * 96);
  assert.deepEqual(w.tensors.get('patch_embed.proj.weight')?.shape, [96, 3, 4, 4]);
  const config = JSON.parse(w.metadata['config']!) as Record<string, unknown>;
  assert.equal(config['embed_dim'], 96);
  assert.equal(config['depth'], 2);

  const io = readSafetensors(join(FIXTURES, 'timm_vit_tiny_rgb.io.safetensors'));
  assert.deepEqual(io.tensors.get('input_nchw')?.shape, [5, 3, 32, 32]);
  assert.deepEqual(io.tensors.get('logits')?.shape, [5, 10]);
  const input = toFloat32(io.tensors.get('input_nchw')!, 'input_nchw', 'io');
  assert.ok(input.every((v) => v >= 0 && v < 1));
  // Re-encoding the fixture and decoding again gives the same tensors.
  const again = decodeSafetensors(encodeSafetensors(w.tensors, w.metadata), 're-encoded');
  assert.deepEqual(Array.from(again.tensors.get('blocks.0.attn.qkv.weight')!.data as Float32Array), Array.from(qkv.data as Float32Array));
});

/** Builds a file from a raw header object (or string) and data section. */
function rawFile(header: unknown, dataBytes: number, headerLenOverride?: bigint): Uint8Array {
  const json = new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
  const out = new Uint8Array(8 + json.byteLength + dataBytes);
  new DataView(out.buffer).setBigUint64(0, headerLenOverride ?? BigInt(json.byteLength), true);
  out.set(json, 8);
  return out;
}

test('each corrupt file gives a UserError naming the file', () => {
  const ok = { dtype: 'F32', shape: [2], data_offsets: [0, 8] };
  const cases: Array<[string, Uint8Array, RegExp]> = [
    ['short', new Uint8Array(5), /shorter than the 8-byte/],
    ['header past end', rawFile({ a: ok }, 8, 1000n), /runs past the end/],
    ['header past end (huge)', rawFile({ a: ok }, 8, 2n ** 63n), /runs past the end/],
    ['bad json', rawFile('{"a": ', 0), /not valid JSON/],
    ['not an object', rawFile('[1,2]', 0), /not a JSON object/],
    ['unknown dtype', rawFile({ a: { ...ok, dtype: 'F8_E4M3' } }, 8), /unknown dtype "F8_E4M3"/],
    ['bad shape', rawFile({ a: { ...ok, shape: [2.5] } }, 8), /shape \[2\.5\]/],
    ['size mismatch', rawFile({ a: { ...ok, shape: [3] } }, 8), /12 bytes, but data_offsets span 8/],
    ['out of range', rawFile({ a: { ...ok, data_offsets: [0, 16], shape: [4] } }, 8), /outside the 8-byte data section/],
    ['reversed offsets', rawFile({ a: { ...ok, data_offsets: [8, 0] } }, 8), /outside/],
    ['overlap', rawFile({ a: ok, b: { ...ok, data_offsets: [4, 12] } }, 12), /overlap/],
    ['bad metadata', rawFile({ __metadata__: { n: 1 } }, 0), /__metadata__\.n is not a string/],
  ];
  const dir = mkdtempSync(join(tmpdir(), 'st-bad-'));
  try {
    for (const [label, bytes, pattern] of cases) {
      const path = join(dir, `${label.replace(/\W+/g, '_')}.safetensors`);
      writeFileSync(path, bytes);
      assert.throws(
        () => readSafetensors(path),
        (e: unknown) => e instanceof UserError && e.message.includes(path) && pattern.test(e.message) && !e.message.includes('\n'),
        label,
      );
    }
    assert.throws(
      () => readSafetensors(join(dir, 'missing.safetensors')),
      (e: unknown) => e instanceof UserError && /missing\.safetensors does not exist/.test(e.message),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('encoding rejects data that does not match dtype or shape (a bug, not a user error)', () => {
  assert.throws(() => encodeSafetensors({ a: { dtype: 'F32', shape: [2], data: new Int32Array(2) } }), TypeError);
  assert.throws(() => encodeSafetensors({ a: { dtype: 'F32', shape: [3], data: new Float32Array(2) } }), TypeError);
});
