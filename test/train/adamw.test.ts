/**
 * AdamW: matches a hand-computed update, decays only `decay` params, restores state, leaks nothing; a
 * flat gradient vector gives the same bits as named gradients on every path (in place on the wasm heap,
 * the JS kernel, the cpu backend).
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initEngine } from '../../src/engine/backend.js';
import { variableFrom, type Param } from '../../src/model/layers.js';
import { ADAMW_DEFAULTS, adamwStep, createAdamWState, disposeAdamWState, exportAdamWState, FlatGradients, importAdamWState } from '../../src/train/adamw.js';
import { values, withEnv } from '../engine/helpers.js';

before(async () => {
  await initEngine();
});

test('two AdamW steps equal the closed form; state round-trips; no tensors leak', () => {
  const before = tf.memory().numTensors;
  const w: Param = { name: 'w', variable: variableFrom(tf.tensor1d([1, -2])), decay: true };
  const b: Param = { name: 'b', variable: variableFrom(tf.tensor1d([0.5])), decay: false };
  const params = [w, b];
  const state = createAdamWState(params);
  const o = { ...ADAMW_DEFAULTS, weightDecay: 0.1 };
  const lr = 0.01;
  const g = [0.3, -0.4, 2];
  for (let t = 1; t <= 2; t++) {
    tf.tidy(() => adamwStep(params, { w: tf.tensor1d([g[0]!, g[1]!]), b: tf.tensor1d([g[2]!]) }, state, () => lr, o));
  }
  // Closed form for a constant gradient: m_hat = g, v_hat = g^2, so each step moves by lr * sign(g) (+ decay).
  const expect = (p0: number, gi: number, decay: boolean): number => {
    let p = p0;
    for (let t = 0; t < 2; t++) p = (decay ? p * (1 - lr * 0.1) : p) - (lr * gi) / (Math.abs(gi) + 1e-8);
    return p;
  };
  const wv = w.variable.dataSync();
  const bv = b.variable.dataSync();
  assert.ok(Math.abs(wv[0]! - expect(1, 0.3, true)) < 1e-6);
  assert.ok(Math.abs(wv[1]! - expect(-2, -0.4, true)) < 1e-6);
  assert.ok(Math.abs(bv[0]! - expect(0.5, 2, false)) < 1e-6, 'biases are not decayed');

  const saved = exportAdamWState(state);
  const restored = createAdamWState(params);
  importAdamWState(restored, saved, state.step, 'optimizer.safetensors');
  assert.deepEqual(restored.m.get('w')!.dataSync(), state.m.get('w')!.dataSync());
  assert.equal(restored.step, 2);
  disposeAdamWState(state);
  disposeAdamWState(restored);
  w.variable.dispose();
  b.variable.dispose();
  assert.equal(tf.memory().numTensors, before);
});

/** Three steps of two parameters (shapes (5, 3) and (7,)) from fixed values; final p, m, v of each. */
function threeSteps(gradients: (g: Float32Array[]) => Parameters<typeof adamwStep>[1]): Float32Array[] {
  const shapes = [[5, 3], [7]];
  const params: Param[] = shapes.map((shape, i) => ({
    name: `p${i}`,
    variable: variableFrom(
      tf.tensor(
        values(
          shape.reduce((a, d) => a * d, 1),
          i,
        ),
        shape,
      ),
    ),
    decay: i === 0,
  }));
  const state = createAdamWState(params);
  for (let t = 0; t < 3; t++) {
    const g = params.map((p, i) => values(p.variable.size, 10 * t + i + 2, -2, 2));
    tf.tidy(() => adamwStep(params, gradients(g), state, (p) => (p.decay ? 1e-2 : 3e-3), { ...ADAMW_DEFAULTS, weightDecay: 0.05, clipNorm: 1 }));
  }
  const out = params.flatMap((p) => [p.variable, state.m.get(p.name)!, state.v.get(p.name)!].map((t) => t.dataSync() as Float32Array));
  disposeAdamWState(state);
  for (const p of params) p.variable.dispose();
  return out;
}

for (const [label, backend, simdEnv] of [
  ['wasm SIMD, in place', 'wasm', undefined],
  ['wasm JS loop', 'wasm', '0'],
  ['cpu', 'cpu', undefined],
] as const) {
  test(`a flat gradient vector updates as named gradients do (${label}), clipping included`, async () => {
    await tf.setBackend(backend);
    try {
      const before = tf.memory().numTensors;
      withEnv('HEADSTEER_SIMD', simdEnv, () => {
        const named = threeSteps((g) => ({ p0: tf.tensor(g[0]!, [5, 3]), p1: tf.tensor(g[1]!, [7]) }));
        const flat = threeSteps((g) => new FlatGradients(tf.tensor1d([...g[0]!, ...g[1]!, 42])));
        named.forEach((want, k) => {
          assert.deepEqual(flat[k], want, `p${Math.floor(k / 3)} ${'pmv'[k % 3]}`);
        });
      });
      assert.equal(tf.memory().numTensors, before);
    } finally {
      await tf.setBackend('wasm');
    }
  });
}
