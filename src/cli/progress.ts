/**
 * Progress display for long stages: a live bar on a terminal, and plain periodic lines when output is
 * not a TTY (CI logs), via cli-progress's `noTTYOutput`.
 */
import cliProgress from 'cli-progress';

export interface Progress {
  update(done: number, fields: Record<string, string>): void;
  /** Print a line above the bar (the bar goes on below it). */
  log(line: string): void;
  stop(): void;
}

/** A bar for `total` units; `fields` names the extra values shown after the counter. */
export function progressBar(label: string, total: number, fields: readonly string[]): Progress {
  const extra = fields.map((f) => `{${f}}`).join(' | ');
  const bar = new cliProgress.SingleBar(
    {
      format: `${label} |{bar}| {value}/{total} | ${extra} | ETA {eta_formatted}`,
      noTTYOutput: true,
      notTTYSchedule: 10_000,
      etaBuffer: 50,
      hideCursor: true,
      barsize: 24,
    },
    cliProgress.Presets.shades_classic,
  );
  let last: Record<string, string> = Object.fromEntries(fields.map((f) => [f, '-']));
  let done = 0;
  let running = true;
  bar.start(total, 0, last);
  return {
    update: (value, values) => {
      done = value;
      last = values;
      bar.update(value, values);
    },
    log: (line) => {
      // On a terminal the live bar must be cleared first; plain periodic lines need no such dance.
      if (!process.stderr.isTTY) {
        process.stderr.write(`${line}\n`);
        return;
      }
      bar.stop();
      process.stderr.write(`${line}\n`);
      bar.start(total, done, last);
    },
    stop: () => {
      if (running) bar.stop();
      running = false;
    },
  };
}

/** Seconds as `1h02m03s` / `2m03s` / `3.2s`. */
export function formatDuration(seconds: number): string {
  if (seconds < 60) return `${seconds.toFixed(1)}s`;
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = `${String(s % 60).padStart(2, '0')}s`;
  return h > 0 ? `${h}h${String(m).padStart(2, '0')}m${rest}` : `${m}m${rest}`;
}
