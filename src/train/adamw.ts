/**
 * AdamW (Loshchilov & Hutter) with decoupled weight decay, per-parameter learning-rate groups,
 * optional global-norm clipping, and state that round-trips through a checkpoint.
 * Not tf.train's optimizers: those have neither decoupled decay, param groups, nor saveable state
 * in the form we need. The update per parameter tensor is one fused kernel (engine/optimizer.ts).
 */
import * as tf from '@tensorflow/tfjs';
import type { TensorData } from '../io/safetensors.js';
import { variableFrom, type Param } from '../model/layers.js';
import { UserError } from '../errors.js';
import { adamwUpdate, sumOfSquares } from '../engine/optimizer.js';

export interface AdamWOptions {
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  clipNorm: number; // 0 = off
}

export const ADAMW_DEFAULTS: AdamWOptions = { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, clipNorm: 0 };

/** First and second moments per parameter, plus the step count (for bias correction). */
export interface AdamWState {
  step: number;
  m: Map<string, tf.Variable>;
  v: Map<string, tf.Variable>;
}

export function createAdamWState(params: readonly Param[]): AdamWState {
  const zeros = (p: Param): tf.Variable => variableFrom(tf.zerosLike(p.variable), false);
  return {
    step: 0,
    m: new Map(params.map((p) => [p.name, zeros(p)])),
    v: new Map(params.map((p) => [p.name, zeros(p)])),
  };
}

/**
 * One update. `grads` maps parameter names to gradients; `lrOf` gives each parameter's learning rate
 * for this step (param groups). Returns the global gradient norm before clipping.
 */
export function adamwStep(
  params: readonly Param[],
  grads: Readonly<Record<string, tf.Tensor>>,
  state: AdamWState,
  lrOf: (p: Param) => number,
  o: AdamWOptions,
): number {
  state.step += 1;
  const t = state.step;
  const bc1 = 1 - o.beta1 ** t;
  const bc2 = 1 - o.beta2 ** t;
  const present = params.filter((p) => grads[p.name] !== undefined);
  const gradNorm = Math.sqrt(sumOfSquares(present.map((p) => grads[p.name]!)));
  const scale = o.clipNorm > 0 && gradNorm > o.clipNorm ? o.clipNorm / gradNorm : 1;
  for (const p of present) {
    const lr = lrOf(p);
    const decay = p.decay && o.weightDecay > 0 ? 1 - lr * o.weightDecay : 1;
    const m = state.m.get(p.name)!;
    const v = state.v.get(p.name)!;
    const [pNew, mNew, vNew] = adamwUpdate(p.variable, grads[p.name]!, m, v, { scale, beta1: o.beta1, beta2: o.beta2, bc1, bc2, lr, decay, eps: o.eps });
    for (const [target, value] of [
      [p.variable, pNew],
      [m, mNew],
      [v, vNew],
    ] as const) {
      target.assign(value!);
      value!.dispose();
    }
  }
  return gradNorm;
}

/** Moments as named tensors (`m.<param>`, `v.<param>`) for `optimizer.safetensors`. */
export function exportAdamWState(state: AdamWState): Map<string, TensorData> {
  const out = new Map<string, TensorData>();
  for (const [kind, map] of [
    ['m', state.m],
    ['v', state.v],
  ] as const) {
    for (const [name, t] of map) out.set(`${kind}.${name}`, { dtype: 'F32', shape: t.shape, data: (t.dataSync() as Float32Array).slice() });
  }
  return out;
}

/** Restore moments saved by `exportAdamWState`; every parameter must be present with its shape. */
export function importAdamWState(state: AdamWState, saved: Map<string, TensorData>, step: number, file: string): void {
  state.step = step;
  for (const [kind, map] of [
    ['m', state.m],
    ['v', state.v],
  ] as const) {
    for (const [name, t] of map) {
      const s = saved.get(`${kind}.${name}`);
      if (s === undefined || !(s.data instanceof Float32Array) || s.data.length !== t.size) {
        throw new UserError(`${file}: optimizer state for '${name}' is missing or has the wrong size; start over with --force`);
      }
      const data = s.data;
      tf.tidy(() => t.assign(tf.tensor(data, t.shape)));
    }
  }
}

export function disposeAdamWState(state: AdamWState): void {
  for (const t of [...state.m.values(), ...state.v.values()]) t.dispose();
}
