/**
 * `headsteer latents`: one dashboard per SAE latent over the test set (docs/design.md "Latent
 * dashboards") -> latents/latents.json + thumbs.png; `--latent i` prints latent i's dashboard from them.
 */
import type { Command } from 'commander';
import { join } from 'node:path';
import { UserError } from '../../errors.js';
import { latentAt, loadLatents, type LatentDashboard, type LatentsFile } from '../../latents/file.js';
import { latentsStage } from '../../pipeline/latents.js';
import { STAGES, stageDir } from '../../run/layout.js';
import { progressBar } from '../progress.js';
import { collect, holdLock, lockFolder, refuseFinished, startEngine } from '../options.js';
import { paths, stageConfig, type PathFlags } from './steer.js';

interface LatentsFlags extends PathFlags {
  latent?: string;
}

const signed = (x: number, digits: number): string => `${x >= 0 ? '+' : ''}${x.toFixed(digits)}`;

/** One latent's dashboard as a few lines. */
export function formatLatent(file: LatentsFile, l: LatentDashboard): string {
  const name = (c: number): string => file.classNames[c] ?? String(c);
  const sets = [...l.sets.perClass.map((c) => `per-class ${name(c)}`), ...(l.sets.global ? ['global'] : []), ...(l.sets.random ? ['random'] : [])];
  return [
    `latent ${l.index}: fires on ${l.fires} of ${file.testCount} test images (density ${(100 * l.density).toFixed(2)}%), mean ${l.meanActive} max ${l.maxActive}`,
    `  most specific to ${l.topClass === null ? '-' : name(l.topClass)} (specificity ${l.specificity}); firing rate per class: ${l.classRates.map((r, c) => `${name(c)} ${(100 * r).toFixed(1)}%`).join(', ')}`,
    l.gate === null
      ? '  gate effect: none (never fires)'
      : `  gate effect at alpha ${file.alpha} (||d logit|| ${l.gate.effect}, usage ${signed(l.gate.usage, 3)}): ${l.gate.logit.map((v, h) => `h${h} ${signed(v, 3)}`).join(' ')}; linearised per unit: ${l.gate.linear.map((v, h) => `h${h} ${signed(v, 3)}`).join(' ')}`,
    `  top images: ${l.top.join(' ')}; random: ${l.random.join(' ')}`,
    `  index sets: ${sets.length === 0 ? 'none' : sets.join(', ')}`,
  ].join('\n');
}

/** Parse `--latent`: a non-negative integer (its range is checked against the file). */
function latentFlag(text: string): number {
  if (!/^\d+$/.test(text)) throw new UserError(`--latent must be a latent index (a non-negative integer); got '${text}'`);
  return Number(text);
}

export function register(program: Command): void {
  program
    .command('latents')
    .description('one dashboard per SAE latent over the test set: density, class histogram, top and random images, gate effect, index sets')
    .option('--run <dir>', 'run folder', 'runs/default')
    .option('--features <dir>', 'features folder (default: <run>/features)')
    .option('--sae <dir>', 'SAE folder (default: <run>/sae)')
    .option('--stats <dir>', 'statistics folder (default: <run>/stats)')
    .option('--out <dir>', 'dashboards folder (default: <run>/latents)')
    .option('--set <key=value>', 'override a config value, e.g. --set steer.mode=post (repeatable)', collect, [])
    .option('--latent <i>', 'print latent i from the dashboards already written instead of computing them')
    .option('--force', 'compute the dashboards again over finished ones in --out')
    .action(async (flags: LatentsFlags) => {
      const out = flags.out ?? stageDir(flags.run, 'latents');
      if (flags.latent !== undefined) {
        const i = latentFlag(flags.latent);
        const { file } = loadLatents(out);
        process.stdout.write(`${formatLatent(file, latentAt(file, i))}\n`);
        return;
      }
      holdLock(lockFolder(flags.run, out), 'latents');
      refuseFinished(out, STAGES.latents.done(out), 'finished latent dashboards (latents.json)', flags.force);
      await startEngine();
      const inputs = paths(flags);
      const cfg = stageConfig(inputs.features, flags.set);
      const t0 = performance.now();
      const bar = progressBar('latents ', 1, []);
      const r = latentsStage({
        ...inputs,
        out,
        cfg,
        onProgress: (n, total) => bar.update(n / total, {}),
      });
      bar.stop();
      printLatentsSummary(out, r, (performance.now() - t0) / 1000);
    });
}

/** Where the dashboards went, their size and time, and the latents with the largest gate effect. */
export function printLatentsSummary(out: string, r: ReturnType<typeof latentsStage>, seconds: number): void {
  const { file, bytes } = r;
  const fired = file.latents.filter((l) => l.gate !== null);
  const top = [...fired].sort((a, b) => b.gate!.effect - a.gate!.effect).slice(0, 5);
  process.stdout.write(
    `${join(out, 'latents.json')}: ${file.latents.length} latents (${fired.length} fire on the test set) in ${seconds.toFixed(1)} s; ` +
      `${(bytes.json / 1024).toFixed(0)} KiB + sprite ${(bytes.sprite / 1024).toFixed(0)} KiB (${file.sprite.images.length} images)\n` +
      `  largest gate effect: ${top.map((l) => `#${l.index} ${l.gate!.effect} (${l.topClass === null ? '-' : file.classNames[l.topClass]}, specificity ${l.specificity})`).join(', ')}\n`,
  );
}
