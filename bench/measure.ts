/**
 * One benchmark item in its own process (so peak RSS belongs to that item alone):
 * `node dist/bench/measure.js <vitTrain|vitInfer> <reference|default|paper> [reps [warmup [minSeconds]]]` or
 * `node dist/bench/measure.js saeTrain - [reps [warmup [minSeconds]]]` prints `{ "perSec", "msPerStep",
 * "steps", "peakRssMB", "threads" }` — the median step time over at least `reps` timed steps and `minSeconds` after
 * warm-up, and the thread counts the process ran with; `node dist/bench/measure.js headSkip <config> [reps]`
 * prints head_skip.ts's `HeadSkipResult` (30 single images per rep, 3 batch-256 forwards per path, 2 when quick).
 */
import { availableParallelism } from 'node:os';
import { getThreadsCount } from '@tensorflow/tfjs-backend-wasm';
import { initEngine } from '../src/engine/backend.js';
import { headSkip } from './head_skip.js';
import { median } from './interleave.js';
import { benchModels, inferStep, saeStep, SAE_BENCH, trainStep } from './models.js';

/** The threads one headsteer process computes on: OpenBLAS's (null on the XNNPACK path) and tfjs-wasm's. */
export interface OursThreads {
  blasThreads: number | null;
  /** Where the OpenBLAS count comes from: the variable OpenBLAS read, or its default of one per core. */
  blasSource: string;
  wasmThreads: number;
}

export interface Measurement {
  perSec: number;
  msPerStep: number;
  /** Timed steps whose median `msPerStep` is. */
  steps: number;
  peakRssMB: number;
  threads: OursThreads;
}

/**
 * OpenBLAS's thread count as OpenBLAS itself picks it at load: OPENBLAS_NUM_THREADS, else GOTO_NUM_THREADS,
 * else OMP_NUM_THREADS, else one per core. Read after the engine started, so a value the engine set counts.
 */
export function openblasThreads(env: NodeJS.ProcessEnv, cores: number): { threads: number; source: string } {
  for (const name of ['OPENBLAS_NUM_THREADS', 'GOTO_NUM_THREADS', 'OMP_NUM_THREADS']) {
    const n = Number.parseInt(env[name] ?? '', 10);
    if (n > 0) return { threads: Math.min(n, cores), source: name };
  }
  return { threads: cores, source: 'default (one per core)' };
}

/**
 * Median wall time of the timed calls of `fn`, in ms, and their count: after `warmup` untimed calls, at
 * least `reps` calls and as many more as fill `minMs` (short steps are many, so one slow step weighs little).
 */
export function medianMs(fn: () => void, reps: number, warmup: number, minMs = 0): { ms: number; steps: number } {
  for (let i = 0; i < warmup; i++) fn();
  const times: number[] = [];
  const t0 = performance.now();
  while (times.length < reps || performance.now() - t0 < minMs) {
    const t = performance.now();
    fn();
    times.push(performance.now() - t);
  }
  return { ms: median(times), steps: times.length };
}

const [item, config, repsArg, warmupArg, minSecondsArg] = process.argv.slice(2);
const reps = Number(repsArg ?? 7);
const warmup = Number(warmupArg ?? 2);
const minMs = 1000 * Number(minSecondsArg ?? 0);
const engine = await initEngine();
const blas = openblasThreads(process.env, availableParallelism());
const threads: OursThreads = {
  blasThreads: engine.matmul === 'openblas' ? blas.threads : null,
  blasSource: engine.matmul === 'openblas' ? blas.source : 'XNNPACK matmul',
  wasmThreads: getThreadsCount(),
};
/** One timed item: the median step time in ms, the timed steps and the images (or samples) per step. */
function timed(): { ms: number; steps: number; perStep: number } {
  if (item === 'saeTrain') return { ...medianMs(saeStep(), reps, warmup, minMs), perStep: SAE_BENCH.batch };
  const m = benchModels[config === 'reference' || config === 'paper' ? config : 'default'];
  if (item === 'vitTrain') return { ...medianMs(trainStep(m), reps, warmup, minMs), perStep: m.batch };
  return { ...medianMs(inferStep(m), reps, warmup, minMs), perStep: m.inferBatch };
}

if (item === 'headSkip') {
  const r = headSkip(benchModels[config === 'reference' ? 'reference' : 'default'], 30 * reps, reps > 3 ? 3 : 2);
  process.stdout.write(`${JSON.stringify(r)}\n`);
} else {
  const { ms, steps, perStep } = timed();
  const result: Measurement = { perSec: (perStep * 1000) / ms, msPerStep: ms, steps, peakRssMB: process.resourceUsage().maxRSS / 1024, threads };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}
