/**
 * The wasm SIMD kernels (src/engine/simd_kernels.wat via simd.ts) against references:
 * - GELU and its gradient against float64 x Φ(x) and Φ(x) + x φ(x) on a dense grid over the whole
 *   float range that matters, every partial-quad length and an unaligned input; NaN propagates.
 * - LayerNorm forward and backward against the JS kernels (HEADSTEER_SIMD=0), for widths that are
 *   and are not multiples of 4, zero rows, and a width-192 residual stream.
 * The composite-formula and finite-difference tests in fused.test.ts cover these kernels too: on the
 * wasm backend they run whenever the .wasm is built.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initEngine } from '../../src/engine/backend.js';
import { fusedDisabledByEnv } from '../../src/engine/fused.js';
import { geluFused, normalCdf } from '../../src/engine/gelu.js';
import { layerNormFused } from '../../src/engine/layernorm.js';
import { instantiateSimdKernels, simd, simdDisabledByEnv } from '../../src/engine/simd.js';
import { UserError } from '../../src/errors.js';
import { values, withEnv } from './helpers.js';

const info = await initEngine();
const EPS = 1e-6;
const INV_SQRT_2PI = 0.3989422804014327;

/** Run `f` with HEADSTEER_SIMD set to `value` (undefined: unset). */
const withSimdEnv = <T>(value: string | undefined, f: () => T): T => withEnv('HEADSTEER_SIMD', value, f);

/**
 * GELU of `x` (inference kernel), its gradient (upstream 1) and GELU as the training kernel computes it
 * under the tape, as plain arrays.
 */
function geluAndGrad(x: tf.Tensor): [Float32Array, Float32Array, Float32Array] {
  return tf.tidy(() => {
    const { value, grad } = tf.valueAndGrad(geluFused)(x);
    return [geluFused(x).dataSync() as Float32Array, grad.dataSync() as Float32Array, value.dataSync() as Float32Array];
  });
}

test('the SIMD kernels are loaded on the wasm backend, and HEADSTEER_SIMD=0 turns them off', () => {
  // Under HEADSTEER_SIMD=0 (a suite-wide fallback run) initEngine does not load the module at all.
  const loaded = !simdDisabledByEnv();
  assert.equal(info.simdKernels, loaded, `engine: ${info.notice}`);
  const expected = fusedDisabledByEnv() ? 'composite tfjs ops' : loaded ? 'wasm SIMD' : 'JS';
  assert.ok(info.notice.endsWith(`GELU/LayerNorm: ${expected}`), info.notice);
  assert.equal(withSimdEnv(undefined, simd) !== undefined, loaded);
  assert.equal(withSimdEnv('0', simd), undefined);
  assert.equal(simdDisabledByEnv({ HEADSTEER_SIMD: 'off' }), true);
  assert.equal(simdDisabledByEnv({}), false);
});

test("SIMD GELU: |y - x Φ(x)| <= 3e-7 max(1, |x|) in inference and training, |GELU' - (Φ + x φ)| <= 3e-7 max(1, |x|)", () => {
  withSimdEnv(undefined, () => {
    // A dense grid over [-14, 14] (Φ saturates well inside), plus values straddling 0 and the clamp at 12.
    const n = 28001;
    const grid = Float32Array.from({ length: n }, (_, i) => -14 + (28 * i) / (n - 1));
    const extra = Float32Array.from([0, -0, 1e-30, -1e-30, 11.999, 12.001, -12.001, 3e4, -3e4]);
    const xs = new Float32Array([...grid, ...extra]);
    const [y, g, yTrain] = geluAndGrad(tf.tensor1d(xs));
    let worstY = 0;
    let worstG = 0;
    xs.forEach((x, i) => {
      const scale = Math.max(1, Math.abs(x));
      const phi = normalCdf(x); // float64, |error| < 2e-9
      worstY = Math.max(worstY, Math.abs((y[i] as number) - x * phi) / scale, Math.abs((yTrain[i] as number) - x * phi) / scale);
      worstG = Math.max(worstG, Math.abs((g[i] as number) - (phi + x * INV_SQRT_2PI * Math.exp(-0.5 * x * x))) / scale);
    });
    assert.ok(worstY <= 3e-7, `forward error ${worstY}`);
    assert.ok(worstG <= 3e-7, `gradient error ${worstG}`);
  });
});

