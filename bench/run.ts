/**
 * `npm run bench`: headsteer's training and inference speed next to the PyTorch CPU reference
 * (bench/torch_reference.py, Debian python3-torch) on the same machine, then `headSkip` (head_skip.ts:
 * dense, masked and head-skipping inference). Each item runs in its own process (peak RSS per item);
 * prints tables and writes bench/results.json. Installs nothing.
 * `npm run bench -- --only headSkip` (or vitTrain, vitInfer, saeTrain) runs one item; `--quick` fewer reps.
 * `npm run bench -- --paper` adds `paperScale` (the gated ViT-S/16 at 224 px, batch 32; about 10 more
 * minutes on 2 cores; `--only paperScale` runs it alone): images/s, peak memory, the ratio to PyTorch, and
 * hours per CIFAR-100 fine-tune epoch.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeJsonAtomic } from '../src/io/atomic.js';
import type { HeadSkipResult } from './head_skip.js';
import type { Measurement } from './measure.js';

const here = dirname(fileURLToPath(import.meta.url)); // dist/bench
const root = join(here, '../..');
const quick = process.argv.includes('--quick');
const ITEMS = ['vitTrain', 'vitInfer', 'saeTrain', 'headSkip', 'paperScale'] as const;
const onlyAt = process.argv.indexOf('--only');
const only = onlyAt < 0 ? undefined : process.argv[onlyAt + 1];
if (only !== undefined && !(ITEMS as readonly string[]).includes(only)) {
  process.stderr.write(`--only: unknown item '${only}' (expected one of ${ITEMS.join(', ')})\n`);
  process.exit(2);
}
/** paperScale is opt-in (`--paper`): its steps take tens of seconds each. */
const runs = (item: (typeof ITEMS)[number]): boolean =>
  item === 'paperScale' ? only === item || (only === undefined && process.argv.includes('--paper')) : only === undefined || only === item;
/** CIFAR-100's training images: one fine-tune epoch. */
const CIFAR100_TRAIN = 50_000;

interface Row {
  perSec: number;
  torchPerSec: number | null;
  ratio: number | null;
  peakRssMB: number;
  torchThreads?: number;
}

function measure<T = Measurement>(item: string, config: string, reps = quick ? 3 : 7, warmup = 2): T {
  const out = execFileSync(process.execPath, [join(here, 'measure.js'), item, config, String(reps), String(warmup)], { encoding: 'utf8', env: process.env });
  return JSON.parse(out.trim().split('\n').pop()!) as T;
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

/** Print rows as right-aligned columns. */
function print(rows: string[][]): void {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  process.stdout.write(`${rows.map((r) => r.map((cell, c) => cell.padStart(widths[c]!)).join('  ')).join('\n')}\n`);
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
const torch = runs('vitTrain') || runs('vitInfer') || runs('saeTrain') ? torchReference(quick ? ['--quick'] : []) : null;
if (torch === null && only === undefined)
  process.stdout.write('PyTorch reference unavailable (install: sudo apt-get install python3-torch libopenblas0-pthread); reporting headsteer only\n');

// --only replaces its own item in the last results and keeps the others.
const resultsPath = join(root, 'bench/results.json');
const previous = only !== undefined && existsSync(resultsPath) ? (JSON.parse(readFileSync(resultsPath, 'utf8')) as Record<string, unknown>) : {};
const results: Record<string, unknown> = {
  ...previous,
  engine,
  torchVersion: torch?.torch ?? previous['torchVersion'] ?? null,
  date: new Date().toISOString(),
};
const table: string[][] = [['item', 'config', 'headsteer /s', 'torch /s', 'ratio', 'peak RSS MB']];
for (const item of ['vitTrain', 'vitInfer'] as const) {
  if (!runs(item)) continue;
  const entry: Record<string, Row> = {};
  for (const config of ['reference', 'default'] as const) {
    const r = row(measure(item, config), torch?.results[`${item}.${config}`] ?? null);
    entry[config] = r;
    table.push([item, config, r.perSec.toFixed(1), r.torchPerSec?.toFixed(1) ?? '-', r.ratio?.toFixed(2) ?? '-', r.peakRssMB.toFixed(0)]);
  }
  results[item] = entry;
}
if (runs('saeTrain')) {
  const sae = row(measure('saeTrain', '-'), torch?.results['saeTrain'] ?? null);
  results['saeTrain'] = sae;
  table.push(['saeTrain', '384-3072 k64', sae.perSec.toFixed(1), sae.torchPerSec?.toFixed(1) ?? '-', sae.ratio?.toFixed(2) ?? '-', sae.peakRssMB.toFixed(0)]);
}
if (runs('paperScale')) {
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
      'paperScale',
      `ViT-S/16 224 ${label}`,
      r.perSec.toFixed(2),
      r.torchPerSec?.toFixed(2) ?? '-',
      r.ratio?.toFixed(2) ?? '-',
      r.peakRssMB.toFixed(0),
    ]);
  }
}
if (table.length > 1) print(table);
if (runs('headSkip')) {
  const entry: Record<string, HeadSkipResult> = {};
  const skipTable: string[][] = [
    [
      'headSkip',
      'usage',
      'FLOPs saved',
      'b1 dense ms',
      'b1 masked ms',
      'b1 skip ms',
      'b1 skip/dense',
      'b256 dense /s',
      'b256 masked /s',
      'b256 skip /s',
      'b256 skip/dense',
    ],
  ];
  for (const config of ['reference', 'default'] as const) {
    const r = measure<HeadSkipResult>('headSkip', config);
    entry[config] = r;
    const ms = (l: { medianMs: number; p90Ms: number }): string => `${l.medianMs.toFixed(2)} (p90 ${l.p90Ms.toFixed(2)})`;
    skipTable.push([
      config,
      r.usage.toFixed(3),
      `${(100 * r.flops.savedFraction).toFixed(1)}%`,
      ms(r.batch1.dense),
      ms(r.batch1.masked),
      ms(r.batch1.skip),
      r.ratios.batch1.toFixed(3),
      r.batch256.dense.imagesPerSec.toFixed(1),
      r.batch256.masked.imagesPerSec.toFixed(1),
      r.batch256.skip.imagesPerSec.toFixed(1),
      r.ratios.batch256.toFixed(3),
    ]);
  }
  results['headSkip'] = entry;
  print(skipTable);
  process.stdout.write('headSkip ratios are time per image, skip / dense (below 1: skipping is faster)\n');
}
writeJsonAtomic(resultsPath, results);
process.stdout.write('wrote bench/results.json\n');
