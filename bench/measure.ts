/**
 * One benchmark item in its own process (so peak RSS belongs to that item alone):
 * `node dist/bench/measure.js <vitTrain|vitInfer> <reference|default|paper> [reps [warmup]]` or
 * `node dist/bench/measure.js saeTrain - [reps]` prints `{ "perSec", "msPerStep", "peakRssMB" }` —
 * the median of `reps` timed steps after warm-up.
 */
import { initEngine } from '../src/engine/backend.js';
import { benchModels, inferStep, saeStep, SAE_BENCH, trainStep } from './models.js';

export interface Measurement {
  perSec: number;
  msPerStep: number;
  peakRssMB: number;
}

/** Median wall time of `reps` calls of `fn` after `warmup` untimed calls, in ms. */
export function medianMs(fn: () => void, reps: number, warmup: number): number {
  for (let i = 0; i < warmup; i++) fn();
  const times: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t = performance.now();
    fn();
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)]!;
}

const [item, config, repsArg] = process.argv.slice(2);
const reps = Number(repsArg ?? 7);
const warmup = Number(process.argv[5] ?? 2);
await initEngine();
let ms: number;
let perStep: number;
if (item === 'saeTrain') {
  ms = medianMs(saeStep(), reps, warmup);
  perStep = SAE_BENCH.batch;
} else {
  const m = benchModels[config === 'reference' || config === 'paper' ? config : 'default'];
  ms = item === 'vitTrain' ? medianMs(trainStep(m), reps, warmup) : medianMs(inferStep(m), reps, warmup);
  perStep = item === 'vitTrain' ? m.batch : m.inferBatch;
}
const result: Measurement = { perSec: (perStep * 1000) / ms, msPerStep: ms, peakRssMB: process.resourceUsage().maxRSS / 1024 };
process.stdout.write(`${JSON.stringify(result)}\n`);