test('SIMD GELU: every partial-quad length and an unaligned input equal the JS kernel; NaN stays NaN', () => {
  const base = values(64, 21, -4, 4);
  for (const len of [1, 2, 3, 4, 5, 6, 7, 9, 63]) {
    const run = (): Float32Array[] => tf.tidy(() => geluAndGrad(tf.slice(tf.tensor1d(base), [1], [len])));
    const simdOut = withSimdEnv(undefined, run);
    const jsOut = withSimdEnv('0', run);
    for (let i = 0; i < len; i++) {
      const scale = Math.max(1, Math.abs(base[i + 1] as number));
      ['y', 'g', 'y in training'].forEach((name, j) => {
        const diff = Math.abs((simdOut[j]![i] as number) - (jsOut[j]![i] as number));
        assert.ok(diff <= 4e-7 * scale, `len ${len} ${name}[${i}]`);
      });
    }
  }
  const [y, g, yTrain] = withSimdEnv(undefined, () => geluAndGrad(tf.tensor1d([NaN, 1, NaN, -1, 2])));
  for (const out of [y, g, yTrain]) {
    assert.ok(Number.isNaN(out[0]) && Number.isNaN(out[2]), 'NaN propagates');
    assert.ok(Number.isFinite(out[4]), 'NaN does not leak into other lanes');
  }
});

test('SIMD LayerNorm equals the JS kernels, forward and all gradients, for any width', () => {
  for (const [rows, d] of [
    [5, 1],
    [4, 2],
    [3, 3],
    [6, 4],
    [2, 5],
    [7, 9],
    [3, 33],
    [0, 8],
    [130, 192],
  ] as const) {
    const run = (): Float32Array[] =>
      tf.tidy(() => {
        const x = tf.tensor2d(values(rows * d, d, -2, 4), [rows, d]);
        const gamma = tf.tensor1d(values(d, 2, 0.5, 1.5));
        const beta = tf.tensor1d(values(d, 3));
        const w = tf.tensor2d(values(rows * d, 4), [rows, d]);
        const f = (a: tf.Tensor, g: tf.Tensor, b: tf.Tensor): tf.Tensor => layerNormFused(a, g, b, EPS);
        const grads = tf.grads((a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(f(a, g, b), w)))([x, gamma, beta]);
        return [f(x, gamma, beta), ...grads].map((t) => t.dataSync() as Float32Array);
      });
    const got = withSimdEnv(undefined, run);
    const want = withSimdEnv('0', run);
    ['y', 'dx', 'dgamma', 'dbeta'].forEach((name, k) => {
      const a = got[k]!;
      const b = want[k]!;
      assert.equal(a.length, b.length);
      for (let i = 0; i < b.length; i++) {
        assert.ok(
          Math.abs((a[i] as number) - (b[i] as number)) <= 2e-6 * Math.max(1, Math.abs(b[i] as number)),
          `(${rows}, ${d}) ${name}[${i}]: simd ${a[i]}, js ${b[i]}`,
        );
      }
    });
  }
});

test('a broken simd_kernels.wasm is one clear error naming the file, not a crash later', async () => {
  const memory = new WebAssembly.Memory({ initial: 1 });
  const module = { asm: { memory }, _malloc: () => 0, _free: () => undefined };
  const garbage = new Uint8Array([0x67, 0x61, 0x72, 0x62]);
  await assert.rejects(
    instantiateSimdKernels(garbage, module, memory, '/x/simd_kernels.wasm'),
    (e: unknown) => e instanceof UserError && /^\/x\/simd_kernels\.wasm: not a usable WebAssembly module/.test(e.message) && /npm run build/.test(e.message),
  );
  const empty = new Uint8Array([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]); // a valid module with no exports
  await assert.rejects(
    instantiateSimdKernels(empty, module, memory, '/x/simd_kernels.wasm'),
    (e: unknown) => e instanceof UserError && /missing the kernels gelu, gelu_train, .*sum_leading/.test(e.message),
  );
});
