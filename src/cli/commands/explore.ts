/**
 * `headsteer explore --run <dir> [--port N] [--queue N]`: serve the interactive steering explorer (src/explore/) for a
 * finished run on 127.0.0.1, print its URL, and on SIGINT/SIGTERM close the server, free the tensors and
 * exit 0.
 */
import type { Command } from 'commander';
import { requireFreshRun } from '../../run/provenance.js';
import { UserError } from '../../errors.js';
import { DEFAULT_PORT, DEFAULT_QUEUE, startExplorer } from '../../explore/server.js';
import { startEngine } from '../options.js';

interface ExploreFlags {
  run: string;
  port: string;
  queue: string;
}

function parsePort(raw: string): number {
  const n = /^\d+$/.test(raw) ? Number(raw) : Number.NaN;
  if (!Number.isInteger(n) || n > 65535) throw new UserError(`--port must be an integer in [0, 65535] (0 picks a free port); got '${raw}'`);
  return n;
}

export function register(program: Command): void {
  program
    .command('explore')
    .description('interactive page on 127.0.0.1: steer SAE latents and watch which final-layer heads are kept')
    .option('--run <dir>', 'finished run folder (with steer/results.json)', 'runs/default')
    .option('--port <n>', 'port on 127.0.0.1 (0 picks a free one)', String(DEFAULT_PORT))
    .option('--queue <n>', 'off-grid computations waiting at once before new ones get 503 (0: precomputed grid only)', String(DEFAULT_QUEUE))
    .action(async (flags: ExploreFlags) => {
      const port = parsePort(flags.port);
      const queue = /^\d+$/.test(flags.queue) ? Number(flags.queue) : Number.NaN;
      if (!Number.isSafeInteger(queue)) throw new UserError(`--queue must be an integer >= 0; got '${flags.queue}'`);
      await startEngine();
      requireFreshRun(flags.run);
      const explorer = await startExplorer({ run: flags.run, port, queue });
      process.stdout.write(`headsteer explorer for ${flags.run}: ${explorer.url}  (Ctrl-C to stop)\n`);
      await new Promise<void>((resolve) => {
        const stop = (signal: NodeJS.Signals): void => {
          process.stderr.write(`\n${signal}: stopping the explorer\n`);
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          void explorer.close().then(resolve, resolve);
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      });
      process.exit(0);
    });
}
