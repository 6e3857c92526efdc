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
import { adamwInPlace, adamwUpdate, rangeTensor, sumOfSquares, wholeRange, type TensorRange } from '../engine/optimizer.js';

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
 * Every parameter's gradient in one flat vector, in the order of `adamwStep`'s params, anything after
 * them ignored: the replicas' average, which then never needs cutting into tensors.
 */
export class FlatGradients {
  constructor(readonly flat: tf.Tensor) {}
}

/** Gradients for `adamwStep`: by parameter name (a parameter without one is not updated), or flat. */
export type Gradients = Readonly<Record<string, tf.Tensor>> | FlatGradients;

/** Each updated parameter with where its gradient is. */
function gradientRanges(params: readonly Param[], grads: Gradients): Array<{ p: Param; g: TensorRange }> {
  if (grads instanceof FlatGradients) {
    const { flat } = grads;
    const total = params.reduce((n, p) => n + p.variable.size, 0);
    if (flat.size < total) throw new Error(`adamwStep: a flat gradient of ${flat.size} floats for parameters of ${total}`);
    let offset = 0;
    return params.map((p) => {
      const g = { tensor: flat, offset, size: p.variable.size };
      offset += p.variable.size;
      return { p, g };
    });
  }
  return params.filter((p) => grads[p.name] !== undefined).map((p) => ({ p, g: wholeRange(grads[p.name]!) }));
}

/**
 * One update. `lrOf` gives each parameter's learning rate for this step (param groups). Returns the
 * global gradient norm before clipping. On the wasm heap p, m and v are updated in place (`adamwInPlace`);
 * elsewhere, new tensors are assigned to them.
 */
export function adamwStep(params: readonly Param[], grads: Gradients, state: AdamWState, lrOf: (p: Param) => number, o: AdamWOptions): number {
  state.step += 1;
  const t = state.step;
  const bc1 = 1 - o.beta1 ** t;
  const bc2 = 1 - o.beta2 ** t;
  const ranges = gradientRanges(params, grads);
  const gradNorm = Math.sqrt(sumOfSquares(ranges.map((r) => r.g)));
  const scale = o.clipNorm > 0 && gradNorm > o.clipNorm ? o.clipNorm / gradNorm : 1;
  for (const { p, g } of ranges) {
    const lr = lrOf(p);
    const decay = p.decay && o.weightDecay > 0 ? 1 - lr * o.weightDecay : 1;
    const m = state.m.get(p.name)!;
    const v = state.v.get(p.name)!;
    const h = { scale, beta1: o.beta1, beta2: o.beta2, bc1, bc2, lr, decay, eps: o.eps };
    if (adamwInPlace(p.variable, g.tensor, g.offset, m, v, h)) continue;
    const grad = rangeTensor(g, p.variable.shape);
    const [pNew, mNew, vNew] = adamwUpdate(p.variable, grad, m, v, h);
    grad.dispose();
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
