/**
 * One SAE training step (forward, backward, Adam, decoder renorm) at the paper's size:
 * D = 384 -> F = 3072, k = 64, batch 4096. Prints the median of 10 steps after 3 warm-up steps, for
 * the fused top-k kernel and for tf.topk + scatterND, without and with an active AuxK term
 * (1536 dead latents, k_aux 192), then the per-kernel profile of one step.
 *
 *   npx tsc -p tsconfig.json && node dist/bench/sae.js [--steps 10] [--no-profile]
 */
import * as tf from '@tensorflow/tfjs';
import { initEngine } from '../src/engine/backend.js';
import { rng } from '../src/random.js';
import { createAdamWState, disposeAdamWState } from '../src/train/adamw.js';
import { SparseAutoencoder } from '../src/sae/sae.js';
import { saeTrainStep, type SaeGradPath, type SaeStepOptions } from '../src/sae/train.js';
import type { TopKImpl } from '../src/sae/topk.js';
import { kernelTable } from './models.js';

const D = 384;
const F = 3072;
const K = 64;
const B = 4096;
const argSteps = process.argv.indexOf('--steps');
const STEPS = argSteps >= 0 ? Number(process.argv[argSteps + 1]) : 10;

const info = await initEngine();
process.stdout.write(`${info.notice}\n`);
const xData = rng(0, 'bench-sae').fill(new Float32Array(B * D), 'normal');
const x = tf.tensor2d(xData, [B, D]);
const sae = new SparseAutoencoder({ dIn: D, dSae: F, k: K }, { seed: 0 });
const params = sae.parameters();
const opt = createAdamWState(params);
const deadMask = new Float32Array(F);
for (let i = 0; i < F; i += 2) deadMask[i] = 1;
const noAux: SaeStepOptions = { lr: 1e-4, dead: null, kAux: D / 2, auxkAlpha: 1 / 32 };
const withAux: SaeStepOptions = { ...noAux, dead: { mask: deadMask, count: F / 2 } };

function median(v: number[]): number {
  const s = [...v].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function measure(impl: TopKImpl, grads: SaeGradPath, base: SaeStepOptions): { ms: number; all: number[] } {
  sae.topkImpl = impl;
  const o = { ...base, grads };
  for (let i = 0; i < 3; i++) saeTrainStep(sae, params, opt, x, o);
  const all: number[] = [];
  for (let i = 0; i < STEPS; i++) {
    const t0 = performance.now();
    saeTrainStep(sae, params, opt, x, o);
    all.push(performance.now() - t0);
  }
  return { ms: median(all), all };
}

const tensorsBefore = tf.memory().numTensors;
process.stdout.write(`| gradients | top-k | AuxK | median ms/step | samples/s | steps (ms) |\n|---|---|---|---|---|---|\n`);
for (const [grads, impl] of [
  ['sparse', 'kernel'],
  ['dense', 'kernel'],
  ['dense', 'tfjs'],
] as const) {
  for (const [label, o] of [
    ['off', noAux],
    ['on', withAux],
  ] as const) {
    const r = measure(impl, grads, o);
    process.stdout.write(
      `| ${grads} | ${impl} | ${label} | ${r.ms.toFixed(0)} | ${Math.round((B * 1000) / r.ms)} | ${r.all.map((t) => t.toFixed(0)).join(' ')} |\n`,
    );
  }
}
if (tf.memory().numTensors !== tensorsBefore) process.stdout.write(`WARNING: ${tf.memory().numTensors - tensorsBefore} tensors leaked\n`);

if (!process.argv.includes('--no-profile')) {
  for (const [label, o] of [
    ['AuxK off', noAux],
    ['AuxK on', withAux],
  ] as const) {
    sae.topkImpl = 'kernel';
    const prof = await tf.profile(() => {
      saeTrainStep(sae, params, opt, x, o);
    });
    const { totalMs, lines } = kernelTable(prof, 12);
    process.stdout.write(`\nprofile (sparse gradients, ${label}): kernels ${totalMs.toFixed(0)} ms in ${prof.kernels.length} calls\n`);
    for (const line of lines) process.stdout.write(`${line}\n`);
  }
}
disposeAdamWState(opt);
sae.dispose();
x.dispose();
