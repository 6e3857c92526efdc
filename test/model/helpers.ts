/** Helpers shared by the model tests (no tests here). */
import type { ViTConfig } from '../../src/model/config.js';

/** A tiny gated ViT: 12 px, 2 channels, 3x3 patches of 4 px, width 24, 4 layers of 4 heads, all gated. */
export const TINY_VIT: Readonly<ViTConfig> = Object.freeze({
  imgSize: 12,
  patchSize: 4,
  inChans: 2,
  numClasses: 5,
  embedDim: 24,
  depth: 4,
  numHeads: 4,
  mlpRatio: 2,
  qkvBias: true,
  gatedLayers: [0, 1, 2, 3],
});
