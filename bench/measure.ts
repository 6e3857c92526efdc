/**
 * One benchmark item in its own process (so peak RSS belongs to that item alone):
 * `node dist/bench/measure.js <vitTrain|vitInfer> <reference|default|paper> [reps [warmup]]` or
 * `node dist/bench/measure.js saeTrain - [reps]` prints `{ "perSec", "msPerStep", "peakRssMB" }` —
 * the median of `reps` timed steps after warm-up; `node dist/bench/measure.js headSkip <config> [reps]`
 * prints head_skip.ts's `HeadSkipResult` (30 single images per rep, 3 batch-256 forwards per path, 2 when quick).
 */
import { initEngine } from '../src/engine/backend.js';
import { headSkip } from './head_skip.js';
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
/** One timed item: the median step time in ms and the images (or samples) per step. */
function timed(): { ms: number; perStep: number } {
  if (item === 'saeTrain') return { ms: medianMs(saeStep(), reps, warmup), perStep: SAE_BENCH.batch };
  const m = benchModels[config === 'reference' || config === 'paper' ? config : 'default'];
  if (item === 'vitTrain') return { ms: medianMs(trainStep(m), reps, warmup), perStep: m.batch };
  return { ms: medianMs(inferStep(m), reps, warmup), perStep: m.inferBatch };
}

if (item === 'headSkip') {
  const r = headSkip(benchModels[config === 'reference' ? 'reference' : 'default'], 30 * reps, reps > 3 ? 3 : 2);
  process.stdout.write(`${JSON.stringify(r)}\n`);
} else {
  const { ms, perStep } = timed();
  const result: Measurement = { perSec: (perStep * 1000) / ms, msPerStep: ms, peakRssMB: process.resourceUsage().maxRSS / 1024 };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}
