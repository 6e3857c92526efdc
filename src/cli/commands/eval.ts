/** `headsteer eval --checkpoint <dir>`: test accuracy, per-class accuracy, head usage, FLOPs, random-policy baseline -> <dir>/eval.json. */
import type { Command } from 'commander';
import { dirname, join } from 'node:path';
import { loadRunData, parseConfig } from '../../config.js';
import { evaluateReport } from '../../eval/full_forward.js';
import { writeJsonAtomic } from '../../io/atomic.js';
import { requireDataInfo } from '../../model/checkpoint.js';
import { loadStageViT } from '../../run/layout.js';
import { holdLock, withOverrides, startEngine } from '../options.js';

export function register(program: Command): void {
  program
    .command('eval')
    .description('evaluate a checkpoint on its test set and write eval.json next to it')
    .requiredOption('--checkpoint <dir>', 'checkpoint folder, e.g. runs/default/pruned')
    .option('--data-dir <folder>', 'folder holding the dataset files')
    .action(async (flags: { checkpoint: string; dataDir?: string }) => {
      await startEngine();
      const { model, config } = loadStageViT(flags.checkpoint);
      holdLock(dirname(flags.checkpoint), 'eval');
      try {
        requireDataInfo(flags.checkpoint, config);
        const saved = parseConfig(config.run, join(flags.checkpoint, 'config.json'));
        const cfg = withOverrides(saved, flags.dataDir === undefined ? [] : [`data.dataDir=${JSON.stringify(flags.dataDir)}`]);
        const report = evaluateReport(model, loadRunData(cfg), cfg.eval.batchSize, cfg.seed);
        const out = join(flags.checkpoint, 'eval.json');
        writeJsonAtomic(out, report);
        const random =
          report.randomPolicy === undefined
            ? ''
            : `; random policy ${(100 * report.randomPolicy.accuracy).toFixed(2)}% at usage ${report.randomPolicy.headUsage.overall.toFixed(3)}`;
        const f = report.flops;
        const flops = `; ${(f.pruned / 1e6).toFixed(2)} MFLOPs per image skipping pruned heads (dense ${(f.dense / 1e6).toFixed(2)}, ${(100 * f.savedFraction).toFixed(1)}% saved)`;
        process.stdout.write(`accuracy ${(100 * report.accuracy).toFixed(2)}%, head usage ${report.headUsage.overall.toFixed(3)}${random}${flops} -> ${out}\n`);
      } finally {
        model.dispose();
      }
    });
}
