/**
 * The explorer under load (issue 14): `node dist/bench/explore_load.js <run> [offGrid=200] [queue]` starts
 * `headsteer explore` on the run in its own process, fires `offGrid` parallel /api/point requests at
 * distinct off-grid alphas, and while they are outstanding keeps 4 clients asking for precomputed grid
 * points and one loading the page. Prints JSON: status counts and latency percentiles (ms) per kind.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const CLI = join(dirname(fileURLToPath(import.meta.url)), '../src/cli/main.js');
const [run, offArg, queueArg] = process.argv.slice(2);
if (run === undefined) throw new Error('usage: explore_load.js <run> [offGrid] [queue]');
const offGrid = Number(offArg ?? 200);

const child = spawn(process.execPath, [CLI, 'explore', '--run', run, '--port', '0', ...(queueArg === undefined ? [] : ['--queue', queueArg])], {
  stdio: ['ignore', 'pipe', 'inherit'],
});
const url = await new Promise<string>((resolve) => {
  let out = '';
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString('utf8');
    const m = /(http:\/\/127\.0\.0\.1:\d+\/)/.exec(out);
    if (m) resolve(m[1]!);
  });
});

interface Sample {
  ms: number;
  status: number;
  /** ms from the start of the burst to the request. */
  at: number;
}

async function timedGet(path: string): Promise<Sample> {
  const t = performance.now();
  const res = await fetch(new URL(path, url));
  await res.arrayBuffer();
  return { ms: performance.now() - t, status: res.status, at: t - started };
}

function summary(samples: Sample[]): Record<string, number> {
  const ms = samples.map((s) => s.ms).sort((a, b) => a - b);
  const q = (p: number): number => Math.round(ms[Math.min(ms.length - 1, Math.floor(p * ms.length))] ?? Number.NaN);
  const counts: Record<string, number> = {};
  for (const s of samples) counts[`s${s.status}`] = (counts[`s${s.status}`] ?? 0) + 1;
  const worst = samples.reduce((a, b) => (b.ms > a.ms ? b : a));
  return { n: samples.length, ...counts, p50: q(0.5), p99: q(0.99), max: q(1), maxAt: Math.round(worst.at) };
}

let started = performance.now();
const results = JSON.parse(readFileSync(join(run, 'steer', 'results.json'), 'utf8')) as { sweeps: Array<{ strategy: string; alpha: number }> };
const grid = results.sweeps.map((s) => `/api/point?strategy=${s.strategy}&alpha=${s.alpha}`);
const strategies = [...new Set(results.sweeps.map((s) => s.strategy))];
// Distinct alphas none of which is on a grid of 0.05 steps.
const off = Array.from({ length: offGrid }, (_, k) => `/api/point?strategy=${strategies[k % strategies.length]}&alpha=${(-0.99 + k * 0.01237).toFixed(5)}`);

started = performance.now();
let done = false;
const offDone = Promise.all(off.map(timedGet)).then((s) => {
  done = true;
  return s;
});
const probe = async (paths: string[]): Promise<Sample[]> => {
  const out: Sample[] = [];
  for (let i = 0; !done; i++) out.push(await timedGet(paths[i % paths.length]!));
  return out;
};
const [offSamples, ...probes] = await Promise.all([offDone, probe(grid), probe(grid), probe(grid), probe(grid), probe(['/'])]);
const wall = performance.now() - started;
const pageSamples = probes.pop()!;
process.stdout.write(
  `${JSON.stringify({ offGrid: summary(offSamples), precomputed: summary(probes.flat()), page: summary(pageSamples), wallMs: Math.round(wall) }, null, 1)}\n`,
);
child.kill('SIGTERM');
