/**
 * `npm run bench`: headsteer's training and inference speed next to the PyTorch CPU reference
 * (bench/torch_reference.py, Debian python3-torch) on the same machine, then `headSkip` (head_skip.ts:
 * dense, masked and head-skipping inference) and `pipeline` (pipeline.ts: the main job on a reduced budget).
 * Prints tables and the total time, and writes bench/results.json. Installs nothing.
 *
 * Against PyTorch (docs/design.md "The bench"), per item: PyTorch's thread settings are tried once and the
 * fastest is pinned; then R interleaved rounds (interleave.ts), each headsteer and PyTorch in a fresh
 * process, back to back; reported: the median of the rounds' ratios, their min-max, each side's median
 * throughput and the threads each side ran with. Every round's figures and load average go to results.json.
 *
 * `vitTrainDP` (replicas.ts) times training as the product runs it on 2 cores, 2 data-parallel replica
 * processes, against PyTorch's DistributedDataParallel on 2 processes, in the same interleaved rounds.
 *
 * `npm run bench -- --only ITEM` runs one item (vitTrain, vitTrainDP, vitInfer, saeTrain, headSkip, pipeline,
 * paperScale); `--quick` 3 rounds of fewer steps instead of 5; `--rounds N` sets R. `--paper` adds
 * `paperScale` (the gated ViT-S/16 at 224 px, batch 32, 2 rounds; about 5-10 more minutes on 2 cores):
 * images/s, peak memory, the ratio to PyTorch, and hours per CIFAR-100 fine-tune epoch.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeJsonAtomic } from '../src/io/atomic.js';
import type { HeadSkipResult } from './head_skip.js';
import { interleave, median, type Round, summarize } from './interleave.js';
import type { Measurement, OursThreads } from './measure.js';
import { PIPELINE_SETS, pipelineBench, type PipelineResult } from './pipeline.js';
import { replicaTrainer } from './replicas.js';
import {
  calibrateTorch,
  describeTorchThreads,
  type Steps,
  type TorchCalibration,
  type TorchRun,
  type TorchThreads,
  timeTorch,
  torchUnavailable,
} from './torch.js';

const t0 = performance.now();
const here = dirname(fileURLToPath(import.meta.url)); // dist/bench
const root = join(here, '../..');
const argv = process.argv.slice(2);
const flag = (name: string): string | undefined => (argv.includes(name) ? (argv[argv.indexOf(name) + 1] ?? '') : undefined);
const fail = (msg: string): never => {
  process.stderr.write(`${msg}\n`);
  process.exit(2);
};

const quick = argv.includes('--quick');
const ITEMS = ['vitTrain', 'vitTrainDP', 'vitInfer', 'saeTrain', 'headSkip', 'pipeline', 'paperScale'] as const;
type Item = (typeof ITEMS)[number];
const only = flag('--only');
if (only !== undefined && !(ITEMS as readonly string[]).includes(only)) fail(`--only: unknown item '${only}' (expected one of ${ITEMS.join(', ')})`);
const roundsArg = flag('--rounds');
const ROUNDS = roundsArg === undefined ? (quick ? 3 : 5) : Number(roundsArg);
if (!Number.isInteger(ROUNDS) || ROUNDS < 1) fail(`--rounds: '${roundsArg}' is not a whole number of rounds of at least 1`);
/** paperScale is opt-in (`--paper`): its steps take tens of seconds each. */
const runs = (item: Item): boolean =>
  item === 'paperScale' ? only === item || (only === undefined && argv.includes('--paper')) : only === undefined || only === item;
/** CIFAR-100's training images: one fine-tune epoch. */
const CIFAR100_TRAIN = 50_000;

/** Steps per process in each round, and in the one calibration process per item of PyTorch's threads. */
const STEPS: Steps = quick ? { warmup: 2, reps: 3, minSeconds: 1 } : { warmup: 2, reps: 5, minSeconds: 2 };
const CALIBRATION: Steps = { warmup: 1, reps: 3, minSeconds: 1 };
/** At paper scale a training step takes tens of seconds: fewer steps and 2 rounds. */
const PAPER = { steps: { warmup: 1, reps: 2, minSeconds: 0 }, calibration: { warmup: 1, reps: 1, minSeconds: 0 }, rounds: 2 } as const;

/** One item timed against PyTorch: what measure.js and torch_reference.py call it. */
interface Versus {
  item: 'vitTrain' | 'vitInfer' | 'saeTrain';
  config: string;
  torchItem: string;
  steps: Steps;
  calibration: Steps;
  rounds: number;
}

