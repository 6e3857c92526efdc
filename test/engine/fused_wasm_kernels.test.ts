/**
 * The wasm Identity (shared buffer), leading-axes Sum, Slice, GatherV2 and SplitV replacements (src/engine/wasm_kernels.ts):
 * Sum equals tfjs's own kernels for every axis pattern (replaced and passed-through ones), a clone
 * outlives its source and is unaffected by variable updates, gradients through a training-like
 * graph are unchanged, nothing leaks, and unregistering restores the originals.
 * Tolerance: sums <= 1e-5 * max(1, |ref|) (float64 vs float32 accumulation; K <= 300 terms).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initEngine } from '../../src/engine/backend.js';
import { rng } from '../../src/random.js';
import { registerWasmKernels } from '../../src/engine/wasm_kernels.js';

// The reference is tfjs-wasm's own kernels, so initEngine must not install ours; each test does.
process.env['HEADSTEER_FUSED'] = '0';
await initEngine();

/** Deterministic standard-normal test values from the project's seeded streams. */
const values = (size: number, seed: number): Float32Array => rng(seed, 'test-values').fill(new Float32Array(size), 'normal');

/** A tensor of `shape` holding `values` of `seed`. */
const seeded = (shape: number[], seed: number): tf.Tensor =>
  tf.tensor(
    values(
      shape.reduce((p, d) => p * d, 1),
      seed,
    ),
    shape,
  );

function assertClose(got: ArrayLike<number>, want: ArrayLike<number>, what: string): void {
  assert.equal(got.length, want.length, `${what}: length`);
  for (let i = 0; i < want.length; i++) {
    const w = want[i] as number;
    assert.ok(Math.abs((got[i] as number) - w) <= 1e-5 * Math.max(1, Math.abs(w)), `${what}[${i}]: ${got[i]} vs ${w}`);
  }
}

const CASES: Array<{ shape: number[]; axis: number | number[]; keepDims?: boolean }> = [
  { shape: [37, 29], axis: 0 }, // bias gradient
  { shape: [5, 7, 11], axis: [0, 1] }, // bias gradient of a rank-3 Linear
  { shape: [5, 7, 11], axis: [1, 0], keepDims: true },
  { shape: [3, 4, 5, 6], axis: [-4, -3] },
  { shape: [7, 6], axis: 1 }, // not leading: tfjs's kernel
  { shape: [7, 6], axis: [0, 1] }, // all axes: tfjs's kernel
  { shape: [2, 3, 4], axis: [0, 2] },
  { shape: [0, 5], axis: 0 },
  { shape: [5, 0], axis: 0 },
  { shape: [9, 1], axis: 0 },
  { shape: [64, 96], axis: 0 }, // whole quads of rows and columns (the SIMD kernel's main loop only)
  { shape: [3, 8], axis: 0 }, // fewer rows than one quad
];

/** Run every case; returns the sums as plain arrays with their shapes. */
function sums(): Array<{ shape: number[]; data: Float32Array }> {
  return CASES.map(({ shape, axis, keepDims }, i) =>
    tf.tidy(() => {
      const x = seeded(shape, i + 1);
      const s = tf.sum(x, axis, keepDims ?? false);
      return { shape: s.shape, data: s.dataSync() as Float32Array };
    }),
  );
}

test('Sum over leading axes equals tfjs-wasm; other axes pass through', () => {
  const want = sums();
  const restore = registerWasmKernels();
  try {
    const got = sums();
    got.forEach((g, i) => {
      assert.deepEqual(g.shape, want[i]!.shape, `case ${i}: shape`);
      assertClose(g.data, want[i]!.data, `case ${i}`);
    });
  } finally {
    restore();
  }
});

const SLICES: Array<{ shape: number[]; begin: number[]; size: number[] }> = [
  { shape: [4, 65, 12], begin: [0, 0, 0], size: [-1, 1, -1] }, // the CLS token
  { shape: [4, 65, 12], begin: [1, 3, 2], size: [2, 5, 7] },
  { shape: [6, 9], begin: [2, 0], size: [3, -1] }, // contiguous rows
  { shape: [6, 9], begin: [0, 4], size: [-1, 1] },
  { shape: [17], begin: [5], size: [6] },
  { shape: [2, 3, 4, 5, 6], begin: [1, 0, 2, 1, 3], size: [1, 3, 2, 4, 2] }, // rank 5: tfjs's generic path
  { shape: [3, 4], begin: [1, 1], size: [0, 2] },
];

function slices(): Array<{ shape: number[]; data: Float32Array }> {
  return SLICES.map(({ shape, begin, size }, i) =>
    tf.tidy(() => {
      const x = seeded(shape, 100 + i);
      const s = tf.slice(x, begin, size);
      return { shape: s.shape, data: s.dataSync() as Float32Array };
    }),
  );
}

test('Slice by heap views equals tfjs-wasm for every rank, contiguous or strided', () => {
  const want = slices();
  const restore = registerWasmKernels();
  try {
    const got = slices();
    got.forEach((g, i) => {
      assert.deepEqual(g.shape, want[i]!.shape, `slice case ${i}: shape`);
      assert.deepEqual(Array.from(g.data), Array.from(want[i]!.data), `slice case ${i}: values`);
    });
  } finally {
    restore();
  }
});

