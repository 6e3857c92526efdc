/**
 * LayerNorm over the last axis with affine parameters (Ba et al. 2016; timm eps 1e-6) as one fused
 * kernel each way, instead of tfjs's composite (moments + sub/mul/rsqrt/add forward, ~3x as many
 * kernels backward). Per row of D values, with x̂ = (x - μ) r and r = 1 / sqrt(σ² + eps):
 *   forward   y = x̂ γ + β                       (also outputs μ and r, kept for backward)
 *   backward  g = dy γ
 *             dx = r (g - mean(g) - x̂ mean(g x̂))
 *             dγ = Σ_rows dy x̂,   dβ = Σ_rows dy
 * Sums are float64; each output is rounded once to float32. On the wasm backend the SIMD kernels of
 * simd_kernels.wat take over when loaded (moments and gradient sums still float64, the elementwise
 * parts float32); these JS loops remain the cpu backend's and the fallback.
 * Legend: R rows (product of the leading dims), D normalised width.
 */
import * as tf from '@tensorflow/tfjs';
import { ensureKernel, runFused, useFused, type FusedKernelSpec } from './fused.js';

export const LAYER_NORM_KERNEL = 'HeadsteerLayerNorm';
export const LAYER_NORM_GRAD_KERNEL = 'HeadsteerLayerNormGrad';

/** Leading shape and width of x (..., D). */
function rowsOf(x: readonly number[] | undefined): { lead: number[]; d: number; rows: number } {
  const shape = x ?? [];
  const lead = shape.slice(0, -1);
  return { lead, d: shape[shape.length - 1] ?? 1, rows: lead.reduce((p, v) => p * v, 1) };
}

const layerNormSpec: FusedKernelSpec = {
  name: LAYER_NORM_KERNEL,
  inputs: ['x', 'gamma', 'beta'],
  // y (..., D), mean (...), rstd (...)
  outputShapes: ([x]) => {
    const { lead } = rowsOf(x);
    return [[...(x ?? [])], lead, lead];
  },
  runHeap(kernels, [x, gamma, beta], [y, mean, rstd], [xShape], attrs) {
    const { d, rows } = rowsOf(xShape);
    kernels.layerNorm(x ?? 0, gamma ?? 0, beta ?? 0, y ?? 0, mean ?? 0, rstd ?? 0, rows, d, attrs['eps'] as number);
  },
  run([x, gamma, beta], [y, mean, rstd], [xShape], attrs) {
    if (!x || !gamma || !beta || !y || !mean || !rstd) return;
    const { d, rows } = rowsOf(xShape);
    const eps = attrs['eps'] as number;
    const d2 = d - (d % 2);
    for (let r = 0, o = 0; r < rows; r++, o += d) {
      // One pass for both moments, var = E[x^2] - mu^2: float64 sums of float32 inputs keep ~8 more
      // digits than the inputs carry, so the cancellation is harmless at any realistic mean/std ratio.
      // Two partial sums per moment: a float64 add has a 4-cycle latency, one dependent chain would bound the loop.
      let s0 = 0;
      let s1 = 0;
      let q0 = 0;
      let q1 = 0;
      for (let j = 0; j < d2; j += 2) {
        const a = x[o + j] as number;
        const c = x[o + j + 1] as number;
        s0 += a;
        s1 += c;
        q0 += a * a;
        q1 += c * c;
      }
      if (d2 < d) {
        const a = x[o + d2] as number;
        s0 += a;
        q0 += a * a;
      }
      const mu = (s0 + s1) / d;
      const rs = 1 / Math.sqrt(Math.max((q0 + q1) / d - mu * mu, 0) + eps);
      const shift = -mu * rs;
      for (let j = 0; j < d; j++) {
        y[o + j] = ((x[o + j] as number) * rs + shift) * (gamma[j] as number) + (beta[j] as number);
      }
      mean[r] = mu;
      rstd[r] = rs;
    }
  },
};