/** What an item against PyTorch comes to (results.json). */
interface VersusResult {
  /** Medians over the rounds, per second. */
  oursPerSec: number;
  torchPerSec: number | null;
  /** The median of the rounds' ratios headsteer / PyTorch, and their min and max. */
  ratio: number | null;
  ratioMin: number | null;
  ratioMax: number | null;
  /** Null for vitTrainDP, whose replicas are the CLI's children (the pipeline item reports the job's). */
  peakRssMB: number | null;
  torchPeakRssMB: number | null;
  threads: { ours: OursThreads; torch: TorchThreads | null };
  /** Per second at each PyTorch thread setting in the calibration process. */
  calibration: Record<string, number> | null;
  /** Each round: per second, and the timed steps behind each side's median. */
  rounds: Array<{
    ours: number;
    torch: number | null;
    ratio: number | null;
    oursSteps: number;
    torchSteps: number | null;
    oursFirst: boolean;
    loadAvg: number;
  }>;
}

function measure<T = Measurement>(item: string, config: string, steps: Steps): T {
  const args = [join(here, 'measure.js'), item, config, String(steps.reps), String(steps.warmup), String(steps.minSeconds)];
  const out = execFileSync(process.execPath, args, {
    encoding: 'utf8',
    env: process.env,
  });
  return JSON.parse(out.trim().split('\n').pop()!) as T;
}

const load = (): number => loadavg()[0]!;
/** PyTorch's version and BLAS, from the first calibration (results.json). */
let torchInfo: Pick<TorchCalibration, 'torch' | 'blas'> | undefined;

/** Pin PyTorch's fastest thread setting for `v`, then time R interleaved rounds; headsteer alone without PyTorch. */
function versus(v: Versus, torchOk: boolean): VersusResult {
  if (!torchOk) {
    const rounds = Array.from({ length: v.rounds }, () => ({ loadAvg: load(), m: measure(v.item, v.config, v.steps) }));
    return {
      oursPerSec: median(rounds.map((r) => r.m.perSec)),
      torchPerSec: null,
      ratio: null,
      ratioMin: null,
      ratioMax: null,
      peakRssMB: Math.max(...rounds.map((r) => r.m.peakRssMB)),
      torchPeakRssMB: null,
      threads: { ours: rounds[0]!.m.threads, torch: null },
      calibration: null,
      rounds: rounds.map((r) => ({ ours: r.m.perSec, torch: null, ratio: null, oursSteps: r.m.steps, torchSteps: null, oursFirst: true, loadAvg: r.loadAvg })),
    };
  }
  const cal = calibrateTorch(root, v.torchItem, v.calibration, blasEnv);
  torchInfo ??= { torch: cal.torch, blas: cal.blas };
  const rounds = interleave(
    v.rounds,
    () => measure(v.item, v.config, v.steps),
    () => timeTorch(root, v.torchItem, cal.best, v.steps, blasEnv),
    load,
  );
  const s = summarize(rounds.map((r) => ({ ours: r.ours.perSec, torch: r.torch.perSec })));
  return {
    oursPerSec: s.oursMedianPerSec,
    torchPerSec: s.torchMedianPerSec,
    ratio: s.medianRatio,
    ratioMin: s.minRatio,
    ratioMax: s.maxRatio,
    peakRssMB: Math.max(...rounds.map((r) => r.ours.peakRssMB)),
    torchPeakRssMB: Math.max(...rounds.map((r) => r.torch.peakRssMB)),
    threads: { ours: rounds[0]!.ours.threads, torch: cal.best },
    calibration: Object.fromEntries(Object.entries(cal.byThreads).map(([k, r]) => [k, r.perSec])),
    rounds: roundRecords(rounds),
  };
}

/** Each interleaved round's figures, as results.json keeps them. */
function roundRecords(rounds: readonly Round<{ perSec: number; steps: number }, TorchRun>[]): VersusResult['rounds'] {
  return rounds.map((r) => ({
    ours: r.ours.perSec,
    torch: r.torch.perSec,
    ratio: r.ours.perSec / r.torch.perSec,
    oursSteps: r.ours.steps,
    torchSteps: r.torch.reps,
    oursFirst: r.oursFirst,
    loadAvg: r.loadAvg,
  }));
}

/** Print rows as right-aligned columns. */
function print(rows: string[][]): void {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  process.stdout.write(`${rows.map((r) => r.map((cell, c) => cell.padStart(widths[c]!)).join('  ')).join('\n')}\n`);
}

const oursThreads = (t: OursThreads): string => `OpenBLAS ${t.blasThreads ?? '-'}, wasm ${t.wasmThreads}`;
const fixed = (x: number): string => (x >= 100 ? x.toFixed(0) : x.toFixed(1));

