/**
 * `headsteer extract` (features of the pruned ViT) and `headsteer sae` (top-k SAE on them, with
 * reconstruction and splice-back metrics).
 */
import type { Command } from 'commander';
import { extractStage } from '../../pipeline/extract.js';
import { saeStage, type SaeStageMetrics } from '../../pipeline/sae.js';
import { runConfigOf, stageDir } from '../../run/layout.js';
import { loadFeaturesManifest } from '../../steer/features.js';
import { progressBar, type Progress } from '../progress.js';
import { collect, startEngine, withOverrides } from '../options.js';

export function printSaeMetrics(dir: string, m: SaeStageMetrics): void {
  const pt = (x: number): string => `${x >= 0 ? '+' : ''}${(100 * x).toFixed(2)} pt`;
  process.stdout.write(
    `${dir}: FVU ${m.fvu.toFixed(4)}, MSE ${m.mse.toExponential(3)}, L0 ${m.l0.toFixed(1)}, dead ${(100 * m.deadFraction).toFixed(1)}%\n` +
      `  splice-back: accuracy ${(100 * m.spliceBack.accuracy).toFixed(2)}% (${pt(m.spliceBack.deltaAccuracy)}), final-layer head usage ${m.spliceBack.headUsage.toFixed(3)} (${m.spliceBack.deltaHeadUsage >= 0 ? '+' : ''}${m.spliceBack.deltaHeadUsage.toFixed(3)})\n`,
  );
}

export function register(program: Command): void {
  program
    .command('extract')
    .description('store the final block input CLS token (and the fast steering cache) of a pruned ViT for train and test')
    .option('--checkpoint <dir>', 'pruned checkpoint (default: <run>/pruned)')
    .option('--out <dir>', 'features folder (default: <run>/features)')
    .option('--run <dir>', 'run folder', 'runs/default')
    .option('--data-dir <folder>', 'folder holding the dataset files')
    .action(async (flags: { checkpoint?: string; out?: string; run: string; dataDir?: string }) => {
      await startEngine();
      const checkpoint = flags.checkpoint ?? stageDir(flags.run, 'prune');
      const out = flags.out ?? stageDir(flags.run, 'extract');
      let bar: Progress | null = null;
      let current = '';
      const manifest = extractStage({
        checkpoint,
        out,
        overrides: (cfg) => withOverrides(cfg, flags.dataDir === undefined ? [] : [`data.dataDir=${JSON.stringify(flags.dataDir)}`]),
        onProgress: (split, done, total) => {
          if (split !== current) {
            bar?.stop();
            bar = progressBar(`extract ${split}`.padEnd(13), total, []);
            current = split;
          }
          bar?.update(done, {});
        },
      });
      (bar as Progress | null)?.stop();
      process.stdout.write(`${out}: ${manifest.train.count} train + ${manifest.test.count} test features (d = ${manifest.dim}); unsteered test accuracy ${(100 * manifest.test.accuracy).toFixed(2)}%, final-layer head usage ${manifest.test.finalHeadUsage.toFixed(3)}\n`);
    });

  program
    .command('sae')
    .description('train a top-k sparse autoencoder on the extracted features; report FVU, L0, dead latents and splice-back')
    .option('--features <dir>', 'features folder (default: <run>/features)')
    .option('--out <dir>', 'SAE folder (default: <run>/sae)')
    .option('--run <dir>', 'run folder', 'runs/default')
    .option('--set <key=value>', 'override a config value, e.g. --set sae.epochs=20 (repeatable)', collect, [])
    .option('--resume', 'continue an interrupted SAE training')
    .action(async (flags: { features?: string; out?: string; run: string; set: string[]; resume?: boolean }) => {
      await startEngine();
      const features = flags.features ?? stageDir(flags.run, 'extract');
      const out = flags.out ?? stageDir(flags.run, 'sae');
      const manifest = loadFeaturesManifest(features);
      const cfg = withOverrides(runConfigOf(manifest.checkpoint), flags.set);
      const hooks = saeProgress();
      let metrics: SaeStageMetrics;
      try {
        metrics = await saeStage({ features, out, cfg, resume: flags.resume === true, hooks });
      } finally {
        hooks.done();
      }
      printSaeMetrics(out, metrics);
    });
}

/** Progress bar hooks for SAE training. */
export function saeProgress(): NonNullable<Parameters<typeof saeStage>[0]['hooks']> & { done(): void } {
  let bar: Progress | null = null;
  return {
    onStart: (total) => {
      bar = progressBar('sae     ', total, ['epoch', 'mse']);
    },
    onStep: (p) => bar?.update(p.step, { epoch: `epoch ${p.epoch + 1}`, mse: `mse ${p.mse.toExponential(2)}` }),
    onEpoch: (m) => bar?.log(`  epoch ${m.epoch}: FVU ${m.fvu.toFixed(4)}, L0 ${m.l0.toFixed(1)}, dead ${(100 * m.deadFraction).toFixed(1)}%`),
    done: () => bar?.stop(),
  };
}