const layerNormGradSpec: FusedKernelSpec = {
  name: LAYER_NORM_GRAD_KERNEL,
  inputs: ['dy', 'x', 'gamma', 'mean', 'rstd'],
  // dx (..., D), dgamma (D), dbeta (D)
  outputShapes: ([, x, gamma]) => [[...(x ?? [])], [...(gamma ?? [])], [...(gamma ?? [])]],
  runHeap(kernels, [dy, x, gamma, mean, rstd], [dx, dgamma, dbeta], [, xShape]) {
    const { d, rows } = rowsOf(xShape);
    kernels.withScratch(16 * d, (scratch) =>
      kernels.layerNormGrad(dy ?? 0, x ?? 0, gamma ?? 0, mean ?? 0, rstd ?? 0, dx ?? 0, dgamma ?? 0, dbeta ?? 0, scratch, rows, d),
    );
  },
  run([dy, x, gamma, mean, rstd], [dx, dgamma, dbeta], [, xShape]) {
    if (!dy || !x || !gamma || !mean || !rstd || !dx || !dgamma || !dbeta) return;
    const { d, rows } = rowsOf(xShape);
    const d2 = d - (d % 2);
    const dg = new Float64Array(d); // Σ_rows dy x̂
    const db = new Float64Array(d); // Σ_rows dy
    for (let r = 0, o = 0; r < rows; r++, o += d) {
      const mu = mean[r] as number;
      const rs = rstd[r] as number;
      // Σ g and Σ g x̂ in two partial sums each (see the forward); x̂ and g are recomputed in the
      // dx pass rather than stored, which measured faster.
      let sg0 = 0;
      let sg1 = 0;
      let sgx0 = 0;
      let sgx1 = 0;
      for (let j = 0; j < d2; j += 2) {
        const gy0 = dy[o + j] as number;
        const gy1 = dy[o + j + 1] as number;
        const h0 = ((x[o + j] as number) - mu) * rs;
        const h1 = ((x[o + j + 1] as number) - mu) * rs;
        const g0 = gy0 * (gamma[j] as number);
        const g1 = gy1 * (gamma[j + 1] as number);
        sg0 += g0;
        sg1 += g1;
        sgx0 += g0 * h0;
        sgx1 += g1 * h1;
        dg[j] = (dg[j] as number) + gy0 * h0;
        dg[j + 1] = (dg[j + 1] as number) + gy1 * h1;
        db[j] = (db[j] as number) + gy0;
        db[j + 1] = (db[j + 1] as number) + gy1;
      }
      if (d2 < d) {
        const gy = dy[o + d2] as number;
        const h = ((x[o + d2] as number) - mu) * rs;
        const g = gy * (gamma[d2] as number);
        sg0 += g;
        sgx0 += g * h;
        dg[d2] = (dg[d2] as number) + gy * h;
        db[d2] = (db[d2] as number) + gy;
      }
      const a = (sg0 + sg1) / d;
      const b = (sgx0 + sgx1) / d;
      for (let j = 0; j < d; j++) {
        const h = ((x[o + j] as number) - mu) * rs;
        dx[o + j] = rs * ((dy[o + j] as number) * (gamma[j] as number) - a - h * b);
      }
    }
    dgamma.set(dg);
    dbeta.set(db);
  },
};

/** The tfjs-op formula, used on other backends and under HEADSTEER_FUSED=0. */
export function layerNormComposite(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, eps: number): tf.Tensor {
  const { mean, variance } = tf.moments(x, -1, true);
  return tf.add(tf.mul(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, eps))), gamma), beta);
}

/**
 * LayerNorm through the fused kernels; the current backend must be wasm or cpu.
 * x (..., D), gamma (D), beta (D), all float32 -> (..., D). Prefer `layerNorm`, which picks the path.
 */
export function layerNormFused(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, eps: number): tf.Tensor {
  ensureKernel(layerNormSpec);
  ensureKernel(layerNormGradSpec);
  const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const [xs, g, b, save] = args as [tf.Tensor, tf.Tensor, tf.Tensor, tf.GradSaveFunc];
    const [y, mean, rstd] = runFused(LAYER_NORM_KERNEL, { x: xs, gamma: g, beta: b }, { eps });
    save([xs, g, mean!, rstd!]);
    return {
      value: y!,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sx, sg, sm, sr] = saved as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
        return runFused(LAYER_NORM_GRAD_KERNEL, { dy, x: sx, gamma: sg, mean: sm, rstd: sr });
      },
    };
  });
  return op(x, gamma, beta);
}

/**
 * LayerNorm over the last axis: x (..., D), gamma (D), beta (D) -> (..., D). Fused kernels where
 * available (float32, rank-1 affine of width D), else the composite formula.
 */
export function layerNorm(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, eps: number): tf.Tensor {
  const d = x.shape[x.shape.length - 1];
  const fits =
    x.rank >= 1 && [x, gamma, beta].every((t) => t.dtype === 'float32') && gamma.rank === 1 && beta.rank === 1 && gamma.shape[0] === d && beta.shape[0] === d;
  return fits && useFused() ? layerNormFused(x, gamma, beta, eps) : layerNormComposite(x, gamma, beta, eps);
}
