/** The small gated ViT the fast-path tests build (no tests here): 3 layers, all gated, 4 heads of width 6. */
import type { ViTConfig } from '../../src/model/config.js';

export const SMALL_GATED_VIT: ViTConfig = {
  imgSize: 12,
  patchSize: 4,
  inChans: 2,
  numClasses: 5,
  embedDim: 24,
  depth: 3,
  numHeads: 4,
  mlpRatio: 2,
  qkvBias: true,
  gatedLayers: [0, 1, 2],
};