/** One table row, printed as soon as the item is done (the whole table again at the end). */
function versusRow(label: string, config: string, r: VersusResult): string[] {
  return [
    label,
    config,
    oursThreads(r.threads.ours),
    r.threads.torch === null ? '-' : describeTorchThreads(r.threads.torch),
    fixed(r.oursPerSec),
    r.torchPerSec === null ? '-' : fixed(r.torchPerSec),
    r.ratio?.toFixed(2) ?? '-',
    r.ratioMin === null || r.ratioMax === null ? '-' : `${r.ratioMin.toFixed(2)}-${r.ratioMax.toFixed(2)}`,
    r.peakRssMB?.toFixed(0) ?? '-',
  ];
}
const VERSUS_HEADER = ['item', 'config', 'headsteer threads', 'torch threads', 'headsteer /s', 'torch /s', 'ratio', 'spread', 'peak RSS MB'];

function report(label: string, config: string, r: VersusResult): string[] {
  const row = versusRow(label, config, r);
  process.stdout.write(`${label} ${config}: ratio ${row[6]} (rounds ${row[7]}), ${row[4]} vs ${row[5]} /s; headsteer ${row[2]}; PyTorch ${row[3]}\n`);
  return row;
}

// The engine's one-line notice, and the OpenBLAS wait policy it runs with (src/engine/blas.ts sets one
// unless the user did): PyTorch gets the same, so the two sides share the BLAS library and its settings.
const probe = JSON.parse(
  execFileSync(
    process.execPath,
    [
      '-e',
      `import('${join(root, 'dist/src/engine/backend.js')}').then(async (m) => console.log(JSON.stringify({ notice: (await m.initEngine()).notice, timeout: process.env.OPENBLAS_THREAD_TIMEOUT })))`,
    ],
    { encoding: 'utf8' },
  ),
) as { notice: string; timeout?: string };
const engine = probe.notice;
const blasEnv: Record<string, string> = probe.timeout === undefined ? {} : { OPENBLAS_THREAD_TIMEOUT: probe.timeout };
process.stdout.write(`${engine}${probe.timeout === undefined ? '' : `; OPENBLAS_THREAD_TIMEOUT=${probe.timeout} on both sides`}\n`);
const noTorch = torchUnavailable(root);
if (noTorch !== null && (runs('vitTrain') || runs('vitTrainDP') || runs('vitInfer') || runs('saeTrain') || runs('paperScale')))
  process.stdout.write(
    `PyTorch reference unavailable (${noTorch}; install: sudo apt-get install python3-torch libopenblas0-pthread); reporting headsteer only\n`,
  );
/** How an item's rounds run, printed before its first. */
const describeRounds = (rounds: number, steps: Steps): string =>
  `${rounds} interleaved round${rounds === 1 ? '' : 's'} per item (headsteer and PyTorch alternating, a fresh process each); per process ` +
  `${steps.warmup} warm-up step${steps.warmup === 1 ? '' : 's'}, then the median of at least ${steps.reps} timed steps${steps.minSeconds > 0 ? ` and ${steps.minSeconds} s` : ''}\n`;
if (runs('vitTrain') || runs('vitInfer') || runs('saeTrain')) process.stdout.write(describeRounds(ROUNDS, STEPS));

