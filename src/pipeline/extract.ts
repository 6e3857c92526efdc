/**
 * Stage `extract`: the pruned checkpoint's features for the SAE and the fast steering path
 * (src/steer/features.ts) into `<run>/features/`, with the block-input CLS of every extra steered layer
 * (`steer.layers`) from the same forward pass. With `extract.workers` > 1 the forward passes run in
 * that many replica processes (src/run/replicas.ts), each over a contiguous share of whole batches of
 * each split, and this process places the rows they send: the same batches as one process runs, so the
 * same features bit for bit at equal OpenBLAS threads (tested).
 */
import { rmSync } from 'node:fs';
import { join, relative } from 'node:path';
import { type Config, loadRunData, parseConfig } from '../config.js';
import type { Dataset } from '../data/dataset.js';
import { UserError } from '../errors.js';
import { writeJsonAtomic } from '../io/atomic.js';
import { writeSafetensors } from '../io/safetensors.js';
import { requireDataInfo } from '../model/checkpoint.js';
import type { ViT } from '../model/vit.js';
import { loadStageViT, requireStageOut } from '../run/layout.js';
import { provenanceOf, writeProvenance } from '../run/provenance.js';
import { runInReplicas } from '../run/replicas.js';
import {
  emptyFeatures,
  extractSplit,
  featureTensors,
  layerFeaturesFile,
  layerFeatureTensors,
  placeRows,
  type FeaturesManifest,
  type SplitFeatures,
} from '../steer/features.js';
import { extraLayers, type LayerSpec } from '../steer/layers.js';

type SplitName = 'train' | 'test';

export interface ExtractOptions {
  checkpoint: string;
  out: string;
  overrides?: (cfg: Config) => Config;
  /** Steered layers whose block-input CLS to store besides the final one; default the config's `steer.layers`. */
  layers?: LayerSpec;
  /** The script extraction replicas run (src/cli/extract_replica.ts); without it this process extracts alone. */
  replicaEntry?: string;
  onProgress?: (split: SplitName, done: number, total: number) => void;
}

/** What an extraction replica is sent: enough to load the same model and data, as plain data. */
export interface ExtractSpec {
  checkpoint: string;
  cfg: Config;
  /** Extra layers, resolved. */
  layers: number[];
}

/** A replica's message for each batch it ran: the features of images [start, start + rows.count) of `split`. */
export interface ExtractedRows {
  split: SplitName;
  start: number;
  rows: SplitFeatures;
}

/**
 * Share `index` of `count` of a split of `n` images run in batches of `batchSize`: [start, end), a
 * contiguous run of whole batches, so that every process runs exactly the batches one process would.
 */
export function shareOf(n: number, batchSize: number, index: number, count: number): [number, number] {
  const batches = Math.ceil(n / batchSize);
  const at = (i: number): number => Math.min(n, Math.floor((batches * i) / count) * batchSize);
  return [at(index), at(index + 1)];
}

/** Share `index` of `count` of both splits (train, then test with the fast-path cache), batch by batch. */
export function* extractShare(model: ViT, ds: Dataset, spec: ExtractSpec, index: number, count: number): Generator<ExtractedRows> {
  const batchSize = spec.cfg.eval.batchSize;
  for (const split of ['train', 'test'] as const) {
    const [first, end] = shareOf(ds[split].count, batchSize, index, count);
    for (let start = first; start < end; start += batchSize) {
      const range = [start, Math.min(end, start + batchSize)] as const;
      yield { split, start, rows: extractSplit(model, ds[split], ds, { batchSize, withCache: split === 'test', layers: spec.layers, range }) };
    }
  }
}

/**
 * A replica's whole job: load the model and data `spec` names, and send its share batch by batch. It
 * yields to the event loop after each batch, so that each message leaves while the next batch runs.
 */
export async function serveExtractShare(spec: ExtractSpec, index: number, count: number, send: (r: ExtractedRows) => void): Promise<void> {
  const { model } = loadStageViT(spec.checkpoint);
  try {
    for (const rows of extractShare(model, loadRunData(spec.cfg), spec, index, count)) {
      send(rows);
      await new Promise((resolve) => setImmediate(resolve));
    }
  } finally {
    model.dispose();
  }
}

