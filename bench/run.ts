/**
 * `npm run bench`: headsteer's training and inference speed next to the PyTorch CPU reference
 * (bench/torch_reference.py, Debian python3-torch) on the same machine. Each item runs in its own
 * process (peak RSS per item); prints a table and writes bench/results.json. Installs nothing.
 * `npm run bench -- --paper` adds `paperScale` (the gated ViT-S/16 at 224 px, batch 32; about 10 more
 * minutes on 2 cores): images/s, peak memory, the ratio to PyTorch, and hours per CIFAR-100 fine-tune epoch.
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
const paper = process.argv.includes('--paper');
/** CIFAR-100's training images: one fine-tune epoch. */
const CIFAR100_TRAIN = 50_000;

interface Row {
  perSec: number;
  torchPerSec: number | null;
  ratio: number | null;
  peakRssMB: number;
  torchThreads?: number;
}

function measure(item: string, config: string, reps = quick ? 3 : 7, warmup = 2): Measurement {
  const out = execFileSync(process.execPath, [join(here, 'measure.js'), item, config, String(reps), String(warmup)], { encoding: 'utf8', env: process.env });
  return JSON.parse(out.trim().split('\n').pop()!) as Measurement;
}

interface TorchItem {
  perSec: number;
  threads: number;
}
/** What bench/torch_reference.py prints: results keyed `vitTrain.reference`, ..., `saeTrain` (or `paperScale.*`). */
interface TorchResults {
  torch: string;
  results: Record<string, TorchItem>;
  peakRssMB?: number;
}

function torchReference(args: string[]): TorchResults | null {
  const script = join(root, 'bench/torch_reference.py');
  if (!existsSync('/usr/bin/python3') || !existsSync(script)) return null;
  const r = spawnSync('/usr/bin/python3', [script, ...args], { encoding: 'utf8' });
  if (r.status !== 0) {
    process.stderr.write(`torch reference failed: ${r.stderr.split('\n').slice(-3).join(' ')}\n`);
    return null;
  }
  const parsed = JSON.parse(r.stdout) as Partial<TorchResults> & { error?: string };
  if (parsed.error !== undefined || parsed.results === undefined || parsed.torch === undefined) {
    process.stderr.write(`${parsed.error ?? 'torch reference printed no results'}\n`);
    return null;
  }
  return { torch: parsed.torch, results: parsed.results, ...(parsed.peakRssMB === undefined ? {} : { peakRssMB: parsed.peakRssMB }) };
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

const engine = execFileSync(
  process.execPath,
  ['-e', `import('${join(root, 'dist/src/engine/backend.js')}').then(async (m) => console.log((await m.initEngine()).notice))`],
  { encoding: 'utf8' },
).trim();
process.stdout.write(`${engine}\n`);
const torch = torchReference(quick ? ['--quick'] : []);
if (torch === null)
  process.stdout.write('PyTorch reference unavailable (install: sudo apt-get install python3-torch libopenblas0-pthread); reporting headsteer only\n');

const results: Record<string, unknown> = { engine, torchVersion: torch?.torch ?? null, date: new Date().toISOString() };
const table: string[][] = [['item', 'config', 'headsteer /s', 'torch /s', 'ratio', 'peak RSS MB']];
for (const item of ['vitTrain', 'vitInfer'] as const) {
  const entry: Record<string, Row> = {};
  for (const config of ['reference', 'default'] as const) {
    const r = row(measure(item, config), torch?.results[`${item}.${config}`] ?? null);
    entry[config] = r;
    table.push([item, config, r.perSec.toFixed(1), r.torchPerSec?.toFixed(1) ?? '-', r.ratio?.toFixed(2) ?? '-', r.peakRssMB.toFixed(0)]);
  }
  results[item] = entry;
}
const sae = row(measure('saeTrain', '-'), torch?.results['saeTrain'] ?? null);
results['saeTrain'] = sae;
table.push(['saeTrain', '384-3072 k64', sae.perSec.toFixed(1), sae.torchPerSec?.toFixed(1) ?? '-', sae.ratio?.toFixed(2) ?? '-', sae.peakRssMB.toFixed(0)]);
if (paper) {
  // One warm-up and 3 timed steps: a training step takes tens of seconds at this scale.
  const train = row(measure('vitTrain', 'paper', 3, 1), null);
  const infer = row(measure('vitInfer', 'paper', 3, 1), null);
  const ref = torchReference(['--paper']);
  for (const [r, key] of [
    [train, 'paperScale.train'],
    [infer, 'paperScale.infer'],
  ] as const) {
    const t = ref?.results[key];
    if (t !== undefined) Object.assign(r, { torchPerSec: t.perSec, ratio: r.perSec / t.perSec, torchThreads: t.threads });
  }
  const hours = (perSec: number | null): number | null => (perSec === null ? null : CIFAR100_TRAIN / perSec / 3600);
  results['paperScale'] = {
    model: 'gated ViT-S/16, 224x224x3, 100 classes, batch 32 (2 accumulated passes of 16 in headsteer; one pass in PyTorch)',
    train,
    infer,
    torchPeakRssMB: ref?.peakRssMB ?? null,
    hoursPerCifar100Epoch: { headsteer: hours(train.perSec), torch: hours(train.torchPerSec) },
  };
  for (const [label, r] of [
    ['train', train],
    ['infer', infer],
  ] as const) {
    table.push([
      `paperScale`,
      `ViT-S/16 224 ${label}`,
      r.perSec.toFixed(2),
      r.torchPerSec?.toFixed(2) ?? '-',
      r.ratio?.toFixed(2) ?? '-',
      r.peakRssMB.toFixed(0),
    ]);
  }
}
const widths = table[0]!.map((_, c) => Math.max(...table.map((r) => r[c]!.length)));
process.stdout.write(`${table.map((r) => r.map((cell, c) => cell.padStart(widths[c]!)).join('  ')).join('\n')}\n`);
writeJsonAtomic(join(root, 'bench/results.json'), results);
process.stdout.write('wrote bench/results.json\n');
