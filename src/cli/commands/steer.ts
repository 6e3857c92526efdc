/**
 * `headsteer stats` (latent frequencies, index sets, overlaps; `--layer` for a steered layer's SAE) and
 * `headsteer steer` (alpha sweeps of every strategy on the test set through the fast path ->
 * steer/results.json + results.csv; `--layers` for the every-layer sweep -> steer/layers.json).
 */
import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Config, runConfigOf } from '../../config.js';
import { UserError } from '../../errors.js';
import { layersStage } from '../../pipeline/layers.js';
import { statsStage, steerStage, targetStage, type BudgetResult } from '../../pipeline/steer.js';
import { layerStageDir, STAGES, stageDir } from '../../run/layout.js';
import { loadFeaturesManifest } from '../../steer/features.js';
import { parseLayer, parseLayerSpec } from '../../steer/layers.js';
import type { LayersResults } from '../../steer/layers_results.js';
import { parseAlphaGrid, type SteerResults } from '../../steer/results.js';
import { PAPER_ALPHA } from '../../steer/strategies.js';
import { progressBar } from '../progress.js';
import { collect, holdLock, lockFolder, refuseFinished, startEngine, withOverrides } from '../options.js';

/** The script each steering replica runs (`steer.workers` > 1): src/cli/steer_replica.ts. */
export const STEER_ENTRY = fileURLToPath(new URL('../steer_replica.js', import.meta.url));

export interface PathFlags {
  run: string;
  features?: string;
  sae?: string;
  stats?: string;
  out?: string;
  set: string[];
  force?: boolean;
}

export function paths(flags: PathFlags): { features: string; sae: string; stats: string } {
  return {
    features: flags.features ?? stageDir(flags.run, 'extract'),
    sae: flags.sae ?? stageDir(flags.run, 'sae'),
    stats: flags.stats ?? stageDir(flags.run, 'stats'),
  };
}

/** The run config of the features' checkpoint with overrides. */
export function stageConfig(features: string, overrides: string[]): Config {
  const manifest = loadFeaturesManifest(features);
  return withOverrides(runConfigOf(manifest.checkpoint), overrides);
}

