/**
 * Median wall time of one gated-ViT training step (forward, backward, AdamW) and the implied
 * training throughput: `node dist/bench/step.js [default|reference|both] [steps]`.
 * Medians because the machine is shared: other jobs inflate single runs.
 */
import { initEngine } from '../src/engine/backend.js';
import { benchModels, trainStep } from './models.js';

const arg = process.argv[2] ?? 'both';
const which: Array<'default' | 'reference'> = arg === 'default' || arg === 'reference' ? [arg] : ['default', 'reference'];
const steps = Number(process.argv[3] ?? 10);
const info = await initEngine();
process.stdout.write(`${info.notice}\n`);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

for (const name of which) {
  const m = benchModels[name];
  const step = trainStep(m);
  for (let i = 0; i < 3; i++) step();
  const times: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < steps; i++) {
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    step();
    const c = process.cpuUsage(c0);
    times.push(performance.now() - t0);
    cpu.push((c.user + c.system) / 1000);
  }
  const med = median(times);
  // CPU time (all threads, so OpenBLAS's second core counts) is less sensitive to other jobs.
  process.stdout.write(`${name}: median step ${med.toFixed(1)} ms (min ${Math.min(...times).toFixed(1)}, ` +
    `max ${Math.max(...times).toFixed(1)}, ${steps} steps), ${(m.batch / med * 1000).toFixed(1)} images/s, ` +
    `median CPU ${median(cpu).toFixed(1)} ms/step\n`);
}
