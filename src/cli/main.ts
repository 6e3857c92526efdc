#!/usr/bin/env node
/**
 * The `headsteer` command line: one verb per pipeline stage (docs/design.md "Pipeline and run folder").
 * Each verb lives in `src/cli/commands/<verb>.ts` and exports `register(program)`; this file only wires
 * them up and turns user-facing errors (bad input, and filesystem errors such as a full disk) into one
 * clear line and a non-zero exit.
 */
import { Command } from 'commander';
import { fsErrorLine, UserError } from '../errors.js';
import { register as registerData } from './commands/data.js';
import { register as registerEval } from './commands/eval.js';
import { register as registerExplore } from './commands/explore.js';
import { register as registerFeatures } from './commands/features.js';
import { register as registerLatents } from './commands/latents.js';
import { register as registerReport } from './commands/report.js';
import { register as registerRun } from './commands/run.js';
import { register as registerSteer } from './commands/steer.js';
import { register as registerTimm } from './commands/timm.js';
import { register as registerTrain } from './commands/train.js';

const program = new Command();
program.name('headsteer').description('Interpretable, controllable dynamic attention-head pruning in ViTs with sparse autoencoders').showHelpAfterError();
registerRun(program);
registerData(program);
registerTrain(program);
registerEval(program);
registerTimm(program);
registerFeatures(program);
registerLatents(program);
registerSteer(program);
registerReport(program);
registerExplore(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof UserError) {
    process.stderr.write(`headsteer: ${err.message}\n`);
    process.exit(2);
  }
  // A filesystem error (disk full, read-only folder, --out a file ...) is the environment, not a bug.
  const line = fsErrorLine(err);
  if (line !== undefined) {
    process.stderr.write(`headsteer: ${line}\n`);
    process.exit(2);
  }
  throw err;
}