/** Headline rows of a sweep: each strategy at the given alphas. */
export function printSteerSummary(dir: string, r: SteerResults, alphas: number[] = [-0.5, 0, PAPER_ALPHA]): void {
  const lines = [
    `${dir}: baseline accuracy ${(100 * r.baseline.accuracy).toFixed(2)}%, usage ${r.baseline.headUsage.toFixed(3)}; SAE reconstruction ${(100 * r.reconstruction.accuracy).toFixed(2)}%, ${r.reconstruction.headUsage.toFixed(3)}`,
  ];
  for (const s of r.sweeps) {
    if (alphas.includes(s.alpha))
      lines.push(
        `  ${s.strategy.padEnd(15)} alpha ${s.alpha.toFixed(1).padStart(4)}: accuracy ${(100 * s.accuracy).toFixed(2)}%, final-layer head usage ${s.headUsage.toFixed(3)}`,
      );
  }
  lines.push(`  overlap global vs per-class ${r.overlap.globalVsPerClass.toFixed(4)}`);
  if (r.topGainClasses.length > 0) {
    lines.push(
      `  top-gain classes: ${r.topGainClasses.map((c) => `${c.name} ${(100 * c.accuracyBefore).toFixed(0)}->${(100 * c.accuracyAfter).toFixed(0)}% (usage ${c.headUsageBefore.toFixed(2)}->${c.headUsageAfter.toFixed(2)})`).join(', ')}`,
    );
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}

/**
 * Per steered layer, what each knob does at its extreme params, measured from the layer's reconstruction
 * point (alpha = beta = 0): that layer's usage, total usage and accuracy.
 */
export function printLayersSummary(file: string, r: LayersResults): void {
  const lines = [
    `${file}: steering at layers ${r.layers.join(', ')} (unsteered: accuracy ${(100 * r.baseline.accuracy).toFixed(2)}%, total usage ${r.baseline.totalUsage.toFixed(3)})`,
  ];
  const signed = (v: number, digits: number): string => `${v >= 0 ? '+' : ''}${v.toFixed(digits)}`;
  for (const layer of r.layers) {
    const at = r.points.filter((p) => p.layer === layer);
    const origin = at.find((p) => p.param === 0);
    if (origin === undefined) continue;
    lines.push(
      `  layer ${layer}: reconstruction ${(100 * origin.accuracy).toFixed(2)}%, layer usage ${origin.layerUsage.toFixed(3)}, total usage ${origin.totalUsage.toFixed(3)}; change in layer usage / total usage / accuracy:`,
    );
    for (const knob of [...new Set(at.map((p) => p.knob))]) {
      const name = knob === 'threshold' ? 'beta' : 'alpha';
      const cells = at
        .filter((p) => p.knob === knob && p.param !== 0)
        .map(
          (p) =>
            `${name} ${p.param}: ${signed(p.layerUsage - origin.layerUsage, 3)} / ${signed(p.totalUsage - origin.totalUsage, 3)} / ${signed(100 * (p.accuracy - origin.accuracy), 2)} pt`,
        );
      lines.push(`    ${knob.padEnd(15)} ${cells.join('; ')}`);
    }
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}

/** A numeric flag, or a UserError naming it. */
function numberFlag(name: string, text: string): number {
  const v = Number(text);
  if (text.trim() === '' || !Number.isFinite(v)) throw new UserError(`${name} must be a number, got '${text}'`);
  return v;
}

/** The knobs at the target, one line each. */
function printBudget(r: BudgetResult): void {
  const where = r.className === undefined ? 'all test images' : `class ${r.className}`;
  const lines = [`final-layer head usage ${r.target} on ${where} (unsteered ${r.unsteered.toFixed(3)}):`];
  for (const p of r.points) {
    const name = p.knob === 'threshold' ? 'beta' : 'alpha';
    const status = p.reached ? '' : ` — not reached: ${p.note ?? ''}`;
    lines.push(
      `  ${p.knob.padEnd(15)} ${name} ${p.param.toFixed(3).padStart(8)}: usage ${p.usage.toFixed(3)}, accuracy ${(100 * p.accuracy).toFixed(2)}% (${p.evaluations} evaluations)${status}`,
    );
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}

export function register(program: Command): void {
  program
    .command('stats')
    .description('latent activation frequencies per class and global; index sets S per strategy and their overlaps')
    .option('--run <dir>', 'run folder', 'runs/default')
    .option('--features <dir>', 'features folder (default: <run>/features)')
    .option('--sae <dir>', 'SAE folder (default: <run>/sae)')
    .option('--out <dir>', 'statistics folder (default: <run>/stats, or <run>/layers/<l>/stats with --layer l)')
    .option('--layer <l>', "the gated layer whose SAE to count, on that layer's features (default: the final layer)")
    .option('--set <key=value>', 'override a config value, e.g. --set steer.ks=32 (repeatable)', collect, [])
    .option('--force', 'count again over finished statistics in --out')
    .action(async (flags: PathFlags & { layer?: string }) => {
      await startEngine();
      const p = paths(flags);
      const finalLayer = loadFeaturesManifest(p.features).depth - 1;
      const layer = flags.layer === undefined ? finalLayer : parseLayer(flags.layer);
      const sae = flags.sae ?? layerStageDir(flags.run, 'sae', layer, finalLayer);
      const out = flags.out ?? (flags.layer === undefined ? p.stats : layerStageDir(flags.run, 'stats', layer, finalLayer));
      holdLock(lockFolder(flags.run, out), 'stats');
      refuseFinished(out, STAGES.stats.done(out), 'finished statistics', flags.force);
      const s = statsStage({ features: p.features, sae, out, cfg: stageConfig(p.features, flags.set), layer });
      process.stdout.write(`${join(out, 'stats.json')}: k_s ${s.ks}; overlap global vs per-class ${s.overlap.globalVsPerClass.toFixed(4)} (paper: 0.1641)\n`);
    });

  program
    .command('steer')
    .description('sweep alpha for each steering strategy; accuracy and final-layer head usage per class and head')
    .option('--run <dir>', 'run folder', 'runs/default')
    .option('--features <dir>', 'features folder (default: <run>/features)')
    .option('--sae <dir>', 'SAE folder (default: <run>/sae)')
    .option('--stats <dir>', 'statistics folder (default: <run>/stats)')
    .option('--out <dir>', 'results folder (default: <run>/steer)')
    .option('--alphas <grid>', 'alpha grid: start:end:step or a list, e.g. -1:1.5:0.1 or 0,0.5,1.2')
    .option('--strategies <list>', 'comma-separated: per-class,global,random,predicted-class')
    .option('--mode <mode>', "'pre' (scale pre-activations, re-apply TopK), 'post' (scale z) or 'add'")
    .option('--target <target>', "'gate' (x~ feeds the final decision network only) or 'residual' (x~ also replaces the CLS residual)")
    .option('--keep-error', 'feed x + x~ - x_hat (keep the SAE error term)')
    .option('--workers <n>', "processes that share the sweep and its controls (default: the config's steer.workers)")
    .option('--set <key=value>', 'override a config value (repeatable)', collect, [])
    .option(
      '--target-usage <U>',
      'instead of the sweep: find, per strategy and for the threshold shift, the alpha or beta at which final-layer head usage is U, and the accuracy there',
    )
    .option('--class <index>', 'with --target-usage: match the usage of this class, on its test images only')
    .option('--force', 'sweep again over finished results in --out (results.json, or layers.json with --layers)')
    .option(
      '--layers <spec>',
      "instead of the final-layer sweep: steer at 'all' gated layers or at indices like 1,3, a forward per configuration, with each layer's SAE and statistics from the run folder -> steer/layers.json",
    )
    .action(
      async (
        flags: PathFlags & {
          alphas?: string;
          strategies?: string;
          mode?: string;
          target?: string;
          keepError?: boolean;
          workers?: string;
          targetUsage?: string;
          class?: string;
          layers?: string;
        },
      ) => {
        await startEngine();
        const p = paths(flags);
        const sets = [...flags.set];
        if (flags.alphas !== undefined) sets.push(`steer.alphas=${JSON.stringify(parseAlphaGrid(flags.alphas))}`);
        if (flags.strategies !== undefined) sets.push(`steer.strategies=${JSON.stringify(flags.strategies.split(',').map((x) => x.trim()))}`);
        if (flags.mode !== undefined) sets.push(`steer.mode=${JSON.stringify(flags.mode)}`);
        if (flags.target !== undefined) sets.push(`steer.target=${JSON.stringify(flags.target)}`);
        if (flags.keepError === true) sets.push('steer.keepError=true');
        if (flags.workers !== undefined) sets.push(`steer.workers=${flags.workers}`);
        const out = flags.out ?? stageDir(flags.run, 'steer');
        const cfg = stageConfig(p.features, sets);
        if (flags.targetUsage !== undefined) {
          printBudget(
            targetStage({
              ...p,
              cfg,
              targetUsage: numberFlag('--target-usage', flags.targetUsage),
              ...(flags.class === undefined ? {} : { cls: numberFlag('--class', flags.class) }),
            }),
          );
          return;
        }
        if (flags.class !== undefined) throw new UserError('--class goes with --target-usage (the sweep always reports every class)');
        holdLock(lockFolder(flags.run, out), 'steer');
        if (flags.layers !== undefined) {
          refuseFinished(out, existsSync(join(out, 'layers.json')), 'a finished every-layer sweep (layers.json)', flags.force);
          const layers = parseLayerSpec(flags.layers);
          const bar = progressBar('layers  ', 1, []);
          let r: LayersResults;
          try {
            r = layersStage({ run: flags.run, out, cfg, layers, onProgress: (done, total) => bar.update(done / total, {}) });
          } finally {
            bar.stop();
          }
          printLayersSummary(join(out, 'layers.json'), r);
          return;
        }
        refuseFinished(out, STAGES.steer.done(out), 'finished steering results (results.json)', flags.force);
        const bar = progressBar('steer   ', 1, []);
        let results: SteerResults;
        try {
          results = await steerStage({ ...p, out, cfg, replicaEntry: STEER_ENTRY, onProgress: (done, total) => bar.update(done / total, {}) });
        } finally {
          bar.stop();
        }
        printSteerSummary(out, results);
      },
    );
}
