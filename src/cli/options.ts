/**
 * Flags shared by the training verbs, and turning them into a validated run config:
 * `--preset` picks a named preset, `--set key.path=value` (repeatable) overrides any config value
 * (unknown keys fail), and the common per-stage knobs have their own flags.
 */
import type { Command } from 'commander';
import { dirname, relative, isAbsolute } from 'node:path';
import { applyOverrides, resolveConfig, type Config } from '../config.js';
import { initEngine } from '../engine/backend.js';
import type { TrainStage } from '../run/layout.js';
import { lockRun } from '../run/lock.js';
import { UserError } from '../errors.js';

export interface TrainFlags {
  preset: string;
  out?: string;
  set: string[];
  dataDir?: string;
  epochs?: string;
  lr?: string;
  batchSize?: string;
  resume?: boolean;
  force?: boolean;
}

/** commander accumulator for a repeatable flag such as `--set`. */
export function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** Add the config and run-folder flags to a training verb. */
export function addTrainFlags(cmd: Command, stage: TrainStage): Command {
  return cmd
    .option('--out <run>', 'run folder (default: runs/<preset>)')
    .option('--set <key=value>', 'override a config value, e.g. --set prune.rho=0.6 (repeatable)', collect, [])
    .option('--data-dir <folder>', 'folder holding the dataset files')
    .option('--epochs <n>', `${stage} epochs`)
    .option('--lr <x>', `${stage} peak learning rate`)
    .option('--batch-size <n>', `${stage} batch size`)
    .option('--resume', 'continue an interrupted run from its last checkpoint')
    .option('--force', 'discard existing output of this stage and start over');
}

/** The overrides the flags stand for, as `key.path=value` strings. */
export function flagOverrides(flags: TrainFlags, stage: TrainStage): string[] {
  const sets = [...flags.set];
  if (flags.epochs !== undefined) sets.push(`${stage}.epochs=${flags.epochs}`);
  if (flags.lr !== undefined) sets.push(`${stage}.lr=${flags.lr}`);
  if (flags.batchSize !== undefined) sets.push(`${stage}.batchSize=${flags.batchSize}`);
  if (flags.dataDir !== undefined) sets.push(`data.dataDir=${JSON.stringify(flags.dataDir)}`);
  return sets;
}

export function configFromFlags(flags: TrainFlags, stage: TrainStage): Config {
  return resolveConfig(flags.preset, flagOverrides(flags, stage));
}

export function withOverrides(cfg: Config, overrides: string[]): Config {
  return overrides.length === 0 ? cfg : applyOverrides(cfg, overrides, `config of preset '${cfg.preset}'`);
}

export function runDir(flags: { out?: string; preset: string }): string {
  return flags.out ?? `runs/${flags.preset}`;
}

/** Start the engine and say which compute path is in use (one line on stderr). */
export async function startEngine(): Promise<void> {
  const info = await initEngine();
  process.stderr.write(`${info.notice}\n`);
}

/**
 * Take the lock of the folder a writing verb works in (src/run/lock.ts) until the process exits; says so
 * when it took over the lock of a process that is gone.
 */
export function holdLock(folder: string, verb: string): void {
  const lock = lockRun(folder, verb);
  process.on('exit', lock.release);
  const h = lock.tookOver;
  if (h !== undefined) process.stderr.write(`${folder}: took over the lock of pid ${h.pid} (${h.verb}), which is no longer running\n`);
}

/**
 * A stage verb's guard against redoing finished output (`done`) without `--force`: one line naming the
 * folder. `headsteer run` calls the stages directly and redoes a stale one without asking.
 */
export function refuseFinished(out: string, done: boolean, what: string, force: boolean | undefined): void {
  if (done && force !== true) throw new UserError(`${out} already holds ${what}; pass --force to compute it again`);
}

/** The folder whose lock a stage verb takes: the run folder when `out` lies inside it, else `out`'s parent. */
export function lockFolder(run: string, out: string): string {
  const rel = relative(run, out);
  return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel) ? run : dirname(out);
}