const GATHERS: Array<{ shape: number[]; indices: number[]; axis: number }> = [
  { shape: [5, 3, 4], indices: [4, 0, 0, 2], axis: 0 }, // rows, one repeated
  { shape: [2, 6, 3], indices: [5, 1, 3], axis: 1 },
  { shape: [4, 7], indices: [6, 0, 2, 2, 1], axis: 1 }, // single elements
  { shape: [3, 4], indices: [], axis: 0 },
];

function gathers(): Array<{ shape: number[]; data: Float32Array }> {
  return GATHERS.map(({ shape, indices, axis }, i) =>
    tf.tidy(() => {
      const x = seeded(shape, 200 + i);
      const g = tf.gather(x, tf.tensor1d(indices, 'int32'), axis);
      return { shape: g.shape, data: g.dataSync() as Float32Array };
    }),
  );
}

test('GatherV2 by heap copies equals tfjs-wasm on every axis, with repeated indices and none', () => {
  const want = gathers();
  const restore = registerWasmKernels();
  try {
    const got = gathers();
    got.forEach((g, i) => {
      assert.deepEqual(g.shape, want[i]!.shape, `gather case ${i}: shape`);
      assert.deepEqual(Array.from(g.data), Array.from(want[i]!.data), `gather case ${i}: values`);
    });
  } finally {
    restore();
  }
});

const SPLITS: Array<{ shape: number[]; sizes: number[] | number; axis: number }> = [
  { shape: [7, 18], sizes: 3, axis: 1 }, // the q | k | v weight gradient
  { shape: [18], sizes: [6, 6, 6], axis: 0 }, // and its bias
  { shape: [2, 5, 3], sizes: [1, -1, 0], axis: 1 }, // inferred and empty parts
  { shape: [4, 3, 2], sizes: [3, 1], axis: 0 },
  { shape: [2, 3, 6], sizes: 2, axis: -1 },
];

function splits(): Array<Array<{ shape: number[]; data: Float32Array }>> {
  return SPLITS.map(({ shape, sizes, axis }, i) =>
    tf.tidy(() => {
      const x = seeded(shape, 300 + i);
      return tf.split(x, sizes, axis).map((t) => ({ shape: t.shape, data: t.dataSync() as Float32Array }));
    }),
  );
}

test('SplitV by heap copies equals tfjs-wasm on every axis, with inferred and empty parts', () => {
  const want = splits();
  const restore = registerWasmKernels();
  try {
    const got = splits();
    got.forEach((parts, i) => {
      assert.equal(parts.length, want[i]!.length, `split case ${i}: parts`);
      parts.forEach((g, j) => {
        assert.deepEqual(g.shape, want[i]![j]!.shape, `split case ${i} part ${j}: shape`);
        assert.deepEqual(Array.from(g.data), Array.from(want[i]![j]!.data), `split case ${i} part ${j}: values`);
      });
    });
  } finally {
    restore();
  }
});

test('shared Identity: a clone outlives its source and ignores later variable updates', () => {
  const restore = registerWasmKernels();
  try {
    const before = tf.memory().numTensors;
    const a = tf.tensor1d([1, 2, 3]);
    const c = tf.clone(a);
    a.dispose();
    assert.deepEqual(Array.from(c.dataSync()), [1, 2, 3]);
    const v = tf.variable(c);
    const snapshot = tf.clone(v);
    tf.tidy(() => v.assign(tf.tensor1d([7, 8, 9]).add(0)));
    assert.deepEqual(Array.from(snapshot.dataSync()), [1, 2, 3]);
    assert.deepEqual(Array.from(v.dataSync()), [7, 8, 9]);
    tf.dispose([c, v, snapshot]);
    assert.equal(tf.memory().numTensors, before);
  } finally {
    restore();
  }
});

test('gradients of a Linear + LayerNorm-like graph are unchanged and nothing leaks', () => {
  const x = tf.tensor3d(values(4 * 5 * 6, 21), [4, 5, 6]);
  const w = tf.variable(tf.tensor2d(values(6 * 3, 22), [6, 3]));
  const b = tf.variable(tf.tensor1d(values(3, 23)));
  const loss = (): tf.Scalar => {
    const y = tf.add(tf.matMul(x.reshape([-1, 6]), w), b); // (20, 3)
    const { mean, variance } = tf.moments(y, -1, true);
    return tf.sum(tf.square(tf.div(tf.sub(y, mean), tf.sqrt(tf.add(variance, 1e-6)))).mul(y));
  };
  const grads = (): Float32Array[] =>
    tf.tidy(() => {
      const { grads: g } = tf.variableGrads(loss, [w, b]);
      return [g[w.name]!, g[b.name]!].map((t) => t.dataSync() as Float32Array);
    });
  const want = grads();
  const restore = registerWasmKernels();
  try {
    const before = tf.memory().numTensors;
    const got = grads();
    assert.equal(tf.memory().numTensors, before);
    got.forEach((g, i) => {
      assertClose(g, want[i]!, `grad ${i}`);
    });
  } finally {
    restore();
    tf.dispose([x, w, b]);
  }
});

test('unregistering restores tfjs-wasm kernels', () => {
  const identity = tf.getKernel(tf.Identity, 'wasm');
  const sum = tf.getKernel(tf.Sum, 'wasm');
  const restore = registerWasmKernels();
  assert.notEqual(tf.getKernel(tf.Sum, 'wasm')?.kernelFunc, sum?.kernelFunc);
  restore();
  assert.equal(tf.getKernel(tf.Identity, 'wasm')?.kernelFunc, identity?.kernelFunc);
  assert.equal(tf.getKernel(tf.Sum, 'wasm')?.kernelFunc, sum?.kernelFunc);
});
