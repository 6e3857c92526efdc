/**
 * Exact (erf) GELU (Hendrycks & Gimpel 2016, timm's nn.GELU default) as one fused kernel,
 *   inference  y = x Φ(x),                              Φ(x) = (1 + erf(x / √2)) / 2
 *   training   y and g(x) = GELU'(x) = Φ + x φ,         φ(x) = exp(-x²/2) / √(2π)
 *              in one pass, g saved so that the backward is the multiply dx = dy g
 * instead of tfjs's five-kernel composite (mul, mul, Erf, add, mul) and its longer gradient. The
 * training kernel is picked when the autograd tape records (`tf.engine().isTapeOn()`). Writing g
 * with y costs one pass over x instead of two (forward, then the derivative from the saved x), and g
 * takes x's place in memory until the backward.
 *
 * Φ and g are read from tables of cubic Hermite pieces on [-8, 8] with step 1/32 (values and
 * derivatives at the nodes: Φ' = φ, g' = φ (2 - x²)), built once at import. Node values of Φ come
 * from integrating φ (composite Simpson, 32 sub-steps per piece, error < 1e-15), so the only error
 * is the interpolation's, h^4/384 max|f''''|: |Φ error| < 2e-9 and |g error| < 1e-8 absolute
 * (tested), tighter than Abramowitz & Stegun 7.1.26 (1.5e-7), which tfjs's own Erf kernels use.
 * There is no exp or division per element, which is what makes a JS loop competitive: V8's
 * Math.exp alone costs ~9 ns. Beyond ±8 the end values hold (Φ(-8) = 6e-16, g(-8) = -4e-14).
 * Arithmetic is float64, rounded once to float32 on store.
 * On the wasm backend the SIMD kernels of simd_kernels.wat take over when loaded (inference: a rational
 * erf; training: a fitted Φ with one exp, which φ shares; errors < 3e-7 max(1, |x|)); these JS loops
 * remain the cpu backend's and the fallback. So y in training and in inference agree to that bound,
 * not bit for bit.
 */
import * as tf from '@tensorflow/tfjs';
import { ensureKernel, runFused, useFused, type FusedKernelSpec } from './fused.js';

export const GELU_KERNEL = 'HeadsteerGelu';
export const GELU_TRAIN_KERNEL = 'HeadsteerGeluTrain';

const LIMIT = 8; // the tables cover [-LIMIT, LIMIT]
const STEPS = 32; // pieces per unit
const PIECES = 2 * LIMIT * STEPS;
const H = 1 / STEPS;
/** Largest table coordinate: just below PIECES, so the piece index stays in range. */
const U_MAX = PIECES - 1e-9;
const INV_SQRT_2PI = 0.3989422804014327;

const sizeOf = (shape: readonly number[] | undefined): number => (shape ?? []).reduce((p, d) => p * d, 1);

const pdf = (x: number): number => INV_SQRT_2PI * Math.exp(-0.5 * x * x);

/** Φ at the nodes x_k = -LIMIT + k H, k = 0..PIECES: Simpson from Φ(0) = 1/2 outward, then symmetry. */
function cdfAtNodes(): Float64Array {
  const cdf = new Float64Array(PIECES + 1);
  const mid = PIECES / 2;
  const m = 32; // Simpson sub-steps per piece (even)
  cdf[mid] = 0.5;
  for (let k = mid; k < PIECES; k++) {
    const x0 = (k - mid) * H;
    let s = pdf(x0) + pdf(x0 + H);
    for (let j = 1; j < m; j++) s += (j % 2 === 1 ? 4 : 2) * pdf(x0 + (j * H) / m);
    cdf[k + 1] = (cdf[k] as number) + (s * H) / (3 * m);
  }
  for (let k = 0; k < mid; k++) cdf[k] = 1 - (cdf[PIECES - k] as number);
  return cdf;
}

/**
 * Per piece k the coefficients of f(x_k + s H) = c0 + s (c1 + s (c2 + s c3)), s in [0, 1], from
 * the Hermite data f and H f' at both ends; `f` gets the node index and its x.
 */
