/**
 * `headsteer extract` (features of the pruned ViT, `--layers` for the block-input CLS of more steered
 * layers) and `headsteer sae` (top-k SAE on one layer's features, with reconstruction and, at the final
 * layer, splice-back metrics).
 */
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { runConfigOf } from '../../config.js';
import { extractStage } from '../../pipeline/extract.js';
import { saeStage, type SaeStageMetrics } from '../../pipeline/sae.js';
import { layerStageDir, STAGES, stageDir } from '../../run/layout.js';
import { loadFeaturesManifest } from '../../steer/features.js';
import { parseLayer, parseLayerSpec } from '../../steer/layers.js';
import { progressBar, type Progress } from '../progress.js';
import { collect, holdLock, lockFolder, refuseFinished, startEngine, withOverrides } from '../options.js';

/** The script each extraction replica runs (`extract.workers` > 1): src/cli/extract_replica.ts. */
export const EXTRACT_ENTRY = fileURLToPath(new URL('../extract_replica.js', import.meta.url));

export function printSaeMetrics(dir: string, m: SaeStageMetrics): void {
  const pt = (x: number): string => `${x >= 0 ? '+' : ''}${(100 * x).toFixed(2)} pt`;
  const s = m.spliceBack;
  process.stdout.write(
    `${dir}: FVU ${m.fvu.toFixed(4)}, MSE ${m.mse.toExponential(3)}, L0 ${m.l0.toFixed(1)}, dead ${(100 * m.deadFraction).toFixed(1)}%\n` +
      (s === undefined
        ? ''
        : `  splice-back: accuracy ${(100 * s.accuracy).toFixed(2)}% (${pt(s.deltaAccuracy)}), final-layer head usage ${s.headUsage.toFixed(3)} (${s.deltaHeadUsage >= 0 ? '+' : ''}${s.deltaHeadUsage.toFixed(3)})\n`),
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
    .option(
      '--layers <spec>',
      "steered layers whose block-input CLS to store too: 'final' (only x), 'all' gated layers, or indices like 0,2 (default: the config's steer.layers)",
    )
    .option('--workers <n>', "processes that share the forward passes (default: the config's extract.workers)")
    .option('--force', 'extract again over finished features in --out')
    .action(async (flags: { checkpoint?: string; out?: string; run: string; dataDir?: string; layers?: string; workers?: string; force?: boolean }) => {
      await startEngine();
      const checkpoint = flags.checkpoint ?? stageDir(flags.run, 'prune');
      const out = flags.out ?? stageDir(flags.run, 'extract');
      holdLock(lockFolder(flags.run, out), 'extract');
      refuseFinished(out, STAGES.extract.done(out), 'finished features', flags.force);
      let bar: Progress | null = null;
      let current = '';
      const manifest = await extractStage({
        checkpoint,
        out,
        replicaEntry: EXTRACT_ENTRY,
        ...(flags.layers === undefined ? {} : { layers: parseLayerSpec(flags.layers) }),
        overrides: (cfg) =>
          withOverrides(cfg, [
            ...(flags.dataDir === undefined ? [] : [`data.dataDir=${JSON.stringify(flags.dataDir)}`]),
            ...(flags.workers === undefined ? [] : [`extract.workers=${flags.workers}`]),
          ]),
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
      process.stdout.write(
        `${out}: ${manifest.train.count} train + ${manifest.test.count} test features (d = ${manifest.dim}${manifest.layers.length > 1 ? `; block-input CLS of layers ${manifest.layers.join(', ')}` : ''}); unsteered test accuracy ${(100 * manifest.test.accuracy).toFixed(2)}%, final-layer head usage ${manifest.test.finalHeadUsage.toFixed(3)}\n`,
      );
    });

  program
    .command('sae')
    .description('train a top-k sparse autoencoder on the extracted features; report FVU, L0, dead latents and splice-back')
    .option('--features <dir>', 'features folder (default: <run>/features)')
    .option('--out <dir>', 'SAE folder (default: <run>/sae, or <run>/layers/<l>/sae with --layer l)')
    .option('--run <dir>', 'run folder', 'runs/default')
    .option('--layer <l>', "the gated layer whose block-input CLS to train on (default: the final layer's, x)")
    .option('--set <key=value>', 'override a config value, e.g. --set sae.epochs=20 (repeatable)', collect, [])
    .option('--resume', 'continue an interrupted SAE training')
    .option('--force', 'discard a finished or interrupted SAE in the folder and train anew')
    .action(async (flags: { features?: string; out?: string; run: string; layer?: string; set: string[]; resume?: boolean; force?: boolean }) => {
      await startEngine();
      const features = flags.features ?? stageDir(flags.run, 'extract');
      const manifest = loadFeaturesManifest(features);
      const layer = flags.layer === undefined ? manifest.depth - 1 : parseLayer(flags.layer);
      const out = flags.out ?? layerStageDir(flags.run, 'sae', layer, manifest.depth - 1);
      const cfg = withOverrides(runConfigOf(manifest.checkpoint), flags.set);
      holdLock(lockFolder(flags.run, out), 'sae');
      const hooks = saeProgress();
      let metrics: SaeStageMetrics;
      try {
        metrics = await saeStage({ features, out, cfg, resume: flags.resume === true, force: flags.force === true, layer, hooks });
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
