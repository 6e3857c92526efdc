/**
 * `headsteer report`: the static HTML report of a run (paper Figures 2-5, training figures, tables) into
 * `<run>/report/index.html`, with every figure also as SVG and PNG under `<run>/report/figures/`.
 */
import type { Command } from 'commander';

export function register(program: Command): void {
  program
    .command('report')
    .description("write <run>/report/index.html: the paper's figures and tables, each figure also as SVG and PNG")
    .option('--run <dir>', 'run folder', 'runs/default')
    .action(async (flags: { run: string }) => {
      // Loaded on use: vega, vega-lite and resvg would slow every other verb's start-up.
      const { buildReport } = await import('../../report/report.js');
      const { index, figures } = await buildReport(flags.run);
      process.stdout.write(`${index}: ${figures.length / 2} figures (SVG + PNG in ${flags.run}/report/figures/)\n`);
    });
}
