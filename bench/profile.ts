/**
 * Where a step's time goes, for finding what to speed up next:
 * `node dist/bench/profile.js [vitTrain|vitInfer] [default|reference] [steps]`.
 * Two views of the same steps after warm-up:
 * - **CPU share by category**, from V8's sampling profiler (node:inspector) over `steps` steps: OpenBLAS
 *   sgemm for the linear layers, the attention core's per-head sgemm, headsteer's SIMD kernels, tfjs's
 *   own wasm kernels, the tfjs engine's JS, garbage collection, the rest. Samples are wall-clock on the
 *   main thread, so time it spends waiting for OpenBLAS's second thread counts as sgemm.
 * - **Per kernel** (`tf.profile` of one step): tfjs times each kernel and also reads every output back,
 *   which inflates kernels with large outputs; use it for counts and order, the categories for shares.
 */
import { Session } from 'node:inspector/promises';
import * as tf from '@tensorflow/tfjs';
import { initEngine } from '../src/engine/backend.js';
import { benchModels, inferStep, kernelTable, trainStep } from './models.js';

type Frame = { functionName: string; url: string };

/** The parts of a V8 `Profiler.Profile` read here. */
interface CpuProfile {
  nodes: Array<{ id: number; callFrame: Frame; children?: number[] }>;
  samples: number[];
  timeDeltas: number[];
}

const fileOf = (f: Frame): string => f.url.split('/').pop() ?? '';

/**
 * The category of a sample from its stack, innermost frame first. Native sgemm (nblas) and wasm frames
 * take the category of their nearest JS caller: runPlan is the linear layers, the attention kernel its
 * heads, tfjs-backend-wasm its own kernels, anything else headsteer's SIMD module.
 */
function category(stack: Frame[]): string {
  const [frame] = stack;
  if (frame === undefined) return 'other (node, idle, program)';
  if (frame.functionName === '(garbage collector)') return 'garbage collection';
  const native = frame.url === '' && frame.functionName === 'sgemm';
  if (native || frame.url.startsWith('wasm://')) {
    const caller = stack.find((f) => f.url !== '' && !f.url.startsWith('wasm://'));
    const file = caller === undefined ? '' : fileOf(caller);
    if (native) return file === 'attention_kernel.js' ? 'attention core, per-head sgemm (OpenBLAS)' : 'sgemm, linear layers (OpenBLAS)';
    return file.startsWith('tf-backend-wasm') ? 'tfjs-wasm kernels' : 'headsteer SIMD kernels';
  }
  const file = fileOf(frame);
  if (file.startsWith('tf-core')) return 'tfjs engine (JS)';
  if (file.startsWith('tf-backend-wasm')) return 'tfjs-wasm backend (JS)';
  if (frame.url.includes('/dist/src/')) return 'headsteer JS';
  return 'other (node, idle, program)';
}

/** Sampled time per category in ms, largest first. */
function categories(profile: CpuProfile): Array<[string, number]> {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const stackOf = (id: number): Frame[] => {
    const out: Frame[] = [];
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) out.push(byId.get(at)!.callFrame);
    return out;
  };
  const totals = new Map<string, number>();
  profile.samples.forEach((id, i) => {
    const key = category(stackOf(id));
    totals.set(key, (totals.get(key) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000);
  });
  return [...totals].sort((a, b) => b[1] - a[1]);
}

const item = process.argv[2] === 'vitInfer' ? 'vitInfer' : 'vitTrain';
const which = process.argv[3] === 'reference' ? 'reference' : 'default';
const steps = Number(process.argv[4] ?? 20);
const info = await initEngine();
process.stdout.write(`${info.notice}\n`);
const m = benchModels[which];
const step = item === 'vitTrain' ? trainStep(m) : inferStep(m);
for (let i = 0; i < 3; i++) step();

const session = new Session();
session.connect();
await session.post('Profiler.enable');
await session.post('Profiler.setSamplingInterval', { interval: 200 });
await session.post('Profiler.start');
const t0 = performance.now();
for (let i = 0; i < steps; i++) step();
const wall = (performance.now() - t0) / steps;
const { profile } = (await session.post('Profiler.stop')) as unknown as { profile: CpuProfile };
session.disconnect();
const rows = categories(profile);
const sampled = rows.reduce((s, [, ms]) => s + ms, 0);
process.stdout.write(`${item} ${which}: ${wall.toFixed(1)} ms per step (${steps} steps, profiler on)\n`);
for (const [name, ms] of rows) {
  process.stdout.write(`${((100 * ms) / sampled).toFixed(1).padStart(6)}%  ${(ms / steps).toFixed(1).padStart(7)} ms/step  ${name}\n`);
}

const prof = await tf.profile(() => {
  step();
});
const { totalMs, lines } = kernelTable(prof, 20);
process.stdout.write(`per kernel (tf.profile, one step): ${totalMs.toFixed(1)} ms in ${prof.kernels.length} kernel calls\n`);
for (const line of lines) process.stdout.write(`${line}\n`);
