/**
 * Fused GELU and LayerNorm kernels (src/engine/gelu.ts, layernorm.ts) on the wasm and cpu backends:
 * equal to the composite tfjs-op formulas (forward and every gradient, via tf.grads) for rank 1-4
 * shapes with odd sizes; gradients equal central finite differences of the fused forward; Φ against
 * reference values; the HEADSTEER_FUSED=0 switch; no tensor leaks.
 * Tolerances:
 * - fused vs composite: |got - ref| <= 1e-5 * max(1, |ref|) elementwise (float32 rounding of
 *   different operation orders; the composite's erf is A&S 7.1.26, error 1.5e-7).
 * - finite differences (float32 forward, h = 1e-2): |fd - grad| <= 2e-3 * max(1, |grad|); the
 *   float32 rounding of f(x ± h) alone contributes ~eps |f| / h ~ 1e-5 |f|.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initEngine } from '../../src/engine/backend.js';
import { fusedDisabledByEnv } from '../../src/engine/fused.js';
import { GELU_KERNEL, gelu, geluComposite, geluFused, normalCdf } from '../../src/engine/gelu.js';
import { LAYER_NORM_KERNEL, layerNorm, layerNormComposite, layerNormFused } from '../../src/engine/layernorm.js';
import { assertClose, values } from './helpers.js';

await initEngine();
const BACKENDS = ['wasm', 'cpu'] as const;
const EPS = 1e-6;

const sizeOf = (shape: number[]): number => shape.reduce((p, d) => p * d, 1);

async function onBackend<T>(name: string, f: () => T): Promise<T> {
  await tf.setBackend(name);
  try {
    return f();
  } finally {
    await tf.setBackend('wasm');
  }
}

/** Forward plus the gradients of sum(f(xs) * w) w.r.t. every input, as plain arrays. */
function valueAndGrads(f: (...xs: tf.Tensor[]) => tf.Tensor, xs: tf.Tensor[], w: tf.Tensor): Float32Array[] {
  return tf.tidy(() => {
    const y = f(...xs);
    const gs = tf.grads((...ins: tf.Tensor[]) => tf.sum(tf.mul(f(...ins), w)))(xs);
    return [y, ...gs].map((t) => t.dataSync() as Float32Array);
  });
}

const GELU_SHAPES = [[7], [5, 13], [3, 7, 11], [2, 3, 5, 9], [0, 4]];
const LN_SHAPES = [[9], [4, 8], [3, 5, 7], [2, 3, 4, 33], [6, 1], [0, 5]];

for (const backend of BACKENDS) {
  test(`${backend}: fused GELU equals the composite formula, forward and gradient`, async () => {
    await onBackend(backend, () => {
      for (const shape of GELU_SHAPES) {
        const n = sizeOf(shape);
        // Mostly the interesting range, plus tails beyond the ±8 table.
        const data = values(n, 1, -6, 6);
        if (n > 2) data.set([-30, 25], 0);
        const x = tf.tensor(data, shape);
        const w = tf.tensor(values(n, 2), shape);
        const got = valueAndGrads(geluFused, [x], w);
        const want = valueAndGrads(geluComposite, [x], w);
        got.forEach((g, i) => {
          assertClose(g, want[i]!, 1e-5, `${shape} output ${i}`);
        });
        tf.dispose([x, w]);
      }
    });
  });

  test(`${backend}: fused LayerNorm equals the composite formula, forward and all gradients`, async () => {
    await onBackend(backend, () => {
      for (const shape of LN_SHAPES) {
        const d = shape[shape.length - 1]!;
        // Offset and scale the rows so the mean matters (as in a residual stream).
        const x = tf.tensor(values(sizeOf(shape), 3, -2, 4), shape);
        const gamma = tf.tensor1d(values(d, 4, 0.5, 1.5));
        const beta = tf.tensor1d(values(d, 5));
        const w = tf.tensor(values(sizeOf(shape), 6), shape);
        const f = (a: tf.Tensor, g: tf.Tensor, b: tf.Tensor): tf.Tensor => layerNormFused(a, g, b, EPS);
        const c = (a: tf.Tensor, g: tf.Tensor, b: tf.Tensor): tf.Tensor => layerNormComposite(a, g, b, EPS);
        const got = valueAndGrads(f, [x, gamma, beta], w);
        const want = valueAndGrads(c, [x, gamma, beta], w);
        ['y', 'dx', 'dgamma', 'dbeta'].forEach((name, i) => {
          assertClose(got[i]!, want[i]!, 1e-5, `${shape} ${name}`);
        });
        tf.dispose([x, gamma, beta, w]);
      }
    });
  });
}

