/**
 * `headsteer report`: the static HTML report of a run (paper Figures 2-5, training figures, tables) into
 * `<run>/report/index.html`, with every figure also as SVG and PNG under `<run>/report/figures/`.
 * `headsteer compare`: the steering effect across several finished runs (e.g. seeds) into `<out>/`.
 */
import type { Command } from 'commander';
import { requireFreshRun } from '../../run/provenance.js';
import { holdLock } from '../options.js';

export function register(program: Command): void {
  program
    .command('report')
    .description("write <run>/report/index.html: the paper's figures and tables, each figure also as SVG and PNG")
    .option('--run <dir>', 'run folder', 'runs/default')
    .action(async (flags: { run: string }) => {
      holdLock(flags.run, 'report');
      requireFreshRun(flags.run);
      // Loaded on use: vega, vega-lite and resvg would slow every other verb's start-up.
      const { buildReport } = await import('../../report/report.js');
      const { index, figures } = await buildReport(flags.run);
      process.stdout.write(`${index}: ${figures.length / 2} figures (SVG + PNG in ${flags.run}/report/figures/)\n`);
    });
  program
    .command('compare')
    .description('compare the steering effect across finished runs (e.g. seeds): <out>/index.html and comparison.json')
    .argument('<runs...>', 'two or more run folders that have steer/results.json')
    .option('--out <dir>', 'output folder', 'runs/compare')
    .addHelpText(
      'after',
      '\nExample:\n  headsteer run --set seed=1 --set sae.seed=1 --out runs/seed1\n  headsteer compare runs/default runs/seed1 --out runs/compare',
    )
    .action(async (runs: string[], flags: { out: string }) => {
      const { writeComparison } = await import('../../report/compare.js');
      const { index, json } = await writeComparison(runs, flags.out);
      process.stdout.write(`${index} (data: ${json})\n`);
    });
}
