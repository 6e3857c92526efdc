/**
 * Per-kernel time of one gated-ViT training step (forward, backward, AdamW), for finding what to
 * speed up next: `node dist/bench/profile.js [default|reference]`.
 */
import * as tf from '@tensorflow/tfjs';
import { initEngine } from '../src/engine/backend.js';
import { benchModels, kernelTable, trainStep } from './models.js';

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
const { totalMs, lines } = kernelTable(prof, 25);
process.stdout.write(`${which}: step ${total.toFixed(1)} ms (profiled), kernels ${totalMs.toFixed(1)} ms, ${prof.kernels.length} kernel calls\n`);
for (const line of lines) process.stdout.write(`${line}\n`);
