/**
 * `npm run bench`: headsteer's training and inference speed next to the PyTorch CPU reference
 * (bench/torch_reference.py, Debian python3-torch) on the same machine. Each item runs in its own
 * process (peak RSS per item); prints a table and writes bench/results.json. Installs nothing.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeJsonAtomic } from '../src/io/atomic.js';
import type { Measurement } from './measure.js';

const here = dirname(fileURLToPath(import.meta.url)); // dist/bench
const root = join(here, '../..');
const quick = process.argv.includes('--quick');

interface Row {
  perSec: number;
  torchPerSec: number | null;
  ratio: number | null;
  peakRssMB: number;
  torchThreads?: number;
}

function measure(item: string, config: string): Measurement {
  const out = execFileSync(process.execPath, [join(here, 'measure.js'), item, config, quick ? '3' : '7'], { encoding: 'utf8', env: process.env });
  return JSON.parse(out.trim().split('\n').pop()!) as Measurement;
}

interface TorchItem {
  perSec: number;
  threads: number;
}
type TorchResults = Record<string, TorchItem | Record<string, TorchItem>> & { error?: string; version?: string };

function torchReference(): TorchResults | null {
  const script = join(root, 'bench/torch_reference.py');
  if (!existsSync('/usr/bin/python3') || !existsSync(script)) return null;
  const r = spawnSync('/usr/bin/python3', [script, ...(quick ? ['--quick'] : [])], { encoding: 'utf8' });
  if (r.status !== 0) {
    process.stderr.write(`torch reference failed: ${r.stderr.split('\n').slice(-3).join(' ')}\n`);
    return null;
  }
  const parsed = JSON.parse(r.stdout) as TorchResults;
  if (parsed.error !== undefined) {
    process.stderr.write(`${parsed.error}\n`);
    return null;
  }
  return parsed;
}

function torchItem(t: TorchResults | null, item: string, config?: string): TorchItem | null {
  if (t === null) return null;
  const entry = t[item];
  if (entry === undefined) return null;
  if (config === undefined) return 'perSec' in entry ? (entry as TorchItem) : null;
  return ((entry as Record<string, TorchItem>)[config] ?? null) as TorchItem | null;
}

function row(m: Measurement, t: TorchItem | null): Row {
  return {
    perSec: m.perSec,
    torchPerSec: t?.perSec ?? null,
    ratio: t === null ? null : m.perSec / t.perSec,
    peakRssMB: m.peakRssMB,
    ...(t === null ? {} : { torchThreads: t.threads }),
  };
}

const engine = execFileSync(process.execPath, ['-e', `import('${join(root, 'dist/src/engine/backend.js')}').then(async (m) => console.log((await m.initEngine()).notice))`], { encoding: 'utf8' }).trim();
process.stdout.write(`${engine}\n`);
const torch = torchReference();
if (torch === null) process.stdout.write('PyTorch reference unavailable (install: sudo apt-get install python3-torch libopenblas0-pthread); reporting headsteer only\n');

const results: Record<string, unknown> = { engine, torchVersion: torch?.version ?? null, date: new Date().toISOString() };
const table: string[][] = [['item', 'config', 'headsteer /s', 'torch /s', 'ratio', 'peak RSS MB']];
for (const item of ['vitTrain', 'vitInfer'] as const) {
  const entry: Record<string, Row> = {};
  for (const config of ['reference', 'default'] as const) {
    const r = row(measure(item, config), torchItem(torch, item, config));
    entry[config] = r;
    table.push([item, config, r.perSec.toFixed(1), r.torchPerSec?.toFixed(1) ?? '-', r.ratio?.toFixed(2) ?? '-', r.peakRssMB.toFixed(0)]);
  }
  results[item] = entry;
}
const widths = table[0]!.map((_, c) => Math.max(...table.map((r) => r[c]!.length)));
process.stdout.write(`${table.map((r) => r.map((cell, c) => cell.padStart(widths[c]!)).join('  ')).join('\n')}\n`);
writeJsonAtomic(join(root, 'bench/results.json'), results);
process.stdout.write('wrote bench/results.json\n');
