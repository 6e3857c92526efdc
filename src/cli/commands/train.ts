/**
 * `headsteer pretrain` (dense ViT -> <run>/dense/), `headsteer finetune` (<run>/dense/, imported or
 * pretrained, fitted to the run's data -> <run>/finetuned/) and `headsteer prune` (AdaViT gates, joint
 * fine-tune -> <run>/pruned/), with a progress bar showing loss, accuracy and head usage.
 */
import type { Command } from 'commander';
import { fileURLToPath } from 'node:url';
import { finetuneStage, pretrainStage, pruneStage, type TrainHooks, type TrainStageResult } from '../../pipeline/train.js';
import { formatDuration, progressBar, type Progress } from '../progress.js';
import { addTrainFlags, configFromFlags, flagOverrides, holdLock, runDir, startEngine, withOverrides, type TrainFlags } from '../options.js';

/** The script each data-parallel training replica runs (`workers` > 1): src/cli/replica.ts. */
export const REPLICA_ENTRY = fileURLToPath(new URL('../replica.js', import.meta.url));

/** Progress-bar hooks for a training stage; `done()` closes the bar. */
function trainProgress(): TrainHooks & { done(): void } {
  let bar: Progress | null = null;
  return {
    onStart: ({ stage, dir, totalSteps, startStep, notes }) => {
      for (const note of notes) process.stderr.write(`${stage}: ${note}\n`);
      process.stderr.write(`${stage}: ${startStep > 0 ? `resuming at step ${startStep}` : 'starting'}, ${totalSteps} steps -> ${dir}\n`);
      bar = progressBar(stage.padEnd(8), totalSteps, ['epoch', 'loss', 'acc', 'heads', 'speed']);
      bar.update(startStep, { epoch: '-', loss: '-', acc: '-', heads: '-', speed: '-' });
    },
    onStep: (p) =>
      bar?.update(p.step, {
        epoch: `epoch ${p.epoch + 1}`,
        loss: `loss ${p.loss.toFixed(3)}`,
        acc: `acc ${(100 * p.accuracy).toFixed(1)}%`,
        heads: `heads ${p.headUsage.toFixed(2)}`,
        speed: `${p.imagesPerSec.toFixed(0)} img/s`,
      }),
    onEpoch: (s) => bar?.log(`  epoch ${s.epoch}: test accuracy ${(100 * s.test.accuracy).toFixed(2)}%, head usage ${s.test.headUsage.overall.toFixed(3)}`),
    done: () => bar?.stop(),
  };
}

/** Run a training stage under a progress bar, then print its result. */
export async function trainWithProgress(start: (hooks: TrainHooks) => Promise<TrainStageResult>): Promise<void> {
  const hooks = trainProgress();
  let result: TrainStageResult;
  try {
    result = await start(hooks);
  } finally {
    hooks.done();
  }
  printResult(result);
}

function printResult(r: TrainStageResult): void {
  const e = r.eval;
  const lines = [
    `${r.dir}: test accuracy ${(100 * e.accuracy).toFixed(2)}%, head usage ${e.headUsage.overall.toFixed(3)} (per layer ${e.headUsage.perLayer.map((u) => u.toFixed(2)).join(' ')}), ${formatDuration(r.seconds)}`,
  ];
  if (e.randomPolicy !== undefined) {
    lines.push(
      `  random policy at the same usage: accuracy ${(100 * e.randomPolicy.accuracy).toFixed(2)}%, head usage ${e.randomPolicy.headUsage.overall.toFixed(3)}`,
    );
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}

/** The action of a stage that takes its config from the flags (pretrain, finetune; prune reads <run>/dense/'s). */
function configuredStage(stage: 'pretrain' | 'finetune', run: typeof pretrainStage): (flags: TrainFlags) => Promise<void> {
  return async (flags) => {
    await startEngine();
    const overrides = flagOverrides(flags, stage);
    const cfg = configFromFlags(flags, stage);
    holdLock(runDir(flags), stage);
    await trainWithProgress((hooks) =>
      run({
        run: runDir(flags),
        cfg,
        overrides: (cfg) => withOverrides(cfg, overrides),
        resume: flags.resume === true,
        force: flags.force === true,
        hooks,
        replicaEntry: REPLICA_ENTRY,
      }),
    );
  };
}

export function register(program: Command): void {
  addTrainFlags(program.command('pretrain').description('train a dense ViT classifier (no gates) into <run>/dense/'), 'pretrain')
    .option('--preset <name>', 'config preset: smoke, default, mnist, paper', 'default')
    .action(configuredStage('pretrain', pretrainStage));

  addTrainFlags(
    program
      .command('finetune')
      .description(
        "fine-tune <run>/dense/ (from import-timm or pretrain) on the run's data into <run>/finetuned/: a new head when the classes differ, the input resized as model.imgSize says",
      ),
    'finetune',
  )
    .option('--preset <name>', 'config preset: smoke, default, mnist, paper (the architecture comes from <run>/dense/)', 'default')
    .action(configuredStage('finetune', finetuneStage));

  addTrainFlags(
    program.command('prune').description('add a decision network per layer and fine-tune ViT + gates toward a head-usage target into <run>/pruned/'),
    'prune',
  )
    .option('--preset <name>', 'preset whose run folder to use when --out is not given (the config comes from <run>/dense/)', 'default')
    .action(async (flags: TrainFlags) => {
      await startEngine();
      const overrides = flagOverrides(flags, 'prune');
      holdLock(runDir(flags), 'prune');
      await trainWithProgress((hooks) =>
        pruneStage({
          run: runDir(flags),
          resume: flags.resume === true,
          force: flags.force === true,
          hooks,
          replicaEntry: REPLICA_ENTRY,
          overrides: (cfg) => withOverrides(cfg, overrides),
        }),
      );
    });
}
