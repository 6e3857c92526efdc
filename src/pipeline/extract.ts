/**
 * Stage `extract`: the pruned checkpoint's features for the SAE and the fast steering path
 * (src/steer/features.ts) into `<run>/features/`, with the block-input CLS of every extra steered layer
 * (`steer.layers`) from the same forward pass.
 */
import { rmSync } from 'node:fs';
import { join, relative } from 'node:path';
import { type Config, loadRunData, parseConfig } from '../config.js';
import { UserError } from '../errors.js';
import { writeJsonAtomic } from '../io/atomic.js';
import { writeSafetensors } from '../io/safetensors.js';
import { requireDataInfo } from '../model/checkpoint.js';
import { loadStageViT, requireStageOut } from '../run/layout.js';
import { provenanceOf, writeProvenance } from '../run/provenance.js';
import { extractSplit, featureTensors, layerFeaturesFile, layerFeatureTensors, type FeaturesManifest } from '../steer/features.js';
import { extraLayers, type LayerSpec } from '../steer/layers.js';

export interface ExtractOptions {
  checkpoint: string;
  out: string;
  overrides?: (cfg: Config) => Config;
  /** Steered layers whose block-input CLS to store besides the final one; default the config's `steer.layers`. */
  layers?: LayerSpec;
  onProgress?: (split: 'train' | 'test', done: number, total: number) => void;
}

/** Extract train and test features of a gated checkpoint; returns the manifest written. */
export function extractStage(o: ExtractOptions): FeaturesManifest {
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
    const bs = cfg.eval.batchSize;
    const { embedDim: D, numHeads: H } = model.config;
    const T = model.dims.numTokens;
    const layers = extraLayers(o.layers ?? cfg.steer.layers, model.config, o.checkpoint);
    const train = extractSplit(model, ds.train, ds, { batchSize: bs, withCache: false, layers, onBatch: (n) => o.onProgress?.('train', n, ds.train.count) });
    const test = extractSplit(model, ds.test, ds, { batchSize: bs, withCache: true, layers, onBatch: (n) => o.onProgress?.('test', n, ds.test.count) });
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