test('GELU gradient equals central finite differences of the fused forward', () => {
  const h = 1e-2;
  const x = values(301, 7, -5, 5);
  const grad = tf.tidy(() => tf.grad(geluFused)(tf.tensor1d(x)).dataSync());
  const fd = tf.tidy(() => {
    const up = geluFused(tf.tensor1d(x.map((v) => v + h)));
    const down = geluFused(tf.tensor1d(x.map((v) => v - h)));
    return tf.div(tf.sub(up, down), 2 * h).dataSync();
  });
  assertClose(fd, grad, 2e-3, 'd gelu / dx');
});

test('LayerNorm gradients equal central finite differences of the fused forward', () => {
  const [R, D] = [6, 9];
  const h = 1e-2;
  const x = values(R * D, 8, -2, 3);
  const gamma = values(D, 9, 0.5, 1.5);
  const beta = values(D, 10);
  const w = tf.tensor2d(values(R * D, 11), [R, D]);
  /** Per-row losses sum_j w y (rows are independent, so one pass perturbs every row at once). */
  const rowLoss = (xs: Float32Array, g: Float32Array, b: Float32Array): Float32Array =>
    tf.tidy(() => tf.sum(tf.mul(layerNormFused(tf.tensor2d(xs, [R, D]), tf.tensor1d(g), tf.tensor1d(b), EPS), w), -1).dataSync() as Float32Array);
  const total = (xs: Float32Array, g: Float32Array, b: Float32Array): number => rowLoss(xs, g, b).reduce((s, v) => s + v, 0);
  const [dx, dgamma, dbeta] = tf.tidy(() =>
    tf
      .grads((a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(layerNormFused(a, g, b, EPS), w)))([
        tf.tensor2d(x, [R, D]),
        tf.tensor1d(gamma),
        tf.tensor1d(beta),
      ])
      .map((t) => t.dataSync() as Float32Array),
  );
  const shifted = (a: Float32Array, idx: (i: number) => boolean, by: number): Float32Array => a.map((v, i) => (idx(i) ? v + by : v));
  const fdX = new Float32Array(R * D);
  for (let j = 0; j < D; j++) {
    const col = (i: number): boolean => i % D === j;
    const up = rowLoss(shifted(x, col, h), gamma, beta);
    const down = rowLoss(shifted(x, col, -h), gamma, beta);
    for (let r = 0; r < R; r++) fdX[r * D + j] = ((up[r] as number) - (down[r] as number)) / (2 * h);
  }
  const fdParam = (which: 'gamma' | 'beta'): Float32Array =>
    Float32Array.from({ length: D }, (_, j) => {
      const at = (i: number): boolean => i === j;
      const [gu, gd] = which === 'gamma' ? [shifted(gamma, at, h), shifted(gamma, at, -h)] : [gamma, gamma];
      const [bu, bd] = which === 'beta' ? [shifted(beta, at, h), shifted(beta, at, -h)] : [beta, beta];
      return (total(x, gu, bu) - total(x, gd, bd)) / (2 * h);
    });
  assertClose(fdX, dx!, 2e-3, 'dx');
  assertClose(fdParam('gamma'), dgamma!, 2e-3, 'dgamma');
  assertClose(fdParam('beta'), dbeta!, 2e-3, 'dbeta');
  w.dispose();
});