// --only replaces its own item in the last results and keeps the others.
const resultsPath = join(root, 'bench/results.json');
const previous = only !== undefined && existsSync(resultsPath) ? (JSON.parse(readFileSync(resultsPath, 'utf8')) as Record<string, unknown>) : {};
const results: Record<string, unknown> = { ...previous, engine, sharedBlasEnv: blasEnv, date: new Date().toISOString(), quick, rounds: ROUNDS };
const loadStart = load();
const table: string[][] = [VERSUS_HEADER];
const base = { steps: STEPS, calibration: CALIBRATION, rounds: ROUNDS };
for (const item of ['vitTrain', 'vitInfer'] as const) {
  if (!runs(item)) continue;
  const entry: Record<string, VersusResult> = {};
  for (const config of ['reference', 'default'] as const) {
    entry[config] = versus({ item, config, torchItem: `${item}.${config}`, ...base }, noTorch === null);
    table.push(report(item, config, entry[config]));
  }
  results[item] = entry;
}
if (runs('vitTrainDP')) {
  // Both sides on 2 processes of 1 thread each; PyTorch's steps fill 4 s per round, about the span of ours.
  const dpSteps: Steps = { ...STEPS, minSeconds: 4 };
  const dp = replicaTrainer(2);
  try {
    const torch = (): TorchRun => timeTorch(root, 'vitTrainDP.default', { torchThreads: 1, blasThreads: 1 }, dpSteps, blasEnv);
    const rounds = noTorch === null ? interleave(ROUNDS, dp.measure, torch, load) : [];
    const ours = noTorch === null ? rounds.map((r) => r.ours) : Array.from({ length: ROUNDS }, dp.measure);
    const s = noTorch === null ? summarize(rounds.map((r) => ({ ours: r.ours.perSec, torch: r.torch.perSec }))) : null;
    const dpResult: VersusResult = {
      oursPerSec: median(ours.map((o) => o.perSec)),
      torchPerSec: s?.torchMedianPerSec ?? null,
      ratio: s?.medianRatio ?? null,
      ratioMin: s?.minRatio ?? null,
      ratioMax: s?.maxRatio ?? null,
      peakRssMB: null,
      torchPeakRssMB: rounds[0]?.torch.peakRssMB ?? null,
      threads: { ours: { blasThreads: 1, blasSource: '2 replica processes', wasmThreads: 1 }, torch: { torchThreads: 1, blasThreads: 1 } },
      calibration: null,
      rounds: roundRecords(rounds),
    };
    results['vitTrainDP'] = dpResult;
    table.push(report('vitTrainDP', 'default, 2 processes', dpResult));
  } finally {
    dp.dispose();
  }
}
if (runs('saeTrain')) {
  const sae = versus({ item: 'saeTrain', config: '-', torchItem: 'saeTrain', ...base }, noTorch === null);
  results['saeTrain'] = sae;
  table.push(report('saeTrain', '384-3072 k64', sae));
}
if (runs('paperScale')) {
  const paper = { ...PAPER, rounds: roundsArg === undefined ? PAPER.rounds : ROUNDS };
  process.stdout.write(`paperScale: ${describeRounds(paper.rounds, paper.steps)}`);
  const train = versus({ item: 'vitTrain', config: 'paper', torchItem: 'paperScale.train', ...paper }, noTorch === null);
  table.push(report('paperScale', 'ViT-S/16 224 train', train));
  const infer = versus({ item: 'vitInfer', config: 'paper', torchItem: 'paperScale.infer', ...paper }, noTorch === null);
  table.push(report('paperScale', 'ViT-S/16 224 infer', infer));
  const hours = (perSec: number | null): number | null => (perSec === null ? null : CIFAR100_TRAIN / perSec / 3600);
  results['paperScale'] = {
    model: 'gated ViT-S/16, 224x224x3, 100 classes, batch 32 (2 accumulated passes of 16 in headsteer; one pass in PyTorch)',
    train,
    infer,
    hoursPerCifar100Epoch: { headsteer: hours(train.oursPerSec), torch: hours(train.torchPerSec) },
  };
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
    const r = measure<HeadSkipResult>('headSkip', config, { warmup: 2, reps: quick ? 3 : 7, minSeconds: 0 });
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
if (runs('pipeline')) {
  const sets = Object.entries(PIPELINE_SETS)
    .map(([k, v]) => `${k}=${v}`)
    .join(' --set ');
  process.stdout.write(`pipeline: headsteer run --preset default --set ${sets} (a temporary run folder)\n`);
  let p: PipelineResult | { error: string };
  try {
    p = await pipelineBench();
  } catch (err) {
    p = { error: err instanceof Error ? err.message : String(err) };
  }
  results['pipeline'] = p;
  if ('error' in p) process.stdout.write(`pipeline failed: ${p.error}\n`);
  else {
    print([
      ['stage', 'seconds', 'images', 'images/s', 'loop images/s', 'counted'],
      ...p.stages.map((s) => [
        s.stage,
        s.seconds.toFixed(1),
        s.images?.toString() ?? '-',
        s.imagesPerSec === null ? '-' : fixed(s.imagesPerSec),
        s.loopImagesPerSec === null ? '-' : fixed(s.loopImagesPerSec),
        s.counted ?? '',
      ]),
    ]);
    process.stdout.write(
      `pipeline: wall ${p.wallSeconds.toFixed(1)} s, user ${p.userSeconds.toFixed(1)} s, system ${p.systemSeconds.toFixed(1)} s ` +
        `(${(100 * p.systemShare).toFixed(1)}% of CPU), ${p.involuntaryContextSwitches} involuntary context switches, ${p.processes} processes; ` +
        `peak RSS ${p.peakRssMB.toFixed(0)} MB in the largest process, ${p.peakRssTreeMB.toFixed(0)} MB summed over the processes at one moment\n`,
    );
  }
}
const totalSeconds = (performance.now() - t0) / 1000;
const loadEnd = load();
Object.assign(results, { loadAvg: { start: loadStart, end: loadEnd }, totalSeconds });
if (torchInfo !== undefined) Object.assign(results, { torchVersion: torchInfo.torch, torchBlas: torchInfo.blas });
writeJsonAtomic(resultsPath, results);
const whole = Math.round(totalSeconds);
process.stdout.write(
  `load average ${loadStart.toFixed(2)} at the start, ${loadEnd.toFixed(2)} at the end; total ${Math.floor(whole / 60)}m${String(whole % 60).padStart(2, '0')}s; wrote bench/results.json\n`,
);
