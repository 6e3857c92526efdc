/**
 * `headsteer data`: list the known datasets and where they are found, or load one and print a summary
 * (counts, image shape, class balance, normalisation constants). Loading runs every validation, so a
 * clean summary means the files are usable for training.
 */
import type { Command } from 'commander';
import { classCounts, type Dataset } from '../../data/dataset.js';
import { DEFAULT_DATASET, listDatasets, loadDataset } from '../../data/registry.js';

interface DataFlags {
  list?: boolean;
  dataset: string;
  dataDir?: string;
}

/** Add the `data` verb to the program. */
export function register(program: Command): void {
  program
    .command('data')
    .description('list the available datasets, or load one, validate it and print a summary')
    .option('--list', 'list datasets: whether each is available and where it was found')
    .option('--dataset <name>', 'dataset to load and summarise', DEFAULT_DATASET)
    .option('--data-dir <folder>', 'folder to look for the dataset files in (overrides the default location)')
    .action((flags: DataFlags) => {
      const dataDir = flags.dataDir === undefined ? {} : { dataDir: flags.dataDir };
      const text = flags.list === true ? listTable(dataDir) : summary(loadDataset(flags.dataset, dataDir));
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
