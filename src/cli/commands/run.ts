/**
 * `headsteer run`: the main job. Chains the stages of DESIGN.md that exist so far (data -> pretrain ->
 * prune -> eval) on one run folder, skipping stages whose output is complete and resuming interrupted
 * ones, so rerunning after an interruption continues where it stopped.
 */
import type { Command } from 'commander';
import { join } from 'node:path';
import { readJson } from '../../io/atomic.js';
import type { EvalReport } from '../../eval/evaluate.js';
import { loadRunData, runPath, stageStatus } from '../../pipeline/common.js';
import { pretrainStage, pruneStage, type TrainStageResult } from '../../pipeline/train.js';
import { formatDuration } from '../progress.js';
import { configFromFlags, runDir, startEngine, type TrainFlags } from '../options.js';
import { printResult, trainProgress } from './train.js';

type RunFlags = Pick<TrainFlags, 'preset' | 'out' | 'set' | 'dataDir'>;

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

export function register(program: Command): void {
  program
    .command('run')
    .description('the full pipeline on one run folder, resuming where it stopped: data, pretrain, prune, eval')
    .option('--preset <name>', 'config preset: smoke, default, mnist, paper', 'default')
    .option('--out <run>', 'run folder (default: runs/<preset>)')
    .option('--set <key=value>', 'override a config value, e.g. --set prune.rho=0.6 (repeatable)', collect, [])
    .option('--data-dir <folder>', 'folder holding the dataset files')
    .action(async (flags: RunFlags) => {
      const t0 = performance.now();
      await startEngine();
      const run = runDir(flags);
      const cfg = configFromFlags({ ...flags }, 'pretrain');
      const ds = loadRunData(cfg);
      process.stderr.write(`[1/3] data: ${ds.name}, ${ds.train.count} train / ${ds.test.count} test images from ${ds.source}\n`);

      for (const [i, stage] of [[2, 'pretrain'], [3, 'prune']] as const) {
        const dir = runPath(run, stage === 'pretrain' ? 'dense' : 'pruned');
        const status = stageStatus(dir);
        if (status.state === 'complete') {
          process.stderr.write(`[${i}/3] ${stage}: already complete in ${dir}, skipped\n`);
          continue;
        }
        process.stderr.write(`[${i}/3] ${stage}\n`);
        const hooks = trainProgress();
        const resume = status.state === 'interrupted';
        let result: TrainStageResult;
        try {
          result = stage === 'pretrain' ? await pretrainStage({ run, cfg, resume, force: false, hooks }) : await pruneStage({ run, resume, force: false, hooks });
        } finally {
          hooks.done();
        }
        printResult(result);
      }

      const dense = readJson(join(runPath(run, 'dense'), 'eval.json'), 'dense evaluation') as EvalReport;
      const pruned = readJson(join(runPath(run, 'pruned'), 'eval.json'), 'pruned evaluation') as EvalReport;
      const pct = (x: number): string => `${(100 * x).toFixed(2)}%`;
      process.stdout.write(
        [
          '',
          `run folder: ${run} (${formatDuration((performance.now() - t0) / 1000)})`,
          `  dense ViT:    accuracy ${pct(dense.accuracy)}`,
          `  pruned ViT:   accuracy ${pct(pruned.accuracy)} at head usage ${pruned.headUsage.overall.toFixed(3)} (${pct(1 - pruned.headUsage.overall)} of heads pruned)`,
          ...(pruned.randomPolicy === undefined ? [] : [`  random policy: accuracy ${pct(pruned.randomPolicy.accuracy)} at head usage ${pruned.randomPolicy.headUsage.overall.toFixed(3)}`]),
          `  details: ${join(runPath(run, 'pruned'), 'eval.json')}`,
          '',
        ].join('\n'),
      );
    });
}
