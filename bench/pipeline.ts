/**
 * The `pipeline` bench item: the main job (`headsteer run --preset default`, Fashion-MNIST) on a reduced
 * budget (PIPELINE_SETS) in a temporary run folder. Reports each stage's wall time and images per second,
 * and the whole job's wall time, user and system CPU, involuntary context switches and peak RSS.
 * headsteer only: PyTorch has no such job.
 *
 * A stage's time runs from `run`'s `[i/n] stage` line to its `[i/n] stage: done in` line, as this process
 * receives them (the child's stderr is a pipe, written synchronously); its images come from the run folder
 * (metrics.jsonl, the features manifest, steer/results.json). CPU time, context switches and each
 * process's peak RSS come from bench/rusage.ts, preloaded into the job's process and the replicas it
 * forks (training, extraction, steering); CPU and switches are summed, and the largest peak is kept.
 * The job's total memory is the largest sum over it and its replicas at one moment, sampled
 * (bench/tree_rss.ts).
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { sampleTreeRss } from './tree_rss.js';

/** The reduced budget: about 1/30 of the default pretraining, 1/15 of pruning and 1/10 of the SAE's epochs. */
export const PIPELINE_SETS = { 'pretrain.epochs': 0.2, 'prune.epochs': 0.1, 'sae.epochs': 5 } as const;

/** One stage: its wall time and, where it processes images, how many and what was counted. */
export interface StageTiming {
  stage: string;
  seconds: number;
  images: number | null;
  imagesPerSec: number | null;
  counted: string | null;
  /** A training stage's own loop rate (metrics.jsonl), without its evaluations and saving. */
  loopImagesPerSec: number | null;
}

export interface PipelineResult {
  sets: Record<string, number>;
  wallSeconds: number;
  userSeconds: number;
  systemSeconds: number;
  /** System time / (user + system): time spent in the kernel (spinning or yielding threads, page faults). */
  systemShare: number;
  involuntaryContextSwitches: number;
  /** The largest peak RSS of the job's processes (its own, or a replica's). */
  peakRssMB: number;
  /** The largest summed RSS of the job and its replicas at one moment (bench/tree_rss.ts, every 0.25 s). */
  peakRssTreeMB: number;
  /** How many processes the figures add up: the job's own and its replicas. */
  processes: number;
  stages: StageTiming[];
}

/** A line of `run`'s stderr that starts or finishes a stage, or null. */
export function stageEvent(line: string): { stage: string; event: 'start' | 'done' } | null {
  const m = /^\[\d+\/\d+\] (\w+)(?:: (.*))?$/.exec(line.trim());
  if (m === null) return null;
  const stage = m[1]!;
  const rest = m[2];
  if (rest === undefined || rest.endsWith('redoing it')) return { stage, event: 'start' };
  if (rest.startsWith('done in')) return { stage, event: 'done' };
  return null;
}

/** Seconds from each stage's start to its done line, in pipeline order, from lines stamped in ms. */
export function stageSeconds(lines: readonly { ms: number; line: string }[]): Array<{ stage: string; seconds: number }> {
  const started = new Map<string, number>();
  const out: Array<{ stage: string; seconds: number }> = [];
  for (const { ms, line } of lines) {
    const e = stageEvent(line);
    if (e?.event === 'start') started.set(e.stage, ms);
    const t0 = e === null ? undefined : started.get(e.stage);
    if (e?.event === 'done' && t0 !== undefined) out.push({ stage: e.stage, seconds: (ms - t0) / 1000 });
  }
  return out;
}

function readJson(file: string): unknown {
  return JSON.parse(readFileSync(file, 'utf8'));
}

