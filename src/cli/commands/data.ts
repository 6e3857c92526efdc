/**
 * `headsteer data`: list the known datasets and where they are found, or load one and print a summary
 * (counts, image shape, class balance, normalisation constants). Loading runs every validation, so a
 * clean summary means the files are usable for training. With `--preset` (and `--set`) the dataset is the
 * one that config names (`--dataset` still overrides it) and it is also checked against the model, so
 * images smaller than one patch are refused here rather than when `pretrain` starts.
 */
import type { Command } from 'commander';
import { loadRunData, resolveConfig } from '../../config.js';
import { classCounts, type Dataset } from '../../data/dataset.js';
import { DEFAULT_DATASET, listDatasets, loadDataset } from '../../data/registry.js';
import { UserError } from '../../errors.js';
import { collect } from '../options.js';

interface DataFlags {
  list?: boolean;
  dataset?: string;
  dataDir?: string;
  preset?: string;
  set: string[];
}

/** The dataset the flags name, loaded and validated; against the preset's model too when one is given. */
function load(flags: DataFlags): Dataset {
  if (flags.preset === undefined) {
    if (flags.set.length > 0) throw new UserError('--set goes with --preset (the config it overrides)');
    return loadDataset(flags.dataset ?? DEFAULT_DATASET, flags.dataDir === undefined ? {} : { dataDir: flags.dataDir });
  }
  const sets = [...flags.set];
  if (flags.dataset !== undefined) sets.push(`data.dataset=${JSON.stringify(flags.dataset)}`);
  if (flags.dataDir !== undefined) sets.push(`data.dataDir=${JSON.stringify(flags.dataDir)}`);
  return loadRunData(resolveConfig(flags.preset, sets));
}

/** Add the `data` verb to the program. */
export function register(program: Command): void {
  program
    .command('data')
    .description('list the available datasets, or load one, validate it and print a summary')
    .option('--list', 'list datasets: whether each is available and where it was found')
    .option('--dataset <name>', `dataset to load and summarise (default: the preset's, else ${DEFAULT_DATASET})`)
    .option('--data-dir <folder>', 'folder to look for the dataset files in (overrides the default location)')
    .option('--preset <name>', "check the data against this preset's config: its dataset and the model's patch size")
    .option('--set <key=value>', 'with --preset: override a config value, e.g. --set model.patchSize=4 (repeatable)', collect, [])
    .action((flags: DataFlags) => {
      const text = flags.list === true ? listTable(flags.dataDir === undefined ? {} : { dataDir: flags.dataDir }) : summary(load(flags));
      process.stdout.write(text);
    });
}

function listTable(opts: { dataDir?: string }): string {
  const rows = [['name', 'available', 'location', 'detail']];
  for (const d of listDatasets(opts)) rows.push([d.name, d.available ? 'yes' : 'no', d.location, d.detail]);
  return table(rows);
}

function summary(ds: Dataset): string {
  const fmt = (xs: number[]): string => `[${xs.map((x) => x.toFixed(4)).join(', ')}]`;
  const train = classCounts(ds.train, ds.classNames.length);
  const test = classCounts(ds.test, ds.classNames.length);
  const rows = [['label', 'class', 'train', 'test']];
  ds.classNames.forEach((name, k) => {
    rows.push([String(k), name, String(train[k]), String(test[k])]);
  });
  return (
    `dataset  ${ds.name}\n` +
    `source   ${ds.source}\n` +
    `train    ${ds.train.count} images\n` +
    `test     ${ds.test.count} images\n` +
    `shape    (C, H, W) = (${ds.channels}, ${ds.height}, ${ds.width})\n` +
    `mean     ${fmt(ds.mean)}\n` +
    `std      ${fmt(ds.std)}\n` +
    `classes  ${ds.classNames.length}\n\n` +
    table(rows)
  );
}

/** Left-aligned columns separated by two spaces, with a rule under the header. */
function table(rows: string[][]): string {
  const widths = (rows[0] ?? []).map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  const line = (r: string[]): string =>
    r
      .map((cell, c) => cell.padEnd(widths[c] ?? 0))
      .join('  ')
      .trimEnd();
  const [head = [], ...body] = rows;
  return `${[line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n')}\n`;
}
