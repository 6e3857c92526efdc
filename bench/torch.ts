/**
 * The PyTorch side of the bench: bench/torch_reference.py (Debian python3-torch) in a fresh process per
 * call. `calibrateTorch` tries its thread settings once per item, `timeTorch` times one round at the
 * setting pinned from that calibration.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

const PYTHON = '/usr/bin/python3';

/** Torch's intra-op (OpenMP) threads and OpenBLAS's threads (null: PyTorch is not on OpenBLAS). */
export interface TorchThreads {
  torchThreads: number;
  blasThreads: number | null;
}

/** One timed run: throughput at the given threads, and the process's peak RSS. */
export interface TorchRun extends TorchThreads {
  perSec: number;
  medianStepMs: number;
  /** Timed steps whose median `medianStepMs` is. */
  reps: number;
  peakRssMB: number;
}

/** What a calibration found: the fastest setting and every setting's figures, with PyTorch's BLAS. */
export interface TorchCalibration {
  best: TorchThreads;
  byThreads: Record<string, TorchRun>;
  torch: string;
  blas: Record<string, unknown>;
}

/** Steps per process: untimed `warmup`, then at least `reps` timed and as many more as fill `minSeconds` (their median counts). */
export interface Steps {
  warmup: number;
  reps: number;
  minSeconds: number;
}

/** The command-line flags of `steps` for torch_reference.py. */
function stepArgs(steps: Steps): string[] {
  return ['--warmup', String(steps.warmup), '--reps', String(steps.reps), '--min-seconds', String(steps.minSeconds)];
}

/** Why the PyTorch reference cannot run here, or null when it can. */
export function torchUnavailable(root: string): string | null {
  if (!existsSync(PYTHON)) return `${PYTHON} not found`;
  if (!existsSync(join(root, 'bench/torch_reference.py'))) return 'bench/torch_reference.py not found';
  return null;
}

/** Run torch_reference.py with `args`; its one JSON line, or throw with its last error lines. */
function reference<T>(root: string, args: string[], env: NodeJS.ProcessEnv): T {
  const r = spawnSync(PYTHON, [join(root, 'bench/torch_reference.py'), ...args], { encoding: 'utf8', env });
  if (r.status !== 0) throw new Error(`torch reference ${args.join(' ')} failed: ${r.stderr.trim().split('\n').slice(-3).join(' ')}`);
  const parsed = JSON.parse(r.stdout.trim().split('\n').pop()!) as T & { error?: string };
  if (parsed.error !== undefined) throw new Error(parsed.error);
  return parsed;
}

/**
 * Try each thread setting of torch_reference.py's THREADS on `item` in one process; the fastest is pinned.
 * @param blasEnv OpenBLAS variables to run PyTorch with (headsteer's engine's, so both sides share them).
 */
export function calibrateTorch(root: string, item: string, steps: Steps, blasEnv: Record<string, string>): TorchCalibration {
  return reference<TorchCalibration>(root, ['--item', item, '--calibrate', ...stepArgs(steps)], { ...process.env, ...blasEnv });
}

/**
 * One timed run of `item` at `threads`, with `blasEnv` as in calibrateTorch. OPENBLAS_NUM_THREADS and
 * OMP_NUM_THREADS are set to the pinned counts too, so that neither pool starts more threads than it uses.
 */
export function timeTorch(root: string, item: string, threads: TorchThreads, steps: Steps, blasEnv: Record<string, string>): TorchRun {
  const env: NodeJS.ProcessEnv = { ...process.env, ...blasEnv, OMP_NUM_THREADS: String(threads.torchThreads) };
  const args = ['--item', item, '--threads', String(threads.torchThreads), ...stepArgs(steps)];
  if (threads.blasThreads !== null) {
    env['OPENBLAS_NUM_THREADS'] = String(threads.blasThreads);
    args.push('--blas-threads', String(threads.blasThreads));
  }
  return reference<TorchRun>(root, args, env);
}

/** `torch 1, OpenBLAS 2` */
export function describeTorchThreads(t: TorchThreads): string {
  return `torch ${t.torchThreads}, OpenBLAS ${t.blasThreads ?? '-'}`;
}