/** A training stage's images and loop rate: its loop's last progress line (rate, and rate x time). */
function trained(metrics: string): { images: number; counted: string; loopPerSec: number } {
  const last = readFileSync(metrics, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { kind: string; imagesPerSec?: number; time?: number })
    .filter((r) => r.kind === 'train')
    .pop();
  const perSec = last?.imagesPerSec ?? 0;
  return { images: Math.round(perSec * (last?.time ?? 0)), counted: 'training images', loopPerSec: perSec };
}

/** What each image-processing stage processed, read from the finished run folder. */
function stageImages(run: string): Record<string, { images: number; counted: string; loopPerSec?: number }> {
  const manifest = readJson(join(run, 'features/manifest.json')) as { train: { count: number }; test: { count: number } };
  const sweeps = (readJson(join(run, 'steer/results.json')) as { sweeps: unknown[] }).sweeps.length;
  return {
    pretrain: trained(join(run, 'dense/metrics.jsonl')),
    prune: trained(join(run, 'pruned/metrics.jsonl')),
    extract: { images: manifest.train.count + manifest.test.count, counted: 'train + test images' },
    sae: { images: PIPELINE_SETS['sae.epochs'] * manifest.train.count, counted: 'epochs x train samples' },
    steer: { images: sweeps * manifest.test.count, counted: 'sweeps x test images' },
  };
}

/** Run the main job once on the reduced budget and time it. Throws with the job's last lines if it fails. */
export async function pipelineBench(): Promise<PipelineResult> {
  const run = mkdtempSync(join(tmpdir(), 'headsteer-bench-'));
  const rusageDir = join(run, 'rusage');
  mkdirSync(rusageDir);
  const sets = Object.entries(PIPELINE_SETS).flatMap(([k, v]) => ['--set', `${k}=${v}`]);
  const main = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
  const args = ['--import', new URL('./rusage.js', import.meta.url).href, main, 'run', '--preset', 'default', '--out', join(run, 'run'), ...sets];
  try {
    const t0 = performance.now();
    const child = spawn(process.execPath, args, { env: { ...process.env, HEADSTEER_BENCH_RUSAGE: rusageDir }, stdio: ['ignore', 'ignore', 'pipe'] });
    const memory = sampleTreeRss(child.pid!, 250);
    const lines: { ms: number; line: string }[] = [];
    createInterface({ input: child.stderr }).on('line', (line) => lines.push({ ms: performance.now(), line }));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    const peakRssTreeMB = memory.stop();
    const wallSeconds = (performance.now() - t0) / 1000;
    const usages = readdirSync(rusageDir).map((f) => readJson(join(rusageDir, f)) as NodeJS.ResourceUsage);
    if (code !== 0 || usages.length === 0)
      throw new Error(
        `main job exited with ${code}: ${lines
          .slice(-3)
          .map((l) => l.line)
          .join(' | ')}`,
      );
    const total = (key: 'userCPUTime' | 'systemCPUTime' | 'involuntaryContextSwitches'): number => usages.reduce((s, u) => s + u[key], 0);
    const images = stageImages(join(run, 'run'));
    const stages = stageSeconds(lines).map(({ stage, seconds }): StageTiming => {
      const w = images[stage];
      return {
        stage,
        seconds,
        images: w?.images ?? null,
        imagesPerSec: w === undefined ? null : w.images / seconds,
        counted: w?.counted ?? null,
        loopImagesPerSec: w?.loopPerSec ?? null,
      };
    });
    const userSeconds = total('userCPUTime') / 1e6;
    const systemSeconds = total('systemCPUTime') / 1e6;
    return {
      sets: { ...PIPELINE_SETS },
      wallSeconds,
      userSeconds,
      systemSeconds,
      systemShare: systemSeconds / (userSeconds + systemSeconds),
      involuntaryContextSwitches: total('involuntaryContextSwitches'),
      peakRssMB: Math.max(...usages.map((u) => u.maxRSS)) / 1024,
      peakRssTreeMB,
      processes: usages.length,
      stages,
    };
  } finally {
    rmSync(run, { recursive: true, force: true });
  }
}
