/**
 * The `vitTrainDP` bench item's headsteer side: data-parallel training as the product runs it, `prune`
 * with `prune.workers=2` (2 replica processes, 1 OpenBLAS thread each) on the default preset's gated ViT
 * and Fashion-MNIST, vitTrain.default's model and batch. PyTorch's side is DistributedDataParallel over
 * the same 2 processes (torch_reference.py `vitTrainDP.default`).
 *
 * A measurement is one `prune --force` of PRUNE_EPOCHS in a run folder whose dense model (one step of
 * pretraining) is made once. Its figure is the training loop's images per second between step
 * WARMUP_STEPS and the last, from metrics.jsonl: whole steps over their wall time, the exchange's waits
 * included, the first steps (compilation, first allocations) and the final evaluation not.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { resolveConfig } from '../src/config.js';

const PRUNE_EPOCHS = 0.25;
const WARMUP_STEPS = 10;

const cli = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));

/** Training-loop images/s between step `from` and the last step logged in a metrics.jsonl. */
export function loopRate(metricsJsonl: string, batchSize: number, from: number): { perSec: number; steps: number } {
  const rows = metricsJsonl
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { kind: string; step: number; time?: number })
    .filter((r) => r.kind === 'train' && r.time !== undefined);
  const start = rows.find((r) => r.step === from);
  const end = rows.at(-1);
  if (start === undefined || end === undefined || end.step <= from) throw new Error(`metrics.jsonl logs no training step after step ${from}`);
  return { perSec: ((end.step - from) * batchSize) / (end.time! - start.time!), steps: end.step - from };
}

/** A run folder with a dense model, and a function that times one data-parallel prune in it. */
export function replicaTrainer(workers: number): { measure: () => { perSec: number; steps: number }; dispose: () => void } {
  const run = mkdtempSync(join(tmpdir(), 'headsteer-bench-dp-'));
  const cliRun = (args: string[]): void => {
    execFileSync(process.execPath, [cli, ...args, '--preset', 'default', '--out', run], { stdio: ['ignore', 'ignore', 'pipe'] });
  };
  cliRun(['pretrain', '--epochs', '0.002', '--set', 'pretrain.workers=1']);
  return {
    measure: () => {
      cliRun(['prune', '--force', '--set', `prune.epochs=${PRUNE_EPOCHS}`, '--set', `prune.workers=${workers}`]);
      return loopRate(readFileSync(join(run, 'pruned', 'metrics.jsonl'), 'utf8'), resolveConfig('default').prune.batchSize, WARMUP_STEPS);
    },
    dispose: () => rmSync(run, { recursive: true, force: true }),
  };
}
