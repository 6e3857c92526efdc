/**
 * Loaders for the binary versions of CIFAR-10 and CIFAR-100 (Krizhevsky 2009,
 * https://www.cs.toronto.edu/~kriz/cifar.html) from a user's folder. Each record is the label byte(s)
 * followed by 3072 pixel bytes: 1024 red, 1024 green, 1024 blue, each a row-major 32x32 plane, which
 * is already the (C, H, W) layout of one image.
 *
 * CIFAR-10 records: <label> + pixels. CIFAR-100 records: <coarse label> <fine label> + pixels; we use
 * the 100 fine labels.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../errors.js';
import { channelStats, type Dataset, type Split } from './dataset.js';

const PIXELS = 3 * 32 * 32;

export const CIFAR10_CLASSES = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];

export const CIFAR100_CLASSES = [
  'apple',
  'aquarium_fish',
  'baby',
  'bear',
  'beaver',
  'bed',
  'bee',
  'beetle',
  'bicycle',
  'bottle',
  'bowl',
  'boy',
  'bridge',
  'bus',
  'butterfly',
  'camel',
  'can',
  'castle',
  'caterpillar',
  'cattle',
  'chair',
  'chimpanzee',
  'clock',
  'cloud',
  'cockroach',
  'couch',
  'crab',
  'crocodile',
  'cup',
  'dinosaur',
  'dolphin',
  'elephant',
  'flatfish',
  'forest',
  'fox',
  'girl',
  'hamster',
  'house',
  'kangaroo',
  'keyboard',
  'lamp',
  'lawn_mower',
  'leopard',
  'lion',
  'lizard',
  'lobster',
  'man',
  'maple_tree',
  'motorcycle',
  'mountain',
  'mouse',
  'mushroom',
  'oak_tree',
  'orange',
  'orchid',
  'otter',
  'palm_tree',
  'pear',
  'pickup_truck',
  'pine_tree',
  'plain',
  'plate',
  'poppy',
  'porcupine',
  'possum',
  'rabbit',
  'raccoon',
  'ray',
  'road',
  'rocket',
  'rose',
  'sea',
  'seal',
  'shark',
  'shrew',
  'skunk',
  'skyscraper',
  'snail',
  'snake',
  'spider',
  'squirrel',
  'streetcar',
  'sunflower',
  'sweet_pepper',
  'table',
  'tank',
  'telephone',
  'television',
  'tiger',
  'tractor',
  'train',
  'trout',
  'tulip',
  'turtle',
  'wardrobe',
  'whale',
  'willow_tree',
  'wolf',
  'woman',
  'worm',
];

/** File layout of one CIFAR variant. */
export interface CifarLayout {
  name: 'cifar10' | 'cifar100';
  title: string;
  /** The usual subfolder of the official archive. */
  subdir: string;
  trainFiles: string[];
  testFiles: string[];
  /** Label bytes before the pixels; the class label is the last of them. */
  labelBytes: number;
  /** Optional file listing class names one per line. */
  namesFile: string;
  classNames: string[];
}

export const CIFAR10: CifarLayout = {
  name: 'cifar10',
  title: 'CIFAR-10',
  subdir: 'cifar-10-batches-bin',
  trainFiles: ['data_batch_1.bin', 'data_batch_2.bin', 'data_batch_3.bin', 'data_batch_4.bin', 'data_batch_5.bin'],
  testFiles: ['test_batch.bin'],
  labelBytes: 1,
  namesFile: 'batches.meta.txt',
  classNames: CIFAR10_CLASSES,
};

export const CIFAR100: CifarLayout = {
  name: 'cifar100',
  title: 'CIFAR-100',
  subdir: 'cifar-100-binary',
  trainFiles: ['train.bin'],
  testFiles: ['test.bin'],
  labelBytes: 2,
  namesFile: 'fine_label_names.txt',
  classNames: CIFAR100_CLASSES,
};

