/**
 * Per-kernel time of one gated-ViT training step (forward, backward, AdamW), for finding what to
 * speed up next: `node dist/bench/profile.js [default|reference]`.
 */
import * as tf from '@tensorflow/tfjs';
import { initEngine } from '../src/engine/backend.js';
import { benchModels, trainStep } from './models.js';

const which = process.argv[2] === 'reference' ? 'reference' : 'default';
const info = await initEngine();
process.stdout.write(`${info.notice}\n`);
const m = benchModels[which];
const step = trainStep(m);
for (let i = 0; i < 3; i++) step();
const t0 = performance.now();
const prof = await tf.profile(() => {
  step();
});
const total = performance.now() - t0;
const byKernel = new Map<string, { ms: number; calls: number }>();
for (const k of prof.kernels) {
  const e = byKernel.get(k.name) ?? { ms: 0, calls: 0 };
  e.ms += typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0;
  e.calls += 1;
  byKernel.set(k.name, e);
}
const rows = [...byKernel].sort((a, b) => b[1].ms - a[1].ms);
const kernelTotal = rows.reduce((s, [, e]) => s + e.ms, 0);
process.stdout.write(`${which}: step ${total.toFixed(1)} ms (profiled), kernels ${kernelTotal.toFixed(1)} ms, ${prof.kernels.length} kernel calls\n`);
for (const [name, e] of rows.slice(0, 25)) process.stdout.write(`${name.padEnd(24)} ${e.ms.toFixed(1).padStart(8)} ms ${String(e.calls).padStart(6)} calls\n`);