test('Φ of the GELU tables matches reference values to 2e-9 and A&S 7.1.26 to its 1.5e-7 bound', () => {
  // Φ(x) to 16 digits (R pnorm).
  const ref: Array<[number, number]> = [
    [0, 0.5],
    [0.5, 0.6914624612740131],
    [1, 0.8413447460685429],
    [-1, 0.15865525393145707],
    [1.96, 0.9750021048517795],
    [2, 0.9772498680518208],
    [-3, 0.0013498980316301035],
    [-5, 2.866515718791939e-7],
    [7.9, 0.9999999999999986],
  ];
  for (const [x, p] of ref) assert.ok(Math.abs(normalCdf(x) - p) < 2e-9, `Φ(${x}) = ${normalCdf(x)}, want ${p}`);
  const [P, A] = [0.3275911, [0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429]];
  for (let x = -9; x <= 9; x += 0.0137) {
    const z = Math.abs(x) / Math.SQRT2;
    const t = 1 / (1 + P * z);
    const tail = (A.reduceRight((acc, a) => acc * t + a, 0) * t * Math.exp(-z * z)) / 2; // Φ(-|x|)
    const as = x >= 0 ? 1 - tail : tail;
    assert.ok(Math.abs(normalCdf(x) - as) <= 0.75e-7 + 2e-9, `Φ(${x}): table ${normalCdf(x)}, A&S ${as}`);
  }
});

test('HEADSTEER_FUSED=0 forces the composite path; fused kernels run otherwise', async () => {
  assert.equal(fusedDisabledByEnv({ HEADSTEER_FUSED: '0' }), true);
  assert.equal(fusedDisabledByEnv({ HEADSTEER_FUSED: 'off' }), true);
  assert.equal(fusedDisabledByEnv({}), false);
  const x = tf.tensor2d(values(12, 12), [3, 4]);
  const g = tf.ones([4]);
  const b = tf.zeros([4]);
  const kernels = async (): Promise<string[]> =>
    (
      await tf.profile(() => {
        tf.dispose([gelu(x), layerNorm(x, g, b, EPS)]);
      })
    ).kernels.map((k) => k.name);
  const saved = process.env['HEADSTEER_FUSED'];
  try {
    process.env['HEADSTEER_FUSED'] = '0';
    const off = await kernels();
    assert.ok(!off.includes(GELU_KERNEL) && !off.includes(LAYER_NORM_KERNEL), `composite path ran ${off.join(', ')}`);
    delete process.env['HEADSTEER_FUSED'];
    const on = await kernels();
    assert.ok(on.includes(GELU_KERNEL) && on.includes(LAYER_NORM_KERNEL), `fused path ran ${on.join(', ')}`);
  } finally {
    if (saved === undefined) delete process.env['HEADSTEER_FUSED'];
    else process.env['HEADSTEER_FUSED'] = saved;
    tf.dispose([x, g, b]);
  }
});

test('fused ops leak no tensors (forward, gradients, tape saves)', () => {
  const x = tf.tensor3d(values(2 * 5 * 7, 13), [2, 5, 7]);
  const g = tf.tensor1d(values(7, 14));
  const b = tf.tensor1d(values(7, 15));
  const before = tf.memory().numTensors;
  for (let i = 0; i < 3; i++) {
    tf.tidy(() => {
      geluFused(x);
      layerNormFused(x, g, b, EPS);
      tf.grads((a: tf.Tensor, gg: tf.Tensor, bb: tf.Tensor) => tf.sum(geluFused(layerNormFused(a, gg, bb, EPS))))([x, g, b]);
    });
    const y = geluFused(x);
    y.dispose();
  }
  assert.equal(tf.memory().numTensors, before);
  tf.dispose([x, g, b]);
});