/**
 * Both splits' features, in this process or in `extract.workers` replicas. Either way the rows come
 * batch by batch into arrays for the whole split here; the replicas send theirs as they go, so that
 * neither side holds a share twice.
 */
async function extractAll(model: ViT, ds: Dataset, spec: ExtractSpec, o: ExtractOptions): Promise<Record<SplitName, SplitFeatures>> {
  const workers = spec.cfg.extract.workers;
  const { train, test } = ds;
  const dims = { D: model.config.embedDim, H: model.config.numHeads, T: model.dims.numTokens };
  const whole = {
    train: emptyFeatures(Int32Array.from(train.labels.subarray(0, train.count)), dims, false, spec.layers),
    test: emptyFeatures(Int32Array.from(test.labels.subarray(0, test.count)), dims, true, spec.layers),
  };
  // Progress counts the images placed; the test split's shows once the whole train split is in.
  const done = { train: 0, test: 0 };
  const onRows = ({ split, start, rows }: ExtractedRows): void => {
    placeRows(whole[split], rows, start);
    done[split] += rows.count;
    if (split === 'train' || done.train < train.count) o.onProgress?.('train', done.train, train.count);
    if (done.train === train.count) o.onProgress?.('test', done.test, test.count);
  };
  if (workers === 1 || o.replicaEntry === undefined) for (const rows of extractShare(model, ds, spec, 0, 1)) onRows(rows);
  else await runInReplicas<ExtractSpec, null, 'onRows'>(o.replicaEntry, spec, workers, { onRows }, 'interrupted before any file was written; rerun to extract');
  return whole;
}

/** Extract train and test features of a gated checkpoint; returns the manifest written. */
export async function extractStage(o: ExtractOptions): Promise<FeaturesManifest> {
  requireStageOut(o.out, 'extract');
  const { model, config } = loadStageViT(o.checkpoint);
  try {
    requireDataInfo(o.checkpoint, config);
    const last = model.config.depth - 1;
    if (model.blocks[last]!.gate === null) {
      throw new UserError(
        `${o.checkpoint} has no decision network on its final layer (gated layers: [${model.config.gatedLayers.join(', ')}]); extract needs a pruned checkpoint from \`headsteer prune\``,
      );
    }
    const saved = parseConfig(config.run, join(o.checkpoint, 'config.json'));
    const cfg = o.overrides === undefined ? saved : o.overrides(saved);
    const provenance = provenanceOf(o.out, { prune: o.checkpoint }, cfg);
    const ds = loadRunData(cfg);
    const { embedDim: D, numHeads: H } = model.config;
    const T = model.dims.numTokens;
    const layers = extraLayers(o.layers ?? cfg.steer.layers, model.config, o.checkpoint);
    const { train, test } = await extractAll(model, ds, { checkpoint: o.checkpoint, cfg, layers }, o);
    let correct = 0;
    for (let i = 0; i < test.count; i++) if (test.predictions[i] === test.labels[i]) correct += 1;
    const manifest: FeaturesManifest = {
      kind: 'features',
      formatVersion: 1,
      checkpoint: relative(o.out, o.checkpoint), // relative, so the run folder can be moved
      dim: D,
      heads: H,
      tokens: T,
      classNames: ds.classNames,
      depth: model.config.depth,
      layers: [...layers, last],
      train: { count: train.count },
      test: { count: test.count, accuracy: correct / test.count, finalHeadUsage: test.finalMasks.reduce((a, b) => a + b, 0) / test.finalMasks.length },
    };
    // The manifest goes last and marks the folder complete; a stale one is removed first.
    rmSync(join(o.out, 'manifest.json'), { force: true });
    writeSafetensors(join(o.out, 'train.safetensors'), featureTensors(train, D, H, T));
    writeSafetensors(join(o.out, 'test.safetensors'), featureTensors(test, D, H, T));
    for (const [split, f] of [
      ['train', train],
      ['test', test],
    ] as const) {
      // Without extra layers a layers file of an earlier extraction would be stale: removed.
      if (layers.length > 0) writeSafetensors(layerFeaturesFile(o.out, split), layerFeatureTensors(f, D));
      else rmSync(layerFeaturesFile(o.out, split), { force: true });
    }
    writeProvenance(o.out, provenance);
    writeJsonAtomic(join(o.out, 'manifest.json'), manifest);
    return manifest;
  } finally {
    model.dispose();
  }
}