function hermiteTable(f: (k: number, x: number) => number, df: (x: number) => number): Float64Array {
  const t = new Float64Array(4 * PIECES);
  for (let k = 0; k < PIECES; k++) {
    const x0 = -LIMIT + k * H;
    const f0 = f(k, x0);
    const f1 = f(k + 1, x0 + H);
    const d0 = H * df(x0);
    const d1 = H * df(x0 + H);
    t.set([f0, d0, 3 * (f1 - f0) - 2 * d0 - d1, 2 * (f0 - f1) + d0 + d1], 4 * k);
  }
  return t;
}

const CDF_NODES = cdfAtNodes();
/** Φ(x). */
const CDF_TABLE = hermiteTable((k) => CDF_NODES[k] as number, pdf);
/** g(x) = Φ(x) + x φ(x), the GELU derivative. */
const GRAD_TABLE = hermiteTable(
  (k, x) => (CDF_NODES[k] as number) + x * pdf(x),
  (x) => pdf(x) * (2 - x * x),
);

/** A Hermite table at x, clamped to ±LIMIT (NaN stays NaN). */
function lookup(table: Float64Array, x: number): number {
  const u = Math.min(Math.max((x + LIMIT) * STEPS, 0), U_MAX);
  const k = u | 0;
  const s = u - k;
  const b = 4 * k;
  return (table[b] as number) + s * ((table[b + 1] as number) + s * ((table[b + 2] as number) + s * (table[b + 3] as number)));
}

/** Φ(x) as the kernels compute it, for tests. */
export function normalCdf(x: number): number {
  return lookup(CDF_TABLE, x);
}

const geluSpec: FusedKernelSpec = {
  name: GELU_KERNEL,
  inputs: ['x'],
  outputShapes: ([x]) => [[...(x ?? [])]],
  runHeap(kernels, [x], [y], [shape]) {
    kernels.gelu(x ?? 0, y ?? 0, sizeOf(shape));
  },
  run([x], [y]) {
    if (x === undefined || y === undefined) return;
    const n = x.length;
    for (let i = 0; i < n; i++) {
      const v = x[i] as number;
      y[i] = v * lookup(CDF_TABLE, v);
    }
  },
};

const geluTrainSpec: FusedKernelSpec = {
  name: GELU_TRAIN_KERNEL,
  inputs: ['x'],
  outputShapes: ([x]) => [[...(x ?? [])], [...(x ?? [])]],
  runHeap(kernels, [x], [y, g], [shape]) {
    kernels.geluTrain(x ?? 0, y ?? 0, g ?? 0, sizeOf(shape));
  },
  run([x], [y, g]) {
    if (x === undefined || y === undefined || g === undefined) return;
    const n = x.length;
    for (let i = 0; i < n; i++) {
      const v = x[i] as number;
      y[i] = v * lookup(CDF_TABLE, v);
      g[i] = lookup(GRAD_TABLE, v);
    }
  },
};

/** The tfjs-op formula (timm's exact GELU), used on other backends and under HEADSTEER_FUSED=0. */
export function geluComposite(x: tf.Tensor): tf.Tensor {
  return tf.mul(tf.mul(x, 0.5), tf.add(tf.erf(tf.mul(x, Math.SQRT1_2)), 1));
}

/** GELU recorded for the backward: y and g from one kernel, g saved, dx = dy g. */
const geluTrainOp = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
  const [x, save] = args as [tf.Tensor, tf.GradSaveFunc];
  const [y, g] = runFused(GELU_TRAIN_KERNEL, { x });
  save([g!]);
  return { value: y!, gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.mul(dy, saved[0]!) };
});

/**
 * Exact GELU through the fused kernels; the current backend must be wasm or cpu.
 * x (...) float32 -> (...). Prefer `gelu`, which picks the path.
 */
export function geluFused(x: tf.Tensor): tf.Tensor {
  ensureKernel(geluSpec);
  ensureKernel(geluTrainSpec);
  return tf.engine().isTapeOn() ? geluTrainOp(x) : runFused(GELU_KERNEL, { x })[0]!;
}

/** Exact (erf) GELU, x (...) -> (...): fused kernels where available, else the composite. */
export function gelu(x: tf.Tensor): tf.Tensor {
  return x.dtype === 'float32' && useFused() ? geluFused(x) : geluComposite(x);
}