/** Result of looking for a CIFAR variant's files under a user folder. */
export interface CifarLookup {
  /** Folder holding the files: `dataDir` itself or its usual subfolder. */
  dir: string;
  /** Required files absent from `dir`. */
  missing: string[];
}

/**
 * Decide whether the files sit directly in `dataDir` or in the archive's usual subfolder, and which
 * are missing. Throws a UserError when `dataDir` does not exist.
 */
export function lookupCifar(layout: CifarLayout, dataDir: string): CifarLookup {
  if (!existsSync(dataDir) || !statSync(dataDir).isDirectory()) {
    throw new UserError(`${layout.title} folder not found: ${dataDir}`);
  }
  const required = [...layout.trainFiles, ...layout.testFiles];
  const sub = join(dataDir, layout.subdir);
  const missingIn = (dir: string): string[] => required.filter((f) => !existsSync(join(dir, f)));
  const direct = missingIn(dataDir);
  if (direct.length === 0 || !existsSync(sub)) return { dir: dataDir, missing: direct };
  return { dir: sub, missing: missingIn(sub) };
}

/** Load CIFAR-10 or CIFAR-100 (fine labels) from `dataDir` or its usual subfolder. Images: (N, 3, 32, 32). */
export function loadCifar(layout: CifarLayout, dataDir: string): Dataset {
  const { dir, missing } = lookupCifar(layout, dataDir);
  const first = missing[0];
  if (first !== undefined) {
    throw new UserError(
      `${layout.title}: ${first} not found in ${dir} (expected ${[...layout.trainFiles, ...layout.testFiles].join(', ')}` +
        ` in the folder or its subfolder ${layout.subdir}/)`,
    );
  }
  const classNames = readClassNames(layout, dir);
  const read = (files: string[]): Split =>
    readRecords(
      files.map((f) => join(dir, f)),
      layout.labelBytes,
      classNames.length,
    );
  const train = read(layout.trainFiles);
  const test = read(layout.testFiles);
  const { mean, std } = channelStats(train, 3);
  return { name: layout.name, classNames, channels: 3, height: 32, width: 32, train, test, source: dir, mean, std };
}

/** Class names from the optional names file when present, else the built-in list. */
function readClassNames(layout: CifarLayout, dir: string): string[] {
  const file = join(dir, layout.namesFile);
  if (!existsSync(file)) return layout.classNames;
  const names = readFileSync(file, 'utf8')
    .split(/\r?\n/)
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  if (names.length !== layout.classNames.length) {
    throw new UserError(`${file}: lists ${names.length} class names, expected ${layout.classNames.length}`);
  }
  return names;
}

/**
 * Concatenate the records of several binary batch files into one split, checking each file's size
 * is a whole number of records and each label is < classes. Output images: (N, 3, 32, 32).
 */
function readRecords(files: string[], labelBytes: number, classes: number): Split {
  const recordSize = labelBytes + PIXELS;
  let total = 0;
  for (const file of files) {
    const size = statSync(file).size;
    if (size === 0 || size % recordSize !== 0) {
      throw new UserError(
        `${file}: size ${size} bytes is not a positive multiple of the record size ${recordSize} ` +
          `(${labelBytes} label byte${labelBytes > 1 ? 's' : ''} + ${PIXELS} pixels)`,
      );
    }
    total += size / recordSize;
  }
  const images = new Uint8Array(total * PIXELS);
  const labels = new Uint8Array(total);
  let n = 0;
  for (const file of files) {
    const bytes = readFileSync(file);
    const records = bytes.length / recordSize;
    for (let r = 0; r < records; r++, n++) {
      const offset = r * recordSize;
      const label = bytes[offset + labelBytes - 1] as number;
      if (label >= classes) {
        throw new UserError(`${file}: record ${r} has label ${label}, expected 0..${classes - 1}`);
      }
      labels[n] = label;
      images.set(bytes.subarray(offset + labelBytes, offset + recordSize), n * PIXELS);
    }
  }
  return { images, labels, count: total };
}
